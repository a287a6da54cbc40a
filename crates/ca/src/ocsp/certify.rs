//! The delegated OCSP responder's certificate, issued by the CA.

use crate::issuance::{ca_actor, CaService};
use crate::ocsp::OcspError;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use shuin_core::issuance::CaProfile;
use shuin_core::x509::name::NameBuilder;
use shuin_core::x509::template::assemble_certificate;
use shuin_core::Serial;
use shuin_ledger::{Book, EntryDraft};
use std::time::Duration;

impl CaService {
    /// Issues a delegated OCSP responder certificate for the key `spki_der`, recording
    /// it in the facility book before and after signing.
    pub async fn certify_ocsp_responder(
        &self,
        spki_der: &[u8],
        validity: Duration,
    ) -> Result<Vec<u8>, OcspError> {
        let bad = |e: der::Error| OcspError::Responder(e.to_string());
        let now = self.clock_handle().now();
        let serial =
            Serial::random(self.rng().as_ref()).map_err(|e| OcspError::Responder(e.to_string()))?;
        let cn = format!("{} OCSP Responder", self.identity_common_name());
        let subject = NameBuilder::new()
            .country("JP")
            .and_then(|b| b.common_name(&cn))
            .map_err(bad)?
            .build();
        let spki = spki::SubjectPublicKeyInfoOwned::from_der(spki_der).map_err(bad)?;
        let template = CaProfile::ocsp_responder(
            self.identity(),
            subject,
            spki,
            serial.clone(),
            now,
            validity,
        )
        .map_err(bad)?;
        let tbs = template.to_tbs(self.signer().algorithm()).map_err(bad)?;
        let findings = shuin_core::lint::lint_tbs(&tbs);
        if !findings.is_empty() {
            return Err(OcspError::Responder(format!(
                "the responder certificate fails lint: {findings:?}"
            )));
        }
        let tbs_der = tbs.to_der().map_err(bad)?;
        let tbs_sha256 = hex::encode(Sha256::digest(&tbs_der));
        let entry = |kind: &str, payload: serde_json::Value| EntryDraft {
            book: Book::Facility,
            kind: kind.into(),
            actor: ca_actor(),
            subjects: vec![format!("serial:{serial}")],
            payload,
            evidence: vec![],
        };
        self.store()
            .append(
                entry(
                    "ocsp_responder.signing",
                    serde_json::json!({"serial": serial.to_hex(), "tbs_sha256": tbs_sha256}),
                ),
                now,
            )
            .await?;
        let signature = self
            .signer()
            .sign(&tbs_der)
            .map_err(|e| OcspError::Responder(e.to_string()))?;
        let der = assemble_certificate(tbs, &signature)
            .and_then(|c| c.to_der())
            .map_err(bad)?;
        self.store()
            .append(
                entry(
                    "ocsp_responder.certified",
                    serde_json::json!({"serial": serial.to_hex(), "certificate_sha256": hex::encode(Sha256::digest(&der))}),
                ),
                now,
            )
            .await?;
        Ok(der)
    }

    fn identity_common_name(&self) -> String {
        shuin_core::x509::name::attribute_values(&self.identity().name, const_oid::db::rfc4519::CN)
            .into_iter()
            .next()
            .unwrap_or_else(|| "shuin".into())
    }
}
