//! A plugin's options as the mapping reads them: each one taken once, with its type checked,
//! and every option nobody took reported, so nothing in a `.conf` is silently ignored.

use super::parser::{Attribute, Plugin, Pos, Value as ConfValue, ValueKind};
use super::Problem;
use toml_edit::{Array, InlineTable, Value};

pub struct Options<'a> {
    pub plugin: &'a Plugin,
    /// "input", "filter", "output" or "codec".
    pub kind: &'static str,
    taken: Vec<bool>,
    /// Every option name the mapping asked for: what a misspelt option is compared with.
    asked: Vec<String>,
    pub problems: Vec<Problem>,
}

impl<'a> Options<'a> {
    pub fn new(plugin: &'a Plugin, kind: &'static str) -> Self {
        Self {
            plugin,
            kind,
            taken: vec![false; plugin.attributes.len()],
            asked: Vec::new(),
            problems: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.plugin.name
    }

    pub fn problem(&mut self, pos: Pos, message: impl Into<String>) {
        self.problems.push(Problem {
            pos,
            message: message.into(),
        });
    }

    /// The option's attribute, marked as taken (the last one when written twice).
    pub fn take(&mut self, name: &str) -> Option<&'a Attribute> {
        if !self.asked.iter().any(|asked| asked == name) {
            self.asked.push(name.to_string());
        }
        let mut found = None;
        for (i, attribute) in self.plugin.attributes.iter().enumerate() {
            if attribute.name == name {
                self.taken[i] = true;
                found = Some(attribute);
            }
        }
        found
    }

    fn wrong_type(&mut self, attribute: &Attribute, expected: &str) {
        self.problem(
            attribute.value.pos,
            format!(
                "{} `{}`: option `{}` must be {expected}",
                self.kind, self.plugin.name, attribute.name
            ),
        );
    }

    pub fn string(&mut self, name: &str) -> Option<(String, Pos)> {
        let attribute = self.take(name)?;
        match &attribute.value.kind {
            ValueKind::String(s) | ValueKind::Bareword(s) | ValueKind::Number(s) => {
                Some((s.clone(), attribute.value.pos))
            }
            // Logstash takes a one-element array for a string option.
            ValueKind::Array(items) if items.len() == 1 => match &items[0].kind {
                ValueKind::String(s) | ValueKind::Bareword(s) => {
                    Some((s.clone(), attribute.value.pos))
                }
                _ => {
                    self.wrong_type(attribute, "a string");
                    None
                }
            },
            _ => {
                self.wrong_type(attribute, "a string");
                None
            }
        }
    }

    /// A list of strings; a single string is a list of one (as Logstash coerces it).
    pub fn strings(&mut self, name: &str) -> Option<(Vec<String>, Pos)> {
        let attribute = self.take(name)?;
        let items: Vec<&ConfValue> = match &attribute.value.kind {
            ValueKind::Array(items) => items.iter().collect(),
            _ => vec![&attribute.value],
        };
        let mut strings = Vec::new();
        for item in items {
            match &item.kind {
                ValueKind::String(s) | ValueKind::Bareword(s) | ValueKind::Number(s) => {
                    strings.push(s.clone())
                }
                _ => {
                    self.wrong_type(attribute, "a string or an array of strings");
                    return None;
                }
            }
        }
        Some((strings, attribute.value.pos))
    }

    pub fn boolean(&mut self, name: &str) -> Option<(bool, Pos)> {
        let attribute = self.take(name)?;
        match &attribute.value.kind {
            ValueKind::Bareword(s) | ValueKind::String(s) if s == "true" => {
                Some((true, attribute.value.pos))
            }
            ValueKind::Bareword(s) | ValueKind::String(s) if s == "false" => {
                Some((false, attribute.value.pos))
            }
            _ => {
                self.wrong_type(attribute, "`true` or `false`");
                None
            }
        }
    }

    pub fn integer(&mut self, name: &str) -> Option<(i64, Pos)> {
        let attribute = self.take(name)?;
        match &attribute.value.kind {
            ValueKind::Number(s) | ValueKind::String(s) if s.parse::<i64>().is_ok() => {
                Some((s.parse().unwrap_or_default(), attribute.value.pos))
            }
            _ => {
                self.wrong_type(attribute, "a whole number");
                None
            }
        }
    }

