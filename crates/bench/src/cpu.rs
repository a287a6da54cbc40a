//! CPU time of a process (all its threads, user plus system), from `/proc/PID/stat`, so a
//! rate can be turned into CPU per operation and compared across processes on the same
//! cores.

/// Clock ticks per second of `/proc` times: `USER_HZ`, fixed at 100 in the Linux ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU seconds of `pid` (`self` for this process) so far.
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces; fields follow the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ... utime(14) stime(15), numbered as in proc(5).
    let utime: u32 = fields.get(11)?.parse().ok()?;
    let stime: u32 = fields.get(12)?.parse().ok()?;
    Some((f64::from(utime) + f64::from(stime)) / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let mut spin = 0_u64;
        for i in 0..5_000_000_u64 {
            spin = spin.wrapping_add(i * i);
        }
        assert!(spin > 0);
        let seconds = cpu_seconds("self");
        assert!(seconds.is_some_and(|s| s >= 0.0), "{seconds:?}");
    }
}
