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
    /// `all_in_one`). There is no `high_security` listener: the high-security terminal
    /// is the local console (`DIR/admin.sock`), the only place of issuer-key actions.
    pub zone: crate::zones::ListenerZone,
    /// `tls = { certificate = "PEM", key = "PEM" }` (paths relative to the instance
    /// directory); plain HTTP without it (zones `front`, `repository`, `all_in_one`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::tls::TlsSection>,
    /// Who may connect: `none` (default), `operator` (operator certificates, mutual
    /// TLS; the operator API exists only there) or `peer` (the CA's node certificate, on
    /// an RA node of a split deployment; the peer API exists only there).
    #[serde(default, skip_serializing_if = "is_default")]
    pub client_auth: crate::tls::ClientAuth,
    /// The web console's origin as browsers reach it (`https://console.example.jp:8443`),
    /// for `client_auth = "passkey"`: passkeys are bound to its host name (the relying
    /// party ID) and every assertion must come from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_origin: Option<String>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// A listener that cannot be served as configured.
#[derive(Debug, thiserror::Error)]
#[error("server.listeners[{index}] ({listen}): {reason}")]
pub struct ListenerError {
    index: usize,
    listen: String,
    reason: &'static str,
}

impl ListenerSection {
    /// An all-in-one plain-HTTP listener on `listen`.
    fn all_in_one(listen: &str) -> ListenerSection {
        ListenerSection {
            listen: listen.to_owned(),
            zone: crate::zones::ListenerZone::AllInOne,
            tls: None,
            client_auth: crate::tls::ClientAuth::None,
            console_origin: None,
        }
    }

    /// Why this listener cannot be served, if it cannot.
    fn problem(&self) -> Option<&'static str> {
        use crate::tls::ClientAuth;
        use crate::zones::ListenerZone as Z;
        if self.console_origin.is_some() && self.client_auth != ClientAuth::Passkey {
            return Some("console_origin is for client_auth = \"passkey\" listeners only");
        }
        match (self.client_auth, self.zone, &self.tls) {
            (ClientAuth::Peer, _, None) => Some("client_auth = \"peer\" needs tls = { certificate = \"PEM\", key = \"PEM\" } (a node certificate from the operator CA)"),
            (ClientAuth::Peer, Z::Secure, Some(_)) => None,
            (ClientAuth::Peer, ..) => Some("a peer listener serves the secure zone: the CA's link dials the RA there"),
            (ClientAuth::Operator, _, None) => Some("client_auth = \"operator\" needs tls = { certificate = \"PEM\", key = \"PEM\" }"),
            (ClientAuth::Operator, Z::Secure | Z::Remote, Some(_)) => None,
            (ClientAuth::Operator, ..) => Some("an operator listener serves the secure or the remote zone; issuer-key actions stay on the local console (DIR/admin.sock)"),
            (ClientAuth::Passkey, _, None) => Some("client_auth = \"passkey\" needs tls = { certificate = \"PEM\", key = \"PEM\" }: browsers use passkeys only over HTTPS"),
            (ClientAuth::Passkey, Z::Secure | Z::Remote, Some(_)) => match self.console_origin.as_deref().map(crate::console_web::Relying::parse) {
                Some(Ok(_)) => None,
                Some(Err(why)) => Some(why),
                None => Some("client_auth = \"passkey\" needs console_origin = \"https://HOST[:PORT]\", the origin browsers reach the console at"),
            },
            (ClientAuth::Passkey, ..) => Some("the web console (client_auth = \"passkey\") serves the secure or the remote zone"),
            (ClientAuth::None, Z::Secure | Z::Remote, None) => Some("the secure and remote zones carry operators' and auditors' traffic: give tls = { certificate = \"PEM\", key = \"PEM\" }"),
            (ClientAuth::None, ..) => None,
        }
    }
}

impl ServerSection {
    /// The listeners to open: the configured ones, and the all-in-one `listen` when none
    /// is configured or when `listen_override` (`--listen`) is given.
    pub fn listeners(&self, listen_override: Option<&str>) -> Vec<ListenerSection> {
        let mut out = self.listeners.clone();
        if let Some(address) = listen_override {
            out.push(ListenerSection::all_in_one(address));
        } else if out.is_empty() {
            out.push(ListenerSection::all_in_one(&self.listen));
        }
        out
    }

