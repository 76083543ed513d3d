//! The subset's syntax tree, parsed by recursive descent with Ruby's operator precedence.
//!
//! Local variables follow Ruby's rule: a name is a local from the first assignment to it in
//! the text onwards (whether or not that assignment runs), and a name that is not a local
//! is a method call, which the subset does not have; so `topic` read before `topic = ...` is
//! reported, as Ruby would raise `NameError` for it.
//!
//! Constructs outside the subset are recorded as errors and parsing goes on where the
//! structure allows it, so one translation reports every unsupported call; a syntax error
//! ends it.

use super::lexer::{is_keyword, Lexer, Piece, Tok, Token};
use super::methods::unsupported;
use super::RubyError;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string; interpolations are expressions.
    Str(Vec<StrPart>),
    Regex(String),
    Array(Vec<Expr>),
    Local(String),
    /// The `event` of the ruby filter.
    Event,
    Call {
        receiver: Box<Expr>,
        method: String,
        args: Vec<Expr>,
    },
    Index {
        receiver: Box<Expr>,
        index: Box<Expr>,
    },
    Unary {
        op: &'static str,
        operand: Box<Expr>,
    },
    Binary {
        op: &'static str,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Ternary {
        condition: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// Stands for something already reported as unsupported.
    Invalid,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StrPart {
    Text(String),
    Code(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Expr(Expr),
    Assign {
        target: Target,
        op: &'static str,
        value: Expr,
    },
    If {
        /// `if` and `elsif` branches in order.
        branches: Vec<(Expr, Vec<Stmt>)>,
        otherwise: Vec<Stmt>,
    },
    Return,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Local(String),
    Index { receiver: Expr, index: Expr },
}

/// A parsed snippet: its statements and its locals in order of first assignment.
#[derive(Debug)]
pub struct Program {
    pub statements: Vec<Stmt>,
    pub locals: Vec<String>,
}

type Parsed<T> = Result<T, RubyError>;

pub struct Parser<'a> {
    chars: &'a [char],
    tokens: Vec<Token>,
    at: usize,
    locals: Vec<String>,
    errors: Vec<RubyError>,
}

/// Parses the code; `Err` holds every problem found.
pub fn parse(code: &str) -> Result<Program, Vec<RubyError>> {
    let chars: Vec<char> = code.chars().collect();
    let tokens = Lexer::new(&chars, 0, chars.len(), 1, 1)
        .tokenize()
        .map_err(|e| vec![e])?;
    let mut parser = Parser {
        chars: &chars,
        tokens,
        at: 0,
        locals: Vec::new(),
        errors: Vec::new(),
    };
    match parser.block(&[]) {
        Ok(statements) => {
            if parser.errors.is_empty() {
                return Ok(Program {
                    statements,
                    locals: parser.locals,
                });
            }
        }
        Err(error) => parser.errors.push(error),
    }
    Err(parser.errors)
}

impl Parser<'_> {
    fn token(&self) -> &Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn tok(&self) -> &Tok {
        &self.token().tok
    }

    fn advance(&mut self) -> Token {
        let token = self.token().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        token
    }

    fn error_here(&self, message: impl Into<String>) -> RubyError {
        let token = self.token();
        RubyError {
            line: token.line,
            column: token.column,
            message: message.into(),
        }
    }

    fn error_at(token: &Token, message: impl Into<String>) -> RubyError {
        RubyError {
            line: token.line,
            column: token.column,
            message: message.into(),
        }
    }

    fn is_punct(&self, punct: &str) -> bool {
        matches!(self.tok(), Tok::Punct(p) if *p == punct)
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.tok(), Tok::Ident(name) if name == word)
    }

    fn eat_punct(&mut self, punct: &str) -> bool {
        let found = self.is_punct(punct);
        if found {
            self.advance();
        }
        found
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let found = self.is_word(word);
        if found {
            self.advance();
        }
        found
    }

    fn expect_punct(&mut self, punct: &str) -> Parsed<()> {
        if self.eat_punct(punct) {
            Ok(())
        } else {
            Err(self.error_here(format!("expected `{punct}`, found {}", self.describe())))
        }
    }

    fn describe(&self) -> String {
        match self.tok() {
            Tok::Ident(name) | Tok::Const(name) | Tok::Variable(name) => format!("`{name}`"),
            Tok::Int(value) => format!("`{value}`"),
            Tok::Float(value) => format!("`{value}`"),
            Tok::Str(_) => "a string".into(),
            Tok::Regex { .. } => "a regular expression".into(),
            Tok::Symbol(name) => format!("`:{name}`"),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Newline => "the end of the line".into(),
            Tok::Eof => "the end of the code".into(),
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.tok(), Tok::Newline) || self.is_punct(";") {
            self.advance();
        }
    }

    /// Statements up to one of the `closers` keywords (not consumed) or the end.
    fn block(&mut self, closers: &[&str]) -> Parsed<Vec<Stmt>> {
        let mut statements = Vec::new();
        loop {
            self.skip_separators();
            if matches!(self.tok(), Tok::Eof) {
                if closers.is_empty() {
                    return Ok(statements);
                }
                return Err(self.error_here(format!(
                    "expected {} before the end of the code",
                    closers
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )));
            }
            if closers.iter().any(|closer| self.is_word(closer)) {
                return Ok(statements);
            }
            if let Some(statement) = self.statement()? {
                statements.push(statement);
            }
            if !matches!(self.tok(), Tok::Newline | Tok::Eof)
                && !self.is_punct(";")
                && !closers.iter().any(|closer| self.is_word(closer))
            {
                return Err(self.error_here(format!(
                    "expected the end of the statement, found {}",
                    self.describe()
                )));
            }
        }
    }

    /// One statement with its `if`/`unless` modifiers; `None` when it was unsupported.
    fn statement(&mut self) -> Parsed<Option<Stmt>> {
        let mut statement = self.bare_statement()?;
        loop {
            let negate = if self.eat_word("if") {
                false
            } else if self.eat_word("unless") {
                true
            } else {
                if self.is_word("while") || self.is_word("until") || self.is_word("rescue") {
                    let word = self.describe();
                    return Err(self.error_here(format!("the {word} modifier is not supported")));
                }
                return Ok(statement);
            };
            let condition = self.expression()?;
            let condition = if negate {
                negated(condition)
            } else {
                condition
            };
            statement = statement.map(|s| Stmt::If {
                branches: vec![(condition, vec![s])],
                otherwise: Vec::new(),
            });
        }
    }

    fn bare_statement(&mut self) -> Parsed<Option<Stmt>> {
        let token = self.token().clone();
        if let Tok::Ident(word) = &token.tok {
            match word.as_str() {
                "if" | "unless" => {
                    self.advance();
                    return self.conditional(word == "unless").map(Some);
                }
                "return" => {
                    self.advance();
                    if !matches!(self.tok(), Tok::Newline | Tok::Eof)
                        && !self.is_punct(";")
                        && !self.is_word("if")
                        && !self.is_word("unless")
                    {
                        // The value of `return x` is ignored by the ruby filter.
                        self.expression()?;
                    }
                    return Ok(Some(Stmt::Return));
                }
                "case" | "while" | "until" | "for" | "begin" | "def" | "class" | "module"
                | "loop" | "next" | "break" | "yield" | "rescue" | "ensure" | "alias" | "undef"
                | "redo" | "retry" | "super" => {
                    return Err(Self::error_at(
                        &token,
                        format!("`{word}` is not supported by the ruby translation"),
                    ));
                }
                "event" if self.peek_assignment() => {
                    return Err(Self::error_at(&token, "`event` cannot be reassigned"));
                }
                _ if !is_keyword(word) && self.peek_assignment() => {
                    self.advance();
                    let op = self.assignment_op();
                    let value = self.expression()?;
                    if !self.locals.contains(word) {
                        if op != "=" && op != "||=" {
                            return Err(Self::error_at(
                                &token,
                                format!("`{word}` is used with `{op}` before it is assigned"),
                            ));
                        }
                        self.locals.push(word.clone());
                    }
                    return Ok(Some(Stmt::Assign {
                        target: Target::Local(word.clone()),
                        op,
                        value,
                    }));
                }
                _ => {}
            }
        }
        if let Tok::Variable(name) | Tok::Const(name) = &token.tok {
            if matches!(
                self.tokens.get(self.at + 1).map(|t| &t.tok),
                Some(Tok::Punct("="))
            ) {
                return Err(Self::error_at(
                    &token,
                    format!(
                        "assigning `{name}` is not supported; use a local variable or event.set"
                    ),
                ));
            }
        }
        let expr = self.expression()?;
        if matches!(self.tok(), Tok::Punct("=" | "+=" | "-=" | "*=" | "||=")) {
            let op = self.assignment_op();
            let value = self.expression()?;
            return match expr {
                Expr::Index { receiver, index } if matches!(*receiver, Expr::Local(_)) => Ok(Some(Stmt::Assign {
                    target: Target::Index {
                        receiver: *receiver,
                        index: *index,
                    },
                    op,
                    value,
                })),
                Expr::Invalid => Ok(None),
                _ => Err(Self::error_at(
                    &token,
                    "only local variables and their elements (`x[i] = v`) can be assigned; use event.set for fields",
                )),
            };
        }
        Ok(Some(Stmt::Expr(expr)))
    }

    fn peek_assignment(&self) -> bool {
        matches!(
            self.tokens.get(self.at + 1).map(|t| &t.tok),
            Some(Tok::Punct("=" | "+=" | "-=" | "*=" | "||="))
        )
    }

    fn assignment_op(&mut self) -> &'static str {
        match self.advance().tok {
            Tok::Punct(op) => op,
            _ => "=",
        }
    }

    /// After `if`/`unless`: condition, branches, `end`.
    fn conditional(&mut self, unless: bool) -> Parsed<Stmt> {
        let condition = self.expression()?;
        self.eat_word("then");
        let body = self.block(&["elsif", "else", "end"])?;
        let mut branches = vec![(
            if unless {
                negated(condition)
            } else {
                condition
            },
            body,
        )];
        let mut otherwise = Vec::new();
        loop {
            if !unless && self.eat_word("elsif") {
                let condition = self.expression()?;
                self.eat_word("then");
                branches.push((condition, self.block(&["elsif", "else", "end"])?));
            } else if self.eat_word("else") {
                otherwise = self.block(&["end"])?;
            } else if self.eat_word("end") {
                return Ok(Stmt::If {
                    branches,
                    otherwise,
                });
            } else {
                return Err(self.error_here(format!("expected `end`, found {}", self.describe())));
            }
        }
    }

    /// The full expression grammar, `not`/`and`/`or` included.
    pub fn expression(&mut self) -> Parsed<Expr> {
        let mut left = self.not_expression()?;
        loop {
            let op = if self.eat_word("and") {
                "&&"
            } else if self.eat_word("or") {
                "||"
            } else {
                return Ok(left);
            };
            let right = self.not_expression()?;
            left = binary(op, left, right);
        }
    }

    fn not_expression(&mut self) -> Parsed<Expr> {
        if self.eat_word("not") {
            return Ok(negated(self.not_expression()?));
        }
        self.ternary()
    }

    fn ternary(&mut self) -> Parsed<Expr> {
        let condition = self.or()?;
        if !self.eat_punct("?") {
            return Ok(condition);
        }
        let then = self.ternary()?;
        self.expect_punct(":")?;
        let otherwise = self.ternary()?;
        Ok(Expr::Ternary {
            condition: Box::new(condition),
            then: Box::new(then),
            otherwise: Box::new(otherwise),
        })
    }

    fn or(&mut self) -> Parsed<Expr> {
        let mut left = self.and()?;
        while self.eat_punct("||") {
            left = binary("||", left, self.and()?);
        }
        Ok(left)
    }

    fn and(&mut self) -> Parsed<Expr> {
        let mut left = self.equality()?;
        while self.eat_punct("&&") {
            left = binary("&&", left, self.equality()?);
        }
        Ok(left)
    }

    fn equality(&mut self) -> Parsed<Expr> {
        let left = self.comparison()?;
        for op in ["==", "!=", "=~", "!~"] {
            if self.eat_punct(op) {
                return Ok(binary(op, left, self.comparison()?));
            }
        }
        for op in ["===", "<=>"] {
            if self.is_punct(op) {
                self.errors
                    .push(self.error_here(format!("the operator `{op}` is not supported")));
                self.advance();
                self.comparison()?;
                return Ok(Expr::Invalid);
            }
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Parsed<Expr> {
        let mut left = self.additive()?;
        loop {
            let Some(op) = ["<=", ">=", "<", ">"]
                .into_iter()
                .find(|op| self.is_punct(op))
            else {
                return Ok(left);
            };
            self.advance();
            left = binary(op, left, self.additive()?);
        }
    }

    fn additive(&mut self) -> Parsed<Expr> {
        let mut left = self.multiplicative()?;
        loop {
            let Some(op) = ["+", "-"].into_iter().find(|op| self.is_punct(op)) else {
                return Ok(left);
            };
            self.advance();
            left = binary(op, left, self.multiplicative()?);
        }
    }

    fn multiplicative(&mut self) -> Parsed<Expr> {
        let mut left = self.unary()?;
        loop {
            let Some(op) = ["*", "/", "%"].into_iter().find(|op| self.is_punct(op)) else {
                if ["**", "<<", ">>", "&", "|", "^", "..", "..."]
                    .iter()
                    .any(|op| self.is_punct(op))
                {
                    let op = self.describe();
                    return Err(self.error_here(format!("the operator {op} is not supported")));
                }
                return Ok(left);
            };
            self.advance();
            left = binary(op, left, self.unary()?);
        }
    }

    fn unary(&mut self) -> Parsed<Expr> {
        if self.eat_punct("!") {
            return Ok(negated(self.unary()?));
        }
        if self.eat_punct("-") {
            return Ok(match self.unary()? {
                Expr::Int(value) => Expr::Int(-value),
                Expr::Float(value) => Expr::Float(-value),
                operand => Expr::Unary {
                    op: "-",
                    operand: Box::new(operand),
                },
            });
        }
        if self.eat_punct("+") {
            return self.unary();
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Parsed<Expr> {
        let mut expr = self.primary()?;
        loop {
            if self.is_punct("&.") {
                self.errors.push(
                    self.error_here("safe navigation `&.` is not supported; test `x.nil?` first"),
                );
                self.advance();
                expr = Expr::Invalid;
                continue;
            }
            if self.is_punct("[") && !self.token().space_before {
                self.advance();
                let index = self.expression()?;
                if self.is_punct(",") {
                    return Err(self.error_here("`x[start, length]` slices are not supported"));
                }
                self.expect_punct("]")?;
                expr = Expr::Index {
                    receiver: Box::new(expr),
                    index: Box::new(index),
                };
                continue;
            }
            if !self.eat_punct(".") {
                return Ok(expr);
            }
            let name_token = self.advance();
            let method = match &name_token.tok {
                Tok::Ident(name) | Tok::Const(name) => name.clone(),
                _ => {
                    return Err(Self::error_at(
                        &name_token,
                        "expected a method name after `.`",
                    ))
                }
            };
            let args = self.arguments()?;
            if self.is_word("do") || (self.is_punct("{") && self.token().space_before) {
                return Err(self.error_here(format!(
                    "blocks (`{method} do |x| ... end`, `{{ |x| ... }}`) are not supported"
                )));
            }
            if let Some(problem) = unsupported(expr == Expr::Event, &method, args.len()) {
                self.errors.push(Self::error_at(&name_token, problem));
                expr = Expr::Invalid;
                continue;
            }
            expr = Expr::Call {
                receiver: Box::new(expr),
                method,
                args,
            };
        }
    }

    /// `(a, b)` or, without parentheses, `a, b` up to the end of the line.
    fn arguments(&mut self) -> Parsed<Vec<Expr>> {
        let mut args = Vec::new();
        if self.is_punct("(") && !self.token().space_before {
            self.advance();
            if self.eat_punct(")") {
                return Ok(args);
            }
            loop {
                args.push(self.ternary()?);
                if self.eat_punct(")") {
                    return Ok(args);
                }
                self.expect_punct(",")?;
            }
        }
        let starts_argument = self.token().space_before
            && match self.tok() {
                Tok::Str(_) | Tok::Int(_) | Tok::Float(_) | Tok::Regex { .. } | Tok::Const(_) => {
                    true
                }
                Tok::Ident(name) => {
                    !is_keyword(name) || matches!(name.as_str(), "nil" | "true" | "false")
                }
                Tok::Punct("(") => true,
                _ => false,
            };
        if !starts_argument {
            return Ok(args);
        }
        loop {
            args.push(self.ternary()?);
            if !self.eat_punct(",") {
                return Ok(args);
            }
        }
    }

    fn primary(&mut self) -> Parsed<Expr> {
        let token = self.advance();
        match token.tok.clone() {
            Tok::Int(value) => Ok(Expr::Int(value)),
            Tok::Float(value) => Ok(Expr::Float(value)),
            Tok::Str(pieces) => self.string(pieces).map(Expr::Str),
            Tok::Regex { source, flags } => regex(&token, &source, &flags),
            Tok::Punct("(") => {
                self.skip_separators();
                let expr = self.expression()?;
                self.skip_separators();
                self.expect_punct(")")?;
                Ok(expr)
            }
            Tok::Punct("[") => {
                let mut items = Vec::new();
                if self.eat_punct("]") {
                    return Ok(Expr::Array(items));
                }
                loop {
                    items.push(self.ternary()?);
                    if self.eat_punct("]") {
                        return Ok(Expr::Array(items));
                    }
                    self.expect_punct(",")?;
                    if self.eat_punct("]") {
                        return Ok(Expr::Array(items));
                    }
                }
            }
            Tok::Ident(name) => match name.as_str() {
                "nil" => Ok(Expr::Nil),
                "true" => Ok(Expr::Bool(true)),
                "false" => Ok(Expr::Bool(false)),
                "event" => Ok(Expr::Event),
                _ if self.locals.contains(&name) => Ok(Expr::Local(name)),
                _ if is_keyword(&name) => Err(Self::error_at(
                    &token,
                    format!("`{name}` is not supported here by the ruby translation"),
                )),
                _ => {
                    // A method of `self` (`puts x`, `require "json"`): skip its arguments so
                    // the rest of the code is still checked.
                    self.arguments()?;
                    self.errors.push(Self::error_at(
                        &token,
                        format!(
                            "`{name}` is neither a local variable assigned before this line nor a supported method"
                        ),
                    ));
                    Ok(Expr::Invalid)
                }
            },
            Tok::Const(name) => {
                self.errors.push(Self::error_at(
                    &token,
                    format!("the constant `{name}` is not supported (no Ruby classes or modules)"),
                ));
                while self.eat_punct("::") {
                    self.advance();
                }
                Ok(Expr::Invalid)
            }
            Tok::Variable(name) => {
                self.errors.push(Self::error_at(
                    &token,
                    format!("`{name}`: instance and global variables are not supported (no `init` state between events)"),
                ));
                Ok(Expr::Invalid)
            }
            Tok::Symbol(name) => {
                self.errors.push(Self::error_at(
                    &token,
                    format!("the symbol `:{name}` is not supported; use a string"),
                ));
                Ok(Expr::Invalid)
            }
            Tok::Punct("{") => Err(Self::error_at(&token, "hash literals are not supported")),
            Tok::Punct("->") => Err(Self::error_at(&token, "lambdas are not supported")),
            _ => {
                self.at = self.at.saturating_sub(1);
                Err(self.error_here(format!("expected a value, found {}", self.describe())))
            }
        }
    }

    /// Parses the interpolations of a string with this parser's locals.
    fn string(&mut self, pieces: Vec<Piece>) -> Parsed<Vec<StrPart>> {
        let mut parts = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Text(text) => parts.push(StrPart::Text(text)),
                Piece::Code {
                    start,
                    end,
                    line,
                    column,
                } => {
                    let tokens = Lexer::new(self.chars, start, end, line, column).tokenize()?;
                    let saved_tokens = std::mem::replace(&mut self.tokens, tokens);
                    let saved_at = std::mem::replace(&mut self.at, 0);
                    let parsed = self.interpolation();
                    self.tokens = saved_tokens;
                    self.at = saved_at;
                    parts.push(StrPart::Code(parsed?));
                }
            }
        }
        Ok(parts)
    }

    fn interpolation(&mut self) -> Parsed<Expr> {
        self.skip_separators();
        if matches!(self.tok(), Tok::Eof) {
            return Ok(Expr::Str(Vec::new()));
        }
        let expr = self.expression()?;
        self.skip_separators();
        if !matches!(self.tok(), Tok::Eof) {
            return Err(self.error_here(format!(
                "expected `}}` after the interpolated value, found {}",
                self.describe()
            )));
        }
        Ok(expr)
    }
}

/// A regular expression literal as the pattern string the `regex` crate reads, with Ruby's
/// flags as inline flags (Ruby's `m` is the `s` flag elsewhere).
fn regex(token: &Token, source: &str, flags: &str) -> Parsed<Expr> {
    let mut inline = String::new();
    for flag in flags.chars() {
        match flag {
            'i' => inline.push('i'),
            'm' => inline.push('s'),
            'x' => inline.push('x'),
            other => {
                return Err(Parser::error_at(
                    token,
                    format!("the regular expression flag `{other}` is not supported"),
                ))
            }
        }
    }
    let pattern = if inline.is_empty() {
        source.to_string()
    } else {
        format!("(?{inline}){source}")
    };
    // Ruby's `\h` is a hex digit, `\Z` the end before a final newline; the rest of the common
    // syntax is shared.
    let pattern = pattern
        .replace("\\h", "[0-9a-fA-F]")
        .replace("\\Z", "\\n?\\z");
    regex::Regex::new(&pattern).map_err(|e| {
        Parser::error_at(
            token,
            format!("the regular expression /{source}/ is not supported: {e}"),
        )
    })?;
    Ok(Expr::Regex(pattern))
}

fn binary(op: &'static str, left: Expr, right: Expr) -> Expr {
    Expr::Binary {
        op,
        left: Box::new(left),
        right: Box::new(right),
    }
}

fn negated(expr: Expr) -> Expr {
    Expr::Unary {
        op: "!",
        operand: Box::new(expr),
    }
}
