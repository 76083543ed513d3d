//! Splitting a byte stream into lines, with the file offset of every line.
//!
//! The tailer reads large chunks and most lines lie entirely inside one chunk; those are handed
//! out as slices of the chunk, without copying. Only a line cut by the chunk boundary is copied
//! into a carry-over buffer, and that buffer never grows past `max_line_bytes` (plus one byte
//! for a possible `\r`): the rest of an over-long line is skipped up to its newline, so one
//! runaway line cannot exhaust memory. Offsets are what checkpoints are made of: `offset` is
//! where a line starts and `end` is just past its newline, so resuming at an acknowledged `end`
//! always starts at a line boundary.

use memchr::memchr;

/// One complete line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line without its `\n` (and without a `\r` before it), at most `max_line_bytes`.
    pub bytes: &'a [u8],
    /// File offset of the line's first byte.
    pub offset: u64,
    /// File offset just past the line's newline (where the next line starts).
    pub end: u64,
    /// The line was longer than `max_line_bytes` and has been cut.
    pub truncated: bool,
}

impl Line<'_> {
    /// Empty or only ASCII whitespace: the file and stdin inputs skip such lines, as Filebeat
    /// skips empty ones, instead of sending events that hold nothing (and that a json filter
    /// would only tag `_jsonparsefailure`). A log line's first byte decides for almost every
    /// line, so this costs one comparison.
    pub fn is_blank(&self) -> bool {
        self.bytes.iter().all(u8::is_ascii_whitespace)
    }
}

/// Turns consecutive chunks of a file into [`Line`]s.
#[derive(Debug)]
pub struct LineSplitter {
    max_line_bytes: usize,
    /// The start of a line whose newline has not been read yet (capped).
    carry: Vec<u8>,
    /// File offset of the first byte in `carry`.
    carry_offset: u64,
    /// The carried line already exceeded the cap; its remaining bytes are being skipped.
    carry_truncated: bool,
    /// File offset just past the last byte fed.
    position: u64,
}

impl LineSplitter {
    /// A splitter whose next byte is at file offset `position`.
    pub fn new(max_line_bytes: usize, position: u64) -> Self {
        Self {
            max_line_bytes: max_line_bytes.max(1),
            carry: Vec::new(),
            carry_offset: position,
            carry_truncated: false,
            position,
        }
    }

    /// File offset just past the last byte fed: where reading continues.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Whether an incomplete line is waiting for its newline.
    pub fn has_partial_line(&self) -> bool {
        !self.carry.is_empty() || self.carry_truncated
    }

    /// Forgets any partial line and continues at `position` (truncation, a different file).
    pub fn reset(&mut self, position: u64) {
        self.carry.clear();
        self.carry_truncated = false;
        self.carry_offset = position;
        self.position = position;
    }

