use super::*;
use shuin_core::{OsRandom, SystemClock};
use shuin_keys::activation;
use shuin_ledger::Actor;
use shuin_store::sqlite::SqliteStore;
use shuin_store::LedgerStore;
use std::sync::atomic::{AtomicUsize, Ordering};
use zeroize::Zeroizing;

/// Parts that cannot exist: enough to run the sealed ports while sealed.
enum NoParts {}

impl OpenedCa for NoParts {
    fn ca(&self) -> &CaService {
        match *self {}
    }
    fn ocsp(&self) -> &Arc<OcspService> {
        match *self {}
    }
}

#[derive(Debug, PartialEq)]
struct FakeParts(String);

struct FakeActivator {
    calls: AtomicUsize,
    fail: bool,
}

#[async_trait::async_trait]
impl Activator<FakeParts> for FakeActivator {
    async fn activate(&self, pin: Zeroizing<String>) -> Result<FakeParts, ActivatorError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail {
            return Err("the token refused the login".into());
        }
        Ok(FakeParts(pin.to_string()))
    }
}

fn custodian(name: &str) -> Actor {
    Actor {
        name: name.into(),
        role: "key_custodian".into(),
        zone: "high_security".into(),
    }
}

async fn desk(
    fail: bool,
) -> (
    UnsealDesk<FakeParts>,
    Arc<FakeActivator>,
    Arc<SqliteStore>,
    Vec<Zeroizing<String>>,
) {
    let (config, shares) = activation::split("1234", 3, 2, &OsRandom).unwrap();
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let activator = Arc::new(FakeActivator {
        calls: AtomicUsize::new(0),
        fail,
    });
    let desk = UnsealDesk {
        seal: Seal::sealed(config),
        ledger: store.clone(),
        clock: Arc::new(SystemClock),
        activator: activator.clone(),
    };
    (desk, activator, store, shares)
}

#[tokio::test]
async fn a_sealed_instance_answers_try_later_and_holds_no_parts() {
    let (config, _) = activation::split("pin", 3, 2, &OsRandom).unwrap();
    let seal = Seal::<NoParts>::sealed(config);
    assert!(seal.parts().is_none());
    let ocsp = SealedOcsp(seal.clone());
    assert_eq!(
        ocsp.respond(b"anything").await,
        shuin_core::ocsp::try_later()
    );
    assert!(matches!(
        SealedIssuer(seal.clone()).ready(),
        Err(IssuanceError::Sealed)
    ));
    let status = seal.status().await;
    assert!(status.sealed);
    assert_eq!((status.threshold, status.shares_held), (Some(2), 0));
}

#[tokio::test]
async fn the_threshold_calls_the_activator_once_and_unseals() {
    let (desk, activator, store, shares) = desk(false).await;
    let first = desk
        .offer(&shares[0], &custodian("alice"), None)
        .await
        .unwrap();
    assert_eq!((first.outcome.as_str(), first.sealed), ("accepted", true));
    assert_eq!(activator.calls.load(Ordering::SeqCst), 0);
    let second = desk
        .offer(&shares[2], &custodian("bob"), None)
        .await
        .unwrap();
    assert_eq!(
        (second.outcome.as_str(), second.sealed),
        ("unsealed", false)
    );
    assert_eq!(activator.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        desk.seal.parts().as_deref(),
        Some(&FakeParts("1234".into()))
    );
    let late = desk
        .offer(&shares[1], &custodian("carol"), None)
        .await
        .unwrap();
    assert_eq!(late.outcome, "already_unsealed");
    assert_eq!(activator.calls.load(Ordering::SeqCst), 1);
    let kinds: Vec<String> = store
        .ledger_rows()
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            let entry: serde_json::Value = serde_json::from_slice(&row.canonical).unwrap();
            entry["kind"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "seal.unseal_attempt",
            "seal.unseal_attempt",
            "seal.unsealed",
            "seal.unseal_attempt"
        ]
    );
}

