//! Rhai text for a parsed snippet.
//!
//! Where Rhai and Ruby agree (comparisons, `+`, `len()`, `to_lower()`, `contains`) the Rhai
//! operator or method is emitted; where they differ, a `rb_*` helper of the script filter
//! gives Ruby's behaviour (see `filters::script` for the list). The three differences that
//! shape the output:
//!
//! - Truth: Ruby treats everything but `nil` and `false` as true (`0` and `""` included),
//!   Rhai's `if` takes booleans only. A condition that is not already a boolean becomes
//!   `rb_truthy(x)`; `a || b` used as a value (`x = a || "default"`) keeps Ruby's "first
//!   true operand" result.
//! - Scope: a Ruby local assigned inside an `if` lives on after it (and is `nil` when the
//!   branch did not run); Rhai's blocks scope their `let`s. Every local is therefore declared
//!   once at the top, as `()`.
//! - Out-of-range reads: `parts[5]` is `nil` in Ruby and an error in Rhai, so indexing goes
//!   through `rb_at`.

use super::parser::{Expr, Program, Stmt, StrPart, Target};
use super::RubyError;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Always a Rhai `bool`: usable as a condition as it is.
    Bool,
    /// Any value.
    Value,
}

struct Emitter {
    out: String,
    errors: Vec<RubyError>,
}

/// Words Rhai reserves, which a Ruby local may be named (`match = ...`).
const RHAI_RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "call",
    "case",
    "catch",
    "const",
    "continue",
    "curry",
    "debug",
    "default",
    "do",
    "else",
    "eval",
    "exit",
    "export",
    "fn",
    "Fn",
    "for",
    "global",
    "go",
    "goto",
    "if",
    "import",
    "in",
    "is",
    "is_def_fn",
    "is_def_var",
    "is_shared",
    "let",
    "loop",
    "match",
    "module",
    "new",
    "nil",
    "null",
    "package",
    "print",
    "private",
    "protected",
    "public",
    "return",
    "shared",
    "spawn",
    "static",
    "super",
    "switch",
    "sync",
    "this",
    "thread",
    "throw",
    "try",
    "type_of",
    "use",
    "var",
    "void",
    "while",
    "with",
    "yield",
    "until",
    "break",
];

/// The Rhai name of a Ruby local: as written unless Rhai reserves it or it could shadow a
/// helper.
pub fn local_name(name: &str) -> String {
    if RHAI_RESERVED.contains(&name) || name.starts_with("rb_") {
        format!("ruby_{name}")
    } else {
        name.to_string()
    }
}

/// The snippet as Rhai, or what could not be translated.
pub fn emit(program: &Program) -> Result<String, Vec<RubyError>> {
    let mut emitter = Emitter {
        out: String::new(),
        errors: Vec::new(),
    };
    for local in &program.locals {
        let _ = writeln!(emitter.out, "let {} = ();", local_name(local));
    }
    emitter.block(&program.statements, 0);
    if emitter.errors.is_empty() {
        Ok(emitter.out)
    } else {
        Err(emitter.errors)
    }
}

/// A Rhai string literal holding `text`.
pub fn string_literal(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('"');
    for c in text.chars() {
        match c {
            '"' => literal.push_str("\\\""),
            '\\' => literal.push_str("\\\\"),
            '\n' => literal.push_str("\\n"),
            '\t' => literal.push_str("\\t"),
            '\r' => literal.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(literal, "\\u{:04x}", u32::from(c));
            }
            c => literal.push(c),
        }
    }
    literal.push('"');
    literal
}

