//! File names from the network. A [`SafeRelativePath`] can only be built by [`sanitize_path`],
//! so holding one proves the path stays inside whatever folder it is joined to.
//!
//! The rules (mirrored exactly by `web/app/js/protocol/names.js`, both tested against
//! `vectors/names.json`):
//! 1. inputs over 16 KiB of UTF-8 are refused;
//! 2. `\` counts as a separator, like `/`;
//! 3. components that are empty, `.` or `..` are dropped (so absolute paths become relative);
//! 4. in each component, control characters (U+0000–U+001F, U+007F–U+009F) and `< > : " | ? *`
//!    become `_`; trailing dots and spaces are trimmed and the component dropped if nothing is left;
//! 5. Windows device names (`CON`, `NUL`, `COM1`, … before the first dot, any case) get a `_` prefix;
//! 6. components over 255 bytes of UTF-8 are cut at a character boundary, keeping an extension of
//!    up to 16 bytes;
//! 7. no component left → refused; more than 64 components → refused.

use std::fmt;

/// Longest name accepted from the network, in bytes of UTF-8, before any cleaning (rule 1).
pub const MAX_INPUT_BYTES: usize = 16 * 1024;
/// Longest component kept, in bytes of UTF-8 (the common file-system limit); longer ones are
/// cut at a character boundary (rule 6).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Longest extension (from the last dot, dot included) kept when a component is cut; a longer
/// one is cut with the rest of the name.
pub const MAX_EXTENSION_BYTES: usize = 16;
/// Most components (folders plus the file name) a path may have after cleaning (rule 7).
pub const MAX_DEPTH: usize = 64;

/// A relative path of safe components joined by `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SafeRelativePath(String);

impl SafeRelativePath {
    /// The path with `/` between components, e.g. `"holiday/beach.jpg"`: no leading `/`, no
    /// `.` or `..`, no empty component, none of the refused characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The components in order, folders first, the file name last (at least one, at most
    /// [`MAX_DEPTH`], each at most [`MAX_COMPONENT_BYTES`]).
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// Joins the path to `base` component by component (never via a string with separators).
    pub fn to_path_under(&self, base: &std::path::Path) -> std::path::PathBuf {
        let mut p = base.to_path_buf();
        for c in self.components() {
            p.push(c);
        }
        p
    }
}

impl fmt::Display for SafeRelativePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why [`sanitize_path`] refused a name; an offer with such a name is refused as a whole
/// (`invalid-offer`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The input is over [`MAX_INPUT_BYTES`].
    #[error("name is longer than 16 KiB")]
    TooLong,
    /// No component is left once empty, `.`, `..` and all-dots-or-spaces parts are dropped.
    #[error("name has nothing left once unsafe parts are removed")]
    Empty,
    /// More than [`MAX_DEPTH`] components are left.
    #[error("path is nested more than 64 folders deep")]
    TooDeep,
}

/// Turns a name from the network into a path that cannot escape its target folder.
pub fn sanitize_path(input: &str) -> Result<SafeRelativePath, NameError> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(NameError::TooLong);
    }
    let mut parts: Vec<String> = Vec::new();
    for raw in input.split(['/', '\\']) {
        if raw.is_empty() || raw == "." || raw == ".." {
            continue;
        }
        if let Some(c) = sanitize_component(raw) {
            parts.push(c);
        }
    }
    if parts.is_empty() {
        return Err(NameError::Empty);
    }
    if parts.len() > MAX_DEPTH {
        return Err(NameError::TooDeep);
    }
    Ok(SafeRelativePath(parts.join("/")))
}

fn is_forbidden_char(c: char) -> bool {
    let cp = c as u32;
    cp <= 0x1f
        || (0x7f..=0x9f).contains(&cp)
        || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*')
}

const DEVICE_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

fn sanitize_component(raw: &str) -> Option<String> {
    let replaced: String = raw
        .chars()
        .map(|c| if is_forbidden_char(c) { '_' } else { c })
        .collect();
    let trimmed = replaced.trim_end_matches(['.', ' ']);
    if trimmed.is_empty() {
        return None;
    }
    let stem = trimmed.split('.').next().unwrap_or(trimmed);
    let mut out = if DEVICE_NAMES.iter().any(|d| d.eq_ignore_ascii_case(stem)) {
        format!("_{trimmed}")
    } else {
        trimmed.to_string()
    };
    if out.len() > MAX_COMPONENT_BYTES {
        out = truncate_component(&out);
    }
    Some(out)
}

fn truncate_component(name: &str) -> String {
    let ext = match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= MAX_EXTENSION_BYTES => &name[i..],
        _ => "",
    };
    let budget = MAX_COMPONENT_BYTES - ext.len();
    let stem = &name[..name.len() - ext.len()];
    let mut end = 0;
    for (i, c) in stem.char_indices() {
        if i + c.len_utf8() > budget {
            break;
        }
        end = i + c.len_utf8();
    }
    format!("{}{}", &stem[..end], ext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Input {
        #[serde(default)]
        prefix: String,
        #[serde(default)]
        repeat: String,
        #[serde(default)]
        times: usize,
        #[serde(default)]
        suffix: String,
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Plain(String),
        Built(Input),
    }

    impl Text {
        fn build(&self) -> String {
            match self {
                Text::Plain(s) => s.clone(),
                Text::Built(b) => format!("{}{}{}", b.prefix, b.repeat.repeat(b.times), b.suffix),
            }
        }
    }

    #[derive(Deserialize)]
    struct Vector {
        input: Text,
        output: Option<Text>,
    }

    #[test]
    fn shared_vectors() {
        let vectors: Vec<Vector> =
            serde_json::from_str(include_str!("../vectors/names.json")).unwrap();
        assert!(vectors.len() > 20);
        for v in vectors {
            let input = v.input.build();
            let got = sanitize_path(&input).ok().map(|p| p.0);
            let want = v.output.map(|o| o.build());
            assert_eq!(
                got,
                want,
                "input {:?}",
                input.chars().take(60).collect::<String>()
            );
        }
    }

    #[test]
    fn joined_paths_stay_inside() {
        let base = std::path::Path::new("/srv/out");
        for hostile in [
            "../../etc/passwd",
            "/etc/passwd",
            "a/../../b",
            "..\\..\\win.ini",
        ] {
            let p = sanitize_path(hostile).unwrap().to_path_under(base);
            assert!(p.starts_with(base), "{hostile} -> {p:?}");
            assert!(!p.components().any(|c| c == std::path::Component::ParentDir));
        }
    }
}
