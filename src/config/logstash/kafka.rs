//! Logstash's `kafka` input and output onto sluice's `kafka` components.
//!
//! Logstash's Kafka plugins wrap the Java client, sluice's wrap librdkafka: the option names
//! differ, and so do a few defaults. Logstash's defaults are kept where they change what a
//! pipeline does (group `logstash`, a new group starting at the `latest` offset, the input's
//! `plain` codec), so a `.conf` that took over a Logstash consumer group goes on where it
//! left off. The connection (`security_protocol`, `sasl_*`, `ssl_*`) becomes the native
//! `tls` and `sasl` tables; the JAAS line carrying the SASL credentials is read for its
//! `username` and `password`. What the Java client offers and librdkafka or sluice does not
//! (Kerberos, JKS stores) is a problem naming it.

use super::emit::{Kind, Table};
use super::options::{codec, strings_value, variables, Options};
use super::parser::Pos;
use toml_edit::{InlineTable, Value};

/// Logstash's `bootstrap_servers` default.
const DEFAULT_BOOTSTRAP_SERVERS: &str = "localhost:9092";

pub fn input(options: &mut Options<'_>) -> Vec<Table> {
    let mut table = Table::new(Kind::Input, "kafka", options.plugin.pos);
    connection(options, &mut table);
    let topics_pattern = options.string("topics_pattern");
    let topics = options.strings("topics");
    match (topics_pattern, topics) {
        (Some((pattern, pos)), _) => {
            // Logstash: `topics_pattern` wins over `topics`; librdkafka subscribes to a
            // pattern when the name starts with `^`.
            let pattern = if pattern.starts_with('^') {
                pattern
            } else {
                format!("^{pattern}")
            };
            table.set("topics", strings_value(&[pattern]), pos);
        }
        (None, Some((topics, pos))) => table.set("topics", strings_value(&topics), pos),
        (None, None) => table.set(
            "topics",
            strings_value(&["logstash".to_string()]),
            options.plugin.pos,
        ),
    }
    let (group, pos) = options
        .string("group_id")
        .unwrap_or(("logstash".into(), options.plugin.pos));
    table.set("group_id", variables(&group), pos);
    // Unset, the Java client's `latest` applies (sluice's own default is `earliest`).
    let (reset, pos) = options
        .string("auto_offset_reset")
        .unwrap_or(("latest".into(), options.plugin.pos));
    match reset.as_str() {
        "earliest" | "latest" => table.set("auto_offset_reset", reset, pos),
        other => options.problem(
            pos,
            format!("`auto_offset_reset => {other}` is not supported (`earliest`, `latest` are)"),
        ),
    }
    // Logstash's Kafka input reads `plain` text unless told otherwise.
    let codec = codec(options, &["plain", "line", "json"]);
    let native = match codec.as_deref() {
        Some("json") => "json",
        _ => "plain",
    };
    table.set("codec", native, options.plugin.pos);
    if let Some((decorate, pos)) = options.string("decorate_events") {
        match decorate.as_str() {
            "true" | "basic" => table.set("decorate_events", true, pos),
            "false" | "none" => table.set("decorate_events", false, pos),
            other => options.problem(
                pos,
                format!(
                    "`decorate_events => {other}` is not supported (`basic` is: topic, partition, offset, key, timestamp and group under [@metadata][kafka], no headers)"
                ),
            ),
        }
    }
    if let Some((threads, _)) = options.integer("consumer_threads") {
        table.notes.push(format!(
            "consumer_threads {threads}: one librdkafka consumer reads every assigned partition"
        ));
    }
    vec![table]
}

pub fn output(options: &mut Options<'_>) -> Vec<Table> {
    let mut table = Table::new(Kind::Output, "kafka", options.plugin.pos);
    connection(options, &mut table);
    match options.string("topic_id") {
        Some((topic, pos)) => table.set("topic", variables(&topic), pos),
        None => options.problem(options.plugin.pos, "output `kafka` needs `topic_id`"),
    }
    if let Some((key, pos)) = options.string("message_key") {
        table.set("key", variables(&key), pos);
    }
    if let Some((compression, pos)) = options.string("compression_type") {
        match compression.as_str() {
            "none" | "gzip" | "snappy" | "lz4" | "zstd" => {
                table.set("compression", compression, pos)
            }
            other => options.problem(pos, format!("`compression_type => {other}` is not known")),
        }
    }
    if let Some((acks, pos)) = options.string("acks") {
        match acks.as_str() {
            "all" | "-1" => {}
            "0" | "1" => table.notes.push(format!(
                "acks {acks}: sluice always waits for every in-sync replica (`all`), which loses nothing a leader took"
            )),
            other => options.problem(pos, format!("`acks => {other}` is not known")),
        }
    }
    // Logstash's default codec (`plain`) writes `%{@timestamp} %{host} %{message}`; sluice's
    // Kafka output writes each event as JSON, which is Logstash's `codec => json`.
    let has_codec = options.plugin.attributes.iter().any(|a| a.name == "codec");
    if has_codec {
        codec(options, &["json"]);
    } else {
        options.problem(
            options.plugin.pos,
            "output `kafka`: the default `plain` codec is not supported: sluice writes each event as JSON (`codec => json`)",
        );
    }
    vec![table]
}

