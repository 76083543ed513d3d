//! Conditions: the `if = '...'` of filters and outputs.
//!
//! Why a small language of our own instead of a script engine: conditions run for every event
//! at every guarded stage, and almost all of them are `field == "literal"` tests. They are
//! parsed once when the pipeline loads into a tree whose leaves are precompiled
//! [`FieldPath`]s, JSON literals and compiled [`Regex`]es, so evaluating one is a couple of map
//! look-ups and comparisons with no allocation. Load-time errors carry the byte offset of the
//! offending token, which the config loader turns into `file:line:column`.
//!
//! # The language
//!
//! ```text
//! condition  := or
//! or         := and ( ("or" | "||") and )*
//! and        := unary ( ("and" | "&&") unary )*
//! unary      := ("not" | "!") unary | "exists" FIELD | "(" or ")" | comparison
//! comparison := operand [ op operand | "in" operand | "not" "in" operand
//!                       | ("=~" | "!~") REGEX ]
//! operand    := FIELD | STRING | NUMBER | true | false | null | LIST
//! op         := "==" | "!=" | "<" | "<=" | ">" | ">="
//! ```
//!
//! * **Fields**: `[details][topic]` (Logstash) or `details.topic` (dotted);
//!   `[@metadata][x]` / `@metadata.x` address metadata. A bracket is a list, not a field,
//!   when the first thing inside it is a literal (`["error", "warn"]`, `[1, 2]`, `[]`).
//! * **Literals**: `"double"` or `'single'` quoted strings (`\"`, `\\`, `\n`, `\t` escapes),
//!   numbers, `true`, `false`, `null`, lists of literals.
//! * **Truthiness**: a bare operand is a test: a field is false when missing, `null` or
//!   `false` (Logstash's `if [field]`); everything else, empty strings included, is true.
//! * **`exists FIELD`** is true when the field is present, even when it is `null` or `false`.
//!   It is a prefix operator (`exists details.topic`), chosen so it reads like `not`.
//! * **Equality** compares JSON values; numbers compare by value (`1 == 1.0`). A string is
//!   never equal to a number. A missing field equals nothing (`!=` is then true).
//! * **Ordering** (`<` `<=` `>` `>=`) compares numbers numerically and strings
//!   lexicographically. Unlike Logstash (where comparing a string with a number is an
//!   error), a string that parses as a number is compared numerically with a number, so a
//!   `durationMs` logged as `"1500"` still counts as slow. Anything else is false.
//! * **Regex** (`=~`, `!~`): the pattern is `/re/` (write `\/` for a slash) or a quoted
//!   string, compiled at load with the `regex` crate's syntax. Only strings match;
//!   `!~` is exactly `not (=~)`, so a missing field satisfies `!~`.
//! * **`in` / `not in`**: the right side is a list literal or an array field (membership by
//!   equality, e.g. `"_jsonparsefailure" in tags`), or a string (substring test).
//! * Keywords (`and or not in exists true false null`) are case-sensitive; to name a field
//!   called like a keyword use the bracket form (`[in]`).

use crate::event::{Event, FieldPath};
use regex::Regex;
use serde_json::Value;
use std::cmp::Ordering;
use std::fmt;

/// Deepest nesting of parentheses and `not`s accepted (keeps recursion bounded).
const MAX_DEPTH: usize = 64;

/// A compiled condition.
#[derive(Clone)]
pub struct Condition {
    source: String,
    root: Node,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition").field(&self.source).finish()
    }
}

/// Why a condition did not compile; `offset` is the byte offset in the condition text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConditionError {
    pub offset: usize,
    pub message: String,
}

impl Condition {
    /// Compiles `source`.
    pub fn compile(source: &str) -> Result<Self, ConditionError> {
        let tokens = lex(source)?;
        let mut parser = Parser {
            tokens,
            position: 0,
            end: source.len(),
            depth: 0,
        };
        let root = parser.or()?;
        if let Some(token) = parser.peek() {
            return Err(ConditionError {
                offset: token.offset,
                message: format!(
                    "unexpected {} after a complete condition (join conditions with `and` / `or`)",
                    token.kind.describe()
                ),
            });
        }
        Ok(Self {
            source: source.to_string(),
            root,
        })
    }

