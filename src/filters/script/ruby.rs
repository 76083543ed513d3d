//! Ruby's semantics for scripts translated from Logstash `ruby` filters (`config::ruby`).
//!
//! The translation emits Rhai operators where Ruby and Rhai agree, and calls these `rb_*`
//! functions where they do not, so a translated filter produces the events Logstash would:
//!
//! | function | Ruby |
//! |---|---|
//! | `rb_truthy(x)` | truth: everything but `nil` and `false` (so `0` and `""` are true) |
//! | `rb_to_i(x)`, `rb_to_f(x)` | `to_i`/`to_f`: the leading number of a string (`"12ms"` → 12, `"abc"` → 0), `nil` → 0 |
//! | `rb_to_s(x)` | `to_s` (and interpolation): `nil` → `""`, `1.0` → `"1.0"`, arrays as `["a", 1]` |
//! | `rb_split(s, sep)`, `rb_split_regex(s, re)` | `String#split`: trailing empty strings dropped, `" "` or no separator splits on runs of white space |
//! | `rb_gsub`, `rb_sub` (`_regex` forms take a pattern) | replacement with `\1`, `\0`, `\k<name>` |
//! | `rb_match(s, re)` | `=~`: the character index of the first match, or `nil` |
//! | `rb_at(x, i)` | `x[i]`: `nil` past either end, negative from the end; a string's character; a hash's value |
//! | `rb_strip(s)`, `rb_join(a, sep)` | `strip`, `join` (nested arrays flattened) |
//!
//! A call Ruby would answer with an exception (`nil.split`) fails the run, which the script
//! filter tags like Logstash's `_rubyexception`.

use super::api::runtime_error;
use regex::Regex;
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, INT};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;

type ScriptResult<T> = Result<T, Box<EvalAltResult>>;

/// Most compiled patterns a worker thread keeps; a script has a handful of literal ones.
const REGEX_CACHE_SIZE: usize = 64;

