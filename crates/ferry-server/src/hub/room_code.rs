//! Room codes: generation, normalisation of what people type, and the part of a code that
//! wrong guesses are counted against.
//!
//! A code's first half is its *nameplate*, its second half the secret. A wrong code whose
//! nameplate is a live room's nameplate counts as a wrong guess against that room; after
//! [`super::HubOptions::wrong_guesses_per_room`] of them the code stops admitting newcomers.
//! Someone who saw part of a code (a glance at a screen) can narrow the search to that room,
//! and this is what stops them: the room closes long before the secret half is exhausted.
//! docs/security.md has the arithmetic.

/// No 0/O or 1/I/L: nothing to confuse when typed from a screen.
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
pub const DEFAULT_CODE_LEN: usize = 6;
pub const MIN_CODE_LEN: usize = 6;
pub const MAX_CODE_LEN: usize = 12;

pub fn new_room_code(len: usize) -> String {
    (0..len)
        .map(|_| CODE_ALPHABET[rand::random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Accepts codes typed by humans: any case, spaces and dashes ignored. Any length the server
/// could have issued is accepted, so a server restarted with a longer `--room-code-length`
/// still answers old links with "not found" rather than "malformed".
pub fn normalize_room_code(input: &str) -> Option<String> {
    if input.len() > 4 * MAX_CODE_LEN {
        return None;
    }
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    ((MIN_CODE_LEN..=MAX_CODE_LEN).contains(&code.len())
        && code.bytes().all(|b| CODE_ALPHABET.contains(&b)))
    .then_some(code)
}

/// The half of a code that wrong guesses are counted against.
pub fn nameplate(code: &str) -> &str {
    &code[..code.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_normalize() {
        let c = new_room_code(DEFAULT_CODE_LEN);
        assert_eq!(normalize_room_code(&c.to_lowercase()), Some(c.clone()));
        assert_eq!(
            normalize_room_code(&format!("{}-{}", &c[..3], &c[3..])),
            Some(c.clone())
        );
        assert_eq!(normalize_room_code("ABC"), None);
        assert_eq!(normalize_room_code("ABCDE!"), None);
        assert_eq!(
            normalize_room_code("ABCDE0"),
            None,
            "0 is not in the alphabet"
        );
        assert_eq!(normalize_room_code(&"A".repeat(13)), None);
        assert_eq!(normalize_room_code(&"-".repeat(10_000)), None);
        let long = new_room_code(10);
        assert_eq!(normalize_room_code(&long), Some(long.clone()));
        assert_eq!(nameplate(&c), &c[..3]);
        assert_eq!(nameplate(&long), &long[..5]);
    }
}
