//! The process's own resource use, read from `/proc/self` at scrape time (Linux; elsewhere
//! the values are absent and the metrics are left out).
//!
//! CPU times in `/proc/self/stat` are in clock ticks of `USER_HZ`, which the kernel fixes at
//! 100 for user space on every architecture sluice targets (x86_64, aarch64); reading it with
//! `sysconf` would need `unsafe`, which the crate denies (its one exception is a prefetch
//! hint that cannot fault).

use std::time::{SystemTime, UNIX_EPOCH};

const USER_HZ: f64 = 100.0;

/// One reading of the process's resources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessStats {
    /// User + system CPU time, in seconds.
    pub cpu_seconds: Option<f64>,
    pub resident_memory_bytes: Option<u64>,
    pub virtual_memory_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub threads: Option<u64>,
    /// When the process started, seconds since the Unix epoch.
    pub start_time_seconds: f64,
}

impl ProcessStats {
    /// Reads `/proc/self`; `started` is when `main` began.
    pub fn read(started: SystemTime) -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let status = std::fs::read_to_string("/proc/self/status").ok();
        let limits = std::fs::read_to_string("/proc/self/limits").ok();
        Self {
            cpu_seconds: stat.as_deref().and_then(cpu_seconds),
            resident_memory_bytes: status.as_deref().and_then(|s| status_kib(s, "VmRSS:")),
            virtual_memory_bytes: status.as_deref().and_then(|s| status_kib(s, "VmSize:")),
            threads: status
                .as_deref()
                .and_then(|s| status_field(s, "Threads:"))
                .and_then(|v| v.parse().ok()),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|entries| entries.count() as u64),
            max_fds: limits.as_deref().and_then(max_open_files),
            start_time_seconds: started
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }
}

/// utime + stime (fields 14 and 15) of `/proc/self/stat`, in seconds. The command name
/// (field 2) may contain spaces and parentheses, so fields are counted after its last `)`.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name: state is field 3, so utime (14) is the 12th of the rest (index 11).
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .map(str::trim)
}

/// A `kB` line of `/proc/self/status`, in bytes.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let value = status_field(status, key)?;
    let kib: u64 = value.split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// The soft limit of "Max open files" in `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        // A command name with a space and a parenthesis, as `(my (odd) prog)`.
        let stat = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 8 0 100 1000 200";
        assert_eq!(cpu_seconds(stat), Some(3.0));
    }

    #[test]
    fn status_and_limits_are_parsed() {
        let status = "Name:\tsluice\nVmSize:\t  2048 kB\nVmRSS:\t    1024 kB\nThreads:\t7\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(1024 * 1024));
        assert_eq!(status_kib(status, "VmSize:"), Some(2048 * 1024));
        assert_eq!(status_field(status, "Threads:"), Some("7"));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_can_be_read() {
        let stats = ProcessStats::read(SystemTime::now());
        assert!(stats.resident_memory_bytes.unwrap() > 0);
        assert!(stats.open_fds.unwrap() >= 3);
        assert!(stats.cpu_seconds.is_some());
        assert!(stats.max_fds.unwrap() >= stats.open_fds.unwrap());
    }
}