thread_local! {
    static REGEXES: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

/// Registers every `rb_*` function.
pub fn register(engine: &mut Engine) {
    engine.register_fn("rb_truthy", truthy);
    engine.register_fn("rb_to_i", to_i);
    engine.register_fn("rb_to_f", to_f);
    engine.register_fn("rb_to_s", |value: Dynamic| to_s(&value));
    engine.register_fn("rb_split", split);
    engine.register_fn("rb_split_regex", |text: &str, pattern: &str| {
        let regex = cached_regex(pattern)?;
        Ok::<_, Box<EvalAltResult>>(strings(drop_trailing_empty(regex.split(text).collect())))
    });
    engine.register_fn("rb_gsub", |text: &str, pattern: &str, replacement: &str| {
        replace(text, &regex::escape(pattern), replacement, 0)
    });
    engine.register_fn("rb_sub", |text: &str, pattern: &str, replacement: &str| {
        replace(text, &regex::escape(pattern), replacement, 1)
    });
    engine.register_fn(
        "rb_gsub_regex",
        |text: &str, pattern: &str, replacement: &str| replace(text, pattern, replacement, 0),
    );
    engine.register_fn(
        "rb_sub_regex",
        |text: &str, pattern: &str, replacement: &str| replace(text, pattern, replacement, 1),
    );
    engine.register_fn("rb_match", matched_at);
    engine.register_fn("rb_at", at);
    engine.register_fn("rb_strip", |text: &str| {
        text.trim_matches(|c: char| c.is_whitespace() || c == '\0')
            .to_string()
    });
    engine.register_fn("rb_join", |items: Array, separator: &str| {
        let mut parts = Vec::new();
        flatten_to_strings(&items, &mut parts);
        parts.join(separator)
    });
}

fn truthy(value: Dynamic) -> bool {
    !(value.is_unit() || value.as_bool() == Ok(false))
}

/// `nil`'s or `true`'s missing method, as Ruby names it.
fn no_method(method: &str, value: &Dynamic) -> Box<EvalAltResult> {
    runtime_error(format!(
        "undefined method `{method}' for {}",
        inspect(value)
    ))
}

fn to_i(value: Dynamic) -> ScriptResult<INT> {
    if value.is_unit() {
        return Ok(0);
    }
    if let Ok(integer) = value.as_int() {
        return Ok(integer);
    }
    if let Ok(float) = value.as_float() {
        if !float.is_finite() {
            return Err(runtime_error(format!("FloatDomainError: {float}")));
        }
        let truncated = float.trunc();
        if truncated.abs() >= 9.2e18 {
            return Err(runtime_error(format!(
                "{float} does not fit in a 64-bit integer"
            )));
        }
        return Ok(truncated as INT);
    }
    if value.is_string() || value.is_char() {
        let text = value.to_string();
        let number = leading_number(&text, false);
        if number.is_empty() {
            return Ok(0);
        }
        return number
            .parse()
            .map_err(|_| runtime_error(format!("`{text}`.to_i does not fit in a 64-bit integer")));
    }
    Err(no_method("to_i", &value))
}

fn to_f(value: Dynamic) -> ScriptResult<f64> {
    if value.is_unit() {
        return Ok(0.0);
    }
    if let Ok(integer) = value.as_int() {
        return Ok(integer as f64);
    }
    if let Ok(float) = value.as_float() {
        return Ok(float);
    }
    if value.is_string() || value.is_char() {
        let number = leading_number(&value.to_string(), true);
        return Ok(number.parse().unwrap_or(0.0));
    }
    Err(no_method("to_f", &value))
}

/// The number a string starts with, as Ruby's `to_i`/`to_f` read it: leading white space,
/// a sign, digits with single underscores between them, and for floats a fraction and an
/// exponent. Empty when there are no digits.
fn leading_number(text: &str, float: bool) -> String {
    let chars: Vec<char> = text.trim_start().chars().collect();
    let mut number = String::new();
    let mut at = 0;
    if let Some(sign @ ('+' | '-')) = chars.first() {
        number.push(*sign);
        at = 1;
    }
    let digits = |number: &mut String, mut at: usize| {
        let start = at;
        while at < chars.len() {
            let c = chars[at];
            if c.is_ascii_digit() {
                number.push(c);
            } else if !(c == '_'
                && at > start
                && chars.get(at + 1).is_some_and(char::is_ascii_digit))
            {
                break;
            }
            at += 1;
        }
        (at, at > start)
    };
    let (next, whole) = digits(&mut number, at);
    at = next;
    if !float {
        return if whole { number } else { String::new() };
    }
    let mut any = whole;
    if chars.get(at) == Some(&'.') && chars.get(at + 1).is_some_and(char::is_ascii_digit) {
        number.push('.');
        let (next, fraction) = digits(&mut number, at + 1);
        at = next;
        any |= fraction;
    }
    if !any {
        return String::new();
    }
    if matches!(chars.get(at), Some('e' | 'E')) {
        let mut exponent = String::from("e");
        let mut after = at + 1;
        if let Some(sign @ ('+' | '-')) = chars.get(after) {
            exponent.push(*sign);
            after += 1;
        }
        let (_, has_digits) = digits(&mut exponent, after);
        if has_digits {
            number.push_str(&exponent);
        }
    }
    number
}

fn to_s(value: &Dynamic) -> String {
    if value.is_unit() {
        return String::new();
    }
    if value.is_string() || value.is_char() {
        return value.to_string();
    }
    if let Ok(float) = value.as_float() {
        return float_to_s(float);
    }
    inspect(value)
}

/// `Float#to_s`: shortest digits, `1.0` not `1`, exponent form below 1e-4 and from 1e16.
fn float_to_s(float: f64) -> String {
    if float.is_nan() {
        return "NaN".into();
    }
    if float.is_infinite() {
        return if float > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let scientific = format!("{float:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if float != 0.0 && !(-4..16).contains(&exponent) {
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let plain = float.to_string();
    if plain.contains('.') {
        plain
    } else {
        format!("{plain}.0")
    }
}

/// `inspect`: strings quoted, `nil`, arrays `[1, "a"]`, hashes `{"a"=>1}`.
fn inspect(value: &Dynamic) -> String {
    if value.is_unit() {
        return "nil".into();
    }
    if value.is_string() || value.is_char() {
        let mut out = String::from("\"");
        for c in value.to_string().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\u{1b}' => out.push_str("\\e"),
                '#' => out.push('#'),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{:04X}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('"');
        return out;
    }
    if let Ok(float) = value.as_float() {
        return float_to_s(float);
    }
    if let Some(items) = value.read_lock::<Array>() {
        let items: Vec<String> = items.iter().map(inspect).collect();
        return format!("[{}]", items.join(", "));
    }
    if let Some(map) = value.read_lock::<Map>() {
        let entries: Vec<String> = map
            .iter()
            .map(|(key, value)| format!("\"{key}\"=>{}", inspect(value)))
            .collect();
        return format!("{{{}}}", entries.join(", "));
    }
    value.to_string()
}

fn strings<'a>(parts: impl IntoIterator<Item = &'a str>) -> Array {
    parts
        .into_iter()
        .map(|part| Dynamic::from(ImmutableString::from(part)))
        .collect()
}

fn drop_trailing_empty(mut parts: Vec<&str>) -> Vec<&str> {
    while parts.last().is_some_and(|part| part.is_empty()) {
        parts.pop();
    }
    parts
}

/// `String#split` with a string separator, or none (`()`).
fn split(text: Dynamic, separator: Dynamic) -> ScriptResult<Array> {
    if !(text.is_string() || text.is_char()) {
        return Err(no_method("split", &text));
    }
    let text = text.to_string();
    if separator.is_unit() {
        return Ok(strings(text.split_whitespace()));
    }
    if !(separator.is_string() || separator.is_char()) {
        return Err(runtime_error(format!(
            "wrong argument type for split: {} (expected a string)",
            inspect(&separator)
        )));
    }
    let separator = separator.to_string();
    Ok(match separator.as_str() {
        " " => strings(text.split_whitespace()),
        "" => text
            .chars()
            .map(|c| Dynamic::from(ImmutableString::from(c.to_string())))
            .collect(),
        separator => strings(drop_trailing_empty(text.split(separator).collect())),
    })
}

fn cached_regex(pattern: &str) -> ScriptResult<Regex> {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(regex) = cache.get(pattern) {
            return Ok(regex.clone());
        }
        let regex = Regex::new(pattern)
            .map_err(|e| runtime_error(format!("invalid regular expression /{pattern}/: {e}")))?;
        if cache.len() >= REGEX_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(pattern.to_string(), regex.clone());
        Ok(regex)
    })
}

