//! Shared set-up for the integration tests: a simulated J-LIS CA, a verifier trusting it
//! and a fresh CRL, at a fixed time.

#![allow(dead_code, unreachable_pub)]

use shuin_jpki::{JpkiCrl, JpkiCrlSet, TrustAnchors, Verifier, VerifierConfig};
use shuin_testkit::{CardSpec, SimulatedJlisCa, TestCard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2026-01-01T00:00:00Z.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

pub const HOUR: Duration = Duration::from_secs(3600);
pub const DAY: Duration = Duration::from_secs(86_400);

pub struct World {
    pub ca: SimulatedJlisCa,
    pub verifier: Verifier,
    pub crl: JpkiCrl,
}

impl World {
    pub fn new() -> Self {
        Self::with_config(VerifierConfig::default())
    }

    pub fn with_config(config: VerifierConfig) -> Self {
        let ca = SimulatedJlisCa::generate(now()).unwrap_or_else(|e| panic!("{e}"));
        let crl = Self::crl_of(&ca, &[]);
        let verifier = Verifier::new(anchors_of(&ca), config);
        Self { ca, verifier, crl }
    }

    pub fn crl_of(ca: &SimulatedJlisCa, revoked: &[Vec<u8>]) -> JpkiCrl {
        let der = ca
            .crl_der(revoked, now() - HOUR, now() + 7 * DAY)
            .unwrap_or_else(|e| panic!("{e}"));
        JpkiCrl::parse(&der, &anchors_of(ca)).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn card(&self, spec: &CardSpec) -> TestCard {
        self.ca.issue_card(spec).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn code_of(&self, cms: &[u8]) -> Option<shuin_core::ReasonCode> {
        self.verifier
            .verify_application(cms, &JpkiCrlSet::single(self.crl.clone()), now())
            .err()
            .map(|e| e.code())
    }
}

pub fn anchors_of(ca: &SimulatedJlisCa) -> TrustAnchors {
    TrustAnchors::from_der_certs(vec![ca.cert_der().to_vec()]).unwrap_or_else(|e| panic!("{e}"))
}

pub fn spec() -> CardSpec {
    CardSpec::signing(
        "山田\u{3000}太郎",
        "1990-01-02",
        "東京都千代田区霞が関一丁目1番1-2号",
        now(),
    )
}

pub fn sign(card: &TestCard, content: &[u8]) -> Vec<u8> {
    card.sign_application(content)
        .unwrap_or_else(|e| panic!("{e}"))
}

pub const CONTENT: &[u8] = br#"{"format":"shuin-application/1"}"#;