impl Emitter {
    fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..depth {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn unsupported(&mut self, message: String) -> String {
        // Emission errors have no position of their own; the parser gave every expression
        // its checks, so these are arity problems, reported at the snippet's start.
        self.errors.push(RubyError {
            line: 1,
            column: 1,
            message,
        });
        "()".into()
    }

    fn block(&mut self, statements: &[Stmt], depth: usize) {
        for statement in statements {
            self.statement(statement, depth);
        }
    }

    fn statement(&mut self, statement: &Stmt, depth: usize) {
        match statement {
            Stmt::Expr(expr) => {
                let (text, _) = self.expr(expr);
                self.line(depth, &format!("{text};"));
            }
            Stmt::Return => self.line(depth, "return;"),
            Stmt::Assign { target, op, value } => {
                let target = match target {
                    Target::Local(name) => local_name(name),
                    Target::Index { receiver, index } => {
                        let Expr::Local(name) = receiver else {
                            let text = self.unsupported(
                                "only a local variable's elements can be assigned (`x[i] = v`)"
                                    .into(),
                            );
                            self.line(depth, &format!("{text};"));
                            return;
                        };
                        let (index, _) = self.expr(index);
                        format!("{}[{index}]", local_name(name))
                    }
                };
                let (value, _) = self.expr(value);
                if *op == "||=" {
                    self.line(
                        depth,
                        &format!("if !rb_truthy({target}) {{ {target} = {value}; }}"),
                    );
                } else {
                    self.line(depth, &format!("{target} {op} {value};"));
                }
            }
            Stmt::If {
                branches,
                otherwise,
            } => {
                for (i, (condition, body)) in branches.iter().enumerate() {
                    let condition = self.condition(condition);
                    let keyword = if i == 0 { "if" } else { "} else if" };
                    self.line(depth, &format!("{keyword} {condition} {{"));
                    self.block(body, depth + 1);
                }
                if !otherwise.is_empty() {
                    self.line(depth, "} else {");
                    self.block(otherwise, depth + 1);
                }
                self.line(depth, "}");
            }
        }
    }

    /// `expr` as a Rhai boolean, with Ruby's truth.
    fn condition(&mut self, expr: &Expr) -> String {
        match self.expr(expr) {
            (text, Kind::Bool) => text,
            (text, Kind::Value) => format!("rb_truthy({text})"),
        }
    }

    fn expr(&mut self, expr: &Expr) -> (String, Kind) {
        match expr {
            Expr::Nil | Expr::Invalid => ("()".into(), Kind::Value),
            Expr::Bool(value) => (value.to_string(), Kind::Bool),
            Expr::Int(value) if *value < 0 => (format!("({value})"), Kind::Value),
            Expr::Int(value) => (value.to_string(), Kind::Value),
            Expr::Float(value) => (float_literal(*value), Kind::Value),
            Expr::Str(parts) => (self.string(parts), Kind::Value),
            Expr::Regex(pattern) => (string_literal(pattern), Kind::Value),
            Expr::Array(items) => {
                let items: Vec<String> = items.iter().map(|item| self.expr(item).0).collect();
                (format!("[{}]", items.join(", ")), Kind::Value)
            }
            Expr::Local(name) => (local_name(name), Kind::Value),
            Expr::Event => ("event".into(), Kind::Value),
            Expr::Index { receiver, index } => {
                let (receiver, _) = self.expr(receiver);
                let (index, _) = self.expr(index);
                (format!("rb_at({receiver}, {index})"), Kind::Value)
            }
            Expr::Call {
                receiver,
                method,
                args,
            } => self.call(receiver, method, args),
            Expr::Unary { op, operand } => {
                if *op == "!" {
                    let condition = self.condition(operand);
                    (format!("!{}", parenthesized(&condition)), Kind::Bool)
                } else {
                    let (operand, _) = self.expr(operand);
                    (format!("(-{operand})"), Kind::Value)
                }
            }
            Expr::Binary { op, left, right } => self.binary(op, left, right),
            Expr::Ternary {
                condition,
                then,
                otherwise,
            } => {
                let condition = self.condition(condition);
                let (then, then_kind) = self.expr(then);
                let (otherwise, otherwise_kind) = self.expr(otherwise);
                let kind = if then_kind == Kind::Bool && otherwise_kind == Kind::Bool {
                    Kind::Bool
                } else {
                    Kind::Value
                };
                (
                    format!("(if {condition} {{ {then} }} else {{ {otherwise} }})"),
                    kind,
                )
            }
        }
    }

    fn string(&mut self, parts: &[StrPart]) -> String {
        let pieces: Vec<String> = parts
            .iter()
            .map(|part| match part {
                StrPart::Text(text) => string_literal(text),
                StrPart::Code(expr) => {
                    let (text, _) = self.expr(expr);
                    format!("rb_to_s({text})")
                }
            })
            .collect();
        match pieces.len() {
            0 => "\"\"".into(),
            1 if matches!(parts.first(), Some(StrPart::Text(_))) => pieces.concat(),
            // `"" + x` makes the whole a string even when it starts with an interpolation.
            _ => format!("(\"\" + {})", pieces.join(" + ")),
        }
    }

    fn binary(&mut self, op: &str, left: &Expr, right: &Expr) -> (String, Kind) {
        match op {
            "&&" | "||" => {
                let (left_text, left_kind) = self.expr(left);
                let (right_text, right_kind) = self.expr(right);
                if left_kind == Kind::Bool && right_kind == Kind::Bool {
                    return (format!("({left_text} {op} {right_text})"), Kind::Bool);
                }
                // Ruby's value of `a && b` / `a || b` is one of the operands.
                let simple = matches!(
                    left,
                    Expr::Local(_) | Expr::Nil | Expr::Int(_) | Expr::Float(_) | Expr::Str(_)
                );
                let (binding, value) = if simple {
                    (String::new(), left_text)
                } else {
                    (
                        format!("let rb_value = {left_text}; "),
                        "rb_value".to_string(),
                    )
                };
                let (when_true, when_false) = if op == "&&" {
                    (right_text, value.clone())
                } else {
                    (value.clone(), right_text)
                };
                let choice =
                    format!("if rb_truthy({value}) {{ {when_true} }} else {{ {when_false} }}");
                if binding.is_empty() {
                    (format!("({choice})"), Kind::Value)
                } else {
                    (format!("{{ {binding}{choice} }}"), Kind::Value)
                }
            }
            "=~" | "!~" => {
                let (subject, pattern) = match (left, right) {
                    (Expr::Regex(_), _) => (right, left),
                    _ => (left, right),
                };
                let (subject, _) = self.expr(subject);
                let (pattern, _) = self.expr(pattern);
                let matched = format!("rb_match({subject}, {pattern})");
                if op == "=~" {
                    (matched, Kind::Value)
                } else {
                    (format!("({matched} == ())"), Kind::Bool)
                }
            }
            _ => {
                let (left, _) = self.expr(left);
                let (right, _) = self.expr(right);
                let kind = if matches!(op, "==" | "!=" | "<" | ">" | "<=" | ">=") {
                    Kind::Bool
                } else {
                    Kind::Value
                };
                (format!("({left} {op} {right})"), kind)
            }
        }
    }

    fn call(&mut self, receiver: &Expr, method: &str, args: &[Expr]) -> (String, Kind) {
        if *receiver == Expr::Event {
            return self.event_call(method, args);
        }
        let (object, _) = self.expr(receiver);
        let texts: Vec<String> = args.iter().map(|arg| self.expr(arg).0).collect();
        let value = |text: String| (text, Kind::Value);
        let boolean = |text: String| (text, Kind::Bool);
        match (method, texts.as_slice()) {
            ("length" | "size", []) => value(format!("{object}.len()")),
            ("to_i", []) => value(format!("rb_to_i({object})")),
            ("to_f", []) => value(format!("rb_to_f({object})")),
            ("to_s", []) => value(format!("rb_to_s({object})")),
            ("downcase", []) => value(format!("{object}.to_lower()")),
            ("upcase", []) => value(format!("{object}.to_upper()")),
            ("strip", []) => value(format!("rb_strip({object})")),
            ("split", []) => value(format!("rb_split({object}, ())")),
            ("split", [separator]) => {
                if matches!(args.first(), Some(Expr::Regex(_))) {
                    value(format!("rb_split_regex({object}, {separator})"))
                } else {
                    value(format!("rb_split({object}, {separator})"))
                }
            }
            ("gsub" | "sub", [pattern, replacement]) => {
                let regex = if matches!(args.first(), Some(Expr::Regex(_))) {
                    "_regex"
                } else {
                    ""
                };
                value(format!(
                    "rb_{method}{regex}({object}, {pattern}, {replacement})"
                ))
            }
            ("include?", [item]) => boolean(format!("{object}.contains({item})")),
            ("start_with?", [prefix]) => boolean(format!("{object}.starts_with({prefix})")),
            ("end_with?", [suffix]) => boolean(format!("{object}.ends_with({suffix})")),
            ("match?", [pattern]) => boolean(format!("(rb_match({object}, {pattern}) != ())")),
            ("nil?", []) => boolean(format!("({object} == ())")),
            ("empty?", []) => boolean(format!("{object}.is_empty()")),
            ("first", []) => value(format!("rb_at({object}, 0)")),
            ("last", []) => value(format!("rb_at({object}, -1)")),
            ("join", []) => value(format!("rb_join({object}, \"\")")),
            ("join", [separator]) => value(format!("rb_join({object}, {separator})")),
            ("abs", []) => value(format!("{object}.abs()")),
            (
                "length" | "size" | "to_i" | "to_f" | "to_s" | "downcase" | "upcase" | "strip"
                | "split" | "gsub" | "sub" | "include?" | "start_with?" | "end_with?" | "match?"
                | "nil?" | "empty?" | "first" | "last" | "join" | "abs",
                _,
            ) => value(self.unsupported(format!(
                "`{method}` with {} argument(s) is not supported by the ruby translation",
                args.len()
            ))),
            _ => value(self.unsupported(format!(
                "the method `{method}` is not supported by the ruby translation"
            ))),
        }
    }

    fn event_call(&mut self, method: &str, args: &[Expr]) -> (String, Kind) {
        let texts: Vec<String> = args.iter().map(|arg| self.expr(arg).0).collect();
        match (method, texts.as_slice()) {
            ("get", [field]) => (format!("event.get({field})"), Kind::Value),
            ("set", [field, value]) => (format!("event.set({field}, {value})"), Kind::Value),
            ("remove", [field]) => (format!("event.remove({field})"), Kind::Value),
            ("tag", [tag]) => (format!("event.tag({tag})"), Kind::Value),
            ("cancel", []) => ("event.cancel()".into(), Kind::Value),
            ("include?", [field]) => (format!("event.contains({field})"), Kind::Bool),
            ("sprintf", [template]) => (format!("event.sprintf({template})"), Kind::Value),
            ("get" | "set" | "remove" | "tag" | "cancel" | "include?" | "sprintf", _) => {
                let text = self.unsupported(format!(
                    "`event.{method}` with {} argument(s) is not supported",
                    args.len()
                ));
                (text, Kind::Value)
            }
            _ => {
                let text = self.unsupported(format!(
                    "`event.{method}` is not supported (supported: get, set, remove, tag, cancel, include?, sprintf)"
                ));
                (text, Kind::Value)
            }
        }
    }
}

fn parenthesized(text: &str) -> String {
    if text.starts_with('(') || !text.contains(' ') {
        text.to_string()
    } else {
        format!("({text})")
    }
}

/// A float literal Rhai reads back as the same float.
fn float_literal(value: f64) -> String {
    if value.is_finite() && value.abs() < 1e15 {
        let text = format!("{value:?}");
        if value < 0.0 {
            format!("({text})")
        } else {
            text
        }
    } else {
        format!("parse_float(\"{value:?}\")")
    }
}
