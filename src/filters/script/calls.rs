//! The functions a script calls, found in its text, so that `sluice validate` reports a
//! made-up or misspelt function (`mqtt_topic_root(topic)`) at its line and column instead of
//! every event failing with "Function not found" while the pipeline runs.
//!
//! Rhai resolves a call only when it runs it, and its AST can be walked only with the
//! `internals` feature, which exposes types Rhai calls unstable. So the call sites are found
//! by a small scanner of Rhai's lexical syntax: comments, strings (the `${...}` parts of
//! back-tick strings are code and are scanned), characters and numbers are skipped; a name
//! followed by `(` is a call unless it defines a function (`fn name(`), is qualified by a
//! module (`m::name(`, resolved by the import) or is a keyword. A method call (`x.name(`) is a
//! call of `name` too, except for names the script also uses as object-map keys (`#{ name:
//! ... }`, `x.name = ...`): a map may hold a function pointer under that name, which only
//! the run can tell. A closure held in a variable is called with `f.call(x)`; Rhai refuses
//! `f(x)` at run time, so that is reported as well.

use std::collections::BTreeSet;

/// One call site; line and column are 1-based, the column in characters (as Rhai counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub name: String,
    pub line: usize,
    pub column: usize,
}

/// Words Rhai's parser or evaluator handles itself: never a registered function.
const KEYWORDS: &[&str] = &[
    "as",
    "break",
    "call",
    "catch",
    "const",
    "continue",
    "curry",
    "debug",
    "do",
    "else",
    "eval",
    "export",
    "false",
    "fn",
    "Fn",
    "for",
    "global",
    "if",
    "import",
    "in",
    "is",
    "is_def_fn",
    "is_def_var",
    "is_shared",
    "let",
    "loop",
    "print",
    "private",
    "return",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "type_of",
    "until",
    "while",
];

/// What came before the current token, as far as calls are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    Other,
    Dot,
    PathSeparator,
    Fn,
}

struct Scanner {
    chars: Vec<char>,
    at: usize,
    line: usize,
    column: usize,
    calls: Vec<(Call, bool)>,
    map_keys: BTreeSet<String>,
    /// The text of the string literal just scanned, to recognise `"key": value`.
    last_string: Option<String>,
}

/// The calls of `text` that name a function, with method calls left out when their name is
/// also a map key.
pub fn calls(text: &str) -> Vec<Call> {
    let mut scanner = Scanner {
        chars: text.chars().collect(),
        at: 0,
        line: 1,
        column: 1,
        calls: Vec::new(),
        map_keys: BTreeSet::new(),
        last_string: None,
    };
    scanner.code(false);
    let Scanner {
        calls, map_keys, ..
    } = scanner;
    calls
        .into_iter()
        .filter(|(call, method)| !(*method && map_keys.contains(&call.name)))
        .map(|(call, _)| call)
        .collect()
}

impl Scanner {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    /// The next character after whitespace, without consuming anything.
    fn next_significant(&self) -> Option<(char, Option<char>)> {
        let mut i = self.at;
        while let Some(&c) = self.chars.get(i) {
            if !c.is_whitespace() {
                return Some((c, self.chars.get(i + 1).copied()));
            }
            i += 1;
        }
        None
    }

