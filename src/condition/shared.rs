//! The conditions of a filter chain, answered once per event for each distinct part.
//!
//! Why: pipelines guard every filter with the same test (the seed's six filters all start
//! with `[fields][service] == "mqtt"`), and evaluating it again at every stage is a field
//! look-up and a comparison each time, for an answer that cannot have changed unless a
//! filter in between wrote a field it reads. So each stage's condition is split into its
//! `and`-ed parts, equal parts of different stages are kept once ([`SharedTests`]), and a
//! [`Memo`] per event remembers each part's answer until a stage that ran may have written
//! a field the part reads: each filter declares what it may write
//! ([`crate::filters::FilterType::writes`]), and a filter that does not (json, mutate, a
//! script, any filter with `add_field` & co.) or that failed (failure tags) forgets every
//! answer. Which answers a stage forgets is worked out once, when the chain is built.
//!
//! A condition's parts are evaluated in order and the first false one answers, as `and`
//! does; evaluating a part has no side effects, so answering it from the memo changes
//! nothing but the work done.

use super::eval::{Node, Operand};
use super::Condition;
use crate::event::{Event, FieldPath};

/// The distinct `and`-ed parts of a chain's conditions.
#[derive(Debug, Default)]
pub struct SharedTests {
    /// Each part with the fields it reads, and the key it is found by when built.
    tests: Vec<Test>,
}

#[derive(Debug)]
struct Test {
    node: Node,
    reads: Vec<FieldPath>,
    /// The part's compiled form as text: equal parts have equal keys.
    key: String,
}

/// A condition as the parts of a [`SharedTests`] that must all hold.
#[derive(Debug, Clone)]
pub struct SharedCondition {
    parts: Box<[usize]>,
}

/// Which parts' answers a stage forgets after it ran.
#[derive(Debug, Clone)]
pub enum Forget {
    /// Every answer (the stage may write anything).
    All,
    /// The answers of these parts (they read a field the stage may write).
    Parts(Box<[usize]>),
}

/// The answers known for one event: unknown, false or true, one per part.
#[derive(Debug, Default)]
pub struct Memo {
    answers: Vec<Option<bool>>,
}

impl SharedTests {
    /// Adds `condition`'s parts (those not already there) and answers which they are.
    pub fn add(&mut self, condition: &Condition) -> SharedCondition {
        let conjuncts: Vec<&Node> = match &condition.root {
            Node::And(nodes) => nodes.iter().collect(),
            other => vec![other],
        };
        let parts = conjuncts
            .into_iter()
            .map(|node| {
                let key = format!("{node:?}");
                match self.tests.iter().position(|test| test.key == key) {
                    Some(index) => index,
                    None => {
                        let mut reads = Vec::new();
                        node.fields_read(&mut reads);
                        self.tests.push(Test {
                            node: node.clone(),
                            reads,
                            key,
                        });
                        self.tests.len() - 1
                    }
                }
            })
            .collect();
        SharedCondition { parts }
    }

    /// What a stage that may write `writes` (`None`: anything) forgets after it ran.
    pub fn forget(&self, writes: Option<&[FieldPath]>) -> Forget {
        let Some(writes) = writes else {
            return Forget::All;
        };
        let parts = self
            .tests
            .iter()
            .enumerate()
            .filter(|(_, test)| {
                test.reads
                    .iter()
                    .any(|read| writes.iter().any(|written| overlap(read, written)))
            })
            .map(|(index, _)| index)
            .collect();
        Forget::Parts(parts)
    }

    /// A memo with every answer unknown, for the first event.
    pub fn memo(&self) -> Memo {
        Memo {
            answers: vec![None; self.tests.len()],
        }
    }

    /// Whether `event` meets `condition`, from `memo` where it knows the answer.
    pub fn matches(&self, condition: &SharedCondition, event: &Event, memo: &mut Memo) -> bool {
        condition.parts.iter().all(|&part| {
            *memo.answers[part].get_or_insert_with(|| self.tests[part].node.evaluate(event))
        })
    }
}

impl Memo {
    /// Forgets every answer: the next event starts.
    pub fn reset(&mut self) {
        self.answers.fill(None);
    }

