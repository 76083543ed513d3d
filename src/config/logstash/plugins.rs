//! Logstash plugins onto sluice's native components, option by option, with Logstash's
//! defaults where they differ from sluice's (the file input starts at the end of a file, the
//! stdout output prints rubydebug). What has no equivalent is a [`Problem`] naming the
//! plugin or option and the nearest thing sluice has.

use super::super::ruby;
use super::emit::{Kind, Table};
use super::options::{codec, strings_value, to_toml, variables, Options};
use super::parser::{Plugin, ValueKind};
use super::Problem;
use toml_edit::{InlineTable, Value};

/// Plugins that Logstash users commonly reach for and sluice does not have (yet), with the
/// nearest thing sluice offers.
fn missing_plugin_hint(kind: &str, name: &str) -> Option<&'static str> {
    Some(match (kind, name) {
        ("input", "syslog") => "nearest: `beats` (Filebeat's tcp/udp/syslog inputs forward to it)",
        ("filter", "csv") => "nearest: `dissect` or `kv`, or a `ruby` filter (a Rhai `script`)",
        ("filter", "fingerprint") | ("filter", "uuid") => {
            "nearest: a Rhai `script` filter (`event.emit`, `event.set`)"
        }
        ("filter", "geoip") | ("filter", "useragent") => {
            "sluice ships no offline GeoIP/user-agent database"
        }
        (_, _) => return None,
    })
}

/// Codecs some sluice component reads or writes.
const KNOWN_CODECS: &[&str] = &["plain", "line", "json", "json_lines", "rubydebug"];

/// Maps one plugin; the tables it becomes (a filter with common options may become two).
pub fn map(kind: Kind, plugin: &Plugin) -> (Vec<Table>, Vec<Problem>) {
    let kind_name = match kind {
        Kind::Input => "input",
        Kind::Filter => "filter",
        Kind::Output => "output",
    };
    let mut options = Options::new(plugin, kind_name);
    let tables = match (kind, plugin.name.as_str()) {
        (Kind::Input, "beats") => beats(&mut options),
        (Kind::Input, "file") => file_input(&mut options),
        (Kind::Input, "stdin") => stdin(&mut options),
        (Kind::Input, "tcp") => socket_input(&mut options, "tcp"),
        (Kind::Input, "udp") => socket_input(&mut options, "udp"),
        (Kind::Filter, "json") => json(&mut options),
        (Kind::Filter, "date") => date(&mut options),
        (Kind::Filter, "mutate") => mutate(&mut options),
        (Kind::Filter, "drop") => drop_filter(&mut options),
        (Kind::Filter, "ruby") => ruby_filter(&mut options),
        (Kind::Filter, "grok") => grok(&mut options),
        (Kind::Filter, "dissect") => dissect(&mut options),
        (Kind::Filter, "kv") => kv(&mut options),
        (Kind::Filter, "split") => split(&mut options),
        (Kind::Output, "elasticsearch") => elasticsearch(&mut options),
        (Kind::Output, "stdout") => stdout(&mut options),
        (Kind::Output, "file") => file_output(&mut options),
        (Kind::Output, "http") => http(&mut options),
        (Kind::Input, "kafka") => super::kafka::input(&mut options),
        (Kind::Output, "kafka") => super::kafka::output(&mut options),
        (_, name) => {
            let mut message = format!("{kind_name} plugin `{name}` is not supported by sluice");
            if let Some(hint) = missing_plugin_hint(kind_name, name) {
                message.push_str(&format!(" ({hint})"));
            }
            let mut problems = vec![Problem {
                pos: plugin.pos,
                message,
            }];
            // Its codec may be one sluice lacks too: name it as well.
            if let Some(attribute) = plugin.attributes.iter().find(|a| a.name == "codec") {
                let codec = match &attribute.value.kind {
                    ValueKind::Bareword(n) | ValueKind::String(n) => Some(n.clone()),
                    ValueKind::Plugin(p) => Some(p.name.clone()),
                    _ => None,
                };
                if let Some(codec) = codec.filter(|c| !KNOWN_CODECS.contains(&c.as_str())) {
                    problems.push(Problem {
                        pos: attribute.value.pos,
                        message: format!("codec `{codec}` is not supported by sluice"),
                    });
                }
            }
            return (Vec::new(), problems);
        }
    };
    let mut tables = tables;
    if let Some((id, _)) = options.string("id") {
        if let Some(first) = tables.first_mut() {
            first.name = id;
        }
    }
    // Accepted everywhere and meaningless for sluice (metrics are always on).
    options.take("enable_metric");
    if kind == Kind::Input {
        if let Some(first) = tables.first_mut() {
            common_input_options(&mut options, first);
        }
    }
    if kind == Kind::Filter {
        options.take("periodic_flush");
        if let Some(first) = tables.first_mut() {
            common_filter_options(&mut options, first);
        }
    }
    let problems = options.finish(|option| option_hint(kind_name, &plugin.name, option));
    (tables, problems)
}

