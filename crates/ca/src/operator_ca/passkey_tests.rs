//! Passkeys with the gate (the web console's identity): registered only through an
//! invitation the operator signed with their operator key, and then admitted like the
//! operator key, within the same policy. A software authenticator signs as a browser's
//! would.

use super::*;
use base64::Engine;
use sha2::{Digest, Sha256};
use shuin_ledger::operator_request::PasskeyProof;
use shuin_ledger::passkey::action_challenge;
use shuin_ledger::passkey_registration::{Registered, Registration, REGISTRATION_FORMAT};

const RP_ID: &str = "console.example.jp";
const ORIGIN: &str = "https://console.example.jp";
const LRA: &str = "LRA 一郎";
const CREDENTIAL: &str = "Y3JlZGVudGlhbA";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The authenticator's assertion over `text` with `nonce`: (proof, signature).
fn assert_over(passkey: &dyn Signer, text: &str, nonce: &str) -> (PasskeyProof, String) {
    let challenge = action_challenge(text.as_bytes(), nonce.as_bytes());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(challenge);
    let client = format!(
        r#"{{"type":"webauthn.get","challenge":"{challenge}","origin":"{ORIGIN}","crossOrigin":false}}"#
    );
    let mut data = Sha256::digest(RP_ID.as_bytes()).to_vec();
    data.push(0x05); // user present, user verified
    data.extend_from_slice(&1u32.to_be_bytes());
    let mut signed = data.clone();
    signed.extend_from_slice(&Sha256::digest(client.as_bytes()));
    let signature = passkey.sign(&signed).expect("sign");
    let proof = PasskeyProof {
        credential_id: CREDENTIAL.into(),
        authenticator_data: b64(&data),
        client_data_json: b64(client.as_bytes()),
    };
    (proof, b64(&signature))
}

/// A request of `action` signed by `passkey`.
fn passkey_signed(
    passkey: &dyn Signer,
    action: Action,
    params: serde_json::Value,
    nonce: &str,
) -> SignedRequest {
    let text = request_text(passkey, action, params, nonce);
    let (proof, signature) = assert_over(passkey, &text, nonce);
    SignedRequest {
        request: text,
        signature,
        passkey: Some(proof),
    }
}

impl Setup {
    /// `operator_key` invites a passkey (on the secure zone); returns the token.
    async fn invite(&self, operator_key: &dyn Signer) -> String {
        let signed = sign(
            operator_key,
            Action::PasskeyInvite,
            serde_json::json!({}),
            &self.nonce().await,
        );
        let admitted = self
            .gate
            .admit(&self.store, &signed, Zone::Secure, now())
            .await
            .expect("admitted");
        let answer =
            shuin_books::console::actions::passkey_invite(&self.store, &admitted, &OsRandom, now())
                .await
                .expect("invited");
        answer["token"].as_str().expect("token").to_owned()
    }

    /// What the console sends to register `passkey` with `token`.
    fn registration(&self, passkey: &dyn Signer, token: &str) -> Registered {
        let registration = Registration {
            format: REGISTRATION_FORMAT.into(),
            name: LRA.into(),
            credential_id: CREDENTIAL.into(),
            public_key: b64(passkey.public_key_der()),
            rp_id: RP_ID.into(),
            origin: ORIGIN.into(),
            token_sha256: hex::encode(Sha256::digest(token.as_bytes())),
            nonce: "registration-nonce".into(),
            time: shuin_core::timefmt::rfc3339(now()),
        };
        let text = registration.canonical_text().expect("text");
        let (proof, signature) = assert_over(passkey, &text, &registration.nonce);
        Registered {
            registration: text,
            token: token.into(),
            passkey: proof,
            signature,
        }
    }

    async fn register(&self, registered: &Registered) -> Result<(), String> {
        shuin_books::passkeys::register(&self.gate, &self.store, registered, Zone::Secure, now())
            .await
            .map(|_| ())
            .map_err(|outcome| outcome.to_string())
    }

    async fn admit_secure(
        &self,
        signed: &SignedRequest,
    ) -> Result<shuin_books::Admitted, GateError> {
        self.gate
            .admit(&self.store, signed, Zone::Secure, now())
            .await
    }

