//! Branches that are exactly one native filter.
//!
//! Why: a `.conf` should run at the native pipeline's speed. The seed classifies severity
//! with an `if [level] == "error" {…} else if [level] == "warn" {…} else {…}` chain whose
//! arms each `add_field` one constant to the same field; as separate guarded `mutate`s that
//! is three filters and up to five comparisons per event, where sluice's `severity` filter is
//! one lookup. With `append = true` (Logstash's `add_field` appends to an existing field)
//! it gives the same events, so such a chain compiles to it. Anything that differs in the
//! least (another operator, a second option, a computed name or value, no `else`) keeps the
//! general translation.

use super::emit::{Kind, Table};
use super::parser::{Branch, Node, Plugin, ValueKind};
use super::writes::segments;
use toml_edit::{InlineTable, Value};

/// The `severity` filter a branch is, if it is a chain of `[F] == "value"` arms and an
/// `else`, each arm exactly `mutate { add_field => { "T" => "constant" } }` with the same
/// `F` and `T`.
pub fn severity(branch: &Branch) -> Option<Table> {
    let (last, tested) = branch.arms.split_last()?;
    if last.condition.is_some() || tested.is_empty() {
        return None;
    }
    let (target, default) = constant_add_field(&last.body)?;
    let mut field = None;
    let mut mapping = InlineTable::new();
    for arm in tested {
        let condition = arm.condition.as_ref()?;
        let [selector] = condition.fields.as_slice() else {
            return None;
        };
        if *field.get_or_insert(selector) != selector {
            return None;
        }
        let quoted = condition.text.strip_prefix(&format!("{selector} == "))?;
        let level = quoted.strip_prefix('"')?.strip_suffix('"')?;
        if level.contains(['"', '\\']) {
            return None;
        }
        let (arm_target, value) = constant_add_field(&arm.body)?;
        if arm_target != target {
            return None;
        }
        // The first arm testing a value takes it, as in the chain.
        if !mapping.contains_key(level) {
            mapping.insert(level, Value::from(value));
        }
    }
    let pos = tested[0].condition.as_ref()?.pos;
    let mut table = Table::new(Kind::Filter, "severity", pos);
    table
        .notes
        .push("if [F] == … else if … else: add_field chain, as the native severity lookup".into());
    table.set("field", bracketed(field?)?, pos);
    table.set("target", bracketed(&target)?, pos);
    table.set("mapping", Value::InlineTable(mapping), pos);
    table.set("default", default, pos);
    table.set("append", true, pos);
    Some(table)
}

/// `mutate { add_field => { "T" => "constant" } }` alone: T and the constant.
fn constant_add_field(body: &[Node]) -> Option<(String, String)> {
    let [Node::Plugin(Plugin {
        name, attributes, ..
    })] = body
    else {
        return None;
    };
    let [attribute] = attributes.as_slice() else {
        return None;
    };
    if name != "mutate" || attribute.name != "add_field" {
        return None;
    }
    let ValueKind::Hash(entries) = &attribute.value.kind else {
        return None;
    };
    let [(target, _, value)] = entries.as_slice() else {
        return None;
    };
    let ValueKind::String(value) = &value.kind else {
        return None;
    };
    let computed = |text: &str| text.contains("%{") || text.contains("${");
    (!computed(target) && !computed(value)).then(|| (target.clone(), value.clone()))
}

/// A field reference in the bracket form, when sluice reads it as Logstash does (no dots in
/// names, which sluice would read as nesting).
fn bracketed(reference: &str) -> Option<String> {
    let names = segments(reference)?;
    if names
        .iter()
        .any(|n| n.is_empty() || n.contains(['.', '[', ']']))
    {
        return None;
    }
    Some(names.iter().map(|n| format!("[{n}]")).collect())
}
