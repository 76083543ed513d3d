//! The native TOML document a `.conf` becomes, written line by line with the `.conf`
//! position each line came from, so that any problem the TOML loader or a component finds
//! is reported at the Logstash FILE:LINE:COL the user wrote.

use super::parser::Pos;
use toml_edit::{InlineTable, Value};

/// Which table a component goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Input,
    Filter,
    Output,
}

/// One native component, before it is written.
#[derive(Debug, Clone)]
pub struct Table {
    pub kind: Kind,
    /// The input/output table name, or the filter's `id`.
    pub name: String,
    pub type_name: String,
    pub pos: Pos,
    pub condition: Option<(String, Pos)>,
    pub entries: Vec<(String, Value, Pos)>,
    /// Comments written above the table (what was mapped how, and why).
    pub notes: Vec<String>,
}

impl Table {
    pub fn new(kind: Kind, type_name: &str, pos: Pos) -> Self {
        Self {
            kind,
            name: String::new(),
            type_name: type_name.to_string(),
            pos,
            condition: None,
            entries: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>, pos: Pos) {
        self.entries.retain(|(k, _, _)| k != key);
        self.entries.push((key.to_string(), value.into(), pos));
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v)
    }
}

/// The TOML text and, for each of its lines, the `.conf` position it came from.
#[derive(Debug, Default)]
pub struct Document {
    pub text: String,
    pub origins: Vec<Option<Pos>>,
}

impl Document {
    fn line(&mut self, text: &str, origin: Option<Pos>) {
        for line in text.split('\n') {
            self.text.push_str(line);
            self.text.push('\n');
            self.origins.push(origin);
        }
    }

    pub fn comment(&mut self, text: &str) {
        for line in text.lines() {
            self.line(format!("# {line}").trim_end(), None);
        }
    }

    pub fn blank(&mut self) {
        self.line("", None);
    }

    pub fn table(&mut self, table: &Table) {
        for note in &table.notes {
            self.comment(note);
        }
        let header = match table.kind {
            Kind::Input => format!("[inputs.{}]", key(&table.name)),
            Kind::Output => format!("[outputs.{}]", key(&table.name)),
            Kind::Filter => "[[filters]]".to_string(),
        };
        self.line(&header, Some(table.pos));
        if table.kind == Kind::Filter {
            self.entry("id", &Value::from(table.name.as_str()), table.pos);
        }
        self.entry("type", &Value::from(table.type_name.as_str()), table.pos);
        if let Some((condition, pos)) = &table.condition {
            self.entry("if", &Value::from(condition.as_str()), *pos);
        }
        for (name, value, pos) in &table.entries {
            match (table.type_name.as_str(), name.as_str(), value.as_str()) {
                ("script", "source", Some(code)) => self.script(code, *pos),
                _ => self.entry(name, value, *pos),
            }
        }
        self.blank();
    }

    /// A script's code as a multi-line basic string in which `$` is escaped, so that Rhai's
    /// `${…}` interpolation is not read as an environment variable.
    fn script(&mut self, code: &str, pos: Pos) {
        if !code.contains('$') && !code.contains("'''") {
            self.line(&format!("source = '''\n{code}'''"), Some(pos));
            return;
        }
        let mut escaped = String::new();
        for c in code.chars() {
            match c {
                '\\' => escaped.push_str("\\\\"),
                '"' => escaped.push_str("\\\""),
                '$' => escaped.push_str("\\u0024"),
                c => escaped.push(c),
            }
        }
        self.line(&format!("source = \"\"\"\n{escaped}\"\"\""), Some(pos));
    }

    fn entry(&mut self, name: &str, value: &Value, pos: Pos) {
        let mut value = value.clone();
        value.decor_mut().clear();
        let rendered = render(&value);
        self.line(&format!("{} = {rendered}", key(name)), Some(pos));
    }
}

/// A TOML key, quoted when it must be.
pub fn key(name: &str) -> String {
    toml_edit::Key::new(name).display_repr().to_string()
}

/// A value on one line, nested tables and arrays formatted with single spaces.
fn render(value: &Value) -> String {
    match value {
        Value::Array(array) => {
            let items: Vec<String> = array.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        Value::InlineTable(table) => render_table(table),
        other => {
            let mut other = other.clone();
            other.decor_mut().clear();
            other.to_string()
        }
    }
}

fn render_table(table: &InlineTable) -> String {
    if table.is_empty() {
        return "{}".into();
    }
    let items: Vec<String> = table
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), render(v)))
        .collect();
    format!("{{ {} }}", items.join(", "))
}