    /// A request of `action` signed by `passkey`, with a fresh nonce.
    async fn by_passkey(
        &self,
        passkey: &dyn Signer,
        action: Action,
        params: serde_json::Value,
    ) -> SignedRequest {
        passkey_signed(passkey, action, params, &self.nonce().await)
    }

    /// Appends an organisation-book entry as the LRA, the way someone with write
    /// access to the database would: no signed request behind it.
    async fn by_hand(&self, kind: &str, payload: serde_json::Value) {
        let draft = shuin_ledger::EntryDraft {
            book: shuin_ledger::Book::Organization,
            kind: kind.into(),
            actor: organisation::actor(LRA, Role::Lra, Zone::Secure),
            subjects: vec![],
            payload,
            evidence: vec![],
        };
        self.store.append(draft, now()).await.expect("appended");
    }

    async fn remove_passkey(
        &self,
        admitted: &shuin_books::Admitted,
    ) -> shuin_books::console::Acted {
        shuin_books::console::actions::passkey_remove(&self.gate, &self.store, admitted, now())
            .await
    }

    async fn audit(&self) -> Result<u64, shuin_ledger::operator_audit::AuditError> {
        let rows = self.store.ledger_rows().await.expect("rows");
        shuin_ledger::operator_audit::audit_canonical(rows.iter().map(|r| r.canonical.clone()))
    }
}

/// [`setup`] with the operator CA published in the books as `init` does, so that the
/// offline audit can follow the enrolments.
async fn published() -> Setup {
    let s = setup().await;
    let der = s.ca.certificate_der().to_vec();
    s.store
        .append(
            shuin_ledger::EntryDraft {
                book: shuin_ledger::Book::Organization,
                kind: crate::bootstrap::OPERATOR_CA_CREATED.into(),
                actor: admin(),
                subjects: vec!["ca:operator".into()],
                payload: serde_json::json!({"certificate": b64(&der)}),
                evidence: vec![],
            },
            now(),
        )
        .await
        .expect("published");
    s
}

