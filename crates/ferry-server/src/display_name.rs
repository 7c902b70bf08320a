//! Friendly display names ("Amber Otter") derived from a peer id, so a peer that reconnects
//! with its token keeps its name without the server storing anything.

use sha2::{Digest, Sha256};

const ADJECTIVES: &[&str] = &[
    "Amber",
    "Azure",
    "Bold",
    "Brave",
    "Bright",
    "Calm",
    "Clever",
    "Coral",
    "Cosmic",
    "Crimson",
    "Curious",
    "Daring",
    "Dusky",
    "Eager",
    "Emerald",
    "Fancy",
    "Fearless",
    "Gentle",
    "Golden",
    "Happy",
    "Humble",
    "Indigo",
    "Ivory",
    "Jolly",
    "Keen",
    "Lively",
    "Lucky",
    "Lunar",
    "Mellow",
    "Misty",
    "Nimble",
    "Noble",
    "Olive",
    "Patient",
    "Plucky",
    "Polar",
    "Quiet",
    "Rapid",
    "Rosy",
    "Rustic",
    "Sandy",
    "Scarlet",
    "Silver",
    "Sleek",
    "Snowy",
    "Solar",
    "Sunny",
    "Swift",
    "Teal",
    "Tidy",
    "Velvet",
    "Vivid",
    "Wandering",
    "Witty",
    "Zesty",
];

const ANIMALS: &[&str] = &[
    "Albatross",
    "Badger",
    "Beaver",
    "Bison",
    "Crane",
    "Dolphin",
    "Eagle",
    "Falcon",
    "Ferret",
    "Finch",
    "Fox",
    "Gecko",
    "Heron",
    "Ibis",
    "Jaguar",
    "Koala",
    "Lemur",
    "Lynx",
    "Marten",
    "Moose",
    "Narwhal",
    "Ocelot",
    "Orca",
    "Otter",
    "Owl",
    "Panda",
    "Pelican",
    "Penguin",
    "Puffin",
    "Quokka",
    "Rabbit",
    "Raven",
    "Salmon",
    "Seal",
    "Sparrow",
    "Stork",
    "Swan",
    "Tapir",
    "Tiger",
    "Toucan",
    "Turtle",
    "Walrus",
    "Whale",
    "Wolf",
    "Wombat",
    "Yak",
    "Zebra",
];

pub fn display_name_for(peer_id: &str) -> String {
    let digest = Sha256::digest(peer_id.as_bytes());
    let a = u16::from_be_bytes([digest[0], digest[1]]) as usize % ADJECTIVES.len();
    let b = u16::from_be_bytes([digest[2], digest[3]]) as usize % ANIMALS.len();
    format!("{} {}", ADJECTIVES[a], ANIMALS[b])
}

#[cfg(test)]
mod tests {
    #[test]
    fn stable_and_two_words() {
        let n = super::display_name_for("abc");
        assert_eq!(n, super::display_name_for("abc"));
        assert_eq!(n.split(' ').count(), 2);
    }
}
