//! Lexing: the condition text as tokens, each with the byte offset it starts at.

use super::eval::CompareOp;
use super::{error, ConditionError};
use crate::event::FieldPath;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum TokenKind {
    Field(String),
    Str(String),
    Number(f64, String),
    Regex(String),
    ListOpen,
    ListClose,
    Comma,
    ParenOpen,
    ParenClose,
    Op(CompareOp),
    Match,
    NotMatch,
    And,
    Or,
    Xor,
    Nand,
    Not,
    In,
    Exists,
    True,
    False,
    Null,
}

impl TokenKind {
    pub(super) fn describe(&self) -> String {
        match self {
            Self::Field(name) => format!("field `{name}`"),
            Self::Str(text) => format!("string {text:?}"),
            Self::Number(_, text) => format!("number `{text}`"),
            Self::Regex(text) => format!("regex `/{text}/`"),
            Self::ListOpen => "`[`".into(),
            Self::ListClose => "`]`".into(),
            Self::Comma => "`,`".into(),
            Self::ParenOpen => "`(`".into(),
            Self::ParenClose => "`)`".into(),
            Self::Op(op) => format!("`{}`", op_text(*op)),
            Self::Match => "`=~`".into(),
            Self::NotMatch => "`!~`".into(),
            Self::And => "`and`".into(),
            Self::Or => "`or`".into(),
            Self::Xor => "`xor`".into(),
            Self::Nand => "`nand`".into(),
            Self::Not => "`not`".into(),
            Self::In => "`in`".into(),
            Self::Exists => "`exists`".into(),
            Self::True => "`true`".into(),
            Self::False => "`false`".into(),
            Self::Null => "`null`".into(),
        }
    }
}

fn op_text(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Equal => "==",
        CompareOp::NotEqual => "!=",
        CompareOp::Less => "<",
        CompareOp::LessOrEqual => "<=",
        CompareOp::Greater => ">",
        CompareOp::GreaterOrEqual => ">=",
    }
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) kind: TokenKind,
    pub(super) offset: usize,
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '@'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '@' | '.' | '-')
}

