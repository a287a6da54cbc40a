//! The console's actions on the CA (`shuin_books::console`): enrolling and revoking
//! operators with the operator CA, revoking a subscriber certificate, and issuing the
//! CA's or the root's CRL now. The request is already in the books; each action ledgers
//! its own effects with the operator as actor. The caller publishes the CRLs returned.

use crate::operator_ca::{OperatorCaStore, OPERATOR_VALIDITY};
use crate::{
    CaService, CaStore, CrlContents, CrlScope, EntryFilter, OperatorCa, OperatorCaError,
    RevocationError, RevocationOrder,
};
use der::Decode;
use serde_json::{json, Value};
use shuin_books::console::{role, text, Acted, Outcome};
use shuin_books::{Admitted, Gate};
use shuin_core::timefmt::rfc3339;
use shuin_core::{Clock, RandomSource};
use shuin_keys::Signer;
use shuin_store::{CrlRecord, LedgerStore};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// `operator_add`: the operator CA certifies the key of the CSR (the parameter `csr`,
/// base64 DER) for a new operator with a first role. `operator_ca` gives the CA, or the
/// refusal of a sealed instance or one without an operator CA.
pub async fn operator_add<S, F>(
    gate: &Gate,
    store: &S,
    operator_ca: F,
    admitted: &Admitted,
    rng: &dyn RandomSource,
    now: SystemTime,
) -> Acted
where
    S: LedgerStore + ?Sized,
    F: FnOnce() -> Result<Arc<OperatorCa>, Outcome>,
{
    let csr = csr_param(admitted)?;
    let role = role(admitted)?;
    let operator_ca = operator_ca()?;
    let roster = shuin_books::console::roster(gate, store).await?;
    let enrolled = operator_ca
        .enrol(
            store,
            &roster,
            &csr,
            role,
            OPERATOR_VALIDITY,
            &admitted.actor(),
            rng,
            now,
        )
        .await
        .map_err(certification_refusal)?;
    let pem = der::pem::encode_string(
        "CERTIFICATE",
        der::pem::LineEnding::LF,
        &enrolled.certificate_der,
    )
    .map_err(Outcome::failed)?;
    Ok(
        json!({"name": enrolled.name, "role": role, "role_granted": enrolled.role_granted,
        "certificate_pem": pem}),
    )
}

/// `node_pair`: the operator CA certifies a node of a split deployment (the parameters
/// `csr`, base64 DER whose CN names the node, `role`: `ra`, `repo` or `ca`, and `hosts`).
pub async fn node_pair<S, F>(
    gate: &Gate,
    store: &S,
    operator_ca: F,
    admitted: &Admitted,
    rng: &dyn RandomSource,
    now: SystemTime,
) -> Acted
where
    S: LedgerStore + ?Sized,
    F: FnOnce() -> Result<Arc<OperatorCa>, Outcome>,
{
    let csr = csr_param(admitted)?;
    let role: shuin_core::x509::node::NodeRole =
        serde_json::from_value(admitted.request.params["role"].clone())
            .map_err(|_| Outcome::invalid("role must be ra, repo or ca"))?;
    let hosts: Vec<String> = serde_json::from_value(admitted.request.params["hosts"].clone())
        .map_err(|_| Outcome::invalid("hosts must be a list of host names"))?;
    let operator_ca = operator_ca()?;
    let roster = shuin_books::console::roster(gate, store).await?;
    let pairing = crate::operator_ca::Pairing {
        csr_der: &csr,
        role,
        hosts: &hosts,
    };
    let validity = crate::operator_ca::NODE_VALIDITY;
    let der = operator_ca
        .pair_node(
            store,
            &roster,
            &pairing,
            validity,
            &admitted.actor(),
            rng,
            now,
        )
        .await
        .map_err(certification_refusal)?;
    let node = shuin_core::x509::node::NodeIdentity::of(&der).map_err(Outcome::failed)?;
    let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der)
        .map_err(Outcome::failed)?;
    let serial = shuin_books::operator_certificate::facts(&der)
        .map(|f| f.serial)
        .map_err(Outcome::failed)?;
    Ok(
        json!({"name": node.name, "role": role, "hosts": hosts, "serial": serial,
        "certificate_pem": pem}),
    )
}

/// The parameter `csr`: base64 DER.
fn csr_param(admitted: &Admitted) -> Result<Vec<u8>, Outcome> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text(admitted, "csr")?)
        .map_err(|e| Outcome::invalid(format!("csr: {e}")))
}

/// Why the operator CA did not certify a key, as the console answers it.
fn certification_refusal(e: OperatorCaError) -> Outcome {
    match e {
        OperatorCaError::Csr { code, detail } => Outcome::refused(code, detail),
        OperatorCaError::KeyInUse(_) => Outcome::refused("operator_key_in_use", e.to_string()),
        other => Outcome::failed(other),
    }
}

