//! Loader tests: every error names file, line, column and key.

use super::*;
use crate::filters::FilterConfig;
use crate::inputs::InputConfig;
use crate::outputs::OutputConfig;
use std::path::{Path, PathBuf};

type Config = PipelineConfig<InputConfig, FilterConfig, OutputConfig>;

fn parse_with(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse(Path::new("pipeline.toml"), text.to_string(), move |name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
}

fn errors(text: &str) -> Vec<String> {
    parse_with(text, &[])
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_typo_names_the_key_its_position_and_the_valid_keys() {
    let text = "[inputs.app]\ntype = \"stdin\"\n\n[outputs.out]\ntype = \"file\"\npaht = \"x\"\n";
    assert_eq!(
        errors(text),
        ["pipeline.toml:6:1: output `out` (file): unknown field `paht`, expected one of `path`, `fsync`, `max_open_files`"]
    );
}

#[test]
fn a_wrong_type_points_at_the_value() {
    let text = "[inputs.app]\ntype = \"stdin\"\n[outputs.out]\ntype = \"file\"\npath = \"x\"\nfsync = \"yes\"\n";
    let errors = errors(text);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("pipeline.toml:6:9: output `out` (file): invalid type: string \"yes\", expected a boolean"), "{}", errors[0]);
}

#[test]
fn unknown_component_types_list_the_known_ones() {
    let text = "[inputs.app]\ntype = \"stdin\"\n[outputs.out]\ntype = \"stdot\"\n";
    assert_eq!(
        errors(text),
        ["pipeline.toml:4:8: unknown output type `stdot`, expected one of `stdout`, `file`, `null`, `slack`, `elasticsearch`, `http`, `kafka`"]
    );
}

#[test]
fn a_missing_variable_is_named_at_its_reference() {
    let text = "data_dir = \"${SLUICE_TEST_UNSET_VAR}\"\n[inputs.app]\ntype = \"stdin\"\n[outputs.out]\ntype = \"null\"\n";
    let errors = errors(text);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(
            "pipeline.toml:1:13: environment variable `SLUICE_TEST_UNSET_VAR` is not set"
        ),
        "{}",
        errors[0]
    );
}

#[test]
fn variables_and_defaults_fill_values() {
    let text = "data_dir = \"${DIR:-fallback}\"\n[inputs.app]\ntype = \"stdin\"\n[outputs.out]\ntype = \"null\"\n[pipeline]\nbatch_size = ${BATCH}\n";
    let config = parse_with(text, &[("BATCH", "77")]).unwrap();
    assert_eq!(config.data_dir, PathBuf::from("fallback"));
    assert_eq!(config.settings.batch_size, 77);
}

#[test]
fn batches_are_smaller_with_the_disk_queue_unless_batch_size_is_set() {
    let base = "[inputs.app]\ntype = \"stdin\"\n[outputs.out]\ntype = \"null\"\n";
    let batch_size = |pipeline: &str| {
        parse_with(&format!("{base}{pipeline}"), &[])
            .unwrap()
            .settings
            .batch_size
    };
    assert_eq!(batch_size(""), 64);
    assert_eq!(batch_size("[pipeline]\nworkers = 1\n"), 64);
    assert_eq!(batch_size("[pipeline.queue]\ntype = \"memory\"\n"), 64);
    assert_eq!(
        batch_size("[pipeline.queue]\ntype = \"disk\"\n"),
        PipelineSettings::DISK_QUEUE_BATCH_SIZE
    );
    assert_eq!(
        batch_size("[pipeline]\nbatch_size = 64\n[pipeline.queue]\ntype = \"disk\"\n"),
        64
    );
}

#[test]
fn a_typo_in_the_pipeline_table_names_the_key_and_its_position() {
    let errors = errors("[inputs.app]\ntype = \"stdin\"\n[outputs.out]\ntype = \"null\"\n[pipeline]\nbatch_sise = 3\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("pipeline.toml:6:1:") && errors[0].contains("`batch_sise`"),
        "{}",
        errors[0]
    );
}

#[test]
fn positions_after_a_substitution_refer_to_the_original_text() {
    let text = "data_dir = \"${DIR}\"\n[inputs.app]\ntype = \"stdin\"\n[outputs.out]\ntype = \"null\"\nbogus = 1\n";
    let errors: Vec<String> = parse_with(text, &[("DIR", "a-much-longer-directory-name")])
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        ["pipeline.toml:6:1: output `out` (null): unknown field `bogus`, there are no fields"]
    );
}