/// `gsub` (`limit` 0) or `sub` (`limit` 1) with Ruby's replacement escapes.
fn replace(text: &str, pattern: &str, replacement: &str, limit: usize) -> ScriptResult<String> {
    let regex = cached_regex(pattern)?;
    Ok(regex
        .replacen(text, limit, |captures: &regex::Captures<'_>| {
            expand(replacement, captures)
        })
        .into_owned())
}

/// A Ruby replacement string: `\1`..`\9` and `\0`/`\&` are groups, `\k<name>` a named
/// group, `\\` a backslash; anything else is literal.
fn expand(replacement: &str, captures: &regex::Captures<'_>) -> String {
    let mut out = String::new();
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some(digit @ '0'..='9') => {
                chars.next();
                let group = digit as usize - '0' as usize;
                out.push_str(captures.get(group).map_or("", |m| m.as_str()));
            }
            Some('&') => {
                chars.next();
                out.push_str(captures.get(0).map_or("", |m| m.as_str()));
            }
            Some('\\') => {
                chars.next();
                out.push('\\');
            }
            Some('k') => {
                let rest: String = chars.clone().collect();
                if let Some(name) = rest
                    .strip_prefix("k<")
                    .and_then(|tail| tail.split_once('>'))
                    .map(|(name, _)| name.to_string())
                {
                    for _ in 0..name.chars().count() + 3 {
                        chars.next();
                    }
                    out.push_str(captures.name(&name).map_or("", |m| m.as_str()));
                } else {
                    out.push('\\');
                }
            }
            _ => out.push('\\'),
        }
    }
    out
}

/// `=~`: the character index of the first match, `nil` without one (and for `nil =~ re`).
fn matched_at(text: Dynamic, pattern: &str) -> ScriptResult<Dynamic> {
    if text.is_unit() {
        return Ok(Dynamic::UNIT);
    }
    if !(text.is_string() || text.is_char()) {
        return Ok(Dynamic::UNIT);
    }
    let text = text.to_string();
    let regex = cached_regex(pattern)?;
    Ok(regex.find(&text).map_or(Dynamic::UNIT, |found| {
        Dynamic::from_int(text[..found.start()].chars().count() as INT)
    }))
}

/// A position counted from the end when negative, `None` outside `0..len`.
fn position(index: INT, len: usize) -> Option<usize> {
    let len = INT::try_from(len).ok()?;
    let index = if index < 0 { index + len } else { index };
    (0..len).contains(&index).then_some(index as usize)
}

/// `x[i]`.
fn at(value: Dynamic, index: Dynamic) -> ScriptResult<Dynamic> {
    if let Some(map) = value.read_lock::<Map>() {
        return Ok(map
            .get(to_s(&index).as_str())
            .cloned()
            .unwrap_or(Dynamic::UNIT));
    }
    let Ok(index) = index.as_int() else {
        return Err(runtime_error(format!(
            "no implicit conversion of {} into Integer",
            inspect(&index)
        )));
    };
    if let Some(items) = value.read_lock::<Array>() {
        return Ok(position(index, items.len())
            .and_then(|at| items.get(at).cloned())
            .unwrap_or(Dynamic::UNIT));
    }
    if value.is_string() {
        let text = value.to_string();
        let count = text.chars().count();
        return Ok(position(index, count)
            .and_then(|at| text.chars().nth(at))
            .map_or(Dynamic::UNIT, |c| {
                Dynamic::from(ImmutableString::from(c.to_string()))
            }));
    }
    Err(no_method("[]", &value))
}

fn flatten_to_strings(items: &Array, out: &mut Vec<String>) {
    for item in items {
        match item.read_lock::<Array>() {
            Some(inner) => flatten_to_strings(&inner, out),
            None => out.push(to_s(item)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_numbers_are_read_as_ruby_does() {
        for (text, integer, float) in [
            ("12abc", "12", "12"),
            ("  -3.5e2x", "-3", "-3.5e2"),
            ("1_000", "1000", "1000"),
            ("1__0", "1", "1"),
            ("abc", "", ""),
            (".5", "", ".5"),
            ("+7.", "+7", "+7"),
            ("2e", "2", "2"),
        ] {
            assert_eq!(leading_number(text, false), integer, "{text}.to_i");
            assert_eq!(leading_number(text, true), float, "{text}.to_f");
        }
    }

    #[test]
    fn floats_print_as_ruby_prints_them() {
        for (float, text) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e15, "1000000000000000.0"),
            (1e16, "1.0e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1.0e-05"),
            (1.5e-7, "1.5e-07"),
            (0.0, "0.0"),
        ] {
            assert_eq!(float_to_s(float), text);
        }
    }
}