/// `operator_revoke`: the operator's certificates (or the one named by
/// `certificate_sha256`) are revoked, and the operator CRL that lists them is returned
/// to be published.
pub async fn operator_revoke<S, F>(
    gate: &Gate,
    store: &S,
    operator_ca: F,
    admitted: &Admitted,
    crl_lifetime: Duration,
    now: SystemTime,
) -> Result<(Value, CrlRecord), Outcome>
where
    S: OperatorCaStore + ?Sized,
    F: FnOnce() -> Result<Arc<OperatorCa>, Outcome>,
{
    let name = text(admitted, "name")?;
    let reason = admitted.request.param("reason").unwrap_or("unspecified");
    let operator_ca = operator_ca()?;
    let roster = shuin_books::console::roster(gate, store).await?;
    let (revoked, crl) = operator_ca
        .revoke(
            store,
            &roster,
            name,
            admitted.request.param("certificate_sha256"),
            reason,
            &admitted.actor(),
            crl_lifetime,
            now,
        )
        .await
        .map_err(|e| match e {
            OperatorCaError::Unknown(m) => Outcome::refused("operator_unknown", m),
            other => Outcome::failed(other),
        })?;
    let value =
        json!({"name": name, "certificates_revoked": revoked, "operator_crl_number": crl.number});
    Ok((value, crl))
}

/// `revoke`: a subscriber certificate revoked by an operator. `ca` gives the CA and its
/// OCSP responder, or the refusal of a sealed instance. OCSP says `revoked` before the
/// revocation is confirmed.
pub async fn revoke<F>(ca: F, admitted: &Admitted) -> Acted
where
    F: FnOnce() -> Result<(Arc<CaService>, Arc<crate::OcspService>), Outcome>,
{
    let shuin_books::console::RevokeParams {
        serial,
        reason,
        invalidity_date,
    } = shuin_books::console::RevokeParams::of(admitted)?;
    let order = RevocationOrder {
        serial: serial.clone(),
        reason,
        invalidity_date,
        actor: admitted.actor(),
        authorisation: "operator".into(),
    };
    let (ca, ocsp) = ca()?;
    ocsp.making(crate::ocsp::Work::Revocation);
    let revoked = ca
        .revoke(order)
        .await
        .inspect_err(|_| ocsp.not_made(crate::ocsp::Work::Revocation));
    let revoked = revoked.map_err(|e| match e {
        RevocationError::UnknownSerial(s) => Outcome::refused(
            "certificate_unknown",
            format!("no issued certificate has serial {s}"),
        ),
        RevocationError::AlreadyRevoked { serial, revoked_at } => Outcome::refused(
            "certificate_already_revoked",
            format!("{serial} was revoked at {revoked_at}"),
        ),
        other => Outcome::failed(other),
    })?;
    ocsp.answer_revocation(serial.clone(), revoked.revoked_at, reason)
        .await;
    Ok(
        json!({"status": "revoked", "serial": serial.to_hex(), "reason": reason.name(),
        "revoked_at": rfc3339(revoked.revoked_at),
        "crl_number": revoked.crl_number}),
    )
}

/// `crl_now`: the issuing CA's CRL, now.
pub async fn crl_now(ca: &CaService) -> Acted {
    let issued = ca.issue_crl().await.map_err(Outcome::failed)?;
    Ok(json!([{"scope": "ca", "crl_number": issued.number,
        "next_update": rfc3339(issued.next_update)}]))
}

/// `root_crl`: the root's CRL, signed on the console with the root key (an issuer-key
/// operation) and returned to be published. It lists nothing: the root certifies only
/// the CAs below it.
pub async fn root_crl(
    store: Arc<dyn CaStore>,
    clock: &dyn Clock,
    root: &Arc<dyn Signer>,
    root_der: &[u8],
    lifetime: Duration,
) -> Result<(Value, CrlRecord), Outcome> {
    let root_cert = x509_cert::Certificate::from_der(root_der)
        .map_err(|e| Outcome::failed(format!("root certificate: {e}")))?;
    let identity = shuin_core::issuance::IssuerIdentity {
        name: root_cert.tbs_certificate.subject.clone(),
        key_id: shuin_core::x509::extensions::key_identifier(
            &root_cert.tbs_certificate.subject_public_key_info,
        ),
    };
    let record = crate::publish_crl(
        store,
        clock,
        CrlScope {
            name: "root",
            signer: root,
            issuer: &identity,
            lifetime,
        },
        CrlContents {
            extra_extensions: Vec::new(),
            filter: EntryFilter::Nothing,
            number_floor: 0,
        },
    )
    .await
    .map_err(|e| Outcome::failed(format!("issuing the root CRL: {e}")))?;
    let value = json!([{"scope": "root", "crl_number": record.number,
        "next_update": rfc3339(record.next_update)}]);
    Ok((value, record))
}

/// `unseal`: a custodian's share, the attachment, offered to the unseal desk; refused
/// (`share_refused`) when the desk does not take it.
pub async fn unseal<P: Send + Sync>(
    desk: &crate::seal::UnsealDesk<P>,
    admitted: &Admitted,
    share: Option<zeroize::Zeroizing<String>>,
    peer_uid: Option<u32>,
) -> Acted {
    let share =
        share.ok_or_else(|| Outcome::invalid("an unseal request carries the share beside it"))?;
    let answer = desk
        .offer(&share, &admitted.actor(), peer_uid)
        .await
        .map_err(Outcome::failed)?;
    if answer.accepted {
        serde_json::to_value(answer).map_err(Outcome::failed)
    } else {
        Err(Outcome::refused(
            "share_refused",
            format!("{}: {}", answer.outcome, answer.message),
        ))
    }
}
