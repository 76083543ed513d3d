//! Which fields the filters of a branch can write, as far as their options tell.
//!
//! Why: Logstash decides an `if / else if / else` once, before the first filter of the arm it
//! takes. sluice's filters each test their own `if`, so a branch whose arms might change what
//! its conditions read records the decision in a metadata marker first (see `mod.rs`), which
//! costs one more `mutate` per event and a condition on every filter of the branch. When the
//! arms' filters provably write none of the fields the conditions read, testing the
//! conditions in place gives the same events without the marker: the seed's severity
//! `if [level] == …` chain only writes `severity`.
//!
//! "Provably" is conservative: a filter's writes are known only when its options name every
//! field it writes (`mutate`'s field options, the common options, a `ruby` block recognised
//! as a topic split); any other filter (`json` without a target writes whatever the message
//! holds) is taken to write anything, and the branch keeps its marker.

use super::parser::{Node, Plugin, ValueKind};
use crate::config::ruby;

/// A field reference as its path segments (`[a][b]` → `a`, `b`; `name` → `name`).
pub type FieldSegments = Vec<String>;

/// The segments of a Logstash field reference; `None` when the name is computed (`%{…}`,
/// `${…}`), so which field it names is not known before the event.
pub fn segments(reference: &str) -> Option<FieldSegments> {
    if reference.contains("%{") || reference.contains("${") {
        return None;
    }
    let trimmed = reference.trim();
    if let Some(inner) = trimmed.strip_prefix('[') {
        let inner = inner.strip_suffix(']')?;
        return Some(inner.split("][").map(str::to_string).collect());
    }
    Some(vec![trimmed.to_string()])
}

/// Whether writing `written` can change what reading `read` gives: one is the other or
/// holds it.
pub fn overlaps(written: &[String], read: &[String]) -> bool {
    written.iter().zip(read).all(|(w, r)| w == r)
}

/// Every field the filters of `nodes` (branches included) may write; `None` when some filter
/// may write fields its options do not name.
pub fn written(nodes: &[Node]) -> Option<Vec<FieldSegments>> {
    let mut fields = Vec::new();
    for node in nodes {
        match node {
            Node::Plugin(plugin) => fields.extend(plugin_writes(plugin)?),
            Node::Branch(branch) => {
                for arm in &branch.arms {
                    fields.extend(written(&arm.body)?);
                }
            }
        }
    }
    Some(fields)
}

/// Options every filter takes that write nothing.
const INERT: &[&str] = &["id", "enable_metric", "periodic_flush"];

/// `mutate`'s options whose values name the fields they change.
const MUTATE_FIELDS: &[&str] = &[
    "add_field",
    "replace",
    "update",
    "rename",
    "copy",
    "convert",
    "split",
    "join",
    "merge",
    "coerce",
    "lowercase",
    "uppercase",
    "capitalize",
    "strip",
    "gsub",
];

fn plugin_writes(plugin: &Plugin) -> Option<Vec<FieldSegments>> {
    let mut fields = Vec::new();
    // Options whose values name written fields, and options that write nothing.
    let (naming, inert): (&[&str], &[&str]) = match plugin.name.as_str() {
        "mutate" => (MUTATE_FIELDS, &[]),
        "drop" => (&[], &["percentage"]),
        "ruby" => {
            let code = plugin.attributes.iter().find(|a| a.name == "code")?;
            let ValueKind::String(code) = &code.value.kind else {
                return None;
            };
            for reference in ruby::topic_split(code)?.fields() {
                fields.push(segments(reference)?);
            }
            (&[], &["code", "tag_on_exception"])
        }
        _ => return None,
    };
    for attribute in &plugin.attributes {
        let name = attribute.name.as_str();
        if INERT.contains(&name) || inert.contains(&name) {
            continue;
        }
        if matches!(name, "add_tag" | "remove_tag" | "tag_on_failure") {
            fields.push(vec!["tags".to_string()]);
            continue;
        }
        if !matches!(name, "add_field" | "remove_field") && !naming.contains(&name) {
            return None;
        }
        for reference in named_fields(name, &attribute.value.kind)? {
            fields.push(segments(&reference)?);
        }
    }
    // Failing filters tag the event (`_rubyexception`, `_mutate_error`).
    fields.push(vec!["tags".to_string()]);
    Some(fields)
}

/// The field names an option's value holds: a hash's keys (and values, for `rename` and
/// `copy`, whose both sides change), an array's items (every third one for `gsub`), a
/// string.
fn named_fields(option: &str, value: &ValueKind) -> Option<Vec<String>> {
    let text = |value: &ValueKind| match value {
        ValueKind::String(s) | ValueKind::Bareword(s) => Some(s.clone()),
        _ => None,
    };
    Some(match value {
        ValueKind::Hash(entries) => {
            let mut names = Vec::new();
            for (key, _, value) in entries {
                names.push(key.clone());
                if matches!(option, "rename" | "copy") {
                    names.push(text(&value.kind)?);
                }
            }
            names
        }
        ValueKind::Array(items) => {
            let step = if option == "gsub" { 3 } else { 1 };
            items
                .iter()
                .step_by(step)
                .map(|item| text(&item.kind))
                .collect::<Option<_>>()?
        }
        other if option != "gsub" => vec![text(other)?],
        _ => return None,
    })
}