#[test]
fn unknown_top_level_keys_and_missing_sections() {
    let errors = errors("dat_dir = \"x\"\n");
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors
        .iter()
        .any(|e| e.contains("unknown key `dat_dir`, expected one of `data_dir`")));
    assert!(errors.iter().any(|e| e.contains("no inputs")));
    assert!(errors.iter().any(|e| e.contains("no outputs")));
}

#[test]
fn invalid_toml_is_reported_with_a_position() {
    let errors = errors("[inputs.app\ntype = 1\n");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("pipeline.toml:1:"), "{}", errors[0]);
    assert!(errors[0].contains("invalid TOML"));
}

#[test]
fn inputs_reject_conditions() {
    let text = "[inputs.app]\ntype = \"stdin\"\nif = \"x\"\n[outputs.out]\ntype = \"null\"\n";
    assert_eq!(
        errors(text),
        ["pipeline.toml:3:6: inputs do not take an `if` condition"]
    );
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let text = "[inputs.a]\ntype = \"stdin\"\nx = 1\n[outputs.b]\ntype = \"null\"\ny = 2\n";
    let errors = errors(text);
    assert_eq!(errors.len(), 2);
    assert!(errors[0].starts_with("pipeline.toml:3:1:"));
    assert!(errors[1].starts_with("pipeline.toml:6:1:"));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn fragments() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "[inputs.a]\n",
            "[[filters]]\n",
            "[outputs.o]\n",
            "type = \"stdin\"\n",
            "type = \"file\"\n",
            "type = \"json\"\n",
            "type = \"null\"\n",
            "if = '",
            "a == 1",
            "'\n",
            "\"${X}\"",
            "${Y:-d}",
            "${",
            "}",
            "#",
            "\n",
            "'''",
            "\"\"\"",
            "=",
            "[",
            "]",
            "{",
            "}",
            "path = ",
            "paths = [",
            "x",
            " ",
            "\\",
            "\u{e9}",
        ]);
        prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        /// Whatever the text, loading returns a config or positioned errors; it never panics,
        /// and every error position lies inside the file.
        #[test]
        fn loading_arbitrary_text_never_panics(text in fragments()) {
            let lines = text.lines().count().max(1);
            if let Err(errors) = parse_with(&text, &[("X", "v\"al\\ue")]) {
                for error in errors.0 {
                    prop_assert!(error.line <= lines + 1, "{error}");
                }
            }
        }

        #[test]
        fn loading_arbitrary_bytes_never_panics(text in "\\PC{0,200}") {
            let _ = parse_with(&text, &[]);
        }
    }
}

#[test]
fn the_api_table_is_closed_and_its_address_checked() {
    let base = "[inputs.app]\ntype = \"stdin\"\n[outputs.out]\ntype = \"null\"\n";
    let config = parse_with(base, &[]).unwrap();
    assert!(config.api.enabled);
    assert_eq!(config.api.address.to_string(), "127.0.0.1:9600-9700");

    let config = parse_with(
        &format!("[api]\nenabled = false\naddress = \"0.0.0.0:9601\"\n{base}"),
        &[],
    )
    .unwrap();
    assert!(!config.api.enabled);
    assert_eq!(config.api.address.to_string(), "0.0.0.0:9601");

    let typo = errors(&format!("[api]\nadress = \"x\"\n{base}"));
    assert_eq!(typo.len(), 1);
    assert!(
        typo[0].starts_with(
            "pipeline.toml:2:1: [api]: unknown field `adress`, expected `enabled` or `address`"
        ),
        "{}",
        typo[0]
    );
    let bad = errors(&format!("[api]\naddress = \"127.0.0.1:http\"\n{base}"));
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0].starts_with("pipeline.toml:2:11: [api]: invalid API address"),
        "{}",
        bad[0]
    );
}

#[test]
fn every_unknown_or_invalid_key_of_a_table_is_reported() {
    let text = "[inputs.app]\ntype = \"file\"\npaths = [\"x.log\"]\nread_form = \"end\"\nmax_line_bytes = -5\nbogus = 1\n\
                [pipeline]\nworkers = -1\nbatch_sise = 3\n\
                [outputs.out]\ntype = \"null\"\n";
    let errors = errors(text);
    let positions: Vec<&str> = errors
        .iter()
        .map(|e| e.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        positions,
        [
            "pipeline.toml:4:1",
            "pipeline.toml:5:18",
            "pipeline.toml:6:1",
            "pipeline.toml:8:11",
            "pipeline.toml:9:1"
        ],
        "{errors:#?}"
    );
    assert!(
        errors[0].contains("unknown field `read_form`"),
        "{}",
        errors[0]
    );
    assert!(errors[3].contains("integer `-1`"), "{}", errors[3]);
}

