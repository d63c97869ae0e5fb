//! CPU time and memory of a process from `/proc` (Linux): the server under
//! test by PID, and this load generator itself.

use std::{sync::OnceLock, time::Instant};

/// Clock ticks per second for `/proc/PID/stat` times (`getconf CLK_TCK`, read
/// once; 100 when it cannot be read, the value on every common Linux).
fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|ticks| *ticks > 0.0)
            .unwrap_or(100.0)
    })
}

/// User plus system CPU seconds of a process (`"self"` or a PID).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields are counted after its ')'.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ')'.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: &str, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|line| line.strip_prefix(key).is_some_and(|r| r.starts_with(':')))
        .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
}

/// Resident memory of a process in KiB.
pub fn rss_kib(pid: &str) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// The soft limit on open files of this process.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// CPU use of the server (when its PID is known) and of this process over a
/// measured window.
pub struct CpuWindow {
    server: Option<String>,
    started: Instant,
    server_cpu: Option<f64>,
    own_cpu: Option<f64>,
}

/// What a [`CpuWindow`] measured.
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    pub wall_s: f64,
    /// Server CPU seconds in the window.
    pub server_cpu_s: Option<f64>,
    /// This load generator's CPU seconds in the window.
    pub own_cpu_s: Option<f64>,
}

impl CpuWindow {
    pub fn start(server_pid: Option<u32>) -> Self {
        let server = server_pid.map(|pid| pid.to_string());
        Self {
            server_cpu: server.as_deref().and_then(cpu_seconds),
            own_cpu: cpu_seconds("self"),
            server,
            started: Instant::now(),
        }
    }

    pub fn finish(&self) -> CpuUse {
        let delta = |before: Option<f64>, pid: Option<&str>| Some(cpu_seconds(pid?)? - before?);
        CpuUse {
            wall_s: self.started.elapsed().as_secs_f64(),
            server_cpu_s: delta(self.server_cpu, self.server.as_deref()),
            own_cpu_s: delta(self.own_cpu, Some("self")),
        }
    }
}

impl CpuUse {
    /// Percent of one core.
    pub fn server_pct(&self) -> Option<f64> {
        self.server_cpu_s.map(|s| round2(100.0 * s / self.wall_s))
    }

    /// Percent of one core.
    pub fn own_pct(&self) -> Option<f64> {
        self.own_cpu_s.map(|s| round2(100.0 * s / self.wall_s))
    }
}

/// Rounds to two decimals for readable JSON.
pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Rounds to three decimals for readable JSON.
pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}
