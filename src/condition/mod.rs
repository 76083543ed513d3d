//! Conditions: the `if = '...'` of filters and outputs.
//!
//! Why a small language of our own instead of a script engine: conditions run for every event
//! at every guarded stage, and almost all of them are `field == "literal"` tests. They are
//! parsed once when the pipeline loads into a tree whose leaves are precompiled
//! [`FieldPath`]s, JSON literals and compiled [`Regex`]es, so evaluating one is a couple of map
//! look-ups and comparisons with no allocation. Load-time errors carry the byte offset of the
//! offending token, which the config loader turns into `file:line:column`.
//!
//! [`FieldPath`]: crate::event::FieldPath
//! [`Regex`]: regex::Regex
//!
//! Three steps, one file each: `lexer.rs` turns the text into tokens, `parser.rs` turns the
//! tokens into the tree (checking the grammar below), and `eval.rs` holds the tree and answers
//! it for an event. `shared.rs` answers the conditions of a filter chain together, each
//! distinct `and`-ed part once per event while no filter may have changed what it reads.
//!
//! # The language
//!
//! ```text
//! condition  := or
//! or         := and ( ("or" | "||" | "xor") and )*
//! and        := unary ( ("and" | "&&" | "nand") unary )*
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
//! * **`xor`** (exactly one side true) binds like `or`, **`nand`** (not both true) like
//!   `and`; both are left-associative, as in Logstash, whose `.conf` conditions use them.
//! * Keywords (`and or xor nand not in exists true false null`) are case-sensitive; to name a field
//!   called like a keyword use the bracket form (`[in]`).

mod eval;
mod lexer;
mod parser;
mod shared;

pub(crate) use eval::numeric;
pub use shared::{Forget, Memo, SharedCondition, SharedTests};

use crate::event::Event;
use std::fmt;

/// A compiled condition.
#[derive(Clone)]
pub struct Condition {
    source: String,
    root: eval::Node,
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
        let root = parser::parse(source)?;
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

/// A load-time error at byte `offset` (the lexer's and the parser's).
fn error(offset: usize, message: impl Into<String>) -> ConditionError {
    ConditionError {
        offset,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests;