fn option_hint(kind: &str, plugin: &str, option: &str) -> Option<String> {
    Some(match (kind, plugin, option) {
        (_, _, "codec") => "sluice reads lines (or Beats events) and writes JSON".into(),
        (
            "filter",
            "mutate",
            "gsub" | "strip" | "split" | "join" | "merge" | "copy" | "update" | "coerce"
            | "capitalize",
        ) => "nearest: a `ruby` filter, translated to a Rhai `script`".into(),
        ("output", "elasticsearch", option) if option.starts_with("ilm_") => {
            "sluice manages no ILM policy: attach one in the index template (`template`)".into()
        }
        _ => return None,
    })
}

/// `type`, `tags`, `add_field`: every native input takes them (as `event_type`, `add_tag`,
/// `add_field`) and applies them to each event it sends, as Logstash's input `decorate`.
fn common_input_options(options: &mut Options<'_>, input: &mut Table) {
    if let Some((event_type, pos)) = options.string("type") {
        input.set("event_type", event_type, pos);
    }
    add_field(options, input);
    if let Some((tags, pos)) = options.strings("tags") {
        input.set("add_tag", strings_value(&tags), pos);
    }
}

fn add_field(options: &mut Options<'_>, table: &mut Table) {
    if let Some((entries, pos)) = options.hash("add_field") {
        let mut hash = InlineTable::new();
        for (key, value) in entries {
            hash.insert(&key, string_numbers(&value));
        }
        table.set("add_field", Value::InlineTable(hash), pos);
    }
}

/// `add_field`, `add_tag`, `remove_field`, `remove_tag`: every native filter takes them
/// with Logstash's names and applies them when it succeeded, as Logstash does.
fn common_filter_options(options: &mut Options<'_>, filter: &mut Table) {
    add_field(options, filter);
    for name in ["add_tag", "remove_field", "remove_tag"] {
        if let Some((items, pos)) = options.strings(name) {
            filter.set(name, strings_value(&items), pos);
        }
    }
}

fn beats(options: &mut Options<'_>) -> Vec<Table> {
    let mut table = Table::new(Kind::Input, "beats", options.plugin.pos);
    let host = options
        .string("host")
        .map_or("0.0.0.0".to_string(), |(h, _)| variables(&h));
    let port = options.string("port");
    let pos = port.as_ref().map_or(options.plugin.pos, |(_, p)| *p);
    let port = port.map_or("5044".to_string(), |(p, _)| variables(&p));
    table.set("address", format!("{host}:{port}"), pos);
    for (from, to) in [
        ("ssl_certificate", "tls_certificate"),
        ("ssl_key", "tls_key"),
    ] {
        if let Some((value, pos)) = options.string(from) {
            table.set(to, variables(&value), pos);
        }
    }
    if let Some((cas, pos)) = options.strings("ssl_certificate_authorities") {
        if let Some(first) = cas.first() {
            table.set("tls_client_ca", variables(first), pos);
        }
    }
    for name in ["ssl_client_authentication", "ssl_verify_mode"] {
        if let Some((mode, pos)) = options.string(name) {
            let mode = match mode.as_str() {
                "none" => "none",
                "optional" | "peer" => "optional",
                "required" | "force_peer" => "required",
                other => {
                    options.problem(pos, format!("`{name}` `{other}` is not known"));
                    continue;
                }
            };
            table.set("tls_client_authentication", mode, pos);
        }
    }
    for name in ["ssl", "ssl_enabled"] {
        if let Some((enabled, pos)) = options.boolean(name) {
            if enabled && table.get("tls_certificate").is_none() {
                options.problem(pos, "TLS needs `ssl_certificate` and `ssl_key`");
            }
        }
    }
    if let Some((seconds, pos)) = options.integer("client_inactivity_timeout") {
        table.set("idle_timeout", format!("{seconds}s"), pos);
    }
    if let Some((enabled, pos)) = options.boolean("include_codec_tag") {
        table.set("include_codec_tag", enabled, pos);
    }
    if let Some((mode, pos)) = options.string("ecs_compatibility") {
        table.set("ecs_compatibility", mode, pos);
    }
    plain_codec(options);
    vec![table]
}

