//! At `init`: the operator CA's certificate, its entry in the organisation book, and the
//! first `ca_admin` enrolled from `--first-admin-csr` (DESIGN.md section 8).

use crate::failure::{msg, Result};
use base64::Engine;
use shuin_books::organisation;
use shuin_ca::operator_ca::{self, OperatorCa, OPERATOR_VALIDITY};
use shuin_core::{RandomSource, Role, Zone};
use shuin_keys::Signer;
use shuin_ledger::{Book, EntryDraft};
use shuin_store::sqlite::SqliteStore;
use shuin_store::LedgerStore;
use std::sync::Arc;
use std::time::SystemTime;

/// The organisation book entry that publishes the operator CA certificate, so that an
/// auditor can check operator certificates (and so operator requests) offline.
pub(crate) const OPERATOR_CA_CREATED: &str = "operator_ca.created";

/// Makes the operator CA certificate, records it, enrols the first admin (with
/// `extra_roles` too: the development instance only) and the custodians. Returns the
/// certificate DER.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn operator_ca(
    store: &SqliteStore,
    signer: Arc<dyn Signer>,
    ca_name: &str,
    first_admin_csr: Option<&[u8]>,
    custodian_csrs: &[Vec<u8>],
    extra_roles: &[Role],
    rng: &dyn RandomSource,
    now: SystemTime,
) -> Result<Vec<u8>> {
    let by = organisation::actor("shuin-init", Role::CaAdmin, Zone::HighSecurity);
    let der = operator_ca::create_certificate(store, signer.as_ref(), ca_name, &by, rng, now)
        .await
        .map_err(|e| msg(format!("operator CA: {e}")))?;
    store
        .append(
            EntryDraft {
                book: Book::Organization,
                kind: OPERATOR_CA_CREATED.into(),
                actor: by.clone(),
                subjects: vec!["ca:operator".into()],
                payload: serde_json::json!({
                    "certificate": base64::engine::general_purpose::STANDARD.encode(&der),
                }),
                evidence: vec![],
            },
            now,
        )
        .await
        .map_err(|e| msg(format!("ledger: {e}")))?;
    let ca = OperatorCa::new(signer, der.clone()).map_err(|e| msg(e.to_string()))?;
    let enrolments = first_admin_csr
        .map(|csr| (csr, Role::CaAdmin, "--first-admin-csr"))
        .into_iter()
        .chain(
            custodian_csrs
                .iter()
                .map(|csr| (csr.as_slice(), Role::KeyCustodian, "--custodian-csr")),
        );
    for (csr, role, flag) in enrolments {
        let roster = organisation::replay(store)
            .await
            .map_err(|e| msg(e.to_string()))?;
        let enrolled = ca
            .enrol(store, &roster, csr, role, OPERATOR_VALIDITY, &by, rng, now)
            .await
            .map_err(|e| msg(format!("{flag}: {e}")))?;
        if role == Role::CaAdmin {
            for extra in extra_roles {
                organisation::grant(store, &enrolled.name, *extra, &by, now)
                    .await
                    .map_err(|e| msg(format!("ledger: {e}")))?;
            }
        }
        eprintln!(
            "enrolled {:?} as {role} (operator certificate valid for one year)",
            enrolled.name
        );
    }
    // The operator CA's first CRL (empty), so that verifiers find one from the start.
    let roster = organisation::replay(store)
        .await
        .map_err(|e| msg(e.to_string()))?;
    let lifetime = crate::config::RevocationSection::default().root_crl_lifetime();
    ca.issue_crl(store, &roster, &by, lifetime, now)
        .await
        .map_err(|e| msg(format!("operator CRL: {e}")))?;
    Ok(der)
}
