//! One pass over a `J` payload: is it a JSON object written exactly as `serde_json` writes
//! one, and where are the top-level members the Logstash shaping looks at?
//!
//! A payload in that canonical form can stay raw (`lazy.rs`): written out again, the bytes
//! are what its parsed map serialises to. Canonical means: no whitespace between tokens;
//! strings escaped as `serde_json` escapes them (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`,
//! other control characters as `\u00xx` in lower case, nothing else); integers without a
//! sign, leading zeros or an exponent that fit `u64` (or `i64` when negative, `-0` excluded);
//! floats only when `serde_json` prints them back the same; no key twice in one object (a
//! parsed map keeps one). Anything else, valid JSON or not, is answered with `None` and
//! the payload is parsed as before, which also decides whether it is valid at all: this pass
//! never has to produce an error of its own.
//!
//! Filebeat 8.1.3 writes this form, including for a JSON log line inside `message` (checked
//! on captured payloads, `tests/fixtures/beats/filebeat-8.1.3-payloads.ndjson`), so its
//! events normally pass; it escapes U+2028 and U+FFFD (its replacement for invalid UTF-8)
//! where `serde_json` does not, and such an event is built at once. Strings are skipped eight
//! bytes at a time (a word with no quote, backslash or control byte is passed over in a few
//! operations), the rest byte by byte.

/// Deeper nesting is left to `serde_json` (whose limit is 128).
const MAX_DEPTH: usize = 64;
/// Objects with more keys are checked for duplicates by sorting, smaller ones pairwise.
const PAIRWISE_KEYS: usize = 16;

/// What a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

/// A top-level member, as byte offsets into the payload.
#[derive(Debug, Clone, Copy)]
pub(super) struct Member {
    /// The key's opening quote.
    pub start: usize,
    /// The value's first byte.
    pub value_start: usize,
    /// Just after the value.
    pub end: usize,
    pub kind: Kind,
}

/// The top-level members the shaping needs, of a canonical object.
#[derive(Debug, Default)]
pub(super) struct Root {
    /// How many members the object has.
    pub members: usize,
    pub metadata: Option<Member>,
    pub message: Option<Member>,
    pub line: Option<Member>,
    pub event: Option<Member>,
    pub tags: Option<Member>,
    pub timestamp: Option<Member>,
}

/// A key: the span of its text (between the quotes) and its [`fingerprint`].
#[derive(Debug, Clone, Copy)]
struct Key {
    start: usize,
    end: usize,
    fingerprint: u64,
}

/// Buffers reused from one payload to the next (one set per batch).
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// Keys of the objects being scanned, innermost last.
    keys: Vec<Key>,
    /// Keys of one large object, sorted.
    sorted: Vec<Key>,
}

/// The top-level members of `payload` when it is one JSON object in canonical form.
pub(super) fn canonical_object(payload: &[u8], scratch: &mut Scratch) -> Option<Root> {
    // Every string is then valid UTF-8 too, as `serde_json` requires.
    std::str::from_utf8(payload).ok()?;
    scratch.keys.clear();
    let mut scanner = Scanner {
        bytes: payload,
        pos: 0,
        scratch,
    };
    let root = scanner.root()?;
    (scanner.pos == payload.len()).then_some(root)
}

struct Scanner<'a, 's> {
    bytes: &'a [u8],
    pos: usize,
    scratch: &'s mut Scratch,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `word` (little-endian) that is a quote, a backslash or a
/// control character, plus possibly bits above the first such byte (borrows run upwards),
/// so the lowest set bit marks the first one exactly.
fn special_bytes(word: u64) -> u64 {
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero_quote = quote.wrapping_sub(ONES) & !quote;
    let zero_backslash = backslash.wrapping_sub(ONES) & !backslash;
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    (zero_quote | zero_backslash | control) & HIGH
}

/// A key's first bytes and length folded into a word: keys with different fingerprints
/// differ, so only equal fingerprints need their bytes compared.
fn fingerprint(text: &[u8]) -> u64 {
    let mut head = [0u8; 8];
    let n = text.len().min(8);
    head[..n].copy_from_slice(&text[..n]);
    u64::from_le_bytes(head) ^ (text.len() as u64).rotate_right(8)
}

fn is_lower_hex(byte: u8) -> bool {
    byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)
}