/// `codec => plain` / `line` (what sluice's line-reading inputs do anyway) is accepted;
/// another codec is a problem.
fn plain_codec(options: &mut Options<'_>) {
    codec(options, &["plain", "line"]);
}

fn file_input(options: &mut Options<'_>) -> Vec<Table> {
    let mut table = Table::new(Kind::Input, "file", options.plugin.pos);
    match options.strings("path") {
        Some((paths, pos)) => table.set("paths", strings_value(&paths), pos),
        None => options.problem(options.plugin.pos, "input `file` needs `path`"),
    }
    // Logstash's default is `end`; sluice's is `beginning`: keep Logstash's.
    let (from, pos) = options
        .string("start_position")
        .unwrap_or(("end".into(), options.plugin.pos));
    match from.as_str() {
        "beginning" | "end" => table.set("read_from", from, pos),
        other => options.problem(pos, format!("`start_position` `{other}` is not known")),
    }
    if let Some((path, _)) = options.string("sincedb_path") {
        table.notes.push(format!(
            "sincedb_path `{path}`: sluice keeps read positions under data_dir"
        ));
    }
    if let Some((mode, pos)) = options.string("mode") {
        if mode != "tail" {
            options.problem(pos, "only `mode => tail` is supported (read mode is not)");
        }
    }
    plain_codec(options);
    vec![table]
}

/// `tcp` and `udp`: Logstash's option names, and codecs `line`, `plain`, `json`,
/// `json_lines` and `multiline { pattern, negate, what, … }`.
fn socket_input(options: &mut Options<'_>, kind: &str) -> Vec<Table> {
    let mut table = Table::new(Kind::Input, kind, options.plugin.pos);
    if let Some((host, pos)) = options.string("host") {
        table.set("host", variables(&host), pos);
    }
    match options.integer("port") {
        Some((port, pos)) => table.set("port", port, pos),
        None => options.problem(
            options.plugin.pos,
            format!("input `{kind}` needs `port` (a number)"),
        ),
    }
    if kind == "tcp" {
        if let Some((mode, pos)) = options.string("mode") {
            if mode != "server" {
                options.problem(pos, "only `mode => server` is supported");
            }
        }
    } else if let Some((size, pos)) = options.integer("buffer_size") {
        table.set("buffer_size", size, pos);
    }
    if let Some(attribute) = options.take("codec") {
        match &attribute.value.kind {
            ValueKind::Bareword(name) | ValueKind::String(name)
                if matches!(name.as_str(), "line" | "plain" | "json" | "json_lines") =>
            {
                table.set("codec", name.clone(), attribute.value.pos)
            }
            ValueKind::Plugin(codec) if codec.attributes.is_empty() && matches!(codec.name.as_str(), "line" | "plain" | "json" | "json_lines") => {
                table.set("codec", codec.name.clone(), attribute.value.pos)
            }
            ValueKind::Plugin(codec) if codec.name == "multiline" => {
                let mut multiline = InlineTable::new();
                multiline.insert("type", Value::from("multiline"));
                let mut codec_options = Options::new(codec, "codec");
                if let Some((pattern, _)) = codec_options.string("pattern") {
                    multiline.insert("pattern", Value::from(pattern));
                }
                if let Some((what, _)) = codec_options.string("what") {
                    multiline.insert("what", Value::from(what));
                }
                if let Some((negate, _)) = codec_options.boolean("negate") {
                    multiline.insert("negate", Value::from(negate));
                }
                for name in ["max_lines", "max_bytes"] {
                    if let Some((n, _)) = codec_options.integer(name) {
                        multiline.insert(name, Value::from(n));
                    }
                }
                if let Some((seconds, _)) = codec_options.integer("auto_flush_interval") {
                    multiline.insert("auto_flush_interval", Value::from(format!("{seconds}s")));
                }
                if let Some((tag, _)) = codec_options.string("multiline_tag") {
                    multiline.insert("multiline_tag", Value::from(tag));
                }
                options.problems.append(&mut codec_options.finish(|_| None));
                table.set("codec", Value::InlineTable(multiline), attribute.value.pos);
            }
            _ => options.problem(
                attribute.value.pos,
                format!("input `{kind}`: this codec is not supported (`line`, `plain`, `json`, `json_lines`, `multiline` are)"),
            ),
        }
    }
    vec![table]
}

