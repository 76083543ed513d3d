//! The small Ruby of `ruby { code => '…' }` filters, as Rhai for the `script` filter.
//!
//! sluice cannot run Ruby; the snippets people write in pipelines are short and use a few
//! verbs, so those are translated statement by statement: `event.get/set/remove/tag`,
//! local variables, `split`, `length`/`size`, `to_i`, `to_f`, `downcase`, `upcase`, `strip`,
//! indexing, `if/elsif/else/unless/end` and postfix `if`/`unless`. Ruby's truthiness (only
//! `nil` and `false` are false) is kept by wrapping bare values in `truthy(…)`, and Ruby's
//! `split` (which drops trailing empty strings) by `ruby_split(…)`; both are defined at the
//! top of the generated script. Anything else is an error naming the Ruby line and what is
//! unsupported, and `sluice convert` prints a stub to finish by hand.

use std::collections::BTreeSet;

/// A line the translator does not understand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RubyError {
    /// 0-based line inside the code.
    pub line: usize,
    pub message: String,
}

const PRELUDE: &str = "\
fn truthy(v) { !(v == () || v == false) }
fn ruby_split(s, sep) {
    let parts = s.split(sep);
    while parts.len() > 0 && parts[parts.len() - 1] == \"\" { parts.pop(); }
    parts
}
";

