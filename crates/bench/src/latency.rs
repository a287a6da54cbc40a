//! Rates and latency percentiles from a timed phase.

use std::time::Duration;

/// A count as a float (saturating at `u32::MAX`, far above any run here).
pub(crate) fn count_f64(count: usize) -> f64 {
    u32::try_from(count).map_or(f64::from(u32::MAX), f64::from)
}

/// Milliseconds of `seconds` spent per operation, `n/a` without a measure or operations.
pub(crate) fn ms_per_operation(seconds: Option<f64>, count: usize) -> String {
    match seconds {
        Some(seconds) if count > 0 => format!("{:.3}", seconds * 1000.0 / count_f64(count)),
        _ => "n/a".to_owned(),
    }
}

/// Operations per second over `elapsed`.
pub(crate) fn per_second(count: usize, elapsed: Duration) -> f64 {
    let count = count_f64(count);
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count / seconds
    } else {
        0.0
    }
}

/// The `percent`-th percentile (nearest rank) of `samples`, in milliseconds; sorts them.
pub(crate) fn percentile_ms(samples: &mut [Duration], percent: usize) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_unstable();
    let rank = (samples.len() * percent).div_ceil(100).max(1);
    let index = rank.min(samples.len()) - 1;
    samples[index].as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert!((percentile_ms(&mut samples, 50) - 50.0).abs() < 1e-9);
        assert!((percentile_ms(&mut samples, 99) - 99.0).abs() < 1e-9);
        let mut one = vec![Duration::from_millis(7)];
        assert!((percentile_ms(&mut one, 99) - 7.0).abs() < 1e-9);
        assert!((per_second(10, Duration::from_secs(2)) - 5.0).abs() < 1e-9);
    }
}