fn stdin(options: &mut Options<'_>) -> Vec<Table> {
    let table = Table::new(Kind::Input, "stdin", options.plugin.pos);
    plain_codec(options);
    vec![table]
}

fn json(options: &mut Options<'_>) -> Vec<Table> {
    let mut table = Table::new(Kind::Filter, "json", options.plugin.pos);
    match options.string("source") {
        Some((source, pos)) => table.set("source", source, pos),
        None => options.problem(options.plugin.pos, "filter `json` needs `source`"),
    }
    if let Some((target, pos)) = options.string("target") {
        table.set("target", target, pos);
    }
    tag_on_failure(options, &mut table, "_jsonparsefailure");
    if let Some((skip, pos)) = options.boolean("skip_on_invalid_json") {
        table.set("skip_on_invalid", skip, pos);
    }
    vec![table]
}

fn tag_on_failure(options: &mut Options<'_>, table: &mut Table, default: &str) {
    let (tags, pos) = options
        .strings("tag_on_failure")
        .unwrap_or((vec![default.to_string()], options.plugin.pos));
    table.set("tag_on_failure", strings_value(&tags), pos);
}

fn date(options: &mut Options<'_>) -> Vec<Table> {
    // The native date filter takes Logstash's `match` with Joda-Time patterns as it is.
    let mut table = Table::new(Kind::Filter, "date", options.plugin.pos);
    match options.strings("match") {
        Some((items, pos)) if items.len() >= 2 => table.set("match", strings_value(&items), pos),
        Some((_, pos)) => options.problem(pos, "`match` needs a field and at least one format"),
        None => options.problem(options.plugin.pos, "filter `date` needs `match`"),
    }
    for name in ["target", "timezone", "locale"] {
        if let Some((value, pos)) = options.string(name) {
            table.set(name, variables(&value), pos);
        }
    }
    tag_on_failure(options, &mut table, "_dateparsefailure");
    vec![table]
}

fn mutate(options: &mut Options<'_>) -> Vec<Table> {
    passthrough(
        options,
        "mutate",
        &Shape {
            hashes: &[
                "coerce", "rename", "update", "replace", "convert", "split", "join", "merge",
                "copy",
            ],
            arrays: &["gsub", "uppercase", "capitalize", "lowercase", "strip"],
            ..Shape::default()
        },
    )
}