    /// Feeds the next bytes of the file; calls `emit` for every line they complete.
    pub fn feed(&mut self, chunk: &[u8], mut emit: impl FnMut(Line<'_>)) {
        let mut rest = chunk;
        let mut offset = self.position;
        while let Some(newline) = memchr(b'\n', rest) {
            let end = offset + newline as u64 + 1;
            let content = &rest[..newline];
            if self.has_partial_line() {
                self.append(content);
                let (bytes, truncated) =
                    finish_line(&self.carry, self.carry_truncated, self.max_line_bytes);
                emit(Line {
                    bytes,
                    offset: self.carry_offset,
                    end,
                    truncated,
                });
                self.carry.clear();
                self.carry_truncated = false;
            } else {
                let (bytes, truncated) = finish_line(content, false, self.max_line_bytes);
                emit(Line {
                    bytes,
                    offset,
                    end,
                    truncated,
                });
            }
            rest = &rest[newline + 1..];
            offset = end;
        }
        if !rest.is_empty() {
            if !self.has_partial_line() {
                self.carry_offset = offset;
            }
            self.append(rest);
        }
        self.position += chunk.len() as u64;
    }

    /// Emits the partial last line, if any, as if it were complete (end of a `--once` run).
    pub fn finish(&mut self, mut emit: impl FnMut(Line<'_>)) {
        if !self.has_partial_line() {
            return;
        }
        let (bytes, truncated) =
            finish_line(&self.carry, self.carry_truncated, self.max_line_bytes);
        emit(Line {
            bytes,
            offset: self.carry_offset,
            end: self.position,
            truncated,
        });
        self.carry.clear();
        self.carry_truncated = false;
        self.carry_offset = self.position;
    }

    /// Carries `piece` over, keeping at most `max_line_bytes + 1` bytes (the extra byte may be
    /// the `\r` of a line that is exactly `max_line_bytes` long).
    fn append(&mut self, piece: &[u8]) {
        if self.carry_truncated {
            return;
        }
        let room = (self.max_line_bytes + 1).saturating_sub(self.carry.len());
        if piece.len() > room {
            self.carry.extend_from_slice(&piece[..room]);
            self.carry_truncated = true;
        } else {
            self.carry.extend_from_slice(piece);
        }
    }
}

/// Strips the `\r` of a `\r\n` ending and applies the length cap.
fn finish_line(content: &[u8], already_truncated: bool, max: usize) -> (&[u8], bool) {
    let content = if already_truncated {
        content
    } else {
        content.strip_suffix(b"\r").unwrap_or(content)
    };
    if already_truncated || content.len() > max {
        (&content[..content.len().min(max)], true)
    } else {
        (content, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text, offset, end, truncated) of every line produced by feeding `chunks`.
    fn split(max: usize, chunks: &[&[u8]], finish: bool) -> Vec<(String, u64, u64, bool)> {
        let mut splitter = LineSplitter::new(max, 0);
        let mut lines = Vec::new();
        let mut collect = |line: Line<'_>| {
            lines.push((
                String::from_utf8_lossy(line.bytes).into_owned(),
                line.offset,
                line.end,
                line.truncated,
            ))
        };
        for chunk in chunks {
            splitter.feed(chunk, &mut collect);
        }
        if finish {
            splitter.finish(&mut collect);
        }
        lines
    }

    fn line(text: &str, offset: u64, end: u64) -> (String, u64, u64, bool) {
        (text.to_string(), offset, end, false)
    }

    #[test]
    fn lines_carry_their_start_and_end_offsets() {
        assert_eq!(
            split(100, &[b"one\ntwo\n\nthree\n"], false),
            vec![
                line("one", 0, 4),
                line("two", 4, 8),
                line("", 8, 9),
                line("three", 9, 15)
            ]
        );
    }

    #[test]
    fn empty_and_whitespace_only_lines_are_blank() {
        let blank: Vec<bool> = split(100, &[b"a\n\n \t\n\r\n \r\n x \n\xc2\xa0\n"], false)
            .iter()
            .map(|(text, ..)| {
                Line {
                    bytes: text.as_bytes(),
                    offset: 0,
                    end: 0,
                    truncated: false,
                }
                .is_blank()
            })
            .collect();
        // A no-break space is not ASCII whitespace: that line holds a character.
        assert_eq!(blank, vec![false, true, true, true, true, false, false]);
    }

    #[test]
    fn a_partial_line_waits_for_its_newline_across_chunks() {
        let mut splitter = LineSplitter::new(100, 0);
        let mut seen = Vec::new();
        splitter.feed(b"first\nsec", |l| seen.push(l.bytes.to_vec()));
        assert_eq!(seen, vec![b"first".to_vec()]);
        assert!(splitter.has_partial_line());
        splitter.feed(b"o", |l| seen.push(l.bytes.to_vec()));
        assert_eq!(seen.len(), 1, "no newline yet, nothing emitted");
        splitter.feed(b"nd\nthird", |l| seen.push(l.bytes.to_vec()));
        assert_eq!(seen, vec![b"first".to_vec(), b"second".to_vec()]);
        assert_eq!(splitter.position(), 18);
        assert_eq!(
            split(100, &[b"first\nsec", b"o", b"nd\nthird"], false)[1],
            line("second", 6, 13)
        );
    }

    #[test]
    fn finish_emits_the_partial_last_line_only_when_asked() {
        assert_eq!(split(100, &[b"a\npartial"], false), vec![line("a", 0, 2)]);
        assert_eq!(
            split(100, &[b"a\npartial"], true),
            vec![line("a", 0, 2), line("partial", 2, 9)]
        );
        assert_eq!(split(100, &[b"a\n"], true), vec![line("a", 0, 2)]);
    }

    #[test]
    fn crlf_endings_lose_their_carriage_return_even_across_chunks() {
        assert_eq!(
            split(100, &[b"dos\r\nunix\n"], false),
            vec![line("dos", 0, 5), line("unix", 5, 10)]
        );
        assert_eq!(
            split(100, &[b"dos\r", b"\nnext\r\n"], false),
            vec![line("dos", 0, 5), line("next", 5, 11)]
        );
        assert_eq!(
            split(100, &[b"a\rb\n"], false),
            vec![line("a\rb", 0, 4)],
            "only a carriage return right before the newline is stripped"
        );
    }

    #[test]
    fn over_long_lines_are_cut_tagged_and_the_rest_skipped() {
        let lines = split(4, &[b"abcdefgh\nok\n"], false);
        assert_eq!(
            lines,
            vec![("abcd".to_string(), 0, 9, true), line("ok", 9, 12)]
        );
        // Across chunks the carry-over never holds more than the cap (+1 for a `\r`).
        let mut splitter = LineSplitter::new(4, 0);
        let mut seen = Vec::new();
        for _ in 0..1000 {
            splitter.feed(b"xxxxxxxxxx", |l| seen.push(l.bytes.to_vec()));
            assert!(splitter.carry.capacity() <= 64);
        }
        splitter.feed(b"\nnext\n", |l| seen.push(l.bytes.to_vec()));
        assert_eq!(seen, vec![b"xxxx".to_vec(), b"next".to_vec()]);
    }

    #[test]
    fn a_line_of_exactly_the_cap_with_crlf_is_not_truncated() {
        assert_eq!(
            split(4, &[b"abc", b"d\r", b"\n"], false),
            vec![line("abcd", 0, 6)]
        );
        assert_eq!(
            split(4, &[b"abcde\r\n"], false),
            vec![("abcd".to_string(), 0, 7, true)]
        );
    }

    #[test]
    fn invalid_utf8_is_passed_through_as_bytes() {
        let mut splitter = LineSplitter::new(100, 0);
        let mut seen = Vec::new();
        splitter.feed(b"caf\xe9\n", |l| seen.push(l.bytes.to_vec()));
        assert_eq!(seen, vec![b"caf\xe9".to_vec()]);
        assert_eq!(String::from_utf8_lossy(&seen[0]), "caf\u{fffd}");
    }

    #[test]
    fn reset_forgets_the_partial_line() {
        let mut splitter = LineSplitter::new(100, 0);
        splitter.feed(b"stale partial", |_| {});
        splitter.reset(0);
        let mut seen = Vec::new();
        splitter.feed(b"fresh\n", |l| seen.push((l.bytes.to_vec(), l.offset)));
        assert_eq!(seen, vec![(b"fresh".to_vec(), 0)]);
    }

    proptest::proptest! {
        /// However the input is cut into chunks, the lines are the same as splitting it whole.
        #[test]
        fn chunking_does_not_change_the_lines(
            text in proptest::collection::vec(proptest::sample::select(vec![b'a', b'b', b'\r', b'\n']), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..10),
        ) {
            let whole = split(8, &[&text], true);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
            cuts.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut start = 0;
            for cut in cuts {
                chunks.push(&text[start..cut]);
                start = cut;
            }
            chunks.push(&text[start..]);
            proptest::prop_assert_eq!(split(8, &chunks, true), whole);
        }
    }
}
