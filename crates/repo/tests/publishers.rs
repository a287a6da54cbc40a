//! Publishers against real servers: a directory, S3 (moto_server) and LDAP (slapd).
//! What lands there must be byte-identical to the repository's DER after each change.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod servers;

use object_store::{Attribute, ObjectStoreExt};
use servers::{Moto, Slapd, LDAP_ADMIN, LDAP_PASSWORD, LDAP_SUFFIX};
use shuin_repo::publish::{
    ItemKind, LdapPublisher, LdapSettings, PublicationRecorder, PublishQueue, PublishedItem,
    Publisher, QueueSettings, S3Credentials, S3Publisher, S3Settings,
};
use shuin_repo::{PublishedCrl, Repository};
use shuin_testkit::SimulatedJlisCa;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

fn now() -> SystemTime {
    #[allow(clippy::disallowed_methods)] // tests stand outside the injected clock
    SystemTime::now()
}

/// A real CA certificate and real CRLs (slapd checks their syntax).
struct Pki {
    ca: SimulatedJlisCa,
}

impl Pki {
    fn new() -> Self {
        Self {
            ca: SimulatedJlisCa::generate(now()).unwrap(),
        }
    }

    fn certificate(&self) -> PublishedItem {
        PublishedItem {
            kind: ItemKind::CaCertificate,
            crl_number: None,
            der: Arc::new(self.ca.cert_der().to_vec()),
        }
    }

    /// A CRL listing `revoked` serials, dated `offset` seconds from now (distinct bytes).
    fn crl(&self, kind: ItemKind, number: u64, revoked: &[u8]) -> PublishedItem {
        let t = now() + Duration::from_secs(number);
        let serials: Vec<Vec<u8>> = revoked.iter().map(|s| vec![*s]).collect();
        PublishedItem {
            kind,
            crl_number: Some(number),
            der: Arc::new(
                self.ca
                    .crl_der(&serials, t, t + Duration::from_secs(86_400))
                    .unwrap(),
            ),
        }
    }
}

fn s3_publisher(moto: &Moto, bucket: &str, prefix: &str) -> S3Publisher {
    S3Publisher::new(S3Settings {
        endpoint: Some(moto.endpoint.clone()),
        bucket: bucket.into(),
        prefix: prefix.into(),
        region: "us-east-1".into(),
        credentials: Some(S3Credentials {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
        }),
        allow_http: true,
    })
    .unwrap()
}

async fn read_object(publisher: &S3Publisher, item: &PublishedItem) -> (Vec<u8>, String) {
    let location = object_store::path::Path::from(publisher.location(&item.kind.file_name()));
    let result = publisher.store().get(&location).await.unwrap();
    let content_type = result
        .attributes
        .get(&Attribute::ContentType)
        .map(|v| v.to_string())
        .unwrap_or_default();
    (result.bytes().await.unwrap().to_vec(), content_type)
}

#[tokio::test]
async fn s3_objects_are_byte_identical_after_each_change() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("shuin-repository");
    let publisher = s3_publisher(&moto, "shuin-repository", "pki/repository");
    let pki = Pki::new();
    let items = [
        pki.certificate(),
        pki.crl(ItemKind::CaCrl, 1, &[]),
        pki.crl(ItemKind::CaCrl, 2, &[7]),
        pki.crl(ItemKind::RootCrl, 3, &[]),
        pki.crl(ItemKind::CaCrl, 4, &[7, 9]),
        pki.crl(ItemKind::DeltaCrl, 5, &[11]),
        pki.crl(ItemKind::DeltaCrl, 6, &[11, 12]),
    ];
    for item in &items {
        publisher.publish(item).await.unwrap();
        let (bytes, content_type) = read_object(&publisher, item).await;
        assert_eq!(bytes, *item.der, "{} differs in S3", item.kind);
        assert_eq!(content_type, item.kind.content_type());
    }
}

#[tokio::test]
async fn ldap_attributes_are_byte_identical_after_each_change() {
    let Some(slapd) = Slapd::start() else { return };
    let dn = format!("cn=shuin Issuing CA,{LDAP_SUFFIX}");
    let publisher = LdapPublisher::new(LdapSettings {
        url: slapd.url.clone(),
        bind_dn: LDAP_ADMIN.into(),
        password: zeroize::Zeroizing::new(LDAP_PASSWORD.into()),
        ca_entry_dn: dn.clone(),
    })
    .unwrap();
    let pki = Pki::new();
    let items = [
        // The entry does not exist yet: the first publication creates it.
        pki.crl(ItemKind::CaCrl, 1, &[]),
        pki.certificate(),
        pki.crl(ItemKind::CaCrl, 2, &[7]),
        pki.crl(ItemKind::RootCrl, 3, &[]),
        pki.crl(ItemKind::CaCrl, 4, &[7, 9]),
        pki.crl(ItemKind::DeltaCrl, 5, &[11]),
        pki.crl(ItemKind::DeltaCrl, 6, &[11, 12]),
    ];
    for item in &items {
        publisher.publish(item).await.unwrap();
        let attribute = LdapPublisher::attribute(item.kind).unwrap();
        assert_eq!(
            slapd.read(&dn, attribute).await,
            vec![item.der.to_vec()],
            "{attribute} differs in LDAP"
        );
        if let Some(bytes) = slapd.ldapsearch(&dn, attribute) {
            assert_eq!(bytes, *item.der, "ldapsearch sees another {attribute}");
        }
    }
    // The root certificate has no place on the CA's entry: nothing is written.
    publisher
        .publish(&PublishedItem {
            kind: ItemKind::RootCertificate,
            crl_number: None,
            der: Arc::new(vec![0x30, 0x00]),
        })
        .await
        .unwrap();
    assert_eq!(
        slapd.read(&dn, "cACertificate;binary").await,
        vec![pki.certificate().der.to_vec()]
    );
}

