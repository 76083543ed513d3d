//! Parsing: tokens into the tree [`super::eval::Node`], by recursive descent over the
//! grammar in the module docs, nesting bounded by [`MAX_DEPTH`].

use super::eval::{Node, Operand};
use super::lexer::{lex, Token, TokenKind};
use super::{error, ConditionError};
use crate::event::FieldPath;
use regex::Regex;
use serde_json::Value;

/// Deepest nesting of parentheses and `not`s accepted (keeps recursion bounded).
const MAX_DEPTH: usize = 64;

/// Parses the whole of `source`.
pub(super) fn parse(source: &str) -> Result<Node, ConditionError> {
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
    Ok(root)
}

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
        self.paired(&TokenKind::Xor, Node::Xor, |parser| {
            parser.joined(&TokenKind::Or, Self::and, Node::Or)
        })
    }

    fn and(&mut self) -> Result<Node, ConditionError> {
        self.paired(&TokenKind::Nand, Node::Nand, |parser| {
            parser.joined(&TokenKind::And, Self::unary, Node::And)
        })
    }

    /// `part (operator part)*` for a two-sided operator (`xor`, `nand`), left-associative.
    fn paired(
        &mut self,
        operator: &TokenKind,
        pair: fn(Box<Node>, Box<Node>) -> Node,
        part: impl Fn(&mut Self) -> Result<Node, ConditionError>,
    ) -> Result<Node, ConditionError> {
        let mut node = part(self)?;
        while self.peek_kind() == Some(operator) {
            self.position += 1;
            node = pair(Box::new(node), Box::new(part(self)?));
        }
        Ok(node)
    }

    /// `part (joiner part)*`: the one part alone, or `join` of them all.
    fn joined(
        &mut self,
        joiner: &TokenKind,
        part: fn(&mut Self) -> Result<Node, ConditionError>,
        join: fn(Vec<Node>) -> Node,
    ) -> Result<Node, ConditionError> {
        let mut nodes = vec![part(self)?];
        while self.peek_kind() == Some(joiner) {
            self.position += 1;
            nodes.push(part(self)?);
        }
        Ok(if nodes.len() == 1 {
            nodes.remove(0)
        } else {
            join(nodes)
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