struct Lexer<'a> {
    text: &'a str,
    position: usize,
    tokens: Vec<Token>,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.text[self.position..]
    }

    fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn push(&mut self, kind: TokenKind, offset: usize) {
        self.tokens.push(Token { kind, offset });
    }

    /// Whether a `[` at the current position opens a list (its first item is a literal).
    fn bracket_opens_list(&self) -> bool {
        let inner = self.rest()[1..].trim_start();
        match inner.chars().next() {
            None => true,
            Some(c) => {
                matches!(c, '"' | '\'' | ']' | '-' | '+' | '[') || c.is_ascii_digit() || {
                    let word: String = inner.chars().take_while(|c| is_name_char(*c)).collect();
                    let after = inner[word.len()..].trim_start();
                    matches!(word.as_str(), "true" | "false" | "null")
                        && matches!(after.chars().next(), Some(',' | ']'))
                }
            }
        }
    }

    fn bracket_field(&mut self) -> Result<(), ConditionError> {
        let start = self.position;
        let bytes = self.text.as_bytes();
        let mut position = self.position;
        while bytes.get(position) == Some(&b'[') {
            let Some(close) = self.text[position..].find(']') else {
                return Err(error(position, "unclosed `[` in a field reference"));
            };
            let segment = &self.text[position + 1..position + close];
            if segment.contains('[') {
                return Err(error(position, "`[` inside a field reference segment"));
            }
            position += close + 1;
        }
        let text = &self.text[start..position];
        FieldPath::parse(text).map_err(|e| error(start, e.to_string()))?;
        self.position = position;
        self.push(TokenKind::Field(text.to_string()), start);
        Ok(())
    }

    fn string(&mut self, quote: char) -> Result<(), ConditionError> {
        let start = self.position;
        let value = self.delimited(quote, |value, escaped| {
            value.push(match escaped {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                other => other,
            })
        });
        let value = value.ok_or_else(|| error(start, "unterminated string"))?;
        self.push(TokenKind::Str(value), start);
        Ok(())
    }

    fn regex(&mut self) -> Result<(), ConditionError> {
        let start = self.position;
        let pattern = self.delimited('/', |pattern, escaped| {
            if escaped != '/' {
                pattern.push('\\');
            }
            pattern.push(escaped);
        });
        let pattern =
            pattern.ok_or_else(|| error(start, "unterminated regex: close it with `/`"))?;
        self.push(TokenKind::Regex(pattern), start);
        Ok(())
    }

    /// The text from the opening delimiter at the current position to the first unescaped
    /// `close`, moving past it; `escape` writes what a backslash and the character after it
    /// stand for. `None` (nothing moved) when the text ends first.
    fn delimited(&mut self, close: char, escape: impl Fn(&mut String, char)) -> Option<String> {
        let start = self.position;
        let mut value = String::new();
        let mut chars = self.text[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => escape(&mut value, chars.next()?.1),
                c if c == close => {
                    self.position = start + 1 + i + c.len_utf8();
                    return Some(value);
                }
                c => value.push(c),
            }
        }
        None
    }

    fn number(&mut self) -> Result<(), ConditionError> {
        let start = self.position;
        let text = self.text;
        let rest = &text[start..];
        let mut length = 0;
        let mut previous = ' ';
        for (i, c) in rest.char_indices() {
            let sign_allowed = i == 0 || matches!(previous, 'e' | 'E');
            if c.is_ascii_digit()
                || matches!(c, '.' | 'e' | 'E' | '_')
                || (sign_allowed && matches!(c, '-' | '+'))
            {
                length = i + c.len_utf8();
                previous = c;
            } else {
                break;
            }
        }
        let literal = &rest[..length];
        let number: f64 = literal
            .replace('_', "")
            .parse()
            .map_err(|_| error(start, format!("invalid number `{literal}`")))?;
        if !number.is_finite() {
            return Err(error(start, format!("number `{literal}` is out of range")));
        }
        self.position += length;
        self.push(TokenKind::Number(number, literal.to_string()), start);
        Ok(())
    }

    fn word(&mut self) {
        let start = self.position;
        let length: usize = self
            .rest()
            .chars()
            .take_while(|c| is_name_char(*c))
            .map(char::len_utf8)
            .sum();
        let word = &self.text[start..start + length];
        self.position += length;
        let kind = match word {
            "and" => TokenKind::And,
            "or" => TokenKind::Or,
            "xor" => TokenKind::Xor,
            "nand" => TokenKind::Nand,
            "not" => TokenKind::Not,
            "in" => TokenKind::In,
            "exists" => TokenKind::Exists,
            "true" => TokenKind::True,
            "false" => TokenKind::False,
            "null" => TokenKind::Null,
            _ => TokenKind::Field(word.to_string()),
        };
        self.push(kind, start);
    }

    fn previous_is_match_operator(&self) -> bool {
        matches!(
            self.tokens.last().map(|t| &t.kind),
            Some(TokenKind::Match | TokenKind::NotMatch)
        )
    }

    /// Turns the whole text into tokens.
    fn run(mut self) -> Result<Vec<Token>, ConditionError> {
        while let Some(c) = self.peek_char() {
            let start = self.position;
            let two = self.rest().get(..2).unwrap_or("");
            match c {
                c if c.is_whitespace() => self.position += c.len_utf8(),
                '[' => {
                    if self.bracket_opens_list() {
                        self.operator(TokenKind::ListOpen, 1);
                    } else {
                        self.bracket_field()?;
                    }
                }
                ']' => self.operator(TokenKind::ListClose, 1),
                ',' => self.operator(TokenKind::Comma, 1),
                '(' => self.operator(TokenKind::ParenOpen, 1),
                ')' => self.operator(TokenKind::ParenClose, 1),
                '"' | '\'' => self.string(c)?,
                '/' if self.previous_is_match_operator() => self.regex()?,
                _ if two == "==" => self.operator(TokenKind::Op(CompareOp::Equal), 2),
                _ if two == "!=" => self.operator(TokenKind::Op(CompareOp::NotEqual), 2),
                _ if two == "<=" => self.operator(TokenKind::Op(CompareOp::LessOrEqual), 2),
                _ if two == ">=" => self.operator(TokenKind::Op(CompareOp::GreaterOrEqual), 2),
                _ if two == "=~" => self.operator(TokenKind::Match, 2),
                _ if two == "!~" => self.operator(TokenKind::NotMatch, 2),
                _ if two == "&&" => self.operator(TokenKind::And, 2),
                _ if two == "||" => self.operator(TokenKind::Or, 2),
                '<' => self.operator(TokenKind::Op(CompareOp::Less), 1),
                '>' => self.operator(TokenKind::Op(CompareOp::Greater), 1),
                '!' => self.operator(TokenKind::Not, 1),
                '=' => {
                    return Err(error(
                        start,
                        "`=` is not an operator: compare with `==`, match a regex with `=~`",
                    ))
                }
                c if c.is_ascii_digit()
                    || (matches!(c, '-' | '+')
                        && self.rest()[1..].starts_with(|d: char| d.is_ascii_digit())) =>
                {
                    self.number()?
                }
                c if is_name_start(c) => self.word(),
                other => {
                    return Err(error(start, format!("unexpected character `{other}`")));
                }
            }
        }
        Ok(self.tokens)
    }

    /// A token of `length` bytes at the current position: an operator or a punctuation mark.
    fn operator(&mut self, kind: TokenKind, length: usize) {
        let start = self.position;
        self.position += length;
        self.push(kind, start);
    }
}

pub(super) fn lex(text: &str) -> Result<Vec<Token>, ConditionError> {
    Lexer {
        text,
        position: 0,
        tokens: Vec::new(),
    }
    .run()
}