    /// Evaluates the condition against `event`.
    pub fn matches(&self, event: &Event) -> bool {
        self.root.evaluate(event)
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

#[derive(Debug, Clone)]
enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Exists(FieldPath),
    Truthy(Operand),
    Compare(Operand, CompareOp, Operand),
    Matches(Operand, Box<Regex>),
    In(Operand, Operand),
}

#[derive(Debug, Clone)]
enum Operand {
    Field(FieldPath),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CompareOp {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Operand {
    fn resolve<'a>(&'a self, event: &'a Event) -> Option<&'a Value> {
        match self {
            Self::Field(path) => event.get(path),
            Self::Literal(value) => Some(value),
        }
    }
}

impl Node {
    fn evaluate(&self, event: &Event) -> bool {
        match self {
            Self::Or(nodes) => nodes.iter().any(|n| n.evaluate(event)),
            Self::And(nodes) => nodes.iter().all(|n| n.evaluate(event)),
            Self::Not(node) => !node.evaluate(event),
            Self::Exists(path) => event.contains(path),
            Self::Truthy(operand) => !matches!(
                operand.resolve(event),
                None | Some(Value::Null | Value::Bool(false))
            ),
            Self::Compare(left, op, right) => {
                compare(left.resolve(event), *op, right.resolve(event))
            }
            Self::Matches(operand, regex) => match operand.resolve(event) {
                Some(Value::String(text)) => regex.is_match(text),
                _ => false,
            },
            Self::In(needle, haystack) => {
                let (Some(needle), Some(haystack)) =
                    (needle.resolve(event), haystack.resolve(event))
                else {
                    return false;
                };
                match haystack {
                    Value::Array(items) => items.iter().any(|item| values_equal(needle, item)),
                    Value::String(text) => match needle {
                        Value::String(part) => text.contains(part.as_str()),
                        _ => false,
                    },
                    _ => false,
                }
            }
        }
    }
}

fn compare(left: Option<&Value>, op: CompareOp, right: Option<&Value>) -> bool {
    match op {
        CompareOp::Equal => matches!((left, right), (Some(l), Some(r)) if values_equal(l, r)),
        CompareOp::NotEqual => !matches!((left, right), (Some(l), Some(r)) if values_equal(l, r)),
        _ => {
            let (Some(left), Some(right)) = (left, right) else {
                return false;
            };
            let Some(ordering) = order(left, right) else {
                return false;
            };
            match op {
                CompareOp::Less => ordering == Ordering::Less,
                CompareOp::LessOrEqual => ordering != Ordering::Greater,
                CompareOp::Greater => ordering == Ordering::Greater,
                CompareOp::GreaterOrEqual => ordering != Ordering::Less,
                CompareOp::Equal | CompareOp::NotEqual => false,
            }
        }
    }
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
fn values_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(l), Value::Number(r)) => {
            if let (Some(l), Some(r)) = (l.as_i64(), r.as_i64()) {
                l == r
            } else {
                l.as_f64() == r.as_f64()
            }
        }
        (Value::Array(l), Value::Array(r)) => {
            l.len() == r.len() && l.iter().zip(r).all(|(a, b)| values_equal(a, b))
        }
        _ => left == right,
    }
}

/// Orders numbers (and numeric strings against numbers) numerically, strings lexically.
fn order(left: &Value, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Value::String(l), Value::String(r)) => Some(l.cmp(r)),
        _ => {
            let l = numeric(left)?;
            let r = numeric(right)?;
            l.partial_cmp(&r)
        }
    }
}

/// A number, or a string holding one (see the module docs on numeric strings).
pub(crate) fn numeric(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Lexing

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
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
    Not,
    In,
    Exists,
    True,
    False,
    Null,
}

