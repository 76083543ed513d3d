//! The `.conf` text into a syntax tree, following Logstash's treetop grammar
//! (`logstash-core/lib/logstash/compiler/lscl/lscl_grammar.treetop`) rule by rule.
//!
//! A small recursive-descent parser rather than a parser crate: the grammar is twenty rules
//! with no ambiguity a PEG crate would resolve for us, and written by hand each rule can say
//! what it expected in the user's terms ("expected `=>` after the option name `port`")
//! at the byte it stopped at, which the front end turns into FILE:LINE:COL.
//!
//! Strings are kept as Logstash keeps them by default (`config.support_escapes: false`): the
//! text between the quotes, a backslash included, so `"\d+"` in a grok pattern is `\d+`.
//! Conditions are checked against the grammar and rendered in sluice's condition language
//! (which reads Logstash's field references, literals and operators as they are).

use std::fmt::Write as _;

pub use super::Pos;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    Input,
    Filter,
    Output,
}

#[derive(Debug, Clone)]
pub struct Section {
    pub kind: SectionKind,
    pub body: Vec<Node>,
}

#[derive(Debug, Clone)]
pub enum Node {
    Plugin(Plugin),
    Branch(Branch),
}

#[derive(Debug, Clone)]
pub struct Plugin {
    pub name: String,
    pub pos: Pos,
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Clone)]
pub struct Attribute {
    pub name: String,
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub struct Value {
    pub pos: Pos,
    pub kind: ValueKind,
}

#[derive(Debug, Clone)]
pub enum ValueKind {
    String(String),
    /// The number as written (`5044`, `-1.5`).
    Number(String),
    Bareword(String),
    Array(Vec<Value>),
    Hash(Vec<(String, Pos, Value)>),
    /// A plugin as a value (the grammar allows it; `codec => json { charset => "UTF-8" }`).
    Plugin(Plugin),
}

/// `if … else if … else …`: each arm's condition (`None` for `else`) and body.
#[derive(Debug, Clone)]
pub struct Branch {
    pub arms: Vec<Arm>,
}

#[derive(Debug, Clone)]
pub struct Arm {
    pub condition: Option<ConditionText>,
    pub body: Vec<Node>,
}

/// A condition rendered in sluice's condition language, with where it was written.
#[derive(Debug, Clone)]
pub struct ConditionText {
    pub text: String,
    pub pos: Pos,
    /// The field references the condition reads, as written (`[level]`, `[a][b]`).
    pub fields: Vec<String>,
}

/// A syntax error at a position.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Parses one file (`file` is its index, carried in every [`Pos`]).
pub fn parse(file: usize, text: &str) -> Result<Vec<Section>, SyntaxError> {
    let mut parser = Parser {
        file,
        text,
        position: 0,
        depth: 0,
        fields: Vec::new(),
    };
    let mut sections = Vec::new();
    loop {
        parser.skip_cs();
        if parser.at_end() {
            return Ok(sections);
        }
        sections.push(parser.section()?);
    }
}

/// Deepest nesting of blocks, arrays, hashes and parentheses (keeps recursion bounded).
const MAX_DEPTH: usize = 100;

struct Parser<'a> {
    file: usize,
    text: &'a str,
    position: usize,
    depth: usize,
    /// Field references met in the condition being parsed.
    fields: Vec<String>,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl<'a> Parser<'a> {
    fn pos(&self) -> Pos {
        Pos {
            file: self.file,
            offset: self.position,
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.position..]
    }

    fn at_end(&self) -> bool {
        self.position >= self.text.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            pos: self.pos(),
            message: message.into(),
        })
    }

    /// What is at the current position, for "expected X, found Y".
    fn found(&self) -> String {
        match self.peek() {
            None => "the end of the file".into(),
            Some('\n') | Some('\r') => "the end of the line".into(),
            Some(_) => {
                let word: String = self
                    .rest()
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .take(20)
                    .collect();
                format!("`{word}`")
            }
        }
    }

    fn expected<T>(&self, what: &str) -> Result<T, SyntaxError> {
        self.error(format!("expected {what}, found {}", self.found()))
    }

    /// `cs`: whitespace and `#` comments.
    fn skip_cs(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
            self.position += rest.len() - trimmed.len();
            if trimmed.starts_with('#') {
                let line = trimmed.find('\n').unwrap_or(trimmed.len());
                self.position += line;
            } else {
                return;
            }
        }
    }

    fn eat(&mut self, literal: &str) -> bool {
        if self.rest().starts_with(literal) {
            self.position += literal.len();
            true
        } else {
            false
        }
    }

    /// A keyword: `literal` not followed by a name character.
    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let rest = self.rest();
        if rest.starts_with(keyword) && !rest[keyword.len()..].starts_with(is_name_char) {
            self.position += keyword.len();
            true
        } else {
            false
        }
    }

    fn descend(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.error(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn section(&mut self) -> Result<Section, SyntaxError> {
        let kind = if self.eat_keyword("input") {
            SectionKind::Input
        } else if self.eat_keyword("filter") {
            SectionKind::Filter
        } else if self.eat_keyword("output") {
            SectionKind::Output
        } else {
            return self.expected("`input`, `filter` or `output`");
        };
        self.skip_cs();
        if !self.eat("{") {
            return self.expected("`{` after the section name");
        }
        let body = self.block_body()?;
        Ok(Section { kind, body })
    }

    /// `(branch_or_plugin cs)* "}"`, after the opening brace.
    fn block_body(&mut self) -> Result<Vec<Node>, SyntaxError> {
        self.descend()?;
        let mut body = Vec::new();
        loop {
            self.skip_cs();
            if self.eat("}") {
                self.depth -= 1;
                return Ok(body);
            }
            if self.at_end() {
                return self.expected("`}` closing the block");
            }
            if self.eat_keyword("if") {
                body.push(Node::Branch(self.branch()?));
            } else if self.rest().starts_with("else") && !self.rest()[4..].starts_with(is_name_char)
            {
                return self.error("`else` without an `if` before it");
            } else {
                body.push(Node::Plugin(self.plugin()?));
            }
        }
    }

    /// After `if`: `cs condition cs "{" body (cs else_if)* (cs else)?`.
    fn branch(&mut self) -> Result<Branch, SyntaxError> {
        let mut arms = vec![self.arm()?];
        loop {
            let before = self.position;
            self.skip_cs();
            if !self.eat_keyword("else") {
                self.position = before;
                return Ok(Branch { arms });
            }
            self.skip_cs();
            if self.eat_keyword("if") {
                arms.push(self.arm()?);
            } else {
                if !self.eat("{") {
                    return self.expected("`{` or `if` after `else`");
                }
                arms.push(Arm {
                    condition: None,
                    body: self.block_body()?,
                });
                return Ok(Branch { arms });
            }
        }
    }

    fn arm(&mut self) -> Result<Arm, SyntaxError> {
        self.skip_cs();
        let pos = self.pos();
        let mut text = String::new();
        self.fields.clear();
        self.condition(&mut text)?;
        let fields = std::mem::take(&mut self.fields);
        self.skip_cs();
        if !self.eat("{") {
            return self.expected("`{` after the condition (or `and`, `or`, `xor`, `nand`)");
        }
        Ok(Arm {
            condition: Some(ConditionText { text, pos, fields }),
            body: self.block_body()?,
        })
    }

    /// `name cs "{" cs attributes? cs "}"`.
    fn plugin(&mut self) -> Result<Plugin, SyntaxError> {
        let pos = self.pos();
        let name = self.name("a plugin name")?;
        self.skip_cs();
        if !self.eat("{") {
            return self.expected(&format!("`{{` after the plugin name `{name}`"));
        }
        self.descend()?;
        let mut attributes = Vec::new();
        loop {
            self.skip_cs();
            if self.eat("}") {
                self.depth -= 1;
                return Ok(Plugin {
                    name,
                    pos,
                    attributes,
                });
            }
            let attribute_pos = self.pos();
            let attribute = self.name(&format!("an option name or `}}` closing `{name}`"))?;
            self.skip_cs();
            if !self.eat("=>") {
                return self.expected(&format!("`=>` after the option name `{attribute}`"));
            }
            self.skip_cs();
            let value = self.value(true)?;
            attributes.push(Attribute {
                name: attribute,
                pos: attribute_pos,
                value,
            });
        }
    }

    /// `name`: `[A-Za-z0-9_-]+` or a string.
    fn name(&mut self, what: &str) -> Result<String, SyntaxError> {
        if let Some(quote @ ('"' | '\'')) = self.peek() {
            return self.string(quote);
        }
        let length: usize = self
            .rest()
            .chars()
            .take_while(|c| is_name_char(*c))
            .map(char::len_utf8)
            .sum();
        if length == 0 {
            return self.expected(what);
        }
        let name = self.rest()[..length].to_string();
        self.position += length;
        Ok(name)
    }

    /// A quoted string, without escape processing (see the module docs).
    fn string(&mut self, quote: char) -> Result<String, SyntaxError> {
        let start = self.pos();
        self.position += 1;
        let mut value = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '\\' && self.rest()[i + 1..].starts_with(quote) {
                // `\"` keeps its backslash too (Logstash's text_value), but does not close.
                value.push('\\');
                value.push(quote);
                chars.next();
            } else if c == quote {
                self.position += i + 1;
                return Ok(value);
            } else {
                value.push(c);
            }
        }
        Err(SyntaxError {
            pos: start,
            message: format!("string opened here is not closed (missing `{quote}`)"),
        })
    }

    /// `value`: plugin / bareword / string / number / array / hash.
    fn value(&mut self, plugin_allowed: bool) -> Result<Value, SyntaxError> {
        let pos = self.pos();
        let kind = match self.peek() {
            Some(quote @ ('"' | '\'')) => ValueKind::String(self.string(quote)?),
            Some('[') => {
                self.position += 1;
                self.descend()?;
                let mut items = Vec::new();
                self.skip_cs();
                if !self.eat("]") {
                    loop {
                        self.skip_cs();
                        items.push(self.value(true)?);
                        self.skip_cs();
                        if self.eat("]") {
                            break;
                        }
                        if !self.eat(",") {
                            return self.expected("`,` or `]` in the array");
                        }
                    }
                }
                self.depth -= 1;
                ValueKind::Array(items)
            }
            Some('{') => {
                self.position += 1;
                self.descend()?;
                let mut entries = Vec::new();
                loop {
                    self.skip_cs();
                    if self.eat("}") {
                        break;
                    }
                    let key_pos = self.pos();
                    let key = match self.peek() {
                        Some(quote @ ('"' | '\'')) => self.string(quote)?,
                        _ => self.name("a hash key or `}`")?,
                    };
                    if entries.iter().any(|(k, _, _)| *k == key) {
                        return Err(SyntaxError {
                            pos: key_pos,
                            message: format!("duplicate key `{key}` in the hash"),
                        });
                    }
                    self.skip_cs();
                    if !self.eat("=>") {
                        return self.expected(&format!("`=>` after the hash key `{key}`"));
                    }
                    self.skip_cs();
                    let value = self.value(true)?;
                    entries.push((key, key_pos, value));
                }
                self.depth -= 1;
                ValueKind::Hash(entries)
            }
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let number = self.number().map_or_else(|| self.expected("a value"), Ok)?;
                // `5044abc` is a bareword in no grammar rule: say so rather than split it.
                if self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                {
                    return self.expected("a separator after the number");
                }
                ValueKind::Number(number)
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let word = self.name("a value")?;
                let before = self.position;
                self.skip_cs();
                if plugin_allowed && self.peek() == Some('{') {
                    self.position = pos.offset;
                    ValueKind::Plugin(self.plugin()?)
                } else {
                    self.position = before;
                    if word.contains('-') {
                        return Err(SyntaxError {
                            pos,
                            message: format!("`{word}` is not a valid bareword: quote it"),
                        });
                    }
                    ValueKind::Bareword(word)
                }
            }
            _ => return self.expected("a value (string, number, bareword, array or hash)"),
        };
        Ok(Value { pos, kind })
    }

    /// `"-"? [0-9]+ ("." [0-9]*)?`
    fn number(&mut self) -> Option<String> {
        let rest = self.rest();
        let mut length = usize::from(rest.starts_with('-'));
        let digits = rest[length..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        if digits == 0 {
            return None;
        }
        length += digits;
        if rest[length..].starts_with('.') {
            length += 1;
            length += rest[length..]
                .chars()
                .take_while(char::is_ascii_digit)
                .count();
        }
        self.position += length;
        Some(rest[..length].to_string())
    }

    /// `condition := expression (cs boolean_operator cs expression)*`, rendered into `out`.
    fn condition(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        self.descend()?;
        self.expression(out)?;
        loop {
            let before = self.position;
            self.skip_cs();
            let operator = ["and", "or", "xor", "nand"]
                .into_iter()
                .find(|op| self.eat_keyword(op));
            match operator {
                Some(op) => {
                    let _ = write!(out, " {op} ");
                    self.skip_cs();
                    self.expression(out)?;
                }
                None => {
                    self.position = before;
                    self.depth -= 1;
                    return Ok(());
                }
            }
        }
    }

    /// `expression`: parenthesised condition, negation, or an rvalue with an optional
    /// comparison, `in`, `not in` or regex match.
    fn expression(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        if self.eat("(") {
            return self.parenthesised(out);
        }
        if self.rest().starts_with('!') && !self.rest().starts_with("!=") {
            self.position += 1;
            self.skip_cs();
            out.push_str("not ");
            if self.eat("(") {
                return self.parenthesised(out);
            }
            if self.peek() != Some('[') {
                return self.expected("a field reference `[name]` or `(` after `!`");
            }
            return self.selector(out);
        }
        self.rvalue(out)?;
        let before = self.position;
        self.skip_cs();
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            if self.eat(op) {
                let _ = write!(out, " {op} ");
                self.skip_cs();
                return self.rvalue(out);
            }
        }
        for op in ["=~", "!~"] {
            if self.eat(op) {
                let _ = write!(out, " {op} ");
                self.skip_cs();
                return match self.peek() {
                    Some('/') => self.regexp(out),
                    Some(quote @ ('"' | '\'')) => {
                        let pattern = self.string(quote)?;
                        push_regexp(out, &pattern);
                        Ok(())
                    }
                    _ => self.expected(&format!("a regular expression `/…/` after `{op}`")),
                };
            }
        }
        if self.eat_keyword("in") {
            out.push_str(" in ");
            self.skip_cs();
            return self.rvalue(out);
        }
        if self.rest().starts_with("not ") {
            let at = self.position;
            self.position += 4;
            self.skip_cs();
            if self.eat_keyword("in") {
                out.push_str(" not in ");
                self.skip_cs();
                return self.rvalue(out);
            }
            self.position = at;
        }
        self.position = before;
        Ok(())
    }

    /// After `(`: `cs condition cs ")"`.
    fn parenthesised(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        out.push('(');
        self.skip_cs();
        self.condition(out)?;
        self.skip_cs();
        if !self.eat(")") {
            return self.expected("`)` closing the parenthesis");
        }
        out.push(')');
        Ok(())
    }

    /// `rvalue := string / number / selector / array / method_call / regexp`.
    fn rvalue(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        match self.peek() {
            Some(quote @ ('"' | '\'')) => {
                let value = self.string(quote)?;
                push_string(out, &value);
                Ok(())
            }
            Some('/') => self.regexp(out),
            Some('[') => {
                // The grammar tries a selector first; a bracket holding a literal (a quote, a
                // digit, or nothing) is an array, as sluice's conditions read it too.
                let inner = self.rest()[1..].trim_start();
                if inner.starts_with(['"', '\'', ']'])
                    || inner.starts_with(|c: char| c.is_ascii_digit() || c == '-')
                {
                    self.array_literal(out)
                } else {
                    self.selector(out)
                }
            }
            Some(c) if c == '-' || c.is_ascii_digit() => match self.number() {
                Some(number) => {
                    out.push_str(&number);
                    Ok(())
                }
                None => self.expected("a value"),
            },
            Some(c) if c.is_ascii_alphabetic() => {
                self.error("method calls in conditions are not supported (Logstash does not implement them either); compare a field `[name]` with a value")
            }
            _ => self.expected("a field reference `[name]`, a string, a number or an array"),
        }
    }

    /// `selector := ("[" [^\][,]+ "]")+`
    fn selector(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        let start = self.position;
        while self.rest().starts_with('[') {
            let inner = &self.rest()[1..];
            let length = inner.find([']', '[', ',']).unwrap_or(inner.len());
            if length == 0 || !inner[length..].starts_with(']') {
                self.position += 1;
                return self.expected("a field name and `]`");
            }
            self.position += length + 2;
        }
        let selector = &self.text[start..self.position];
        self.fields.push(selector.to_string());
        out.push_str(selector);
        Ok(())
    }

    fn array_literal(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        self.position += 1;
        out.push('[');
        self.skip_cs();
        if !self.eat("]") {
            self.descend()?;
            loop {
                self.skip_cs();
                self.rvalue(out)?;
                self.skip_cs();
                if self.eat("]") {
                    break;
                }
                if !self.eat(",") {
                    return self.expected("`,` or `]` in the array");
                }
                out.push_str(", ");
            }
            self.depth -= 1;
        }
        out.push(']');
        Ok(())
    }

    /// `regexp := "/" ("\/" / !"/" .)* "/"`, kept as written (sluice reads `/…/` alike).
    fn regexp(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        let start = self.position;
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '/' => {
                    self.position += i + 1;
                    out.push_str(&self.text[start..self.position]);
                    return Ok(());
                }
                _ => {}
            }
        }
        self.error("regular expression not closed (missing `/`)")
    }
}

/// A string literal in sluice's condition syntax, meaning exactly `value`.
fn push_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A regex given as a string (`=~ "^a"`) in sluice's `/…/` form.
fn push_regexp(out: &mut String, pattern: &str) {
    out.push('/');
    for c in pattern.chars() {
        if c == '/' {
            out.push_str("\\/");
        } else {
            out.push(c);
        }
    }
    out.push('/');
}
