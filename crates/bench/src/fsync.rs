//! Latency of one durable write (a 4 KiB write then `fsync`) on the filesystem that holds
//! an instance: the floor under every SQLite commit with `synchronous=FULL`, so the
//! ceiling of a serial chain of commits.

use crate::latency::{ms_per_operation, per_second, percentile_ms};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes and syncs a scratch file in `dir` for `seconds`.
pub(crate) fn run(dir: &Path, seconds: f64) -> Result<String, String> {
    let path = dir.join(".shuin-bench-fsync");
    let mut file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let block = [0x5a_u8; 4096];
    let length = Duration::from_secs_f64(seconds.max(0.1));
    let mut samples = Vec::new();
    let start = Instant::now();
    let outcome = (|| -> std::io::Result<()> {
        while start.elapsed() < length {
            let one = Instant::now();
            file.write_all(&block)?;
            file.sync_all()?;
            samples.push(one.elapsed());
        }
        Ok(())
    })();
    let elapsed = start.elapsed();
    let _ = std::fs::remove_file(&path);
    outcome.map_err(|e| format!("{}: {e}", path.display()))?;
    let total: Duration = samples.iter().sum();
    let mean_ms = ms_per_operation(Some(total.as_secs_f64()), samples.len());
    let count = samples.len();
    let p50 = percentile_ms(&mut samples, 50);
    let p99 = percentile_ms(&mut samples, 99);
    Ok(format!(
        "fsync: writes={count} per_second={:.1} mean_ms={mean_ms} p50_ms={p50:.3} p99_ms={p99:.3}",
        per_second(count, elapsed),
    ))
}
