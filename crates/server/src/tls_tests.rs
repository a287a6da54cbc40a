//! The operator listener's verifier, handshake by handshake over in-memory streams: a
//! certificate from the operator CA is accepted; no certificate, another CA's, and,
//! once the new CRL is picked up, a revoked one are refused at the handshake.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::test_pki::{ca, crl, now, operator, Ca, DAY};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, HandshakeKind, SignatureScheme};

/// Accepts any server certificate: these tests are about the client's.
#[derive(Debug)]
struct AnyServer;

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ECDSA_NISTP256_SHA256]
    }
}

fn client(certificate: Option<(&[u8], &[u8])>) -> ClientConfig {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer));
    match certificate {
        Some((der, pkcs8)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(der.to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec())),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    }
}

/// Whether the listener accepts a handshake from `client`.
async fn accepts(tls: &ListenerTls, client: ClientConfig) -> bool {
    handshake(tls, Arc::new(client)).await.is_some()
}

/// The kind of handshake the listener completed with `client` (`None`: refused).
async fn handshake(tls: &ListenerTls, client: Arc<ClientConfig>) -> Option<HandshakeKind> {
    let config = tls.current()?;
    let (near, far) = tokio::io::duplex(64 * 1024);
    let connector = tokio_rustls::TlsConnector::from(client);
    let name = ServerName::try_from("localhost").unwrap();
    let client = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        if let Ok(mut stream) = connector.connect(name, near).await {
            // TLS 1.3: the server's verdict on the client (and any session ticket)
            // arrives after the client's handshake is done; read it.
            let _ = stream.write_all(b"x").await;
            let _ = stream.read(&mut [0u8; 1]).await;
        }
    });
    let accepted = tokio_rustls::TlsAcceptor::from(config).accept(far).await;
    let kind = accepted
        .as_ref()
        .ok()
        .and_then(|stream| stream.get_ref().1.handshake_kind());
    drop(accepted);
    let _ = client.await;
    kind
}

fn listener(operator_ca: &Ca) -> ListenerTls {
    let server = ca("localhost");
    let identity = ListenerIdentity {
        chain: vec![CertificateDer::from(server.der.clone())],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.pkcs8.clone())),
    };
    let trust = OperatorTrust::new(operator_ca.der.clone()).unwrap();
    ListenerTls::for_operators(identity, trust)
}

#[tokio::test]
async fn operator_certificates_are_checked_at_the_handshake() {
    let operator_ca = ca("Operator CA");
    let tls = listener(&operator_ca);
    let (alice, alice_key, alice_serial) = operator(&operator_ca, "alice");
    let (bob, bob_key, _) = operator(&operator_ca, "bob");
    // No CRL yet: nobody gets in.
    assert!(tls.current().is_none());
    assert!(!accepts(&tls, client(Some((&alice, &alice_key)))).await);

    assert!(tls
        .use_crl(&crl(&operator_ca, 1, &[], now() + DAY))
        .unwrap());
    assert!(
        !tls.use_crl(&crl(&operator_ca, 1, &[], now() + DAY))
            .unwrap(),
        "same number: kept"
    );
    assert!(accepts(&tls, client(Some((&alice, &alice_key)))).await);
    assert!(accepts(&tls, client(Some((&bob, &bob_key)))).await);
    // No certificate, or one from another CA.
    assert!(!accepts(&tls, client(None)).await);
    let stranger_ca = ca("Operator CA");
    let (mallory, mallory_key, _) = operator(&stranger_ca, "alice");
    assert!(!accepts(&tls, client(Some((&mallory, &mallory_key)))).await);

    // Alice is revoked: the next CRL refuses her from the next handshake on, without a
    // restart; Bob still gets in.
    assert!(tls
        .use_crl(&crl(&operator_ca, 2, &[&alice_serial], now() + DAY))
        .unwrap());
    assert!(!accepts(&tls, client(Some((&alice, &alice_key)))).await);
    assert!(accepts(&tls, client(Some((&bob, &bob_key)))).await);

    // A CRL past its nextUpdate refuses everyone (fail closed).
    assert!(tls
        .use_crl(&crl(&operator_ca, 3, &[], now() - Duration::from_secs(60)))
        .unwrap());
    assert!(!accepts(&tls, client(Some((&bob, &bob_key)))).await);
}

#[tokio::test]
async fn operator_connections_are_never_resumed() {
    // A resumed session would skip the certificate's verification: every connection,
    // even from a client that kept what it was given, is a full handshake.
    let operator_ca = ca("Operator CA");
    let tls = listener(&operator_ca);
    assert!(tls
        .use_crl(&crl(&operator_ca, 1, &[], now() + DAY))
        .unwrap());
    let (alice, alice_key, _) = operator(&operator_ca, "alice");
    let client = Arc::new(client(Some((&alice, &alice_key))));
    for _ in 0..3 {
        assert_eq!(
            handshake(&tls, client.clone()).await,
            Some(HandshakeKind::Full)
        );
    }
}

#[test]
fn a_listener_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let server = ca("localhost");
    let pem =
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &server.der).unwrap();
    std::fs::write(dir.path().join("cert.pem"), pem).unwrap();
    let key =
        der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, &server.pkcs8).unwrap();
    std::fs::write(dir.path().join("key.pem"), key).unwrap();
    let section = TlsSection {
        certificate: "cert.pem".into(),
        key: "key.pem".into(),
    };
    std::fs::set_permissions(
        dir.path().join("key.pem"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let error = ListenerIdentity::load(dir.path(), &section).unwrap_err();
    assert!(error.to_string().contains("owner only"), "{error}");
    std::fs::set_permissions(
        dir.path().join("key.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let identity = ListenerIdentity::load(dir.path(), &section).unwrap();
    assert!(ListenerTls::open(identity).unwrap().current().is_some());
    let missing = TlsSection {
        certificate: "nothing.pem".into(),
        key: "key.pem".into(),
    };
    assert!(ListenerIdentity::load(dir.path(), &missing).is_err());
}
