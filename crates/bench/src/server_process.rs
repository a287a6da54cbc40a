//! The server process as `/proc` shows it: resident memory, open descriptors and CPU
//! time, for the soak and the siege.

/// The server process from `/proc`.
pub(crate) struct Facts {
    pub(crate) rss_kib: u64,
    pub(crate) fds: usize,
    pub(crate) cpu_seconds: f64,
}

impl std::fmt::Display for Facts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RSS {} MiB, {} descriptors, {:.1} CPU seconds",
            self.rss_kib / 1024,
            self.fds,
            self.cpu_seconds
        )
    }
}

pub(crate) fn facts(pid: u32) -> Facts {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    // utime and stime are fields 14 and 15, after the parenthesised command name.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|t| t.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // Linux reports in USER_HZ, 100 per second on every common configuration.
    let cpu_seconds = f64::from(u32::try_from(ticks).unwrap_or(u32::MAX)) / 100.0;
    Facts {
        rss_kib,
        fds,
        cpu_seconds,
    }
}
