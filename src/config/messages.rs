//! serde's messages in the words of a configuration file.
//!
//! serde describes a value of the wrong type with the Rust types of the settings structs:
//! `invalid value: integer `-1`, expected usize`, `expected struct TlsSettings`, `expected a
//! sequence`. The people who read these messages write TOML, so the expectation and the
//! kind of value found are put in TOML's terms (a non-negative whole number, a table, an
//! array). Only the parts serde generates are rewritten: a message is split at its last
//! `, expected `, after the user's value, and a part is replaced only when it is one of the
//! known phrases, so text quoted from the file is never touched. Messages written by sluice
//! itself (`custom` errors) pass through unchanged.

/// `message` with serde's Rust type names replaced by what a TOML file calls them, on one
/// line (toml_edit puts what it expected on a second line of a syntax error).
pub fn humanize(message: &str) -> String {
    let message = message.trim();
    if message.contains('\n') {
        let joined: Vec<&str> = message.lines().map(str::trim).collect();
        return humanize(&joined.join("; "));
    }
    // toml_edit's own wording for an enum given a value that is neither a string nor a table.
    if message == "wanted string or table" {
        return "invalid type, expected a string".to_string();
    }
    let Some((found, expected)) = message.rsplit_once(", expected ") else {
        return message.to_string();
    };
    let found = if let Some(kind) = found.strip_prefix("invalid type: ") {
        format!("invalid type: {}", value_kind(kind))
    } else if let Some(value) = found.strip_prefix("invalid value: ") {
        format!("invalid value: {}", value_kind(value))
    } else if found.starts_with("invalid length ") {
        found.to_string()
    } else {
        return message.to_string();
    };
    format!("{found}, expected {}", expectation(expected))
}

/// serde's `Unexpected` as TOML names the kind: `floating point `1.5`` → number `1.5`.
fn value_kind(found: &str) -> String {
    match found {
        "sequence" => "array".to_string(),
        "map" => "table".to_string(),
        other => match other.strip_prefix("floating point ") {
            Some(value) => format!("number {value}"),
            None => other.to_string(),
        },
    }
}

/// serde's `Expected` as TOML names it: `usize` → a non-negative whole number.
fn expectation(expected: &str) -> String {
    let phrase = match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative whole number",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a nonzero u8" | "a nonzero u16" | "a nonzero u32" | "a nonzero u64" | "a nonzero u128"
        | "a nonzero usize" => "a whole number greater than zero",
        "a nonzero i8" | "a nonzero i16" | "a nonzero i32" | "a nonzero i64" | "a nonzero i128"
        | "a nonzero isize" => "a whole number other than zero",
        "a sequence" => "an array",
        "a map" => "a table",
        "path string" => "a path (a string)",
        "a character" | "char" => "a single character",
        other if other.starts_with("struct ") => "a table",
        other if other.starts_with("enum ") => "a string",
        other => other,
    };
    phrase.to_string()
}

/// Formats names as "`a`, `b`, `c`".
pub fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_type_names_become_toml_words() {
        for (serde, human) in [
            (
                "invalid value: integer `-1`, expected usize",
                "invalid value: integer `-1`, expected a non-negative whole number",
            ),
            (
                "invalid type: floating point `1.5`, expected u64",
                "invalid type: number `1.5`, expected a non-negative whole number",
            ),
            (
                "invalid type: string \"x\", expected f64",
                "invalid type: string \"x\", expected a number",
            ),
            (
                "invalid type: string \"x\", expected i64",
                "invalid type: string \"x\", expected a whole number",
            ),
            (
                "invalid type: floating point `2.5`, expected a nonzero u32",
                "invalid type: number `2.5`, expected a whole number greater than zero",
            ),
            (
                "invalid type: string \"x\", expected a sequence",
                "invalid type: string \"x\", expected an array",
            ),
            (
                "invalid type: sequence, expected a map",
                "invalid type: array, expected a table",
            ),
            (
                "invalid type: string \"x\", expected struct TlsSettings",
                "invalid type: string \"x\", expected a table",
            ),
            (
                "invalid type: integer `5`, expected path string",
                "invalid type: integer `5`, expected a path (a string)",
            ),
            ("wanted string or table", "invalid type, expected a string"),
            (
                "invalid table header\nexpected `.`, `]`\n",
                "invalid table header; expected `.`, `]`",
            ),
        ] {
            assert_eq!(humanize(serde), human);
        }
    }

    #[test]
    fn text_from_the_file_and_sluice_own_messages_are_left_alone() {
        for unchanged in [
            // The user's value looks like a type name: only serde's part is rewritten.
            "invalid type: string \"u64, expected usize\", expected a boolean",
            "unknown field `fsync`, expected `codec`",
            "unknown variant `middle`, expected `beginning` or `end`",
            "missing field `paths`",
            "invalid type: string \"x\", expected a duration such as \"500ms\", \"10s\" or \"5m\", or a number of seconds",
            "`compression_level` must be 0 (off) to 9",
        ] {
            assert_eq!(humanize(unchanged), unchanged);
        }
        assert_eq!(
            humanize("invalid type: string \"expected usize\", expected usize"),
            "invalid type: string \"expected usize\", expected a non-negative whole number"
        );
    }
}