#[test]
fn problems_in_nested_tables_are_all_reported_and_removed_keys_are_not_missing() {
    // `paths` is required: refused for its type, it must not come back as missing; the
    // `tls` table's two typos are both named.
    let text = "[inputs.app]\ntype = \"file\"\npaths = 5\n\
                [outputs.es]\ntype = \"elasticsearch\"\nhosts = [\"http://localhost:9200\"]\n\
                tls = { ca_fil = \"a\", verfy = false }\n";
    let errors = errors(text);
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(errors[0].starts_with("pipeline.toml:3:9:"), "{}", errors[0]);
    assert!(
        errors[1].contains("unknown field `ca_fil`"),
        "{}",
        errors[1]
    );
    assert!(errors[2].contains("unknown field `verfy`"), "{}", errors[2]);
    assert!(!errors.iter().any(|e| e.contains("missing field")));
}

#[test]
fn a_missing_key_is_still_reported_beside_an_unrelated_typo() {
    let text =
        "[inputs.app]\ntype = \"stdin\"\n[outputs.es]\ntype = \"elasticsearch\"\nindx = \"x\"\n";
    let errors = errors(text);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors.iter().any(|e| e.contains("missing field `hosts`")));
    assert!(errors.iter().any(|e| e.contains("unknown field `indx`")));
}

#[test]
fn the_queue_table_picks_memory_or_disk_and_reports_mistakes_where_they_are() {
    let base = "[inputs.app]\ntype = \"stdin\"\n[outputs.out]\ntype = \"null\"\n";
    let config = parse_with(base, &[]).unwrap();
    assert_eq!(config.settings.queue, QueueConfig::Memory);

    let disk = parse_with(
        &format!("{base}[pipeline.queue]\ntype = \"disk\"\nmax_bytes = \"256MiB\"\nfsync = \"interval\"\nfsync_interval = \"200ms\"\n"),
        &[],
    )
    .unwrap();
    let QueueConfig::Disk(disk) = disk.settings.queue else {
        panic!("not a disk queue: {:?}", disk.settings.queue);
    };
    assert_eq!(disk.max_bytes, 256 << 20);
    assert_eq!(disk.fsync, Fsync::Interval);
    assert_eq!(disk.fsync_interval, std::time::Duration::from_millis(200));
    assert_eq!(disk.path, None);
    let bytes = parse_with(
        &format!("{base}[pipeline.queue]\ntype = \"disk\"\nmax_bytes = 268435456\n"),
        &[],
    )
    .unwrap();
    assert!(matches!(
        bytes.settings.queue,
        QueueConfig::Disk(DiskQueueConfig {
            max_bytes: 268435456,
            ..
        })
    ));

    let typo = errors(&format!(
        "{base}[pipeline.queue]\ntype = \"disk\"\nmax_byte = 1\n"
    ));
    assert_eq!(typo.len(), 1);
    assert!(typo[0].starts_with("pipeline.toml:7:1:"), "{}", typo[0]);
    assert!(typo[0].contains("unknown field `max_byte`"), "{}", typo[0]);

    let unit = errors(&format!(
        "{base}[pipeline.queue]\ntype = \"disk\"\nmax_bytes = \"2 lightyears\"\n"
    ));
    assert_eq!(unit.len(), 1);
    assert!(unit[0].starts_with("pipeline.toml:"), "{}", unit[0]);
    assert!(unit[0].contains("lightyears"), "{}", unit[0]);

    let kind = errors(&format!("{base}[pipeline.queue]\ntype = \"persisted\"\n"));
    assert!(
        kind[0].contains("unknown variant `persisted`"),
        "{}",
        kind[0]
    );

    let memory_with_disk_keys = errors(&format!("{base}[pipeline.queue]\nmax_bytes = \"1GiB\"\n"));
    assert!(
        memory_with_disk_keys[0].contains("`max_bytes` applies to the disk queue only"),
        "{}",
        memory_with_disk_keys[0]
    );
}
