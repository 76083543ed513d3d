//! Logstash `ruby { code => "..." }` filters, translated to Rhai for the script filter.
//!
//! sluice cannot run Ruby, but the ruby filters people actually write are small: read a
//! field, split or clean it, set a few fields, guarded by an `if`. That subset is translated
//! here, so such a pipeline runs unchanged, and anything outside it is refused with the Ruby
//! line and column and what is not supported, never guessed at. `sluice convert` then
//! writes a [`stub`] holding the Ruby code to finish by hand.
//!
//! The subset: `event.get`, `event.set`, `event.remove`, `event.tag`, `event.cancel`,
//! `event.include?`, `event.sprintf`; on values `split`, `length`/`size`, `to_i`, `to_f`,
//! `to_s`, `downcase`, `upcase`, `strip`, `gsub`/`sub` (string or regular expression),
//! `include?`, `start_with?`, `end_with?`, `match?`, `nil?`, `empty?`, `first`, `last`,
//! `join`, `sort`, `abs`; `if`/`elsif`/`else`/`unless`/`end`, postfix `if`/`unless`, `return`, the
//! ternary `?:`; local variables (`=`, `+=`, `-=`, `*=`, `||=`), arrays and indexing
//! (negative too), string interpolation, both quote kinds, numbers, `nil`/`true`/`false`,
//! `==`, `!=`, `<`, `>`, `<=`, `>=`, `=~`, `!~`, `+`, `-`, `*`, `/`, `%`, `&&`, `||`, `!`,
//! `and`, `or`, `not`.
//!
//! Ruby's semantics are kept where they differ from Rhai's (truth of `0` and `""`, locals
//! that outlive their `if`, `nil` for an index out of range, `"12abc".to_i == 12`,
//! `String#split` dropping trailing empty strings): see `emit.rs`, and the `rb_*` helpers the
//! script filter registers for the translated code. Known differences: integer `/` and `%`
//! truncate like Rhai's instead of flooring for negative operands, and `+` between a string
//! and a number concatenates where Ruby raises `TypeError`.
//!
//! An exception in Logstash's ruby filter tags the event `_rubyexception`
//! ([`EXCEPTION_TAG`]); the script filter running a translation should be given that tag as
//! its `tag_on_error`, so a failing run (calling `downcase` on `nil`) is tagged as it would
//! be in Logstash.

mod emit;
mod idiom;
mod lexer;
mod methods;
mod parser;

pub use idiom::{topic_split, TopicSplit};

/// The tag Logstash's ruby filter adds when the code raises.
pub const EXCEPTION_TAG: &str = "_rubyexception";

/// A translated snippet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// The Rhai script, for the script filter's `source`.
    pub rhai: String,
}

/// Why (part of) a snippet cannot be translated, at a 1-based line and column (in
/// characters) of the code string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ruby code line {line}, column {column}: {message}")]
pub struct RubyError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Translates the `code` of a ruby filter to Rhai; every problem found when it cannot.
pub fn translate(code: &str) -> Result<Translation, Vec<RubyError>> {
    let program = parser::parse(code)?;
    let rhai = emit::emit(&program)?;
    Ok(Translation { rhai })
}

/// A Rhai script standing in for code that could not be translated: the problems and the
/// Ruby code as comments, and a `throw`, so every event it sees is tagged as failed (and
/// counted) until someone finishes it, rather than passing through untouched.
pub fn stub(code: &str, errors: &[RubyError]) -> String {
    let mut out = String::from(
        "// This Logstash ruby filter could not be translated to Rhai automatically:\n",
    );
    for error in errors {
        out.push_str(&format!(
            "//   line {}, column {}: {}\n",
            error.line, error.column, error.message
        ));
    }
    out.push_str(
        "// Finish the script by hand (the `event` API: event.get(ref), event.set(ref, value),\n\
         // event.remove(ref), event.tag(name), event.cancel()), then delete the `throw`.\n\
         // The Ruby code:\n//\n",
    );
    for line in code.trim_matches('\n').lines() {
        out.push_str("//   ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(
        "//\nthrow \"this ruby filter was not translated: finish the Rhai script by hand\";\n",
    );
    out
}

#[cfg(test)]
mod tests;