    /// Forgets what a stage that just ran may have changed.
    pub fn forget(&mut self, forget: &Forget) {
        match forget {
            Forget::All => self.reset(),
            Forget::Parts(parts) => {
                for &part in parts.iter() {
                    self.answers[part] = None;
                }
            }
        }
    }
}

/// Whether writing `written` may change what `read` finds: one is the other or lies inside
/// it (writing `[a]` replaces `[a][b]`; writing `[a][b]` changes `[a]`).
fn overlap(read: &FieldPath, written: &FieldPath) -> bool {
    read.root() == written.root()
        && read
            .segments()
            .iter()
            .zip(written.segments())
            .all(|(r, w)| r == w)
}

impl Node {
    /// Every field the node reads, into `reads`.
    fn fields_read(&self, reads: &mut Vec<FieldPath>) {
        let operand = |operand: &Operand, reads: &mut Vec<FieldPath>| {
            if let Operand::Field(path) = operand {
                reads.push(path.clone());
            }
        };
        match self {
            Self::Or(nodes) | Self::And(nodes) => {
                for node in nodes {
                    node.fields_read(reads);
                }
            }
            Self::Not(node) => node.fields_read(reads),
            Self::Xor(left, right) | Self::Nand(left, right) => {
                left.fields_read(reads);
                right.fields_read(reads);
            }
            Self::Exists(path) => reads.push(path.clone()),
            Self::Truthy(value) | Self::Matches(value, _) => operand(value, reads),
            Self::Compare(left, _, right) | Self::In(left, right) => {
                operand(left, reads);
                operand(right, reads);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(text: &str) -> FieldPath {
        FieldPath::parse(text).unwrap()
    }

    fn compile(text: &str) -> Condition {
        Condition::compile(text).unwrap()
    }

    #[test]
    fn equal_parts_of_different_conditions_are_kept_once() {
        let mut tests = SharedTests::default();
        let first = tests.add(&compile(r#"[fields][service] == "mqtt""#));
        let second = tests.add(&compile(r#"[fields][service] == "mqtt" and [category]"#));
        let third = tests.add(&compile(r#"[category] or [fields][service] == "mqtt""#));
        assert_eq!(*first.parts, [0]);
        assert_eq!(*second.parts, [0, 1]);
        assert_eq!(*third.parts, [2]);
    }

    #[test]
    fn a_write_overlaps_the_reads_inside_and_around_it() {
        for (read, written, overlaps) in [
            ("[a][b]", "[a][b]", true),
            ("[a][b]", "[a]", true),
            ("[a]", "[a][b]", true),
            ("[a][b]", "[a][c]", false),
            ("[a]", "[b]", false),
            ("[@metadata][a]", "[a]", false),
            ("[@metadata][a]", "[@metadata][a]", true),
        ] {
            assert_eq!(
                overlap(&path(read), &path(written)),
                overlaps,
                "{read} {written}"
            );
        }
    }

    #[test]
    fn a_stage_forgets_the_parts_reading_what_it_writes_and_the_memo_answers_the_rest() {
        let mut tests = SharedTests::default();
        let condition = tests.add(&compile(r#"[a] == 1 and exists [b][c] and [d] =~ /x/"#));
        let Forget::Parts(parts) = tests.forget(Some(&[path("b")])) else {
            panic!("declared writes forget parts");
        };
        assert_eq!(*parts, [1]);
        assert!(matches!(tests.forget(None), Forget::All));
        let mut memo = tests.memo();
        let event = Event::from_value(json!({"a": 1, "b": {"c": null}, "d": "xy"}));
        assert!(tests.matches(&condition, &event, &mut memo));
        assert_eq!(memo.answers, [Some(true); 3]);
        // The memo answers, whatever the event now says.
        let other = Event::from_value(json!({}));
        assert!(tests.matches(&condition, &other, &mut memo));
        memo.forget(&Forget::Parts(parts));
        assert!(!tests.matches(&condition, &other, &mut memo));
        assert_eq!(memo.answers, [Some(true), Some(false), Some(true)]);
        memo.reset();
        assert!(!tests.matches(&condition, &other, &mut memo));
        assert_eq!(memo.answers, [Some(false), None, None]);
    }
}
