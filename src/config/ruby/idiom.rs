//! Ruby blocks that are exactly a native filter.
//!
//! Why: a translated block runs in the Rhai engine, which costs several times what a native
//! filter does on every event. The seed's topic-splitting block is the most common ruby
//! filter in MQTT pipelines, and sluice has it natively (`topic_split` with
//! `split = "ruby"`, Ruby's `String#split` rules and the ruby filter's failure tag). So a
//! block of exactly that shape, whatever its local and field names, becomes that filter;
//! anything else is translated to Rhai as before.
//!
//! The shape (the seed's, section 10.3.2):
//!
//! ```ruby
//! topic = event.get("[details][topic]")
//! if topic
//!   parts = topic.split("/")
//!   event.set("[topic_levels]", parts.length)
//!   event.set("[topic_root]", parts[0]) if parts.length > 0
//!   event.set("[topic_device]", parts[1]) if parts.length > 1   # as many as wanted,
//! end                                                           # indices in order
//! ```

use super::parser::{self, Expr, Program, Stmt, StrPart, Target};

/// A ruby block that is `topic_split` with `split = "ruby"`; field references in the
/// bracket form (`[a][b]`), which means the same to Logstash and to sluice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSplit {
    pub source: String,
    pub count: String,
    pub levels: Vec<String>,
}

impl TopicSplit {
    /// Every field the block writes (the level count, then the levels).
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.count.as_str()).chain(self.levels.iter().map(String::as_str))
    }
}

/// The topic split `code` is, if it has exactly the shape above.
pub fn topic_split(code: &str) -> Option<TopicSplit> {
    let Program { statements, .. } = parser::parse(code).ok()?;
    let [Stmt::Assign {
        target: Target::Local(topic),
        op: "=",
        value,
    }, Stmt::If {
        branches,
        otherwise,
    }] = statements.as_slice()
    else {
        return None;
    };
    let source = event_get(value)?;
    let [(Expr::Local(tested), body)] = branches.as_slice() else {
        return None;
    };
    if tested != topic || !otherwise.is_empty() {
        return None;
    }
    let [Stmt::Assign {
        target: Target::Local(parts),
        op: "=",
        value: split,
    }, Stmt::Expr(count), levels @ ..] = body.as_slice()
    else {
        return None;
    };
    let Expr::Call {
        receiver,
        method,
        args,
    } = split
    else {
        return None;
    };
    if parts == topic
        || method != "split"
        || !matches!(receiver.as_ref(), Expr::Local(l) if l == topic)
        || !matches!(args.as_slice(), [arg] if literal(arg) == Some("/"))
    {
        return None;
    }
    let count = set_call(count, |value| is_length(value, parts))?;
    let levels = levels
        .iter()
        .enumerate()
        .map(|(index, statement)| level(statement, parts, index))
        .collect::<Option<Vec<_>>>()?;
    Some(TopicSplit {
        source,
        count,
        levels,
    })
}

/// `event.set(FIELD, parts[index]) if parts.length > index`: FIELD.
fn level(statement: &Stmt, parts: &str, index: usize) -> Option<String> {
    let Stmt::If {
        branches,
        otherwise,
    } = statement
    else {
        return None;
    };
    let [(
        Expr::Binary {
            op: ">",
            left,
            right,
        },
        body,
    )] = branches.as_slice()
    else {
        return None;
    };
    let index = i64::try_from(index).ok()?;
    if !otherwise.is_empty() || !is_length(left, parts) || **right != Expr::Int(index) {
        return None;
    }
    let [Stmt::Expr(set)] = body.as_slice() else {
        return None;
    };
    set_call(set, |value| {
        matches!(value, Expr::Index { receiver, index: at }
            if matches!(receiver.as_ref(), Expr::Local(l) if l == parts)
                && **at == Expr::Int(index))
    })
}

/// `event.set(FIELD, value)` with `value` as `check` wants it: FIELD.
fn set_call(expr: &Expr, check: impl Fn(&Expr) -> bool) -> Option<String> {
    let Expr::Call {
        receiver,
        method,
        args,
    } = expr
    else {
        return None;
    };
    if **receiver != Expr::Event || method != "set" {
        return None;
    }
    let [field, value] = args.as_slice() else {
        return None;
    };
    if !check(value) {
        return None;
    }
    field_reference(literal(field)?)
}

/// `event.get(FIELD)`: FIELD.
fn event_get(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Call {
            receiver,
            method,
            args,
        } if **receiver == Expr::Event && method == "get" => match args.as_slice() {
            [field] => field_reference(literal(field)?),
            _ => None,
        },
        _ => None,
    }
}

/// `parts.length` or `parts.size`.
fn is_length(expr: &Expr, parts: &str) -> bool {
    matches!(expr, Expr::Call { receiver, method, args }
        if matches!(receiver.as_ref(), Expr::Local(l) if l == parts)
            && (method == "length" || method == "size")
            && args.is_empty())
}

/// A string literal without interpolation.
fn literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Str(parts) => match parts.as_slice() {
            [StrPart::Text(text)] => Some(text),
            [] => Some(""),
            _ => None,
        },
        _ => None,
    }
}

/// A Logstash field reference in the bracket form, when its meaning is plain: `name` (a
/// top-level field, which Logstash does not split at dots) or `[a][b]`, with no dots or
/// brackets inside names (sluice would read a dot as nesting).
fn field_reference(text: &str) -> Option<String> {
    let plain = |name: &str| !name.is_empty() && !name.contains(['.', '[', ']', '%', '$']);
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        inner.split("][").all(plain).then(|| text.to_string())
    } else {
        plain(text).then(|| format!("[{text}]"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_block_is_a_topic_split() {
        assert_eq!(
            topic_split(super::super::tests::SEED_CODE),
            Some(TopicSplit {
                source: "[details][topic]".into(),
                count: "[topic_levels]".into(),
                levels: vec![
                    "[topic_root]".into(),
                    "[topic_device]".into(),
                    "[topic_metric]".into()
                ],
            })
        );
    }

    #[test]
    fn other_names_and_fewer_levels_too() {
        let code = "t = event.get('topic')\nif t\n  p = t.split('/')\n  event.set('n', p.size)\n  event.set('[m][a]', p[0]) if p.length > 0\nend";
        assert_eq!(
            topic_split(code),
            Some(TopicSplit {
                source: "[topic]".into(),
                count: "[n]".into(),
                levels: vec!["[m][a]".into()],
            })
        );
    }

    #[test]
    fn anything_else_is_not() {
        let seed = super::super::tests::SEED_CODE;
        for changed in [
            seed.replace("split(\"/\")", "split(\".\")"),
            seed.replace(
                "parts[1]) if parts.length > 1",
                "parts[2]) if parts.length > 1",
            ),
            seed.replace("parts.length > 2", "parts.length > 1"),
            seed.replace("[topic_root]", "topic.root"),
            seed.replace("if topic", "if parts"),
            seed.replace("end", "else\n event.tag('x')\nend"),
            seed.replace(
                "event.set(\"[topic_levels]\", parts.length)",
                "event.set(\"[topic_levels]\", parts.length + 1)",
            ),
            format!("{seed}\nevent.tag('done')"),
        ] {
            assert_eq!(topic_split(&changed), None, "{changed}");
        }
    }
}