/// `bootstrap_servers`, `client_id` and the security options, shared by input and output.
fn connection(options: &mut Options<'_>, table: &mut Table) {
    let (servers, pos) = options
        .string("bootstrap_servers")
        .unwrap_or((DEFAULT_BOOTSTRAP_SERVERS.into(), options.plugin.pos));
    table.set("bootstrap_servers", variables(&servers), pos);
    if let Some((client, pos)) = options.string("client_id") {
        table.set("client_id", variables(&client), pos);
    }
    let (protocol, protocol_pos) = options
        .string("security_protocol")
        .unwrap_or(("PLAINTEXT".into(), options.plugin.pos));
    let (tls, sasl) = match protocol.as_str() {
        "PLAINTEXT" => (false, false),
        "SSL" => (true, false),
        "SASL_PLAINTEXT" => (false, true),
        "SASL_SSL" => (true, true),
        other => {
            options.problem(
                protocol_pos,
                format!("`security_protocol => {other}` is not known (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL` are)"),
            );
            (false, false)
        }
    };
    let tls_table = tls_options(options);
    if tls {
        table.set("tls", Value::InlineTable(tls_table), protocol_pos);
    }
    let sasl_table = sasl_options(options, sasl);
    if let Some((sasl_table, pos)) = sasl_table {
        table.set("sasl", Value::InlineTable(sasl_table), pos);
    }
}

/// The `ssl_*` options as a native `tls` table (PEM files only: librdkafka reads no JKS).
fn tls_options(options: &mut Options<'_>) -> InlineTable {
    let mut tls = InlineTable::new();
    for (store, keys) in [
        ("truststore", &["ca_file"][..]),
        ("keystore", &["cert_file", "key_file"][..]),
    ] {
        let location = options.string(&format!("ssl_{store}_location"));
        let kind = options.string(&format!("ssl_{store}_type"));
        // A PEM store needs no password; a JKS/PKCS12 one is refused below anyway.
        options.take(&format!("ssl_{store}_password"));
        let Some((path, pos)) = location else {
            continue;
        };
        if kind.as_ref().map(|(k, _)| k.as_str()) != Some("PEM") {
            options.problem(
                pos,
                format!(
                    "`ssl_{store}_location`: sluice (librdkafka) reads PEM files only: export the store as PEM and set `ssl_{store}_type => \"PEM\"`"
                ),
            );
            continue;
        }
        for key in keys {
            tls.insert(*key, Value::from(variables(&path)));
        }
    }
    if let Some((password, _)) = options.string("ssl_key_password") {
        tls.insert("key_password", Value::from(variables(&password)));
    }
    if let Some((algorithm, pos)) = options.string("ssl_endpoint_identification_algorithm") {
        if algorithm != "https" {
            options.problem(
                pos,
                "`ssl_endpoint_identification_algorithm` other than `https` is not supported: sluice checks broker host names (`verify = false` in the TOML turns off every check)",
            );
        }
    }
    tls
}

/// `sasl_mechanism` and `sasl_jaas_config` as a native `sasl` table, when the protocol uses
/// SASL.
fn sasl_options(options: &mut Options<'_>, sasl: bool) -> Option<(InlineTable, Pos)> {
    let mechanism = options.string("sasl_mechanism");
    let jaas = options.string("sasl_jaas_config");
    if !sasl {
        if let Some((_, pos)) = mechanism.as_ref().or(jaas.as_ref()) {
            options.problem(
                *pos,
                "SASL options need `security_protocol => \"SASL_PLAINTEXT\"` or `\"SASL_SSL\"`",
            );
        }
        return None;
    }
    // The Java client's default mechanism is Kerberos.
    let (mechanism, pos) = mechanism.unwrap_or(("GSSAPI".into(), options.plugin.pos));
    if !matches!(
        mechanism.as_str(),
        "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"
    ) {
        options.problem(
            pos,
            format!("`sasl_mechanism => {mechanism}` is not supported (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` are)"),
        );
        return None;
    }
    let Some((jaas, jaas_pos)) = jaas else {
        options.problem(
            pos,
            "SASL needs `sasl_jaas_config` with `username` and `password` (`jaas_path` is not supported)",
        );
        return None;
    };
    let entries = jaas_options(&jaas);
    let value = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| variables(v))
    };
    let (Some(username), Some(password)) = (value("username"), value("password")) else {
        options.problem(
            jaas_pos,
            "`sasl_jaas_config` must set `username` and `password`",
        );
        return None;
    };
    let mut table = InlineTable::new();
    table.insert("mechanism", Value::from(mechanism));
    table.insert("username", Value::from(username));
    table.insert("password", Value::from(password));
    Some((table, jaas_pos))
}

/// The `key=value` options of a JAAS login line
/// (`org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password='p';`).
fn jaas_options(jaas: &str) -> Vec<(String, String)> {
    let mut entries = Vec::new();
    let mut rest = jaas;
    while let Some(equals) = rest.find('=') {
        let key = rest[..equals]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or_default()
            .to_string();
        let after = rest[equals + 1..].trim_start();
        let (value, remaining) = match after.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let inner = &after[1..];
                match inner.find(quote) {
                    Some(end) => (&inner[..end], &inner[end + 1..]),
                    None => (inner, ""),
                }
            }
            _ => {
                let end = after
                    .find(|c: char| c.is_whitespace() || c == ';')
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        entries.push((key, value.to_string()));
        rest = remaining;
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::jaas_options;

    #[test]
    fn a_jaas_line_gives_its_quoted_and_bare_options() {
        let entries = jaas_options(
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="ingest" password='s3cr=t x' serviceName=kafka;"#,
        );
        let pairs: Vec<(&str, &str)> = entries
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("username", "ingest"),
                ("password", "s3cr=t x"),
                ("serviceName", "kafka")
            ]
        );
    }
}
