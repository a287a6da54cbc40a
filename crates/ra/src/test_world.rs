//! An RA for the unit tests of this crate: a simulated J-LIS CA trusted with a current
//! CRL, a real SQLite store, and CA ports that must not be reached.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{CaPorts, RaConfig, RaService, StaticCrlSource};
use shuin_core::issuance::{IssuanceError, IssuanceOrder, IssuedCertificate, Issuer};
use shuin_core::revocation::{RevocationDone, RevocationPortError, RevocationRequest, Revoker};
use shuin_core::{FixedClock, OsRandom};
use shuin_jpki::{JpkiCrl, TrustAnchors, Verifier, VerifierConfig};
use shuin_store::sqlite::SqliteStore;
use shuin_testkit::SimulatedJlisCa;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// Neither port may be reached by the requests under test.
pub(crate) struct Unreached;

#[async_trait::async_trait]
impl Issuer for Unreached {
    async fn issue(&self, _: IssuanceOrder) -> Result<IssuedCertificate, IssuanceError> {
        panic!("the CA was asked to issue")
    }
}

#[async_trait::async_trait]
impl Revoker for Unreached {
    async fn revoke(&self, _: RevocationRequest) -> Result<RevocationDone, RevocationPortError> {
        panic!("the CA was asked to revoke")
    }
}

/// An RA at Unix time `now` on `store`, trusting a fresh simulated J-LIS CA (returned, to
/// issue cards) whose CRL lists nothing.
pub(crate) fn ra_at(now: u64, store: Arc<SqliteStore>) -> (RaService, SimulatedJlisCa) {
    let at = UNIX_EPOCH + Duration::from_secs(now);
    let jlis = SimulatedJlisCa::generate(at).unwrap();
    let anchors = TrustAnchors::from_der_certs(vec![jlis.cert_der().to_vec()]).unwrap();
    let crl_der = jlis
        .crl_der(
            &[],
            at - Duration::from_secs(3600),
            at + Duration::from_secs(86_400),
        )
        .unwrap();
    let crl = JpkiCrl::parse(&crl_der, &anchors).unwrap();
    let ra = RaService::new(
        Verifier::new(anchors, VerifierConfig::default()),
        Arc::new(StaticCrlSource::of(Some(crl))),
        store,
        CaPorts {
            issuer: Arc::new(Unreached),
            revoker: Arc::new(Unreached),
        },
        Arc::new(FixedClock::at_unix(now)),
        Arc::new(OsRandom),
        RaConfig {
            nonce_ttl: Duration::from_secs(600),
            terms_sha256: "00".repeat(32),
            terms_url: "https://ca.example/repository/terms".into(),
            responsible_person: "責任者 花子".into(),
            automatic_approval: true,
            chain_der: vec![],
            review_interval_days: crate::automation::DEFAULT_REVIEW_INTERVAL_DAYS,
        },
    );
    (ra, jlis)
}

/// Stores application `application_id` of the holder `basic` (the recorded basic items,
/// as JSON), issued at Unix time `now` − 100 with the certificate `serial` (valid a
/// year), its signed application kept under `evidence_sha256`.
pub(crate) async fn issued_application(
    store: &SqliteStore,
    now: u64,
    application_id: &str,
    serial: &shuin_core::Serial,
    basic: serde_json::Value,
    evidence_sha256: &str,
) {
    use shuin_store::{
        ApplicationRecord, ApplicationStatus, ApplicationStore, CertificateRecord,
        CertificateState, CertificateWriter,
    };
    let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
    store
        .insert_application(&ApplicationRecord {
            id: application_id.into(),
            status: ApplicationStatus::Issued,
            received_at: at(now - 100),
            review_reasons: vec![],
            serial: Some(serial.clone()),
            rejection_reason: None,
            evidence_sha256: evidence_sha256.into(),
            details: serde_json::json!({ "basic": basic }),
        })
        .await
        .unwrap();
    store
        .reserve(&CertificateRecord {
            serial: serial.clone(),
            application_id: application_id.into(),
            key_fingerprint: format!("key-{application_id}"),
            tbs_sha256: "00".repeat(32),
            state: CertificateState::Reserved,
            not_before: at(now - 50),
            not_after: at(now + 86_400 * 365),
            der: None,
        })
        .await
        .unwrap();
    store.complete(serial, b"der", at(now - 49)).await.unwrap();
}

/// The entries of `kind` in `store`'s books, in order.
pub(crate) async fn entries_of_kind(store: &SqliteStore, kind: &str) -> Vec<shuin_ledger::Entry> {
    use shuin_store::LedgerStore;
    store
        .ledger_rows()
        .await
        .unwrap()
        .iter()
        .map(|row| shuin_ledger::Entry::from_canonical(&row.canonical).unwrap())
        .filter(|e| e.kind == kind)
        .collect()
}