#[tokio::test]
async fn a_passkey_registered_by_invitation_signs_within_the_policy() {
    let s = published().await;
    let lra = s.enrol(LRA, Role::Lra).await;
    let passkey = key();
    let token = s.invite(lra.as_ref()).await;
    let registered = s.registration(passkey.as_ref(), &token);
    s.register(&registered).await.expect("registered");

    let params = serde_json::json!({"id": "00"});
    let signed = passkey_signed(
        passkey.as_ref(),
        Action::ReviewList,
        params,
        &s.nonce().await,
    );
    let admitted = s.admit_secure(&signed).await.expect("admitted");
    assert_eq!(
        (admitted.operator.as_str(), admitted.role),
        (LRA, Role::Lra)
    );
    // The books keep the assertion, and the offline audit re-checks it.
    let checked = s.audit().await.expect("audit");
    assert!(checked >= 2, "{checked}");

    // The invitation is spent.
    let again = s.register(&registered).await.unwrap_err();
    assert!(again.starts_with("passkey_invitation_closed"), "{again}");
    // Within the policy: an LRA's passkey cannot unseal, nor invite another passkey,
    // nor sign anything on the local console.
    let unseal = s
        .by_passkey(passkey.as_ref(), Action::Unseal, serde_json::json!({}))
        .await;
    assert_eq!(
        refusal(s.admit_secure(&unseal).await).code(),
        "passkey_action_not_allowed"
    );
    let local = s
        .by_passkey(passkey.as_ref(), Action::ReviewList, serde_json::json!({}))
        .await;
    assert_eq!(
        refusal(s.admit(&local).await).code(),
        "passkey_action_not_allowed"
    );
    let invite = s
        .by_passkey(
            passkey.as_ref(),
            Action::PasskeyInvite,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(
        refusal(s.admit_secure(&invite).await),
        Refusal::PasskeyCannotInvite
    );
    // A request altered after signing.
    let mut altered = s
        .by_passkey(
            passkey.as_ref(),
            Action::ReviewList,
            serde_json::json!({"id": "00"}),
        )
        .await;
    altered.request = altered.request.replace("\"00\"", "\"01\"");
    assert_eq!(
        refusal(s.admit_secure(&altered).await),
        Refusal::SignatureInvalid
    );
    // The same request with its passkey proof stripped is no operator-key request.
    let mut stripped = s
        .by_passkey(passkey.as_ref(), Action::ReviewList, serde_json::json!({}))
        .await;
    stripped.passkey = None;
    assert_eq!(
        refusal(s.admit_secure(&stripped).await),
        Refusal::UnknownKey
    );
}

#[tokio::test]
async fn a_registration_without_an_open_invitation_has_no_effect() {
    let s = published().await;
    let lra = s.enrol(LRA, Role::Lra).await;
    let passkey = key();
    // A registration written into the books by hand: a token nobody invited.
    let forged = s.registration(passkey.as_ref(), "made-up-token");
    let refused = s.register(&forged).await.unwrap_err();
    assert!(
        refused.starts_with("passkey_invitation_unknown"),
        "{refused}"
    );
    s.by_hand(
        shuin_ledger::passkey_registration::REGISTERED,
        serde_json::to_value(&forged).expect("payload"),
    )
    .await;
    let signed = s
        .by_passkey(passkey.as_ref(), Action::ReviewList, serde_json::json!({}))
        .await;
    assert_eq!(refusal(s.admit_secure(&signed).await), Refusal::UnknownKey);
    let roster = s.gate.roster(&s.store).await.expect("roster");
    assert!(roster
        .unwarranted()
        .iter()
        .any(|(_, why)| why.contains("invitation")));
    // The offline audit refuses the forged registration too.
    let audit = s.audit().await.unwrap_err();
    assert!(audit.reason.contains("without an invitation"), "{audit}");

    // A genuine registration whose text names another operator is refused.
    let token = s.invite(lra.as_ref()).await;
    let mut other = s.registration(passkey.as_ref(), &token);
    let text = other.registration.replace(LRA, "Someone Else");
    let nonce = "registration-nonce";
    let (proof, signature) = assert_over(passkey.as_ref(), &text, nonce);
    other.registration = text;
    other.passkey = proof;
    other.signature = signature;
    let refused = s.register(&other).await.unwrap_err();
    assert!(
        refused.starts_with("passkey_invitation_closed"),
        "{refused}"
    );
}

#[tokio::test]
async fn revoking_the_operator_certificate_ends_their_passkeys() {
    let s = setup().await;
    let admin_key = s.enrol("Admin", Role::CaAdmin).await;
    let lra = s.enrol(LRA, Role::Lra).await;
    let passkey = key();
    let token = s.invite(lra.as_ref()).await;
    s.register(&s.registration(passkey.as_ref(), &token))
        .await
        .expect("registered");
    let signed = sign(
        admin_key.as_ref(),
        Action::OperatorRevoke,
        serde_json::json!({"name": LRA}),
        &s.nonce().await,
    );
    let by = s.admit(&signed).await.expect("admitted").actor();
    let roster = s.gate.roster(&s.store).await.expect("roster");
    let day = Duration::from_secs(86_400);
    s.ca.revoke(
        &s.store,
        &roster,
        LRA,
        None,
        "keyCompromise",
        &by,
        day,
        now(),
    )
    .await
    .expect("revoke");
    let signed = s
        .by_passkey(passkey.as_ref(), Action::ReviewList, serde_json::json!({}))
        .await;
    assert_eq!(
        refusal(s.admit_secure(&signed).await).code(),
        "operator_certificate_unusable"
    );
}

#[tokio::test]
async fn an_invitation_written_by_hand_warrants_nothing_online_or_offline() {
    let s = published().await;
    let _lra = s.enrol(LRA, Role::Lra).await;
    let roster = s.gate.roster(&s.store).await.expect("roster");
    let certificate = roster.operator(LRA).expect("enrolled").certificates[0]
        .sha256
        .clone();
    // Someone with write access to the database forges the invitation, a registration
    // of their own passkey, and then a request signed by it.
    let token = "forged-token";
    let invited = shuin_ledger::passkey_registration::Invited {
        name: LRA.into(),
        token_sha256: hex::encode(Sha256::digest(token.as_bytes())),
        expires_at: shuin_core::timefmt::rfc3339(now() + Duration::from_secs(3600)),
        certificate_sha256: certificate,
    };
    let passkey = key();
    let registered = s.registration(passkey.as_ref(), token);
    for (kind, payload) in [
        (
            shuin_ledger::passkey_registration::INVITED,
            serde_json::to_value(&invited).expect("invited"),
        ),
        (
            shuin_ledger::passkey_registration::REGISTERED,
            serde_json::to_value(&registered).expect("registered"),
        ),
    ] {
        s.by_hand(kind, payload).await;
    }
    let signed = s
        .by_passkey(passkey.as_ref(), Action::ReviewList, serde_json::json!({}))
        .await;
    assert_eq!(refusal(s.admit_secure(&signed).await), Refusal::UnknownKey);
    let audit = s.audit().await.unwrap_err();
    assert!(
        audit.reason.contains("no passkey_invite request"),
        "{audit}"
    );
}

#[tokio::test]
async fn a_removed_passkey_signs_nothing_and_only_its_holder_or_an_admin_removes_it() {
    let s = published().await;
    let admin_key = s.enrol("Admin", Role::CaAdmin).await;
    let lra = s.enrol(LRA, Role::Lra).await;
    let other = s.enrol("LRA 二郎", Role::Lra).await;
    let passkey = key();
    let token = s.invite(lra.as_ref()).await;
    s.register(&s.registration(passkey.as_ref(), &token))
        .await
        .expect("registered");
    let remove = |signer: &dyn Signer, nonce: String, name: Option<&str>| {
        let mut params = serde_json::json!({"credential_id": CREDENTIAL});
        if let Some(name) = name {
            params["name"] = serde_json::json!(name);
        }
        sign(signer, Action::PasskeyRemove, params, &nonce)
    };
    // Another LRA may not remove it.
    let signed = remove(other.as_ref(), s.nonce().await, Some(LRA));
    let admitted = s.admit_secure(&signed).await.expect("admitted");
    let refused = s.remove_passkey(&admitted).await.unwrap_err().to_string();
    assert!(refused.starts_with("passkey_not_yours"), "{refused}");
    // A removal written into the books by hand has no effect.
    let forged = shuin_ledger::passkey_registration::Removed {
        name: LRA.into(),
        credential_id: CREDENTIAL.into(),
        key_sha256: shuin_books::request::key_sha256(passkey.public_key_der()),
    };
    s.by_hand(
        shuin_ledger::passkey_registration::REMOVED,
        serde_json::to_value(&forged).expect("payload"),
    )
    .await;
    let roster = s.gate.roster(&s.store).await.expect("roster");
    assert!(roster.passkey_by_credential(CREDENTIAL).is_some());
    // A ca_admin's operator key removes it; then it signs nothing.
    let signed = remove(admin_key.as_ref(), s.nonce().await, Some(LRA));
    let admitted = s.admit_secure(&signed).await.expect("admitted");
    s.remove_passkey(&admitted).await.expect("removed");
    let signed = s
        .by_passkey(passkey.as_ref(), Action::ReviewList, serde_json::json!({}))
        .await;
    assert_eq!(refusal(s.admit_secure(&signed).await), Refusal::UnknownKey);
    let roster = s.gate.roster(&s.store).await.expect("roster");
    assert!(roster.passkeys_of(LRA).is_empty());
}

#[tokio::test]
async fn two_registrations_racing_with_one_invitation_leave_one_entry() {
    let s = published().await;
    let lra = s.enrol(LRA, Role::Lra).await;
    let token = s.invite(lra.as_ref()).await;
    let registered = s.registration(key().as_ref(), &token);
    let (one, two) = tokio::join!(s.register(&registered), s.register(&registered));
    assert!(one.is_ok() != two.is_ok(), "{one:?} {two:?}");
    assert_eq!(
        s.kinds()
            .await
            .iter()
            .filter(|k| *k == shuin_ledger::passkey_registration::REGISTERED)
            .count(),
        1
    );
    s.audit().await.expect("the books verify");
}
