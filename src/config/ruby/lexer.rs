//! Ruby's tokens, as far as the translated subset needs them.
//!
//! Ruby's lexical grammar depends on context in a few places the subset meets: a newline ends
//! a statement unless the line plainly continues (an open bracket, a trailing operator or
//! comma, a next line starting with `.`), and `/` starts a regular expression where a value
//! cannot end. Everything else the subset does not cover (heredocs, `%w[]`, `?a`) is lexed
//! as far as needed to name it in an error.

use super::RubyError;

/// One part of a double-quoted string: text, or the code of an interpolation `#{...}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    /// The interpolated code, as the character range of the whole source and where it starts.
    Code {
        start: usize,
        end: usize,
        line: usize,
        column: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name starting lower-case or `_`, keywords included (`if`, `end`), with a trailing
    /// `?` or `!` when it has one (`nil?`).
    Ident(String),
    /// A name starting upper-case (`Time`, `JSON`).
    Const(String),
    /// `@name`, `@@name` or `$name`.
    Variable(String),
    Int(i64),
    Float(f64),
    Str(Vec<Piece>),
    Regex {
        source: String,
        flags: String,
    },
    Symbol(String),
    Punct(&'static str),
    Newline,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
    pub column: usize,
    /// Whether white space separates this token from the previous one (`foo (x)` vs `foo(x)`).
    pub space_before: bool,
}

/// Longest first, so that `**=` is not read as `*`, `*`, `=`.
const PUNCTUATION: &[&str] = &[
    "**=", "<=>", "===", "...", "||=", "&&=", "&.", "**", "==", "!=", "=~", "!~", "<=", ">=", "&&",
    "||", "+=", "-=", "*=", "/=", "%=", "<<", ">>", "::", "..", "=>", "->", "(", ")", "[", "]",
    "{", "}", ",", ".", ";", "?", ":", "=", "<", ">", "+", "-", "*", "/", "%", "!", "&", "|", "^",
    "~",
];

/// After these a line goes on: `a +\n b`, `f(a,\n b)`.
const CONTINUES_LINE: &[&str] = &[
    "**=", "<=>", "===", "||=", "&&=", "&.", "**", "==", "!=", "=~", "!~", "<=", ">=", "&&", "||",
    "+=", "-=", "*=", "/=", "%=", "<<", ">>", "::", "=>", "(", "[", "{", ",", ".", "?", ":", "=",
    "<", ">", "+", "-", "*", "/", "%", "!", "&", "|", "^", "~",
];

pub struct Lexer<'a> {
    chars: &'a [char],
    pos: usize,
    end: usize,
    line: usize,
    column: usize,
    /// Open `(`, `[` and `{`: newlines inside them do not end a statement.
    depth: usize,
    tokens: Vec<Token>,
}

