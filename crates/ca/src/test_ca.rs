//! A CA on a software key and an in-memory store, for the unit tests of this crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::issuance::{CaSettings, IssuerChain};
use crate::revocation::CrlLayout;
use crate::CaService;
use der::Decode;
use shuin_core::issuance::{Approver, CaProfile, IssuanceOrder, SubscriberProfile};
use shuin_core::random::CountingRandom;
use shuin_core::x509::name::NameBuilder;
use shuin_core::{Clock, FixedClock, Serial};
use shuin_keys::{KeySpec, Signer, SoftwareSigner};
use shuin_ledger::{Actor, Entry};
use shuin_store::sqlite::SqliteStore;
use shuin_store::LedgerStore;
use std::sync::Arc;
use std::time::Duration;

/// The CA under test, its store and clock.
pub(crate) struct Fixture {
    pub(crate) ca: CaService,
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) clock: Arc<FixedClock>,
}

pub(crate) async fn fixture() -> Fixture {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let clock = Arc::new(FixedClock::at_unix(1_800_000_000));
    let (signer, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let signer: Arc<dyn Signer> = Arc::new(signer);
    let name = NameBuilder::new()
        .country("JP")
        .and_then(|b| b.common_name("test Issuing CA"))
        .unwrap()
        .build();
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(signer.public_key_der()).unwrap();
    let template = CaProfile::root(
        name,
        spki,
        Serial::from_hex("01").unwrap(),
        clock.now(),
        Duration::from_secs(10 * 365 * 86_400),
    )
    .unwrap();
    let by = Actor {
        name: "test".into(),
        role: "system".into(),
        zone: "high_security".into(),
    };
    let issuing_der = crate::bootstrap::sign_ca_certificate(
        store.as_ref(),
        &template,
        signer.as_ref(),
        "issuing",
        &by,
        clock.now(),
    )
    .await
    .unwrap();
    let profile = SubscriberProfile {
        policy_oid: const_oid::ObjectIdentifier::new_unwrap("1.2.392.200001.99.1"),
        validity: Duration::from_secs(365 * 86_400),
        crl_url: "https://ca.example.jp/repository/ca.crl".into(),
        crl_partitions: None,
        ocsp_url: "https://ca.example.jp/ocsp".into(),
        ca_issuers_url: "https://ca.example.jp/repository/ca.crt".into(),
    };
    let ca = CaService::new(
        signer,
        IssuerChain {
            root_der: issuing_der.clone(),
            issuing_der,
        },
        profile,
        store.clone(),
        clock.clone(),
        Arc::new(CountingRandom::new(7)),
        CaSettings {
            crl_lifetime: Duration::from_secs(86_400),
            crl_layout: CrlLayout::under("https://ca.example.jp", 0, false),
        },
    )
    .unwrap();
    Fixture { ca, store, clock }
}

pub(crate) fn order(application_id: &str) -> IssuanceOrder {
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    IssuanceOrder {
        application_id: application_id.into(),
        subject_name: "山田太郎".into(),
        spki_der: key.public_key_der().to_vec(),
        not_after_cap: std::time::UNIX_EPOCH + Duration::from_secs(1_900_000_000),
        approver: Approver {
            name: "責任者".into(),
            role: "responsible_person".into(),
            automatic: true,
        },
    }
}

/// The kinds of the ledger's entries, in order.
pub(crate) async fn kinds(store: &SqliteStore) -> Vec<String> {
    store
        .ledger_rows()
        .await
        .unwrap()
        .iter()
        .map(|r| Entry::from_canonical(&r.canonical).unwrap().kind)
        .collect()
}