fn grok(options: &mut Options<'_>) -> Vec<Table> {
    // Logstash 8 runs grok with ECS field names unless told otherwise
    // (`pipeline.ecs_compatibility: v8`); the native filter's default is the legacy set, so
    // the `.conf`'s meaning is written out.
    let explicit = options
        .plugin
        .attributes
        .iter()
        .any(|a| a.name == "ecs_compatibility");
    let mut tables = passthrough(
        options,
        "grok",
        &Shape {
            hashes: &["match", "pattern_definitions"],
            arrays: &["overwrite", "patterns_dir", "tag_on_failure"],
            booleans: &[
                "break_on_match",
                "named_captures_only",
                "keep_empty_captures",
            ],
            integers: &["timeout_millis"],
            strings: &[
                "patterns_files_glob",
                "target",
                "tag_on_timeout",
                "ecs_compatibility",
            ],
        },
    );
    if !explicit {
        let pos = options.plugin.pos;
        for table in &mut tables {
            table.set("ecs_compatibility", "v8", pos);
        }
    }
    tables
}

fn dissect(options: &mut Options<'_>) -> Vec<Table> {
    passthrough(
        options,
        "dissect",
        &Shape {
            hashes: &["mapping", "convert_datatype"],
            arrays: &["tag_on_failure"],
            strings: &["append_separator"],
            ..Shape::default()
        },
    )
}

fn kv(options: &mut Options<'_>) -> Vec<Table> {
    passthrough(
        options,
        "kv",
        &Shape {
            hashes: &["default_keys"],
            arrays: &["include_keys", "exclude_keys"],
            booleans: &[
                "allow_duplicate_values",
                "allow_empty_values",
                "include_brackets",
            ],
            strings: &[
                "source",
                "target",
                "prefix",
                "field_split",
                "value_split",
                "trim_key",
                "trim_value",
                "remove_char_key",
                "remove_char_value",
                "transform_key",
                "transform_value",
                "whitespace",
            ],
            ..Shape::default()
        },
    )
}

fn split(options: &mut Options<'_>) -> Vec<Table> {
    passthrough(
        options,
        "split",
        &Shape {
            strings: &["field", "target", "terminator"],
            ..Shape::default()
        },
    )
}

/// A hash setting's value: Logstash holds numbers there as strings (`latency => -1` adds
/// "-1").
fn string_numbers(value: &super::parser::Value) -> Value {
    match &value.kind {
        ValueKind::Number(n) => Value::from(n.clone()),
        _ => to_toml(value),
    }
}

/// The value shapes of a native filter that takes Logstash's option names as they are.
#[derive(Default)]
struct Shape {
    /// Hashes (also written as `["key", "value", …]` pairs), as TOML tables.
    hashes: &'static [&'static str],
    /// Lists (a single string is a list of one).
    arrays: &'static [&'static str],
    booleans: &'static [&'static str],
    integers: &'static [&'static str],
    strings: &'static [&'static str],
}

fn passthrough(options: &mut Options<'_>, type_name: &str, shape: &Shape) -> Vec<Table> {
    let mut table = Table::new(Kind::Filter, type_name, options.plugin.pos);
    for name in shape.hashes {
        if let Some((entries, pos)) = options.hash(name) {
            let mut hash = InlineTable::new();
            for (key, value) in entries {
                hash.insert(&key, string_numbers(&value));
            }
            table.set(name, Value::InlineTable(hash), pos);
        }
    }
    for name in shape.arrays {
        if let Some((items, pos)) = options.strings(name) {
            table.set(name, strings_value(&items), pos);
        }
    }
    for name in shape.booleans {
        if let Some((value, pos)) = options.boolean(name) {
            table.set(name, value, pos);
        }
    }
    for name in shape.integers {
        if let Some((value, pos)) = options.integer(name) {
            table.set(name, value, pos);
        }
    }
    for name in shape.strings {
        if let Some((value, pos)) = options.string(name) {
            table.set(name, variables(&value), pos);
        }
    }
    vec![table]
}

fn drop_filter(options: &mut Options<'_>) -> Vec<Table> {
    if let Some((percentage, pos)) = options.integer("percentage") {
        if percentage != 100 {
            options.problem(pos, "`percentage` other than 100 is not supported");
        }
    }
    vec![Table::new(Kind::Filter, "drop", options.plugin.pos)]
}