    /// Refuses listeners that cannot be served as configured, and limits that would
    /// stop the server from serving at all.
    pub fn check(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.limits.check()?;
        for (index, listener) in self.listeners.iter().enumerate() {
            if let Some(reason) = listener.problem() {
                return Err(Box::new(ListenerError {
                    index,
                    listen: listener.listen.clone(),
                    reason,
                }));
            }
        }
        Ok(())
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
    /// Seconds a client has to complete the TLS handshake.
    pub tls_handshake_timeout_seconds: u64,
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
            tls_handshake_timeout_seconds: serving.handshake_timeout.as_secs(),
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
        if self.header_read_timeout_seconds == 0
            || self.body_read_timeout_seconds == 0
            || self.tls_handshake_timeout_seconds == 0
        {
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
            handshake_timeout: Duration::from_secs(self.tls_handshake_timeout_seconds),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<ServerSection, String> {
        let section: ServerSection = toml::from_str(text).map_err(|e| e.to_string())?;
        section.check().map_err(|e| e.to_string())?;
        Ok(section)
    }

    const TLS: &str = "tls = { certificate = \"tls/cert.pem\", key = \"tls/key.pem\" }";

    #[test]
    fn operator_listeners_need_tls_and_an_operator_zone() {
        let ok = parsed(&format!(
            "[[listeners]]\nlisten = \"127.0.0.1:1\"\nzone = \"secure\"\nclient_auth = \"operator\"\n{TLS}\n"
        ))
        .unwrap();
        assert_eq!(
            ok.listeners[0].client_auth,
            crate::tls::ClientAuth::Operator
        );
        let cases = [
            ("secure", "client_auth = \"operator\"", "needs tls"),
            (
                "front",
                &format!("client_auth = \"operator\"\n{TLS}"),
                "secure or the remote zone",
            ),
            (
                "all_in_one",
                &format!("client_auth = \"operator\"\n{TLS}"),
                "secure or the remote zone",
            ),
            (
                "remote",
                &format!("client_auth = \"peer\"\n{TLS}"),
                "a peer listener serves the secure zone",
            ),
            ("secure", "client_auth = \"peer\"", "needs tls"),
            ("remote", "", "give tls"),
            ("secure", "", "give tls"),
        ];
        for (zone, rest, expected) in cases {
            let text =
                format!("[[listeners]]\nlisten = \"127.0.0.1:1\"\nzone = \"{zone}\"\n{rest}\n");
            let error = parsed(&text).unwrap_err();
            assert!(error.contains(expected), "{zone} {rest}: {error}");
        }
        let unknown =
            parsed("[[listeners]]\nlisten = \"x\"\nzone = \"high_security\"\n").unwrap_err();
        assert!(unknown.contains("unknown variant"), "{unknown}");
        let mode =
            parsed("[[listeners]]\nlisten = \"x\"\nzone = \"front\"\nclient_auth = \"anyone\"\n")
                .unwrap_err();
        assert!(mode.contains("unknown variant"), "{mode}");
        // Plain HTTP stays for the public zones.
        parsed("[[listeners]]\nlisten = \"x\"\nzone = \"repository\"\n").unwrap();
    }

    #[test]
    fn a_console_listener_needs_tls_the_secure_zone_and_its_origin() {
        let origin = "console_origin = \"https://console.example.jp:8443\"";
        let ok = format!("client_auth = \"passkey\"\n{origin}\n{TLS}");
        parsed(&format!(
            "[[listeners]]\nlisten = \"x\"\nzone = \"secure\"\n{ok}\n"
        ))
        .unwrap();
        let cases = [
            (
                "secure",
                format!("client_auth = \"passkey\"\n{origin}"),
                "only over HTTPS",
            ),
            ("front", ok.clone(), "serves the secure or the remote zone"),
            (
                "secure",
                format!("client_auth = \"passkey\"\n{TLS}"),
                "needs console_origin",
            ),
            (
                "secure",
                format!("client_auth = \"passkey\"\nconsole_origin = \"https://10.0.0.1\"\n{TLS}"),
                "not an IP address",
            ),
            (
                "secure",
                format!("client_auth = \"operator\"\n{origin}\n{TLS}"),
                "passkey\" listeners only",
            ),
        ];
        for (zone, rest, expected) in cases {
            let text = format!("[[listeners]]\nlisten = \"x\"\nzone = \"{zone}\"\n{rest}\n");
            let error = parsed(&text).unwrap_err();
            assert!(error.contains(expected), "{zone} {rest}: {error}");
        }
    }
}