impl<'a> Lexer<'a> {
    /// A lexer for `chars[start..end]`, which begins at `line`:`column` of the code.
    pub fn new(chars: &'a [char], start: usize, end: usize, line: usize, column: usize) -> Self {
        Self {
            chars,
            pos: start,
            end,
            line,
            column,
            depth: 0,
            tokens: Vec::new(),
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        let at = self.pos + ahead;
        (at < self.end).then(|| self.chars[at])
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn error(&self, line: usize, column: usize, message: impl Into<String>) -> RubyError {
        RubyError {
            line,
            column,
            message: message.into(),
        }
    }

    fn push(&mut self, tok: Tok, line: usize, column: usize, space_before: bool) {
        self.tokens.push(Token {
            tok,
            line,
            column,
            space_before,
        });
    }

    /// Whether the previous token can end a value, so `/` after it divides.
    fn value_ended(&self) -> bool {
        match self.tokens.last().map(|t| &t.tok) {
            Some(Tok::Ident(name)) => !is_keyword(name),
            Some(Tok::Const(_) | Tok::Variable(_) | Tok::Int(_) | Tok::Float(_)) => true,
            Some(Tok::Str(_) | Tok::Regex { .. } | Tok::Symbol(_)) => true,
            Some(Tok::Punct(p)) => matches!(*p, ")" | "]" | "}"),
            _ => false,
        }
    }

    fn line_continues(&self) -> bool {
        if self.depth > 0 {
            return true;
        }
        match self.tokens.last().map(|t| &t.tok) {
            None | Some(Tok::Newline) => true,
            Some(Tok::Punct(p)) => CONTINUES_LINE.contains(p),
            Some(Tok::Ident(name)) => matches!(name.as_str(), "and" | "or" | "not"),
            _ => false,
        }
    }

    /// Whether the next line (after blanks and comments) starts with `.name` or `&.`.
    fn next_line_starts_with_dot(&self) -> bool {
        let mut at = self.pos;
        while at < self.end {
            match self.chars[at] {
                ' ' | '\t' | '\r' | '\n' => at += 1,
                '#' => {
                    while at < self.end && self.chars[at] != '\n' {
                        at += 1;
                    }
                }
                '.' => return at + 1 < self.end && self.chars[at + 1] != '.',
                '&' => return at + 1 < self.end && self.chars[at + 1] == '.',
                _ => return false,
            }
        }
        false
    }

    pub fn tokenize(mut self) -> Result<Vec<Token>, RubyError> {
        let mut space_before = false;
        while let Some(c) = self.peek(0) {
            let (line, column) = (self.line, self.column);
            match c {
                ' ' | '\t' | '\r' => {
                    self.bump();
                    space_before = true;
                    continue;
                }
                '\\' if self.peek(1) == Some('\n') => {
                    self.bump();
                    self.bump();
                    space_before = true;
                    continue;
                }
                '#' => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                    continue;
                }
                '\n' => {
                    self.bump();
                    space_before = true;
                    if column == 1 && self.starts_with("=begin") {
                        return Err(self.error(
                            line + 1,
                            1,
                            "`=begin` comments are not supported; use `#`",
                        ));
                    }
                    if !self.line_continues() && !self.next_line_starts_with_dot() {
                        self.push(Tok::Newline, line, column, false);
                    }
                    continue;
                }
                '"' | '`' => {
                    self.bump();
                    let pieces = self.double_quoted(c, line, column)?;
                    self.push(Tok::Str(pieces), line, column, space_before);
                }
                '\'' => {
                    self.bump();
                    let text = self.single_quoted(line, column)?;
                    self.push(
                        Tok::Str(vec![Piece::Text(text)]),
                        line,
                        column,
                        space_before,
                    );
                }
                '/' if !self.value_ended()
                    || (space_before && self.peek(1) != Some(' ') && self.previous_is_name()) =>
                {
                    self.bump();
                    let (source, flags) = self.regex(line, column)?;
                    self.push(Tok::Regex { source, flags }, line, column, space_before);
                }
                '0'..='9' => {
                    let tok = self.number(line, column)?;
                    self.push(tok, line, column, space_before);
                }
                '@' | '$' => {
                    let mut name = String::new();
                    while let Some(c) = self
                        .peek(0)
                        .filter(|c| *c == '@' || *c == '$' || is_name_char(*c))
                    {
                        name.push(c);
                        self.bump();
                    }
                    self.push(Tok::Variable(name), line, column, space_before);
                }
                ':' if self
                    .peek(1)
                    .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '"') =>
                {
                    self.bump();
                    let mut name = String::new();
                    while let Some(c) = self.peek(0).filter(|c| is_name_char(*c)) {
                        name.push(c);
                        self.bump();
                    }
                    self.push(Tok::Symbol(name), line, column, space_before);
                }
                '%' if !self.value_ended()
                    && self
                        .peek(1)
                        .is_some_and(|c| c.is_alphabetic() || "[({<|!".contains(c)) =>
                {
                    return Err(self.error(line, column, "`%` literals (`%w[]`, `%q()`...) are not supported; write the string or array out"));
                }
                c if c.is_alphabetic() || c == '_' => {
                    let mut name = String::new();
                    while let Some(c) = self.peek(0).filter(|c| is_name_char(*c)) {
                        name.push(c);
                        self.bump();
                    }
                    // `nil?`, `save!`, but not `a ? b : c` or `x != y`.
                    if let Some(mark @ ('?' | '!')) = self.peek(0) {
                        if self.peek(1) != Some('=') || self.peek(2) == Some('=') {
                            name.push(mark);
                            self.bump();
                        }
                    }
                    let tok = if name.starts_with(|c: char| c.is_uppercase()) {
                        Tok::Const(name)
                    } else {
                        Tok::Ident(name)
                    };
                    self.push(tok, line, column, space_before);
                }
                _ => {
                    let Some(punct) = PUNCTUATION.iter().find(|p| self.starts_with(p)) else {
                        return Err(self.error(
                            line,
                            column,
                            format!("unexpected character `{c}`"),
                        ));
                    };
                    for _ in 0..punct.chars().count() {
                        self.bump();
                    }
                    match *punct {
                        "(" | "[" | "{" => self.depth += 1,
                        ")" | "]" | "}" => self.depth = self.depth.saturating_sub(1),
                        _ => {}
                    }
                    self.push(Tok::Punct(punct), line, column, space_before);
                }
            }
            space_before = false;
        }
        let (line, column) = (self.line, self.column);
        self.push(Tok::Eof, line, column, space_before);
        Ok(self.tokens)
    }