#[tokio::test]
async fn a_failed_activation_discards_the_shares_and_stays_sealed() {
    let (desk, activator, _store, shares) = desk(true).await;
    desk.offer(&shares[0], &custodian("alice"), None)
        .await
        .unwrap();
    let answer = desk
        .offer(&shares[1], &custodian("bob"), None)
        .await
        .unwrap();
    assert_eq!(answer.outcome, "activation_failed");
    assert!(answer.sealed && !answer.accepted);
    assert_eq!(answer.shares_held, 0);
    assert!(answer.message.contains("the token refused the login"));
    assert_eq!(activator.calls.load(Ordering::SeqCst), 1);
    assert!(desk.seal.parts().is_none());
    assert_eq!(desk.seal.status().await.shares_held, 0);
    // The same shares may be given again.
    let again = desk
        .offer(&shares[0], &custodian("alice"), None)
        .await
        .unwrap();
    assert_eq!((again.outcome.as_str(), again.shares_held), ("accepted", 1));
}

#[tokio::test]
async fn one_custodian_gives_one_share_and_a_share_counts_once() {
    let (desk, activator, _store, shares) = desk(false).await;
    desk.offer(&shares[0], &custodian("alice"), None)
        .await
        .unwrap();
    let twice = desk
        .offer(&shares[1], &custodian("alice"), None)
        .await
        .unwrap();
    assert_eq!(
        (twice.outcome.as_str(), twice.accepted),
        ("same_custodian", false)
    );
    let duplicate = desk
        .offer(&shares[0], &custodian("bob"), None)
        .await
        .unwrap();
    assert_eq!(duplicate.outcome, "duplicate");
    let malformed = desk
        .offer("not a share", &custodian("bob"), None)
        .await
        .unwrap();
    assert_eq!(malformed.outcome, "malformed");
    assert_eq!(desk.seal.status().await.shares_held, 1);
    assert_eq!(activator.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_instance_without_custodians_is_not_sealed() {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let desk = UnsealDesk {
        seal: Seal::unsealed(FakeParts("open".into())),
        ledger: store,
        clock: Arc::new(SystemClock),
        activator: Arc::new(FakeActivator {
            calls: AtomicUsize::new(0),
            fail: false,
        }),
    };
    let answer = desk
        .offer("anything", &custodian("alice"), None)
        .await
        .unwrap();
    assert_eq!(
        (answer.outcome.as_str(), answer.sealed),
        ("not_sealed", false)
    );
}

#[test]
fn the_status_report_says_whether_a_server_holds_the_seal_open() {
    assert_eq!(
        status_report(None, None),
        serde_json::json!({"custodians": null, "sealed": false})
    );
    let (config, _) = activation::split("1234", 3, 2, &OsRandom).expect("split");
    let idle = status_report(Some(&config), None);
    assert_eq!(idle["server_running"], false);
    assert_eq!(idle["sealed"], true);
    assert!(idle["shares_held"].is_null());
    let live = SealStatus {
        sealed: false,
        custodians: Some(3),
        threshold: Some(2),
        shares_held: 0,
        instance_id: Some(config.instance_id.clone()),
    };
    let open = status_report(Some(&config), Some(&live));
    assert_eq!(open["sealed"], false);
    assert_eq!(open["threshold"], 2);
    assert_eq!(open["instance_id"], config.instance_id.as_str());
}

#[tokio::test]
async fn an_issuing_key_without_attributes_is_admitted_and_a_bad_uri_is_not() {
    let store = SqliteStore::in_memory().await.unwrap();
    let software = shuin_keys::config::KeyBackendConfig::Software { dir: "keys".into() };
    let opened = software
        .open(std::path::Path::new("/nonexistent"), None)
        .unwrap();
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    admit_issuing_key(&store, &opened, "soft:issuing.pem", now)
        .await
        .unwrap();
    assert!(store.ledger_rows().await.unwrap().is_empty());
    let error = admit_issuing_key(&store, &opened, "issuing.pem", now)
        .await
        .unwrap_err();
    assert!(matches!(error, IssuingKeyError::KeyRef(_)), "{error}");
    assert!(error.to_string().starts_with("ca.issuing_key: "));
}