/// Translates `code` to Rhai, or says which lines it cannot translate.
pub fn translate(code: &str) -> Result<String, Vec<RubyError>> {
    let mut out = String::from(PRELUDE);
    let mut errors = Vec::new();
    let mut declared: BTreeSet<String> = BTreeSet::new();
    let mut depth = 0usize;
    for (index, raw) in code.lines().enumerate() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        match statement(line, &mut declared, &mut depth) {
            Ok(rhai) => {
                out.push_str(&rhai);
                out.push('\n');
            }
            Err(message) => errors.push(RubyError {
                line: index,
                message,
            }),
        }
    }
    if depth != 0 && errors.is_empty() {
        errors.push(RubyError {
            line: code.lines().count().saturating_sub(1),
            message: "an `if` block is not closed with `end`".into(),
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// A stub for code that did not translate: the Ruby as comments, to finish by hand.
pub fn stub(code: &str, errors: &[RubyError]) -> String {
    let mut out = String::from(
        "// TODO: translated by hand from the Logstash ruby filter below; sluice could not:\n",
    );
    for error in errors {
        out.push_str(&format!(
            "//   line {}: {}\n",
            error.line + 1,
            error.message
        ));
    }
    for line in code.lines() {
        out.push_str("// ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

fn statement(
    line: &str,
    declared: &mut BTreeSet<String>,
    depth: &mut usize,
) -> Result<String, String> {
    if line == "end" {
        if *depth == 0 {
            return Err("`end` without an open block".into());
        }
        *depth -= 1;
        return Ok("}".into());
    }
    if line == "else" {
        return if *depth == 0 {
            Err("`else` without an `if`".into())
        } else {
            Ok("} else {".into())
        };
    }
    if let Some(condition) = line.strip_prefix("elsif ") {
        if *depth == 0 {
            return Err("`elsif` without an `if`".into());
        }
        return Ok(format!("}} else if {} {{", condition_expr(condition)?));
    }
    for (keyword, negate) in [("if ", false), ("unless ", true)] {
        if let Some(condition) = line.strip_prefix(keyword) {
            *depth += 1;
            let condition = condition_expr(condition.trim_end_matches(" then"))?;
            return Ok(if negate {
                format!("if !({condition}) {{")
            } else {
                format!("if {condition} {{")
            });
        }
    }
    // Postfix `stmt if cond` / `stmt unless cond`.
    for (keyword, negate) in [(" if ", false), (" unless ", true)] {
        if let Some(at) = find_outside_strings(line, keyword) {
            let body = simple_statement(&line[..at], declared)?;
            let condition = condition_expr(&line[at + keyword.len()..])?;
            return Ok(if negate {
                format!("if !({condition}) {{ {body} }}")
            } else {
                format!("if {condition} {{ {body} }}")
            });
        }
    }
    simple_statement(line, declared)
}

fn simple_statement(line: &str, declared: &mut BTreeSet<String>) -> Result<String, String> {
    let line = line.trim();
    if let Some(at) = find_outside_strings(line, " = ") {
        let name = line[..at].trim();
        if !is_identifier(name) {
            return Err(format!(
                "assignment to `{name}` is not supported (only local variables)"
            ));
        }
        let value = expression(&line[at + 3..])?;
        return Ok(if declared.insert(name.to_string()) {
            format!("let {name} = {value};")
        } else {
            format!("{name} = {value};")
        });
    }
    Ok(format!("{};", expression(line)?))
}

fn is_identifier(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn find_outside_strings(line: &str, needle: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, _) if line[i..].starts_with(needle) => return Some(i),
            _ => {}
        }
    }
    None
}

/// A condition: Ruby truthiness for a bare value, comparisons as they are.
fn condition_expr(text: &str) -> Result<String, String> {
    let text = text.trim();
    for joiner in [" && ", " || ", " and ", " or "] {
        if let Some(at) = find_outside_strings(text, joiner) {
            let rhai_joiner = if joiner.contains('&') || joiner.contains("and") {
                " && "
            } else {
                " || "
            };
            return Ok(format!(
                "{}{rhai_joiner}{}",
                condition_expr(&text[..at])?,
                condition_expr(&text[at + joiner.len()..])?
            ));
        }
    }
    if let Some(inner) = text.strip_prefix('!') {
        return Ok(format!("!({})", condition_expr(inner)?));
    }
    for op in ["==", "!=", ">=", "<=", ">", "<"] {
        if find_outside_strings(text, op).is_some() {
            return expression(text);
        }
    }
    Ok(format!("truthy({})", expression(text)?))
}

/// An expression: literals, variables, `event.*` calls and the supported methods.
fn expression(text: &str) -> Result<String, String> {
    let text = text.trim();
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        let c = rest.chars().next().unwrap_or(' ');
        if c == '"' || c == '\'' {
            let end = string_end(&rest[1..], c)
                .ok_or_else(|| format!("string not closed in `{text}`"))?;
            let literal = &rest[1..=end];
            if c == '"' && literal.contains("#{") {
                out.push_str(&interpolation(literal)?);
            } else {
                out.push('"');
                out.push_str(&literal.replace('"', "\\\""));
                out.push('"');
            }
            rest = &rest[end + 2..];
        } else if let Some(after) = rest.strip_prefix('.') {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '?')
                .collect();
            rest = &after[name.len()..];
            let translated = match name.as_str() {
                "get" | "set" | "remove" | "tag" | "cancel" | "include?" | "push" => {
                    match name.as_str() {
                        "include?" => "contains",
                        other => other,
                    }
                }
                "length" | "size" | "count" => "len()",
                "to_i" => "to_int()",
                "to_f" => "to_float()",
                "to_s" => "to_string()",
                "downcase" => "to_lower()",
                "upcase" => "to_upper()",
                "strip" => "trim()",
                "nil?" => {
                    // `x.nil?`: compare instead of calling.
                    out = format!("({out} == ())");
                    continue;
                }
                "split" => {
                    let (arguments, after) = call_arguments(rest)?;
                    out = format!("ruby_split({out}, {})", expression(arguments)?);
                    rest = after;
                    continue;
                }
                "gsub" => {
                    let (arguments, after) = call_arguments(rest)?;
                    let (pattern, replacement) = arguments
                        .split_once(',')
                        .ok_or("gsub needs a pattern and a replacement")?;
                    let pattern = pattern.trim();
                    if pattern.starts_with('/') {
                        return Err(format!(
                            "gsub with a regular expression `{pattern}` is not supported (a string pattern is)"
                        ));
                    }
                    out = format!(
                        "{out}.replace({}, {})",
                        expression(pattern)?,
                        expression(replacement)?
                    );
                    // Rhai's replace works in place and returns nothing: copy first.
                    out = format!("{{ let s = {}; s }}", out);
                    rest = after;
                    continue;
                }
                other => return Err(format!("the Ruby method `{other}` is not supported")),
            };
            out.push('.');
            out.push_str(translated);
            if translated == "contains" || !translated.ends_with(')') {
                // Methods taking arguments keep them as written (translated).
                if rest.starts_with('(') {
                    let (arguments, after) = call_arguments(rest)?;
                    out.push('(');
                    out.push_str(&arguments_list(arguments)?);
                    out.push(')');
                    rest = after;
                } else if matches!(name.as_str(), "cancel") {
                    out.push_str("()");
                }
            } else if rest.starts_with("()") {
                rest = &rest[2..];
            }
        } else if c == '(' || c == '[' {
            let close = if c == '(' { ')' } else { ']' };
            let end = matching(rest, c, close).ok_or_else(|| format!("`{c}` not closed"))?;
            let inner = &rest[1..end];
            out.push(c);
            out.push_str(&arguments_list(inner)?);
            out.push(close);
            rest = &rest[end + 1..];
        } else if c.is_ascii_alphabetic() || c == '_' {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[word.len()..];
            match word.as_str() {
                "nil" => out.push_str("()"),
                "true" | "false" | "event" => out.push_str(&word),
                "and" => out.push_str("&&"),
                "or" => out.push_str("||"),
                "not" => out.push('!'),
                _ if is_identifier(&word) => out.push_str(&word),
                other => return Err(format!("`{other}` is not supported")),
            }
        } else if c.is_ascii_digit() || " +-*/%<>=!&|,".contains(c) {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        } else {
            return Err(format!("`{c}` is not supported in `{text}`"));
        }
    }
    Ok(out)
}

fn arguments_list(text: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut level = 0i32;
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '(' | '[') => level += 1,
            (None, ')' | ']') => level -= 1,
            (None, ',') if level == 0 => {
                parts.push(expression(&text[start..i])?);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !text[start..].trim().is_empty() {
        parts.push(expression(&text[start..])?);
    }
    Ok(parts.join(", "))
}

/// `(args)` at the start of `text`: the inside and what follows.
fn call_arguments(text: &str) -> Result<(&str, &str), String> {
    if !text.starts_with('(') {
        return Err("expected `(` after the method".into());
    }
    let end = matching(text, '(', ')').ok_or("`(` not closed")?;
    Ok((&text[1..end], &text[end + 1..]))
}

fn matching(text: &str, open: char, close: char) -> Option<usize> {
    let mut level = 0;
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c == open => level += 1,
            (None, c) if c == close => {
                level -= 1;
                if level == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `"a #{x} b"` as a Rhai interpolated string.
fn interpolation(literal: &str) -> Result<String, String> {
    let mut out = String::from("`");
    let mut rest = literal;
    while let Some(start) = rest.find("#{") {
        out.push_str(&rest[..start].replace('`', "\\`"));
        let end = rest[start..]
            .find('}')
            .ok_or("`#{` not closed in a string")?;
        out.push_str("${");
        out.push_str(&expression(&rest[start + 2..start + end])?);
        out.push('}');
        rest = &rest[start + end + 1..];
    }
    out.push_str(&rest.replace('`', "\\`"));
    out.push('`');
    Ok(out)
}

/// Where the string whose text starts `text` ends (the closing `quote`'s offset), skipping
/// `#{…}` interpolations in double-quoted strings, which may hold quotes of their own.
fn string_end(text: &str, quote: char) -> Option<usize> {
    let mut level = 0usize;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '#' if quote == '"' && chars.peek().map(|(_, n)| *n) == Some('{') => {
                chars.next();
                level += 1;
            }
            '}' if level > 0 => level -= 1,
            c if c == quote && level == 0 => return Some(i),
            _ => {}
        }
    }
    None
}