fn ruby_filter(options: &mut Options<'_>) -> Vec<Table> {
    let mut table = Table::new(Kind::Filter, "script", options.plugin.pos);
    table.notes.push("ruby filter, translated to Rhai".into());
    if let Some(table) = ruby_topic_split(options) {
        return vec![table];
    }
    match options.take("code") {
        Some(attribute) => {
            let code = match &attribute.value.kind {
                ValueKind::String(code) => code.clone(),
                _ => {
                    options.problem(attribute.value.pos, "`code` must be a string");
                    return Vec::new();
                }
            };
            match ruby::translate(&code) {
                Ok(translation) => table.set("source", translation.rhai, attribute.value.pos),
                Err(errors) => {
                    for error in &errors {
                        options.problem(
                            position_in_code(attribute.value.pos, &code, error.line, error.column),
                            format!(
                                "filter `ruby`: code line {} cannot be translated to Rhai: {}",
                                error.line, error.message
                            ),
                        );
                    }
                    table.set("source", ruby::stub(&code, &errors), attribute.value.pos);
                }
            }
        }
        None => options.problem(
            options.plugin.pos,
            "filter `ruby` needs `code` (a `path` script cannot be translated)",
        ),
    }
    let (tag, pos) = options
        .string("tag_on_exception")
        .unwrap_or((ruby::EXCEPTION_TAG.to_string(), options.plugin.pos));
    table.set("tag_on_error", tag, pos);
    vec![table]
}

/// A ruby block of the seed's topic-split shape ([`ruby::topic_split`]) as the native
/// `topic_split` filter with Ruby's split rules: the same events, without a script engine.
fn ruby_topic_split(options: &mut Options<'_>) -> Option<Table> {
    let attribute = options
        .plugin
        .attributes
        .iter()
        .rfind(|a| a.name == "code")?;
    let ValueKind::String(code) = &attribute.value.kind else {
        return None;
    };
    let split = ruby::topic_split(code)?;
    options.take("code");
    let pos = attribute.value.pos;
    let mut table = Table::new(Kind::Filter, "topic_split", options.plugin.pos);
    table.notes.push(
        "ruby filter: the topic split, run natively (Ruby's `split` rules, its exception tag)"
            .into(),
    );
    table.set("source", split.source.as_str(), pos);
    table.set("prefix", "", pos);
    table.set("count", split.count.as_str(), pos);
    table.set("levels", strings_value(&split.levels), pos);
    table.set("split", "ruby", pos);
    let (tag, tag_pos) = options
        .string("tag_on_exception")
        .unwrap_or((ruby::EXCEPTION_TAG.to_string(), options.plugin.pos));
    table.set("tag_on_failure", tag, tag_pos);
    Some(table)
}

/// The `.conf` position of 1-based `line`/`column` (characters) of a string option's code,
/// whose opening quote is at `quote`.
fn position_in_code(quote: super::Pos, code: &str, line: usize, column: usize) -> super::Pos {
    let mut offset = quote.offset + 1;
    for text in code.split_inclusive('\n').take(line.saturating_sub(1)) {
        offset += text.len();
    }
    let line_text = code
        .split_inclusive('\n')
        .nth(line.saturating_sub(1))
        .unwrap_or("");
    offset += line_text
        .chars()
        .take(column.saturating_sub(1))
        .map(char::len_utf8)
        .sum::<usize>();
    super::Pos {
        file: quote.file,
        offset,
    }
}

/// `hosts` entries as URLs (Logstash takes `host:port` and adds the scheme).
fn host_urls(hosts: &[String], https: bool) -> Vec<String> {
    hosts
        .iter()
        .map(|host| {
            if host.contains("://") || host.starts_with("${") {
                host.clone()
            } else if https {
                format!("https://{host}")
            } else {
                format!("http://{host}")
            }
        })
        .collect()
}

