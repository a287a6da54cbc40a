//! `[server]` in shuin.toml: where the server listens, and the limits every listener
//! keeps (docs/operations.md "Limits"). Unknown fields are refused; a section left out
//! takes the defaults, which are safe for production.

use crate::rate_limit::RateLimits;
use crate::serving::Limits;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// The address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// `[server.limits]`.
    #[serde(default, skip_serializing_if = "LimitsSection::is_default")]
    pub limits: LimitsSection,
    /// `[[server.listeners]]`: listeners bound to zones. When there are any, `listen`
    /// is not used (only `shuin serve --listen ADDR` adds an all-in-one listener).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<ListenerSection>,
}

/// One `[[server.listeners]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSection {
    /// The address.
    pub listen: String,
    /// The zone whose routes it serves (`front`, `repository`, `secure`, `remote`,
    /// `all_in_one`).
    pub zone: crate::zones::ListenerZone,
}

impl ServerSection {
    /// The listeners to open: the configured ones, and the all-in-one `listen` when none
    /// is configured or when `listen_override` (`--listen`) is given.
    pub fn listeners(&self, listen_override: Option<&str>) -> Vec<ListenerSection> {
        let mut out = self.listeners.clone();
        if let Some(address) = listen_override {
            out.push(ListenerSection {
                listen: address.to_owned(),
                zone: crate::zones::ListenerZone::AllInOne,
            });
        } else if out.is_empty() {
            out.push(ListenerSection {
                listen: self.listen.clone(),
                zone: crate::zones::ListenerZone::AllInOne,
            });
        }
        out
    }
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: default_listen(),
            limits: LimitsSection::default(),
            listeners: Vec::new(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

/// `[server.limits]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Open connections at most; past it a new one is closed at once.
    pub max_connections: usize,
    /// Seconds a client has to send a request's head (also the keep-alive idle time).
    pub header_read_timeout_seconds: u64,
    /// Seconds of silence allowed inside a request body.
    pub body_read_timeout_seconds: u64,
    /// Bytes of a request's head at most.
    pub max_header_bytes: usize,
    /// Applicant writes (challenges, applications, revocations, enrolments) one client
    /// address may make at once...
    pub applicant_burst: f64,
    /// ...and regains per second.
    pub applicant_per_second: f64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let serving = Limits::default();
        let rate = RateLimits::default();
        LimitsSection {
            max_connections: serving.max_connections,
            header_read_timeout_seconds: serving.header_read_timeout.as_secs(),
            body_read_timeout_seconds: serving.body_read_timeout.as_secs(),
            max_header_bytes: serving.max_header_bytes,
            applicant_burst: rate.burst,
            applicant_per_second: rate.per_second,
        }
    }
}

/// A limit that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("server.limits.{field}: {reason}")]
pub struct LimitsError {
    field: &'static str,
    reason: &'static str,
}

impl LimitsSection {
    fn is_default(&self) -> bool {
        *self == LimitsSection::default()
    }

    /// Refuses limits that would stop the server from serving at all.
    pub fn check(&self) -> Result<(), LimitsError> {
        let refuse = |field, reason| Err(LimitsError { field, reason });
        if self.max_connections < 16 {
            return refuse("max_connections", "at least 16");
        }
        if self.header_read_timeout_seconds == 0 || self.body_read_timeout_seconds == 0 {
            return refuse("*_timeout_seconds", "at least 1 second");
        }
        if self.max_header_bytes < 8192 {
            return refuse("max_header_bytes", "at least 8192");
        }
        if !(self.applicant_burst >= 1.0 && self.applicant_per_second > 0.0) {
            return refuse(
                "applicant_burst / applicant_per_second",
                "a burst of at least 1 and a positive rate",
            );
        }
        Ok(())
    }

    /// The listener's limits.
    pub fn serving(&self) -> Limits {
        Limits {
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_seconds),
            body_read_timeout: Duration::from_secs(self.body_read_timeout_seconds),
            max_header_bytes: self.max_header_bytes,
            ..Limits::default()
        }
    }

    /// The applicant routes' per-client limits.
    pub fn rate(&self) -> RateLimits {
        RateLimits {
            burst: self.applicant_burst,
            per_second: self.applicant_per_second,
            ..RateLimits::default()
        }
    }
}
