//! Evaluation: the compiled tree of a condition and what it answers for one event.
//!
//! The tree's leaves are precompiled field paths, JSON literals and compiled regexes, so
//! evaluating a condition is a few map look-ups and comparisons, with no allocation.

use crate::event::{Event, FieldPath};
use regex::Regex;
use serde_json::Value;
use std::cmp::Ordering;

#[derive(Debug, Clone)]
pub(super) enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    /// Exactly one side true (Logstash's `xor`).
    Xor(Box<Node>, Box<Node>),
    /// Not both sides true (Logstash's `nand`).
    Nand(Box<Node>, Box<Node>),
    Exists(FieldPath),
    Truthy(Operand),
    Compare(Operand, CompareOp, Operand),
    Matches(Operand, Box<Regex>),
    In(Operand, Operand),
}

#[derive(Debug, Clone)]
pub(super) enum Operand {
    Field(FieldPath),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CompareOp {
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
    pub(super) fn evaluate(&self, event: &Event) -> bool {
        match self {
            Self::Or(nodes) => nodes.iter().any(|n| n.evaluate(event)),
            Self::And(nodes) => nodes.iter().all(|n| n.evaluate(event)),
            Self::Not(node) => !node.evaluate(event),
            Self::Xor(left, right) => left.evaluate(event) != right.evaluate(event),
            Self::Nand(left, right) => !(left.evaluate(event) && right.evaluate(event)),
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