#[tokio::test]
async fn ldap_failures_are_reported_not_panicked() {
    let Some(slapd) = Slapd::start() else { return };
    let settings = |bind_dn: &str, password: &str, entry: &str| LdapSettings {
        url: slapd.url.clone(),
        bind_dn: bind_dn.into(),
        password: zeroize::Zeroizing::new(password.into()),
        ca_entry_dn: entry.into(),
    };
    let pki = Pki::new();
    let wrong_password = LdapPublisher::new(settings(
        LDAP_ADMIN,
        "wrong",
        &format!("cn=CA,{LDAP_SUFFIX}"),
    ))
    .unwrap();
    let error = wrong_password
        .publish(&pki.certificate())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("bind"), "{error}");
    // No parent entry: the add is refused.
    let orphan = LdapPublisher::new(settings(
        LDAP_ADMIN,
        LDAP_PASSWORD,
        "cn=CA,dc=elsewhere,dc=jp",
    ))
    .unwrap();
    assert!(orphan.publish(&pki.certificate()).await.is_err());
    // Not a certificate: slapd checks the syntax and refuses it.
    let good = LdapPublisher::new(settings(
        LDAP_ADMIN,
        LDAP_PASSWORD,
        &format!("cn=CA,{LDAP_SUFFIX}"),
    ))
    .unwrap();
    let garbage = PublishedItem {
        kind: ItemKind::CaCertificate,
        crl_number: None,
        der: Arc::new(b"not DER".to_vec()),
    };
    assert!(good.publish(&garbage).await.is_err());
    // Nobody listening.
    let port = servers::free_port();
    let nobody = LdapPublisher::new(LdapSettings {
        url: format!("ldap://127.0.0.1:{port}"),
        ..settings(LDAP_ADMIN, LDAP_PASSWORD, &format!("cn=CA,{LDAP_SUFFIX}"))
    })
    .unwrap();
    let error = nobody.publish(&pki.certificate()).await.unwrap_err();
    assert!(error.to_string().contains("connect"), "{error}");
}

#[derive(Default)]
struct Recorded(Mutex<Vec<(String, ItemKind, u64)>>);

#[async_trait::async_trait]
impl PublicationRecorder for Recorded {
    async fn record(
        &self,
        publisher: &str,
        item: &PublishedItem,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let number = item.crl_number.ok_or("a CRL without a number")?;
        self.0
            .lock()
            .unwrap()
            .push((publisher.into(), item.kind, number));
        Ok(())
    }
}

fn published(item: &PublishedItem) -> PublishedCrl {
    PublishedCrl {
        number: item.crl_number.unwrap(),
        next_update: now(),
        der: item.der.clone(),
    }
}

#[tokio::test]
async fn the_queue_retries_until_the_bucket_exists_and_follows_new_crls() {
    let Some(moto) = Moto::start() else { return };
    let pki = Pki::new();
    let repository = Arc::new(Repository::new(
        pki.ca.cert_der().to_vec(),
        pki.ca.cert_der().to_vec(),
        String::new(),
    ));
    let first = pki.crl(ItemKind::CaCrl, 1, &[]);
    repository.publish_ca_crl(published(&first));
    let publisher = Arc::new(s3_publisher(&moto, "late-bucket", ""));
    let recorder = Arc::new(Recorded::default());
    let queue = PublishQueue::start(
        repository.clone(),
        vec![publisher.clone()],
        recorder.clone(),
        QueueSettings {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
            attempt_timeout: Duration::from_secs(20),
        },
    );
    wait_until("a failure while the bucket is missing", || {
        queue.status()[0].consecutive_failures > 0
    })
    .await;
    assert!(queue.status()[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("S3 object"));
    moto.create_bucket("late-bucket");
    wait_until("recovery", || queue.status()[0].published.len() == 3).await;
    assert_eq!(queue.status()[0].consecutive_failures, 0);
    assert_eq!(read_object(&publisher, &first).await.0, *first.der);

    let second = pki.crl(ItemKind::CaCrl, 2, &[5]);
    repository.publish_ca_crl(published(&second));
    wait_until("CRL 2", || {
        queue.status()[0].published.get(&ItemKind::CaCrl) == Some(&2)
    })
    .await;
    assert_eq!(read_object(&publisher, &second).await.0, *second.der);
    let name = publisher.name().to_owned();
    assert_eq!(
        *recorder.0.lock().unwrap(),
        [
            (name.clone(), ItemKind::CaCrl, 1),
            (name, ItemKind::CaCrl, 2)
        ]
    );
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}