impl Scanner<'_, '_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    fn root(&mut self) -> Option<Root> {
        self.expect(b'{')?;
        let mut root = Root::default();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(root);
        }
        loop {
            let start = self.pos;
            self.key()?;
            let value_start = self.pos;
            let kind = self.value(1)?;
            let member = Member {
                start,
                value_start,
                end: self.pos,
                kind,
            };
            root.members += 1;
            let mut other = None;
            let slot = match &self.bytes[start + 1..value_start - 2] {
                b"@metadata" => &mut root.metadata,
                b"message" => &mut root.message,
                b"line" => &mut root.line,
                b"event" => &mut root.event,
                b"tags" => &mut root.tags,
                b"@timestamp" => &mut root.timestamp,
                _ => &mut other,
            };
            *slot = Some(member);
            if !self.next_member(b'}')? {
                break;
            }
        }
        self.unique_keys(0).then_some(root)
    }

    /// After a member or element: `true` after a comma, `false` after `close`.
    fn next_member(&mut self, close: u8) -> Option<bool> {
        let byte = self.peek()?;
        self.pos += 1;
        match byte {
            b',' => Some(true),
            _ if byte == close => Some(false),
            _ => None,
        }
    }

    /// A key and its colon; the key's span is remembered for the duplicate check.
    fn key(&mut self) -> Option<()> {
        let start = self.pos;
        if self.peek()? != b'"' {
            return None;
        }
        self.string()?;
        let text = &self.bytes[start + 1..self.pos - 1];
        self.scratch.keys.push(Key {
            start: start + 1,
            end: self.pos - 1,
            fingerprint: fingerprint(text),
        });
        self.expect(b':')
    }

    fn value(&mut self, depth: usize) -> Option<Kind> {
        match self.peek()? {
            b'"' => self.string().map(|()| Kind::String),
            b'{' => self.object(depth + 1).map(|()| Kind::Object),
            b'[' => self.array(depth + 1).map(|()| Kind::Array),
            b'-' | b'0'..=b'9' => self.number().map(|()| Kind::Number),
            b't' => self.literal(b"true", Kind::Bool),
            b'f' => self.literal(b"false", Kind::Bool),
            b'n' => self.literal(b"null", Kind::Null),
            _ => None,
        }
    }

    fn literal(&mut self, text: &[u8], kind: Kind) -> Option<Kind> {
        let end = self.pos + text.len();
        (self.bytes.get(self.pos..end)? == text).then(|| {
            self.pos = end;
            kind
        })
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        let base = self.scratch.keys.len();
        loop {
            self.key()?;
            self.value(depth)?;
            if !self.next_member(b'}')? {
                break;
            }
        }
        let unique = self.unique_keys(base);
        self.scratch.keys.truncate(base);
        unique.then_some(())
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.value(depth)?;
            if !self.next_member(b']')? {
                return Some(());
            }
        }
    }

    /// Whether the keys from `base` on (one object's) are all different. Canonical strings
    /// have one spelling each, so comparing their bytes compares the keys.
    fn unique_keys(&mut self, base: usize) -> bool {
        let bytes = self.bytes;
        let keys = &self.scratch.keys[base..];
        let text = |key: &Key| &bytes[key.start..key.end];
        if keys.len() <= PAIRWISE_KEYS {
            return keys.iter().enumerate().all(|(i, key)| {
                keys[..i]
                    .iter()
                    .all(|other| other.fingerprint != key.fingerprint || text(other) != text(key))
            });
        }
        let sorted = &mut self.scratch.sorted;
        sorted.clear();
        sorted.extend_from_slice(keys);
        sorted.sort_unstable_by(|a, b| text(a).cmp(text(b)));
        sorted
            .windows(2)
            .all(|pair| text(&pair[0]) != text(&pair[1]))
    }

    /// A string, from its opening quote to just after its closing one.
    fn string(&mut self) -> Option<()> {
        self.pos += 1;
        loop {
            // A word at a time, straight to the first byte that needs a look.
            let byte = match self.bytes.get(self.pos..self.pos + 8) {
                Some(chunk) => {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(chunk);
                    let special = special_bytes(u64::from_le_bytes(word));
                    if special == 0 {
                        self.pos += 8;
                        continue;
                    }
                    self.pos += (special.trailing_zeros() / 8) as usize;
                    chunk[(special.trailing_zeros() / 8) as usize]
                }
                // The last few bytes of the payload, one by one.
                None => self.peek()?,
            };
            match byte {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => self.escape()?,
                0..=0x1f => return None,
                _ => self.pos += 1,
            }
        }
    }

    /// An escape sequence `serde_json` would write.
    fn escape(&mut self) -> Option<()> {
        match *self.bytes.get(self.pos + 1)? {
            b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 2,
            b'u' => {
                let hex = self.bytes.get(self.pos + 2..self.pos + 6)?;
                let control = hex[0] == b'0'
                    && hex[1] == b'0'
                    && (hex[2] == b'0' || hex[2] == b'1')
                    && is_lower_hex(hex[3]);
                // The five with a short form are written short.
                let short = hex[2] == b'0' && matches!(hex[3], b'8' | b'9' | b'a' | b'c' | b'd');
                if !control || short {
                    return None;
                }
                self.pos += 6;
            }
            _ => return None,
        }
        Some(())
    }

    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.pos += 1;
                }
            }
            _ => return None,
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return self.float(start);
        }
        let text = &self.bytes[start..self.pos];
        if text == b"-0" {
            // `serde_json` reads it as the float -0.0.
            return None;
        }
        // Longer ones may not fit (`serde_json` would make them floats).
        if text.len() >= 19 {
            let text = std::str::from_utf8(text).ok()?;
            let fits = if negative {
                text.parse::<i64>().is_ok()
            } else {
                text.parse::<u64>().is_ok()
            };
            if !fits {
                return None;
            }
        }
        Some(())
    }

    /// A number with a fraction or an exponent: canonical when `serde_json` reads it and
    /// prints the same text back (rare in Beats events, so the check may allocate).
    fn float(&mut self, start: usize) -> Option<()> {
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            self.pos += 1;
        }
        let text = &self.bytes[start..self.pos];
        let value: serde_json::Value = serde_json::from_slice(text).ok()?;
        (value.is_f64() && serde_json::to_vec(&value).ok()?.as_slice() == text).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> bool {
        canonical_object(text.as_bytes(), &mut Scratch::default()).is_some()
    }

    #[test]
    fn serde_json_output_is_canonical() {
        for text in [
            "{}",
            r#"{"a":1,"b":-2,"c":1.5,"d":[true,false,null],"e":{"f":"g"},"h":[]}"#,
            r#"{"m":"quote \" backslash \\ tab \t nl \n cr \r bs \b ff \f nul \u0000 us \u001f del \u007f é 😀"}"#,
            r#"{"big":18446744073709551615,"small":-9223372036854775808,"z":0,"f":1e300}"#,
        ] {
            let text = text.replace("\\u007f", "\u{7f}");
            let reserialised =
                serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&text).unwrap())
                    .unwrap();
            assert_eq!(
                canonical(&text),
                reserialised == text,
                "{text} vs {reserialised}"
            );
        }
        assert!(canonical(
            r#"{"m":"quote \" backslash \\ tab \t nl \n nul \u0000 us \u001f"}"#
        ));
    }

    #[test]
    fn anything_serde_json_would_write_differently_is_not() {
        for text in [
            r#"{ "a":1}"#,
            "{\"a\":1}\n",
            r#"{"a":"\/"}"#,
            r#"{"a":"\u0041"}"#,
            r#"{"a":"\u000A"}"#,
            r#"{"a":"\u000a"}"#,
            r#"{"a":"\u001F"}"#,
            r#"{"a":01}"#,
            r#"{"a":-0}"#,
            r#"{"a":1E5}"#,
            r#"{"a":1.50}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":-9223372036854775809}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"o":{"k":1,"k":1}}"#,
            r#"{"a":1}{"#,
            r#"{"a":1"#,
            r#"{"a":"x"#,
            "[1]",
            "\"x\"",
            "",
            "{\"a\":\"\u{1}\"}",
        ] {
            assert!(!canonical(text), "{text}");
        }
        let mut deep = String::from("{\"a\":");
        deep.push_str(&"[".repeat(100));
        deep.push_str(&"]".repeat(100));
        deep.push('}');
        assert!(!canonical(&deep));
        assert!(canonical_object(b"{\"a\":\"\xff\"}", &mut Scratch::default()).is_none());
    }

    #[test]
    fn large_objects_are_checked_for_duplicates_too() {
        let keys: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let unique = format!("{{{}}}", keys.join(","));
        assert!(canonical(&unique));
        let duplicate = format!("{{{},\"k7\":0}}", keys.join(","));
        assert!(!canonical(&duplicate));
    }

    #[test]
    fn the_root_members_are_found() {
        let text = r#"{"@timestamp":"t","@metadata":{"beat":"b"},"message":"m","tags":[],"x":{"message":1}}"#;
        let root = canonical_object(text.as_bytes(), &mut Scratch::default()).unwrap();
        assert_eq!(root.members, 5);
        let metadata = root.metadata.unwrap();
        assert_eq!(
            &text[metadata.start..metadata.end],
            r#""@metadata":{"beat":"b"}"#
        );
        assert_eq!(metadata.kind, Kind::Object);
        let message = root.message.unwrap();
        assert_eq!(&text[message.value_start..message.end], r#""m""#);
        assert_eq!(root.tags.unwrap().kind, Kind::Array);
        assert!(root.event.is_none() && root.line.is_none());
        assert_eq!(root.timestamp.unwrap().kind, Kind::String);
    }
}
