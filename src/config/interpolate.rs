//! `${VAR}` and `${VAR:-default}` in configuration files.
//!
//! Substitution happens on the text before TOML parsing so that every value, numbers
//! included, can come from the environment (`port = ${PORT:-5044}`). Two details make this
//! safe: references inside `#` comments are left alone (a commented-out line must not demand
//! a variable), and substituted values are escaped for TOML basic strings so a Windows path or
//! a quote in a secret cannot break the file. Every substitution is recorded so that parse
//! errors can be reported at their position in the file the user wrote.

use std::collections::BTreeSet;

/// The interpolated text and the substitutions that produced it.
#[derive(Debug, Clone)]
pub struct Interpolated {
    pub text: String,
    substitutions: Vec<Substitution>,
}

#[derive(Debug, Clone, Copy)]
struct Substitution {
    /// Offset of the reference in the original text.
    original_start: usize,
    original_len: usize,
    /// Offset of the replacement in the interpolated text.
    new_start: usize,
    new_len: usize,
}

/// A reference that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingVariable {
    pub name: String,
    /// Byte offset of `${` in the original text.
    pub offset: usize,
}

/// A `${` without its closing `}` or with an invalid name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedReference {
    pub offset: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    Missing(MissingVariable),
    Malformed(MalformedReference),
}

impl Interpolated {
    /// Text taken as it is (used to report errors when interpolation itself failed).
    pub fn verbatim(text: String) -> Self {
        Self {
            text,
            substitutions: Vec::new(),
        }
    }

    /// Maps an offset in the interpolated text back to the original text.
    pub fn original_offset(&self, offset: usize) -> usize {
        let mut shift: isize = 0;
        for sub in &self.substitutions {
            if offset < sub.new_start {
                break;
            }
            if offset < sub.new_start + sub.new_len {
                return sub.original_start;
            }
            shift = (sub.original_start + sub.original_len) as isize
                - (sub.new_start + sub.new_len) as isize;
        }
        (offset as isize + shift).max(0) as usize
    }
}

