//! How a done request's answer reads for the operator who sent it (what the console
//! commands print without `--json`). The answer is the JSON the action returned; a
//! field it lacks reads as empty.

use serde_json::Value;
use shuin_core::Action;

/// The answer of `action` for a person; `None` for an action whose answer is printed
/// as JSON (or read in some other way).
pub fn answer_text(action: Action, answer: &Value) -> Option<String> {
    let field = |name: &str| answer[name].as_str().unwrap_or("");
    let text = match action {
        Action::Revoke => format!(
            "revoked {} ({}) at {}; CRL number {}",
            field("serial"),
            field("reason"),
            field("revoked_at"),
            answer["crl_number"]
        ),
        Action::CrlNow | Action::RootCrl => crls_text(answer),
        Action::Unseal => field("message").to_owned(),
        Action::OperatorAdd => format!(
            "enrolled {} with the role {}",
            field("name"),
            field("role")
        ),
        Action::NodePair => format!(
            "paired the {} node {} (certificate serial {}); to unpair it, revoke its certificate with `shuin operator revoke --name {}`",
            field("role"),
            field("name"),
            field("serial"),
            field("name")
        ),
        Action::OperatorGrant => {
            format!("{} now holds the role {}", field("name"), field("role"))
        }
        Action::OperatorRemoveRole => {
            format!("{} no longer holds the role {}", field("name"), field("role"))
        }
        Action::OperatorRevoke => format!(
            "revoked {} certificate(s) of {}; operator CRL number {}",
            answer["certificates_revoked"],
            field("name"),
            answer["operator_crl_number"]
        ),
        Action::ReviewApprove => format!(
            "approved {} by {}; issued serial {}",
            field("id"),
            field("approver"),
            field("serial")
        ),
        Action::ReviewReject => format!("rejected {} by {}", field("id"), field("decided_by")),
        Action::PasskeyRemove => format!(
            "removed the passkey {} of {}: it signs nothing more",
            field("credential_id"),
            field("operator")
        ),
        Action::PasskeyInvite => format!(
            "passkey invitation for {} (shown once; valid until {}):\n{}\nOpen the web console's enrolment page (https://CONSOLE{}) on the device that will hold the passkey and enter it.",
            field("operator"),
            field("expires_at"),
            field("token"),
            field("enrol_path")
        ),
        Action::CeremonyCustodian => format!(
            "custodian {} enrolled with key sha256 {}",
            field("name"),
            field("public_key_sha256")
        ),
        Action::RegistrationCreate => format!(
            "registration {}\n利用者識別符号 (shown once; send it by 本人限定受取郵便): {}\nexpires at {}",
            field("registration_id"),
            field("identification_code"),
            field("expires_at")
        ),
        Action::FacilityToken => match answer["token"].as_str() {
            Some(token) => token.to_owned(),
            None => format!(
                "the access-control token (SHA-256 {}) is revoked; POST /ledger/v1/access-events now answers 404",
                field("revoked_sha256")
            ),
        },
        _ => return None,
    };
    Some(text)
}

/// What the ca_admin is told beside a new access-control token (on stderr, so that the
/// token alone goes to standard output); `None` when the token was revoked.
pub fn token_notice(answer: &Value) -> Option<String> {
    answer["token"].as_str()?;
    Some(format!(
        "the access-control system's token is above: it is shown only this once (only its SHA-256 {} is kept).\n\
         configure the system to POST /ledger/v1/access-events with Authorization: Bearer <token>; any earlier token no longer works",
        answer["token_sha256"].as_str().unwrap_or("")
    ))
}

/// The CRLs issued (a list of scope, number and next update), one a line.
fn crls_text(list: &Value) -> String {
    let crls = list.as_array().map(Vec::as_slice).unwrap_or_default();
    crls.iter()
        .map(|crl| {
            format!(
                "issued {} CRL number {} (next update {})",
                crl["scope"].as_str().unwrap_or(""),
                crl["crl_number"],
                crl["next_update"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(action: Action, answer: Value) -> String {
        answer_text(action, &answer).unwrap_or_else(|| panic!("{action:?} has no text"))
    }

    #[test]
    fn answers_read_for_the_operator() {
        let revoked =
            json!({"serial": "0a", "reason": "keyCompromise", "revoked_at": "t", "crl_number": 3});
        assert_eq!(
            text(Action::Revoke, revoked),
            "revoked 0a (keyCompromise) at t; CRL number 3"
        );
        let crls = json!([{"scope": "issuing", "crl_number": 4, "next_update": "n"},
            {"scope": "root", "crl_number": 1, "next_update": "m"}]);
        assert_eq!(
            text(Action::CrlNow, crls),
            "issued issuing CRL number 4 (next update n)\nissued root CRL number 1 (next update m)"
        );
        assert_eq!(text(Action::Unseal, json!({"message": "2 of 3"})), "2 of 3");
        assert_eq!(
            text(
                Action::ReviewApprove,
                json!({"id": "a", "approver": "l", "serial": "0b"})
            ),
            "approved a by l; issued serial 0b"
        );
        assert_eq!(
            text(Action::ReviewReject, json!({"id": "a"})),
            "rejected a by "
        );
        let created = text(Action::RegistrationCreate, json!({"registration_id": "r"}));
        assert_eq!(created.lines().count(), 3);
        assert!(created.starts_with("registration r\n"));
    }

    #[test]
    fn a_new_token_goes_alone_to_standard_output() {
        let made = json!({"ok": true, "token": "t0k", "token_sha256": "ab"});
        assert_eq!(text(Action::FacilityToken, made.clone()), "t0k");
        let notice = token_notice(&made).unwrap_or_default();
        assert!(notice.contains("only its SHA-256 ab is kept"), "{notice}");
        assert_eq!(notice.lines().count(), 2);
        let revoked = json!({"ok": true, "revoked_sha256": "cd"});
        assert!(text(Action::FacilityToken, revoked.clone())
            .starts_with("the access-control token (SHA-256 cd) is revoked;"));
        assert_eq!(token_notice(&revoked), None);
    }

    #[test]
    fn json_only_answers_have_no_text() {
        assert_eq!(answer_text(Action::Status, &json!({})), None);
    }
}