fn elasticsearch(options: &mut Options<'_>) -> Vec<Table> {
    let mut table = Table::new(Kind::Output, "elasticsearch", options.plugin.pos);
    let https = ["ssl", "ssl_enabled"]
        .into_iter()
        .filter_map(|name| options.boolean(name))
        .any(|(enabled, _)| enabled);
    let (hosts, pos) = options
        .strings("hosts")
        .unwrap_or((vec!["localhost:9200".into()], options.plugin.pos));
    table.set("hosts", strings_value(&host_urls(&hosts, https)), pos);
    for name in [
        "index",
        "document_id",
        "user",
        "password",
        "api_key",
        "template_name",
    ] {
        if let Some((value, pos)) = options.string(name) {
            table.set(name, variables(&value), pos);
        }
    }
    if let Some((action, pos)) = options.string("action") {
        match action.as_str() {
            "index" | "create" => table.set("action", action, pos),
            other => options.problem(
                pos,
                format!("`action => {other}` is not supported (`index` and `create` are)"),
            ),
        }
    }
    if let Some((enabled, pos)) = options.boolean("data_stream") {
        table.set("data_stream", enabled, pos);
    }
    if let Some((path, pos)) = options.string("template") {
        table.set("template", variables(&path), pos);
    }
    if let Some((overwrite, pos)) = options.boolean("template_overwrite") {
        table.set("template_overwrite", overwrite, pos);
    }
    if let Some((manage, _)) = options.boolean("manage_template") {
        if manage && table.get("template").is_none() {
            table.notes.push(
                "manage_template: sluice installs a template only when `template` names one".into(),
            );
        }
    }
    if let Some((workers, pos)) = options.integer("workers") {
        // Logstash's legacy per-output workers: parallel bulk requests.
        table.set("concurrency", workers.max(1), pos);
    }
    if let Some((ilm, pos)) = options.string("ilm_enabled") {
        if ilm != "false" {
            options.problem(
                pos,
                "output `elasticsearch`: `ilm_enabled` other than `false` is not supported (sluice manages no ILM policy: attach one in the index template, `template`)",
            );
        }
    }
    let mut tls = InlineTable::new();
    let mut tls_pos = None;
    for name in ["ssl_certificate_authorities", "cacert"] {
        if let Some((cas, pos)) = options.strings(name) {
            if cas.len() > 1 {
                options.problem(pos, "one CA file is supported");
            }
            if let Some(first) = cas.first() {
                tls.insert("ca_file", Value::from(variables(first)));
                tls_pos = Some(pos);
            }
        }
    }
    for (from, to) in [("ssl_certificate", "certificate"), ("ssl_key", "key")] {
        if let Some((path, pos)) = options.string(from) {
            tls.insert(to, Value::from(variables(&path)));
            tls_pos = Some(pos);
        }
    }
    if let Some((mode, pos)) = options.string("ssl_verification_mode") {
        match mode.as_str() {
            "full" => {}
            "none" => {
                tls.insert("verify", Value::from(false));
                tls_pos = Some(pos);
            }
            other => options.problem(
                pos,
                format!("`ssl_verification_mode => {other}` is not supported (`full`, `none` are)"),
            ),
        }
    }
    if let Some(pos) = tls_pos {
        table.set("tls", Value::InlineTable(tls), pos);
    }
    vec![table]
}

fn stdout(options: &mut Options<'_>) -> Vec<Table> {
    let mut table = Table::new(Kind::Output, "stdout", options.plugin.pos);
    // Logstash's stdout prints rubydebug unless told otherwise.
    let codec = codec(options, &["rubydebug", "json_lines", "json", "line"])
        .unwrap_or_else(|| "rubydebug".into());
    let native = if codec == "rubydebug" {
        "pretty"
    } else {
        "json"
    };
    table.set("codec", native, options.plugin.pos);
    vec![table]
}

fn file_output(options: &mut Options<'_>) -> Vec<Table> {
    let mut table = Table::new(Kind::Output, "file", options.plugin.pos);
    match options.string("path") {
        Some((path, pos)) => table.set("path", variables(&path), pos),
        None => options.problem(options.plugin.pos, "output `file` needs `path`"),
    }
    codec(options, &["json_lines", "json"]);
    vec![table]
}

/// `http` to a Slack incoming webhook becomes the `slack` output (with its rate limiting
/// and de-duplication); any other URL the native `http` output.
fn http(options: &mut Options<'_>) -> Vec<Table> {
    let Some((url, url_pos)) = options.string("url") else {
        options.problem(options.plugin.pos, "output `http` needs `url`");
        return Vec::new();
    };
    if url.contains("hooks.slack.com") {
        slack_webhook(options, url, url_pos)
    } else {
        http_output(options, url, url_pos)
    }
}

