//! `GET /api/v1/applications/{id}`: where an application stands, and its certificate
//! once issued (after an LRA approved it, for example).

use crate::apply::{agent, refused};
use crate::ClientError;
use serde_json::Value;

/// Where an application stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplicationState {
    /// Issued: the certificate and its chain (PEM).
    Issued {
        /// Serial, hex.
        serial: String,
        /// The certificate.
        certificate_pem: String,
        /// The chain, issuing CA first.
        chain_pem: String,
    },
    /// Waiting for an LRA, with the reasons.
    PendingReview {
        /// Why it waits.
        reasons: Vec<String>,
    },
    /// Approved; the certificate is being issued.
    Approved,
    /// Refused after review.
    Rejected {
        /// The LRA's reason.
        reason: String,
    },
}

impl ApplicationState {
    /// The state's stable name, as the server says it.
    pub fn name(&self) -> &'static str {
        match self {
            ApplicationState::Issued { .. } => "issued",
            ApplicationState::PendingReview { .. } => "pending_review",
            ApplicationState::Approved => "approved",
            ApplicationState::Rejected { .. } => "rejected",
        }
    }
}

/// Asks the server at `server` about the application `id`.
pub fn application_state(server: &str, id: &str) -> Result<ApplicationState, ClientError> {
    let base = server.trim_end_matches('/');
    let url = format!("{base}/api/v1/applications/{id}");
    let mut response = agent()
        .get(&url)
        .call()
        .map_err(|e| ClientError::Transport(format!("{url}: {e}")))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| ClientError::Transport(format!("{url}: {e}")))?;
    if status != 200 && status != 202 {
        return Err(refused(status, &body));
    }
    let answer: Value = serde_json::from_str(&body)
        .map_err(|e| ClientError::Transport(format!("{url}: not JSON: {e}")))?;
    state(&answer).ok_or_else(|| {
        ClientError::Transport(format!("{url}: an answer without a known status: {body}"))
    })
}

fn state(answer: &Value) -> Option<ApplicationState> {
    let text = |field: &str| answer[field].as_str().map(str::to_owned);
    Some(match answer["status"].as_str()? {
        "issued" => ApplicationState::Issued {
            serial: text("serial")?,
            certificate_pem: text("certificate_pem")?,
            chain_pem: text("chain_pem")?,
        },
        "pending_review" => ApplicationState::PendingReview {
            reasons: answer["review_reasons"]
                .as_array()
                .map(|reasons| {
                    reasons
                        .iter()
                        .filter_map(|r| r.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        },
        "approved" => ApplicationState::Approved,
        "rejected" => ApplicationState::Rejected {
            reason: text("reason").unwrap_or_default(),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_read_and_odd_ones_refused() {
        let issued =
            json!({"status": "issued", "serial": "0a", "certificate_pem": "C", "chain_pem": "CH"});
        assert_eq!(state(&issued).map(|s| s.name()), Some("issued"));
        let pending =
            json!({"status": "pending_review", "review_reasons": ["automation_suspended"]});
        assert_eq!(
            state(&pending),
            Some(ApplicationState::PendingReview {
                reasons: vec!["automation_suspended".into()]
            })
        );
        assert_eq!(
            state(&json!({"status": "approved"})),
            Some(ApplicationState::Approved)
        );
        assert_eq!(state(&json!({"status": "issued", "serial": "0a"})), None);
        assert_eq!(state(&json!({"status": "registered"})), None);
        assert_eq!(state(&json!([1, 2])), None);
    }
}