    /// A hash (Logstash also takes `["k", "v", …]` pairs and a list of hashes).
    pub fn hash(&mut self, name: &str) -> Option<(Vec<(String, ConfValue)>, Pos)> {
        let attribute = self.take(name)?;
        let mut entries = Vec::new();
        match &attribute.value.kind {
            ValueKind::Hash(items) => {
                entries.extend(items.iter().map(|(k, _, v)| (k.clone(), v.clone())))
            }
            ValueKind::Array(items)
                if items.iter().all(|i| matches!(i.kind, ValueKind::Hash(_))) =>
            {
                for item in items {
                    if let ValueKind::Hash(inner) = &item.kind {
                        entries.extend(inner.iter().map(|(k, _, v)| (k.clone(), v.clone())));
                    }
                }
            }
            ValueKind::Array(items) if items.len() % 2 == 0 => {
                for pair in items.chunks(2) {
                    match &pair[0].kind {
                        ValueKind::String(k) | ValueKind::Bareword(k) => {
                            entries.push((k.clone(), pair[1].clone()))
                        }
                        _ => {
                            self.wrong_type(attribute, "a hash `{ \"key\" => \"value\" }`");
                            return None;
                        }
                    }
                }
            }
            _ => {
                self.wrong_type(attribute, "a hash `{ \"key\" => \"value\" }`");
                return None;
            }
        }
        Some((entries, attribute.value.pos))
    }

    /// Reports every option not taken, with `hint(option)` when there is a nearest
    /// equivalent, else the supported option it is a likely misspelling of.
    pub fn finish(mut self, hint: impl Fn(&str) -> Option<String>) -> Vec<Problem> {
        let untaken: Vec<&Attribute> = self
            .plugin
            .attributes
            .iter()
            .zip(&self.taken)
            .filter(|(_, taken)| !**taken)
            .map(|(a, _)| a)
            .collect();
        for attribute in untaken {
            let mut message = format!(
                "{} `{}`: option `{}` is not supported by sluice",
                self.kind, self.plugin.name, attribute.name
            );
            if let Some(hint) = hint(&attribute.name) {
                message.push_str(&format!(" ({hint})"));
            } else if let Some(near) = self.nearest_asked(&attribute.name) {
                message.push_str(&format!(" (did you mean `{near}`?)"));
            }
            self.problems.push(Problem {
                pos: attribute.pos,
                message,
            });
        }
        self.problems
    }

    /// The asked-for option closest to `name`, if it is within a typo's distance (two edits,
    /// fewer for short names).
    fn nearest_asked(&self, name: &str) -> Option<&str> {
        let limit = (name.chars().count() / 4).clamp(1, 2);
        self.asked
            .iter()
            .map(|asked| (strsim::damerau_levenshtein(asked, name), asked))
            .filter(|(distance, _)| *distance <= limit)
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, asked)| asked.as_str())
    }
}

/// The codec's name when it is one of `accepted`.
pub fn codec(options: &mut Options<'_>, accepted: &[&str]) -> Option<String> {
    let attribute = options.take("codec")?;
    let name = match &attribute.value.kind {
        ValueKind::Bareword(n) | ValueKind::String(n) => n.clone(),
        ValueKind::Plugin(p) if p.attributes.is_empty() => p.name.clone(),
        ValueKind::Plugin(p) => {
            options.problem(
                attribute.value.pos,
                format!("codec `{}` options are not supported", p.name),
            );
            return None;
        }
        _ => {
            options.problem(attribute.value.pos, "`codec` must name a codec");
            return None;
        }
    };
    if accepted.contains(&name.as_str()) {
        Some(name)
    } else {
        let plugin = options.name().to_string();
        options.problem(
            attribute.value.pos,
            format!(
                "codec `{name}` is not supported on `{plugin}`; sluice accepts {}",
                accepted
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        None
    }
}

/// A `.conf` value as TOML, with `${VAR:default}` in strings rewritten for sluice.
pub fn to_toml(value: &ConfValue) -> Value {
    match &value.kind {
        ValueKind::String(s) | ValueKind::Bareword(s) => Value::from(variables(s)),
        ValueKind::Number(n) => match n.parse::<i64>() {
            Ok(i) => Value::from(i),
            Err(_) => Value::from(n.parse::<f64>().unwrap_or_default()),
        },
        ValueKind::Array(items) => Value::Array(items.iter().map(to_toml).collect::<Array>()),
        ValueKind::Hash(entries) => {
            let mut table = InlineTable::new();
            for (key, _, value) in entries {
                table.insert(key, to_toml(value));
            }
            Value::InlineTable(table)
        }
        ValueKind::Plugin(plugin) => Value::from(plugin.name.clone()),
    }
}

/// Logstash's `${VAR}` / `${VAR:default}` as sluice's `${VAR}` / `${VAR:-default}`.
pub fn variables(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let inner = &after[..end];
                match inner.split_once(':') {
                    Some((name, default)) => {
                        out.push_str(&format!("${{{name}:-{default}}}"));
                    }
                    None => out.push_str(&format!("${{{inner}}}")),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn strings_value(items: &[String]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|s| Value::from(variables(s)))
            .collect::<Array>(),
    )
}