/// Replaces every reference in `text`, looking variables up with `lookup`.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Interpolated, Vec<InterpolationError>> {
    let mut out = String::with_capacity(text.len());
    let mut substitutions = Vec::new();
    let mut errors = Vec::new();
    let mut reported = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut state = State::Normal;
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        // Scanning is byte-wise (every token we look for is ASCII); `text` is only sliced at
        // the ASCII `$`/`}` of a reference, which are always character boundaries.
        let rest = &bytes[i..];
        match state {
            State::Comment => {
                if bytes[i] == b'\n' {
                    state = State::Normal;
                }
                i += 1;
                continue;
            }
            State::Normal if bytes[i] == b'#' => {
                state = State::Comment;
                i += 1;
                continue;
            }
            State::Normal if rest.starts_with(b"\"\"\"") => {
                state = State::MultiBasic;
                i += 3;
                continue;
            }
            State::Normal if rest.starts_with(b"'''") => {
                state = State::MultiLiteral;
                i += 3;
                continue;
            }
            State::Normal if bytes[i] == b'"' => {
                state = State::Basic;
                i += 1;
                continue;
            }
            State::Normal if bytes[i] == b'\'' => {
                state = State::Literal;
                i += 1;
                continue;
            }
            State::Basic | State::MultiBasic if bytes[i] == b'\\' => {
                i += 2;
                continue;
            }
            State::Basic if bytes[i] == b'"' || bytes[i] == b'\n' => {
                state = State::Normal;
                i += 1;
                continue;
            }
            State::Literal if bytes[i] == b'\'' || bytes[i] == b'\n' => {
                state = State::Normal;
                i += 1;
                continue;
            }
            State::MultiBasic if rest.starts_with(b"\"\"\"") => {
                state = State::Normal;
                i += 3;
                continue;
            }
            State::MultiLiteral if rest.starts_with(b"'''") => {
                state = State::Normal;
                i += 3;
                continue;
            }
            _ => {}
        }
        if !rest.starts_with(b"${") {
            i += 1;
            continue;
        }
        let Some(close) = rest.iter().position(|&b| b == b'}') else {
            errors.push(InterpolationError::Malformed(MalformedReference {
                offset: i,
                reason: "`${` without a closing `}`".into(),
            }));
            break;
        };
        let body = &text[i + 2..i + close];
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            errors.push(InterpolationError::Malformed(MalformedReference {
                offset: i,
                reason: format!("`${{{body}}}` is not a valid variable reference (letters, digits and `_`, optionally `:-default`)"),
            }));
            i += close + 1;
            continue;
        }
        let value = match lookup(name) {
            Some(value) => value,
            None => match default {
                Some(default) => default.to_string(),
                None => {
                    if reported.insert(name.to_string()) {
                        errors.push(InterpolationError::Missing(MissingVariable {
                            name: name.to_string(),
                            offset: i,
                        }));
                    }
                    i += close + 1;
                    continue;
                }
            },
        };
        out.push_str(&text[copied..i]);
        let escaped = escape(&value, state);
        substitutions.push(Substitution {
            original_start: i,
            original_len: close + 1,
            new_start: out.len(),
            new_len: escaped.len(),
        });
        out.push_str(&escaped);
        i += close + 1;
        copied = i;
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    out.push_str(&text[copied..]);
    Ok(Interpolated {
        text: out,
        substitutions,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    Comment,
    Basic,
    Literal,
    MultiBasic,
    MultiLiteral,
}

/// Escapes a value for the string kind it lands in; literal strings cannot escape anything,
/// so values are inserted there as they are.
fn escape(value: &str, state: State) -> String {
    match state {
        State::Basic | State::MultiBasic => {
            let mut out = String::with_capacity(value.len());
            for c in value.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
                    c => out.push(c),
                }
            }
            out
        }
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME_DIR" => Some("/srv/sluice".into()),
            "WIN" => Some(r#"C:\logs "x""#.into()),
            "PORT" => Some("5044".into()),
            _ => None,
        }
    }

    #[test]
    fn variables_defaults_and_escaping() {
        let text =
            "a = \"${HOME_DIR}/data\"\nb = \"${NOPE:-fallback}\"\nc = \"${WIN}\"\nport = ${PORT}\n";
        let out = interpolate(text, env).unwrap();
        assert_eq!(
            out.text,
            "a = \"/srv/sluice/data\"\nb = \"fallback\"\nc = \"C:\\\\logs \\\"x\\\"\"\nport = 5044\n"
        );
    }

    #[test]
    fn empty_default_is_allowed() {
        assert_eq!(
            interpolate("x = \"${NOPE:-}\"", env).unwrap().text,
            "x = \"\""
        );
    }

    #[test]
    fn missing_variables_are_named_once_with_their_offset() {
        let errors = interpolate("a = \"${MISSING}\"\nb = \"${MISSING}\"", env).unwrap_err();
        assert_eq!(
            errors,
            vec![InterpolationError::Missing(MissingVariable {
                name: "MISSING".into(),
                offset: 5
            })]
        );
    }

    #[test]
    fn comments_are_not_interpolated() {
        let out = interpolate(
            "# url = \"${SLACK_WEBHOOK_URL}\"\na = 1 # ${ALSO_MISSING}\n",
            env,
        )
        .unwrap();
        assert!(out.text.contains("${SLACK_WEBHOOK_URL}"));
        let hash_in_string = interpolate("a = \"#${PORT}\"", env).unwrap();
        assert_eq!(hash_in_string.text, "a = \"#5044\"");
    }

    #[test]
    fn malformed_references_are_reported() {
        assert!(matches!(
            interpolate("a = \"${NOT CLOSED\"", env).unwrap_err()[0],
            InterpolationError::Malformed(_)
        ));
        assert!(matches!(
            interpolate("a = \"${bad-name}\"", env).unwrap_err()[0],
            InterpolationError::Malformed(_)
        ));
    }

    #[test]
    fn escapes_before_multibyte_characters_do_not_split_them() {
        // Found by the loader fuzz test: a backslash before `é` used to make the scanner slice
        // the text inside the character.
        let out = interpolate("a = \"\\\u{e9}${PORT}\"", env).unwrap();
        assert_eq!(out.text, "a = \"\\\u{e9}5044\"");
        assert!(interpolate("\"\\\u{e9}", env).is_ok());
        assert_eq!(interpolate("\u{e9}", env).unwrap().text, "\u{e9}");
        assert_eq!(interpolate("\u{a1}", env).unwrap().text, "\u{a1}");
    }

    #[test]
    fn offsets_map_back_across_substitutions() {
        let text = "a = \"${HOME_DIR}\"\nbad";
        let out = interpolate(text, env).unwrap();
        let bad_new = out.text.find("bad").unwrap();
        assert_eq!(out.original_offset(bad_new), text.find("bad").unwrap());
        // Inside a substituted value: points at the reference.
        assert_eq!(out.original_offset(out.text.find("srv").unwrap()), 5);
    }
}