impl TokenKind {
    fn describe(&self) -> String {
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
struct Token {
    kind: TokenKind,
    offset: usize,
}

fn error(offset: usize, message: impl Into<String>) -> ConditionError {
    ConditionError {
        offset,
        message: message.into(),
    }
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
        let mut value = String::new();
        let mut chars = self.text[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, 'r')) => value.push('\r'),
                    Some((_, other)) => value.push(other),
                    None => break,
                },
                c if c == quote => {
                    self.position = start + 1 + i + c.len_utf8();
                    self.push(TokenKind::Str(value), start);
                    return Ok(());
                }
                c => value.push(c),
            }
        }
        Err(error(start, "unterminated string"))
    }

    fn regex(&mut self) -> Result<(), ConditionError> {
        let start = self.position;
        let mut pattern = String::new();
        let mut chars = self.text[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, '/')) => pattern.push('/'),
                    Some((_, other)) => {
                        pattern.push('\\');
                        pattern.push(other);
                    }
                    None => break,
                },
                '/' => {
                    self.position = start + 1 + i + 1;
                    self.push(TokenKind::Regex(pattern), start);
                    return Ok(());
                }
                c => pattern.push(c),
            }
        }
        Err(error(start, "unterminated regex: close it with `/`"))
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

    /// Whether the previous token ends an operand (so `[` after it cannot start a field).
    fn run(mut self) -> Result<Vec<Token>, ConditionError> {
        while let Some(c) = self.peek_char() {
            let start = self.position;
            let two = self.rest().get(..2).unwrap_or("");
            match c {
                c if c.is_whitespace() => self.position += c.len_utf8(),
                '[' => {
                    if self.bracket_opens_list() {
                        self.position += 1;
                        self.push(TokenKind::ListOpen, start);
                    } else {
                        self.bracket_field()?;
                    }
                }
                ']' => {
                    self.position += 1;
                    self.push(TokenKind::ListClose, start);
                }
                ',' => {
                    self.position += 1;
                    self.push(TokenKind::Comma, start);
                }
                '(' => {
                    self.position += 1;
                    self.push(TokenKind::ParenOpen, start);
                }
                ')' => {
                    self.position += 1;
                    self.push(TokenKind::ParenClose, start);
                }
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

    fn operator(&mut self, kind: TokenKind, length: usize) {
        let start = self.position;
        self.position += length;
        self.push(kind, start);
    }
}

fn lex(text: &str) -> Result<Vec<Token>, ConditionError> {
    Lexer {
        text,
        position: 0,
        tokens: Vec::new(),
    }
    .run()
}

// ---------------------------------------------------------------------------------------------
// Parsing

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    /// Length of the text, the offset reported for "unexpected end".
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn peek_kind(&self) -> Option<&TokenKind> {
        self.peek().map(|t| &t.kind)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        if token.is_some() {
            self.position += 1;
        }
        token
    }

    fn unexpected(&self, expected: &str) -> ConditionError {
        match self.peek() {
            Some(token) => error(
                token.offset,
                format!("expected {expected}, found {}", token.kind.describe()),
            ),
            None => error(
                self.end,
                format!("expected {expected}, but the condition ends here"),
            ),
        }
    }

    fn descend(&mut self) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let offset = self.peek().map_or(self.end, |t| t.offset);
            return Err(error(
                offset,
                format!("condition nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Node, ConditionError> {
        let mut nodes = vec![self.and()?];
        while self.peek_kind() == Some(&TokenKind::Or) {
            self.position += 1;
            nodes.push(self.and()?);
        }
        Ok(if nodes.len() == 1 {
            nodes.remove(0)
        } else {
            Node::Or(nodes)
        })
    }

    fn and(&mut self) -> Result<Node, ConditionError> {
        let mut nodes = vec![self.unary()?];
        while self.peek_kind() == Some(&TokenKind::And) {
            self.position += 1;
            nodes.push(self.unary()?);
        }
        Ok(if nodes.len() == 1 {
            nodes.remove(0)
        } else {
            Node::And(nodes)
        })
    }

    fn unary(&mut self) -> Result<Node, ConditionError> {
        match self.peek_kind() {
            Some(TokenKind::Not) => {
                self.position += 1;
                self.descend()?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Node::Not(Box::new(inner)))
            }
            Some(TokenKind::Exists) => {
                self.position += 1;
                match self.peek().cloned() {
                    Some(Token {
                        kind: TokenKind::Field(text),
                        offset,
                    }) => {
                        self.position += 1;
                        Ok(Node::Exists(
                            FieldPath::parse(&text).map_err(|e| error(offset, e.to_string()))?,
                        ))
                    }
                    _ => Err(self.unexpected("a field reference after `exists`")),
                }
            }
            Some(TokenKind::ParenOpen) => {
                let open = self.peek().map_or(0, |t| t.offset);
                self.position += 1;
                self.descend()?;
                let inner = self.or()?;
                self.depth -= 1;
                match self.peek_kind() {
                    Some(TokenKind::ParenClose) => {
                        self.position += 1;
                        Ok(inner)
                    }
                    _ => {
                        let mut e = self.unexpected("`)`");
                        if self.peek().is_none() {
                            // Pointing at the `(` gives its line and column in the file.
                            e.offset = open;
                            e.message = "unclosed `(`: no `)` closes it".to_string();
                        }
                        Err(e)
                    }
                }
            }
            _ => self.comparison(),
        }
    }

    fn comparison(&mut self) -> Result<Node, ConditionError> {
        let left = self.operand()?;
        match self.peek_kind().cloned() {
            Some(TokenKind::Op(op)) => {
                self.position += 1;
                let right = self.operand()?;
                Ok(Node::Compare(left, op, right))
            }
            Some(kind @ (TokenKind::Match | TokenKind::NotMatch)) => {
                self.position += 1;
                let regex = self.regex()?;
                let node = Node::Matches(left, Box::new(regex));
                Ok(if kind == TokenKind::NotMatch {
                    Node::Not(Box::new(node))
                } else {
                    node
                })
            }
            Some(TokenKind::In) => {
                self.position += 1;
                let right = self.operand()?;
                Ok(Node::In(left, right))
            }
            Some(TokenKind::Not)
                if self.tokens.get(self.position + 1).map(|t| &t.kind) == Some(&TokenKind::In) =>
            {
                self.position += 2;
                let right = self.operand()?;
                Ok(Node::Not(Box::new(Node::In(left, right))))
            }
            _ => Ok(Node::Truthy(left)),
        }
    }

    fn regex(&mut self) -> Result<Regex, ConditionError> {
        match self.peek().cloned() {
            Some(Token {
                kind: TokenKind::Regex(pattern) | TokenKind::Str(pattern),
                offset,
            }) => {
                self.position += 1;
                Regex::new(&pattern).map_err(|e| {
                    error(
                        offset,
                        format!("invalid regex: {}", e.to_string().replace('\n', " ")),
                    )
                })
            }
            _ => Err(self.unexpected("a regex (`/re/` or a quoted string) after `=~` / `!~`")),
        }
    }

    fn operand(&mut self) -> Result<Operand, ConditionError> {
        let Some(token) = self.next() else {
            return Err(self.unexpected("a field or a value"));
        };
        match token.kind {
            TokenKind::Field(text) => Ok(Operand::Field(
                FieldPath::parse(&text).map_err(|e| error(token.offset, e.to_string()))?,
            )),
            TokenKind::ListOpen => self.list(token.offset).map(Operand::Literal),
            _ => {
                self.position -= 1;
                match self.literal()? {
                    Some(value) => Ok(Operand::Literal(value)),
                    None => Err(self.unexpected("a field or a value")),
                }
            }
        }
    }

    /// A scalar literal, or `None` (nothing consumed) when the next token is not one.
    fn literal(&mut self) -> Result<Option<Value>, ConditionError> {
        let value = match self.peek_kind() {
            Some(TokenKind::Str(text)) => Value::String(text.clone()),
            Some(TokenKind::Number(number, text)) => number_value(*number, text),
            Some(TokenKind::True) => Value::Bool(true),
            Some(TokenKind::False) => Value::Bool(false),
            Some(TokenKind::Null) => Value::Null,
            _ => return Ok(None),
        };
        self.position += 1;
        Ok(Some(value))
    }

    fn list(&mut self, open: usize) -> Result<Value, ConditionError> {
        let mut items = Vec::new();
        loop {
            if self.peek_kind() == Some(&TokenKind::ListClose) {
                self.position += 1;
                return Ok(Value::Array(items));
            }
            if self.peek_kind() == Some(&TokenKind::ListOpen) {
                let nested = self.next().map_or(open, |t| t.offset);
                self.descend()?;
                items.push(self.list(nested)?);
                self.depth -= 1;
            } else {
                match self.literal()? {
                    Some(value) => items.push(value),
                    None if self.peek().is_none() => {
                        return Err(error(open, "unclosed `[` in a list"));
                    }
                    None => return Err(self.unexpected("a literal in the list")),
                }
            }
            match self.peek_kind() {
                Some(TokenKind::Comma) => self.position += 1,
                Some(TokenKind::ListClose) => {}
                None => return Err(error(open, "unclosed `[` in a list")),
                _ => return Err(self.unexpected("`,` or `]` in the list")),
            }
        }
    }
}

/// Integers stay integers so `==` against integer fields is exact.
fn number_value(number: f64, text: &str) -> Value {
    let clean = text.replace('_', "");
    if let Ok(integer) = clean.parse::<i64>() {
        return Value::from(integer);
    }
    serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests;