    /// Scans code until the end, or until the `}` closing an interpolation when
    /// `interpolation` is set (nested braces counted).
    fn code(&mut self, interpolation: bool) {
        let mut before = Before::Other;
        let mut depth = 0usize;
        while let Some(c) = self.peek(0) {
            match c {
                c if c.is_whitespace() => {
                    self.bump();
                    continue;
                }
                '/' if self.peek(1) == Some('/') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                    continue;
                }
                '/' if self.peek(1) == Some('*') => {
                    self.block_comment();
                    continue;
                }
                '"' => {
                    self.bump();
                    self.string('"');
                    self.string_key();
                }
                '`' => {
                    self.bump();
                    self.back_tick_string();
                }
                '\'' => {
                    self.bump();
                    self.string('\'');
                }
                '#' if matches!(self.peek(1), Some('#') | Some('"')) => self.raw_string(),
                c if c.is_ascii_digit() => {
                    while let Some(c) = self.peek(0) {
                        let fraction = c == '.' && self.peek(1).is_some_and(|n| n.is_ascii_digit());
                        if c.is_ascii_alphanumeric() || c == '_' || fraction {
                            self.bump();
                        } else {
                            break;
                        }
                    }
                }
                c if c.is_ascii_alphabetic() || c == '_' => {
                    let (line, column) = (self.line, self.column);
                    let mut name = String::new();
                    while let Some(c) = self.peek(0) {
                        if c.is_ascii_alphanumeric() || c == '_' {
                            name.push(c);
                            self.bump();
                        } else {
                            break;
                        }
                    }
                    let next = self.next_significant();
                    let is_call = matches!(next, Some(('(', _)));
                    // `fn name(`: a definition, not a call.
                    if is_call
                        && before != Before::Fn
                        && before != Before::PathSeparator
                        && !KEYWORDS.contains(&name.as_str())
                    {
                        let call = Call {
                            name: name.clone(),
                            line,
                            column,
                        };
                        self.calls.push((call, before == Before::Dot));
                    }
                    let is_key = matches!(next, Some((':', second)) if second != Some(':'));
                    let is_assigned = before == Before::Dot
                        && matches!(next, Some(('=', second)) if second != Some('='));
                    if is_key || is_assigned {
                        self.map_keys.insert(name.clone());
                    }
                    before = if name == "fn" {
                        Before::Fn
                    } else {
                        Before::Other
                    };
                    continue;
                }
                '.' => {
                    self.bump();
                    before = if self.peek(0) == Some('.') {
                        Before::Other
                    } else {
                        Before::Dot
                    };
                    continue;
                }
                ':' if self.peek(1) == Some(':') => {
                    self.bump();
                    self.bump();
                    before = Before::PathSeparator;
                    continue;
                }
                '{' => {
                    self.bump();
                    depth += 1;
                }
                '}' => {
                    if interpolation && depth == 0 {
                        self.bump();
                        return;
                    }
                    self.bump();
                    depth = depth.saturating_sub(1);
                }
                _ => {
                    self.bump();
                }
            }
            before = Before::Other;
        }
    }

    fn block_comment(&mut self) {
        self.bump();
        self.bump();
        let mut depth = 1;
        while depth > 0 {
            match (self.bump(), self.peek(0)) {
                (Some('/'), Some('*')) => {
                    self.bump();
                    depth += 1;
                }
                (Some('*'), Some('/')) => {
                    self.bump();
                    depth -= 1;
                }
                (None, _) => return,
                _ => {}
            }
        }
    }

    /// The rest of a string or character literal opened by `quote`.
    fn string(&mut self, quote: char) {
        let start = self.at;
        while let Some(c) = self.bump() {
            if c == '\\' {
                self.bump();
            } else if c == quote {
                break;
            }
        }
        // Keep the text for `string_key`.
        self.last_string = Some(
            self.chars[start..self.at.saturating_sub(1)]
                .iter()
                .collect(),
        );
    }

    /// A quoted map key (`#{"name": ...}`) is a map key like a bare one.
    fn string_key(&mut self) {
        let key = self.last_string.take();
        if let (Some(key), Some((':', second))) = (key, self.next_significant()) {
            if second != Some(':') {
                self.map_keys.insert(key);
            }
        }
    }

    fn back_tick_string(&mut self) {
        while let Some(c) = self.bump() {
            match c {
                '`' => return,
                '$' if self.peek(0) == Some('{') => {
                    self.bump();
                    self.code(true);
                }
                _ => {}
            }
        }
    }

    /// `#"..."#`, `##"..."##`, ...
    fn raw_string(&mut self) {
        let mut hashes = 0;
        while self.peek(0) == Some('#') {
            self.bump();
            hashes += 1;
        }
        if self.peek(0) != Some('"') {
            return;
        }
        self.bump();
        while let Some(c) = self.bump() {
            if c == '"' && (0..hashes).all(|i| self.peek(i) == Some('#')) {
                for _ in 0..hashes {
                    self.bump();
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<(String, usize, usize)> {
        calls(text)
            .into_iter()
            .map(|c| (c.name, c.line, c.column))
            .collect()
    }

    #[test]
    fn calls_and_method_calls_are_found_with_their_positions() {
        assert_eq!(
            names("let a = foo(1);\nevent.x = a.bar (2).baz();"),
            [
                ("foo".to_string(), 1, 9),
                ("bar".to_string(), 2, 13),
                ("baz".to_string(), 2, 21)
            ]
        );
    }

    #[test]
    fn definitions_keywords_modules_and_literals_are_not_calls() {
        let text = r##"
            fn own(a) { a }
            private fn hidden() { 1 }
            if (x) { while (y) { } }
            m::from_module(1);
            print(type_of(1)); f.call(2); Fn("name");
            "in_string(1)" 'c' #"raw(1)"# 1.5e3 0x1F
            // commented(1)
            /* block /* nested(1) */ still(1) */
        "##;
        assert!(names(text).is_empty(), "{:?}", names(text));
    }

    #[test]
    fn interpolations_are_code() {
        assert_eq!(
            names("let s = `a ${ inner(1) + `${ deeper() }` } b(1)`;"),
            [("inner".to_string(), 1, 15), ("deeper".to_string(), 1, 30)]
        );
    }

    #[test]
    fn methods_named_like_map_keys_may_be_function_pointers() {
        let text = "let m = #{ run: |x| x, \"go\": |x| x };\nm.after = |x| x;\nm.run(1); m.go(2); m.after(3); m.other(4); run(5);";
        let found: Vec<String> = names(text).into_iter().map(|(n, _, _)| n).collect();
        // A plain `run(5)` is a function call whatever the map holds.
        assert_eq!(found, ["other", "run"]);
    }
}