/// The native `http` output, which takes Logstash's option names.
fn http_output(options: &mut Options<'_>, url: String, url_pos: super::Pos) -> Vec<Table> {
    let mut table = Table::new(Kind::Output, "http", options.plugin.pos);
    table.set("url", variables(&url), url_pos);
    // Logstash requires `http_method`; sluice defaults to `post`.
    match options.string("http_method") {
        Some((method, pos)) => match method.to_ascii_lowercase().as_str() {
            method @ ("post" | "put" | "patch") => table.set("http_method", method, pos),
            other => options.problem(
                pos,
                format!("`http_method => {other}` is not supported (`post`, `put`, `patch` are: an event is a request body)"),
            ),
        },
        None => options.problem(
            options.plugin.pos,
            "output `http` needs `http_method` (`post`, `put` or `patch`)",
        ),
    }
    if let Some((format, pos)) = options.string("format") {
        match format.as_str() {
            "json" | "json_batch" => table.set("format", format, pos),
            other => options.problem(
                pos,
                format!("`format => {other}` is not supported (`json`, `json_batch` are)"),
            ),
        }
    }
    for name in ["mapping", "headers"] {
        if let Some((entries, pos)) = options.hash(name) {
            let mut hash = InlineTable::new();
            for (key, value) in entries {
                hash.insert(&key, to_toml(&value));
            }
            table.set(name, Value::InlineTable(hash), pos);
        }
    }
    if let Some((content_type, pos)) = options.string("content_type") {
        table.set("content_type", variables(&content_type), pos);
    }
    if let Some((seconds, pos)) = options.integer("request_timeout") {
        table.set("request_timeout", format!("{seconds}s"), pos);
    }
    if let Some((codes, pos)) = options.strings("retryable_codes") {
        let codes: Vec<i64> = codes.iter().filter_map(|c| c.parse().ok()).collect();
        table.set(
            "retryable_codes",
            Value::Array(codes.into_iter().map(Value::from).collect()),
            pos,
        );
    }
    if let Some((retry, pos)) = options.boolean("retry_failed") {
        if !retry {
            // Logstash then gives a failed request up; sluice dead-letters its events.
            table.set("max_retries", 0, pos);
        }
    }
    vec![table]
}

fn slack_webhook(options: &mut Options<'_>, url: String, url_pos: super::Pos) -> Vec<Table> {
    let mut table = Table::new(Kind::Output, "slack", options.plugin.pos);
    table.set("webhook_url", variables(&url), url_pos);
    if let Some((method, pos)) = options.string("http_method") {
        if !method.eq_ignore_ascii_case("post") {
            options.problem(pos, "a Slack webhook takes `http_method => \"post\"`");
        }
    }
    if let Some((format, pos)) = options.string("format") {
        if format != "json" {
            options.problem(pos, "a Slack webhook takes `format => \"json\"`");
        }
    }
    match options.hash("mapping") {
        Some((entries, pos)) => {
            for (key, value) in entries {
                match (key.as_str(), &value.kind) {
                    ("text", ValueKind::String(text)) => table.set("text", variables(text), pos),
                    ("channel" | "username" | "icon_emoji" | "icon_url", _) => {
                        table.notes.push(format!(
                            "mapping `{key}`: Slack app webhooks post to their own channel as their app, and ignore it"
                        ));
                    }
                    (other, _) => options.problem(
                        value.pos,
                        format!("Slack mapping key `{other}` is not supported (`text` is)"),
                    ),
                }
            }
        }
        None => options.problem(
            options.plugin.pos,
            "a Slack `http` output needs `mapping => { \"text\" => … }`",
        ),
    }
    if let Some((codec, pos)) = options.string("content_type") {
        if codec != "application/json" {
            options.problem(pos, "a Slack webhook takes `application/json`");
        }
    }
    vec![table]
}
