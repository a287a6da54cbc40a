//! Per-client admission on the applicant routes that write (challenges, applications,
//! revocations, enrolments): a token bucket per client address, so that one client's
//! flood gets `429 rate_limited` while others are still served (issue 14). Bounded:
//! the table of clients is cleared of full buckets when it grows past its cap, and a
//! client over the cap of tracked clients is still limited by a shared bucket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How much each client may ask.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    /// Requests a client may make at once.
    pub burst: f64,
    /// Requests a client regains per second.
    pub per_second: f64,
    /// Clients tracked at most (a larger table is pruned of idle clients).
    pub max_clients: usize,
}

impl Default for RateLimits {
    /// 20 at once, then one every 2 seconds, per client address.
    fn default() -> Self {
        RateLimits {
            burst: 20.0,
            per_second: 0.5,
            max_clients: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: SystemTime,
}

/// The buckets.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

/// Refused: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        RateLimiter {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `client` at `now`, or says how long until one is there.
    pub fn admit(&self, client: IpAddr, now: SystemTime) -> Result<(), RetryAfter> {
        let limits = self.limits;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= limits.max_clients && !buckets.contains_key(&client) {
            // Forget clients whose bucket has filled up again; they lose nothing.
            buckets.retain(|_, b| refilled(b, now, limits) < limits.burst);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: limits.burst,
            at: now,
        });
        bucket.tokens = refilled(bucket, now, limits);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - bucket.tokens) / limits.per_second.max(f64::MIN_POSITIVE);
        Err(RetryAfter(Duration::from_secs_f64(
            wait.clamp(0.0, 86_400.0),
        )))
    }
}

fn refilled(bucket: &Bucket, now: SystemTime, limits: RateLimits) -> f64 {
    let elapsed = now.duration_since(bucket.at).unwrap_or_default();
    (bucket.tokens + elapsed.as_secs_f64() * limits.per_second).min(limits.burst)
}

/// The admission layer: a request from a client over its limit gets `429
/// rate_limited` with `Retry-After`, and never reaches the handler. A request without a
/// known peer address (served without `serving::serve`) is let through.
pub(crate) async fn admit(
    axum::extract::State((limiter, clock)): axum::extract::State<(
        std::sync::Arc<RateLimiter>,
        std::sync::Arc<dyn shuin_core::Clock>,
    )>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::extract::connect_info::ConnectInfo;
    use axum::response::IntoResponse;
    let peer = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(client) = peer {
        if let Err(RetryAfter(wait)) = limiter.admit(client, clock.now()) {
            let seconds = wait.as_secs().max(1).to_string();
            let mut response = crate::problem::problem(
                shuin_core::ReasonCode::RateLimited,
                "too many requests from this address; try again later / このアドレスからのリクエストが多すぎます。しばらくしてから再度お試しください",
            );
            if let Ok(value) = axum::http::HeaderValue::from_str(&seconds) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
            return response.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seconds)
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_while_another_is_served() {
        let limiter = RateLimiter::new(RateLimits {
            burst: 3.0,
            per_second: 1.0,
            max_clients: 10,
        });
        let flood: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            limiter.admit(flood, at(0)).unwrap();
        }
        let refused = limiter.admit(flood, at(0)).unwrap_err();
        assert_eq!(refused, RetryAfter(Duration::from_secs(1)));
        limiter.admit(other, at(0)).unwrap();
        limiter.admit(flood, at(1)).unwrap();
        assert!(limiter.admit(flood, at(1)).is_err());
    }

    #[test]
    fn the_table_of_clients_stays_bounded() {
        let limiter = RateLimiter::new(RateLimits {
            burst: 2.0,
            per_second: 1.0,
            max_clients: 100,
        });
        for i in 0..10_000u32 {
            let client = IpAddr::from(i.to_be_bytes());
            limiter.admit(client, at(u64::from(i))).unwrap();
            let tracked = limiter.buckets.lock().unwrap().len();
            assert!(tracked <= 101, "{tracked}");
        }
    }
}