    fn previous_is_name(&self) -> bool {
        matches!(self.tokens.last().map(|t| &t.tok), Some(Tok::Ident(_)))
    }

    fn starts_with(&self, text: &str) -> bool {
        text.chars()
            .enumerate()
            .all(|(i, c)| self.peek(i) == Some(c))
    }

    fn single_quoted(&mut self, line: usize, column: usize) -> Result<String, RubyError> {
        let mut text = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error(line, column, "unterminated string")),
                Some('\'') => return Ok(text),
                Some('\\') if matches!(self.peek(0), Some('\\' | '\'')) => {
                    text.extend(self.bump());
                }
                Some(c) => text.push(c),
            }
        }
    }

    fn double_quoted(
        &mut self,
        quote: char,
        line: usize,
        column: usize,
    ) -> Result<Vec<Piece>, RubyError> {
        if quote == '`' {
            return Err(self.error(line, column, "back-tick commands are not supported"));
        }
        let mut pieces = Vec::new();
        let mut text = String::new();
        loop {
            let (char_line, char_column) = (self.line, self.column);
            match self.bump() {
                None => return Err(self.error(line, column, "unterminated string")),
                Some('"') => break,
                Some('\\') => self.escape(&mut text, char_line, char_column)?,
                Some('#') if self.peek(0) == Some('{') => {
                    self.bump();
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    let (start, code_line, code_column) = (self.pos, self.line, self.column);
                    let mut depth = 1;
                    loop {
                        match self.peek(0) {
                            None => {
                                return Err(self.error(
                                    char_line,
                                    char_column,
                                    "unterminated `#{` interpolation",
                                ))
                            }
                            Some('{') => depth += 1,
                            Some('}') => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        self.bump();
                    }
                    pieces.push(Piece::Code {
                        start,
                        end: self.pos,
                        line: code_line,
                        column: code_column,
                    });
                    self.bump();
                }
                Some(c) => text.push(c),
            }
        }
        if !text.is_empty() || pieces.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(pieces)
    }

    /// A backslash escape of a double-quoted string (the backslash is consumed).
    fn escape(&mut self, text: &mut String, line: usize, column: usize) -> Result<(), RubyError> {
        let Some(c) = self.bump() else {
            return Err(self.error(line, column, "unterminated string"));
        };
        let simple = match c {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            '0' => Some('\0'),
            's' => Some(' '),
            'e' => Some('\u{1b}'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'v' => Some('\u{b}'),
            '\n' => None,
            'u' | 'x' => {
                let code = if c == 'u' && self.peek(0) == Some('{') {
                    self.bump();
                    let mut hex = String::new();
                    while let Some(h) = self.peek(0).filter(|h| *h != '}') {
                        hex.push(h);
                        self.bump();
                    }
                    self.bump();
                    hex
                } else {
                    let width = if c == 'u' { 4 } else { 2 };
                    let mut hex = String::new();
                    while hex.len() < width && self.peek(0).is_some_and(|h| h.is_ascii_hexdigit()) {
                        hex.extend(self.bump());
                    }
                    hex
                };
                let decoded = u32::from_str_radix(&code, 16).ok().and_then(char::from_u32);
                match decoded {
                    Some(decoded) => Some(decoded),
                    None => {
                        return Err(self.error(
                            line,
                            column,
                            format!("invalid escape `\\{c}{code}`"),
                        ))
                    }
                }
            }
            other => Some(other),
        };
        text.extend(simple);
        Ok(())
    }

    fn regex(&mut self, line: usize, column: usize) -> Result<(String, String), RubyError> {
        let mut source = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => {
                    return Err(self.error(line, column, "unterminated regular expression"))
                }
                Some('/') => break,
                Some('\\') => {
                    let Some(next) = self.bump() else {
                        return Err(self.error(line, column, "unterminated regular expression"));
                    };
                    if next != '/' {
                        source.push('\\');
                    }
                    source.push(next);
                }
                Some('#') if self.peek(0) == Some('{') => {
                    return Err(self.error(
                        line,
                        column,
                        "interpolation `#{}` in a regular expression is not supported",
                    ));
                }
                Some(c) => source.push(c),
            }
        }
        let mut flags = String::new();
        while let Some(flag) = self.peek(0).filter(|c| c.is_ascii_alphabetic()) {
            flags.push(flag);
            self.bump();
        }
        Ok((source, flags))
    }

    fn number(&mut self, line: usize, column: usize) -> Result<Tok, RubyError> {
        if self.peek(0) == Some('0') && self.peek(1).is_some_and(|c| "xXbBoO".contains(c)) {
            return Err(self.error(
                line,
                column,
                "hexadecimal, binary and octal literals are not supported",
            ));
        }
        let mut text = String::new();
        let mut float = false;
        loop {
            match self.peek(0) {
                Some(c @ '0'..='9') => {
                    text.push(c);
                    self.bump();
                }
                Some('_') if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => {
                    self.bump();
                }
                Some('.') if !float && self.peek(1).is_some_and(|c| c.is_ascii_digit()) => {
                    float = true;
                    text.push('.');
                    self.bump();
                }
                Some(e @ ('e' | 'E'))
                    if self.peek(1).is_some_and(|c| c.is_ascii_digit())
                        || (matches!(self.peek(1), Some('+' | '-'))
                            && self.peek(2).is_some_and(|c| c.is_ascii_digit())) =>
                {
                    float = true;
                    text.push(e);
                    self.bump();
                    if let Some(sign @ ('+' | '-')) = self.peek(0) {
                        text.push(sign);
                        self.bump();
                    }
                }
                _ => break,
            }
        }
        if float {
            text.parse()
                .map(Tok::Float)
                .map_err(|_| self.error(line, column, format!("invalid number `{text}`")))
        } else {
            text.parse().map(Tok::Int).map_err(|_| {
                self.error(
                    line,
                    column,
                    format!("the integer `{text}` does not fit in 64 bits"),
                )
            })
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Ruby's reserved words.
pub fn is_keyword(name: &str) -> bool {
    matches!(
        name,
        "alias"
            | "and"
            | "begin"
            | "break"
            | "case"
            | "class"
            | "def"
            | "defined?"
            | "do"
            | "else"
            | "elsif"
            | "end"
            | "ensure"
            | "false"
            | "for"
            | "if"
            | "in"
            | "module"
            | "next"
            | "nil"
            | "not"
            | "or"
            | "redo"
            | "rescue"
            | "retry"
            | "return"
            | "self"
            | "super"
            | "then"
            | "true"
            | "undef"
            | "unless"
            | "until"
            | "when"
            | "while"
            | "yield"
    )
}
