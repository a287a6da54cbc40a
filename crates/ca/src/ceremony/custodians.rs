//! Custodian enrolment for key ceremonies: a `key_custodian` operator's public key (the
//! credential they approve with: a key file or their own PKCS#11 token), recorded in the
//! organisation book as `ceremony.custodian_enrolled` before the registry row is written.

use super::error::{custodian_error, CeremonyError, Context, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{LedgerStore, SettingsStore};
use std::collections::BTreeMap;
use std::time::SystemTime;

const CUSTODIAN_PREFIX: &str = "ceremony.custodian:";
const INDEX_SETTING: &str = "ceremony.custodians";

/// The organisation book as a ceremony reads it. The caller (which owns the operator
/// registry) answers; errors come back as [`CeremonyError::Roles`].
#[async_trait::async_trait]
pub trait CustodianRoles: Send + Sync {
    /// Whether `name` is a registered operator who holds the role `key_custodian` now.
    async fn holds_key_custodian(&self, name: &str) -> Result<bool>;
}

/// An enrolled custodian key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolledKey {
    /// The custodian's operator name.
    pub name: String,
    /// DER SubjectPublicKeyInfo, standard base64.
    pub public_key: String,
    /// SHA-256 of the DER, hex.
    pub public_key_sha256: String,
    /// When it was enrolled (RFC 3339).
    pub enrolled_at: String,
}

impl EnrolledKey {
    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Result<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.public_key)
            .context(format!("the enrolled key of {:?}", self.name))
    }
}

/// Reads a public key file: PEM `PUBLIC KEY` (SubjectPublicKeyInfo) or DER.
pub fn read_public_key(path: &std::path::Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).context(path.display())?;
    let der = match der::pem::decode_vec(&bytes) {
        Ok(("PUBLIC KEY", der)) => der,
        Ok((label, _)) => {
            return Err(custodian_error(format!(
                "{}: expected a PEM \"PUBLIC KEY\" (SubjectPublicKeyInfo), found {label:?}",
                path.display()
            )))
        }
        Err(_) => bytes,
    };
    Ok(der)
}

async fn index<S: SettingsStore + ?Sized>(store: &S) -> Result<Vec<String>> {
    match store
        .setting(INDEX_SETTING)
        .await
        .map_err(CeremonyError::Storage)?
    {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text).context("stored custodian index"),
    }
}

/// Every enrolled custodian, by name.
pub async fn enrolled<S: SettingsStore + ?Sized>(
    store: &S,
) -> Result<BTreeMap<String, EnrolledKey>> {
    let mut out = BTreeMap::new();
    for name in index(store).await? {
        if let Some(text) = store
            .setting(&format!("{CUSTODIAN_PREFIX}{name}"))
            .await
            .map_err(CeremonyError::Storage)?
        {
            let key: EnrolledKey =
                serde_json::from_str(&text).context(format!("stored custodian {name:?}"))?;
            out.insert(name, key);
        }
    }
    Ok(out)
}

/// Enrols `name`'s key. The name must hold `key_custodian`; the key must be RSA
/// 2048-4096 or EC P-256/P-384 and not enrolled for anyone; a custodian is enrolled
/// once (a lost credential means a new custodian name, so old records stay verifiable).
pub async fn enroll<S: SettingsStore + LedgerStore + ?Sized>(
    store: &S,
    roles: &dyn CustodianRoles,
    name: &str,
    spki_der: &[u8],
    by: &Actor,
    now: SystemTime,
) -> Result<EnrolledKey> {
    if !roles.holds_key_custodian(name).await? {
        return Err(custodian_error(format!(
            "{name:?} does not hold the role key_custodian; add it first with `shuin operator add --role key_custodian`"
        )));
    }
    let algorithm = super::statement::spki_algorithm(spki_der)
        .map_err(|e| custodian_error(format!("the custodian key of {name:?}: {e}")))?;
    let sha256 = super::statement::sha256_hex(spki_der);
    let existing = enrolled(store).await?;
    if existing.contains_key(name) {
        return Err(custodian_error(format!(
            "{name:?} is enrolled already; a custodian's key is never replaced (enrol a new custodian name instead)"
        )));
    }
    if let Some(other) = existing.values().find(|k| k.public_key_sha256 == sha256) {
        return Err(custodian_error(format!(
            "this key is enrolled for {:?} already; each custodian needs a credential of their own",
            other.name
        )));
    }
    let key = EnrolledKey {
        name: name.to_owned(),
        public_key: base64::engine::general_purpose::STANDARD.encode(spki_der),
        public_key_sha256: sha256,
        enrolled_at: shuin_core::timefmt::rfc3339(now),
    };
    store
        .append(
            EntryDraft {
                book: Book::Organization,
                kind: "ceremony.custodian_enrolled".into(),
                actor: by.clone(),
                subjects: vec![format!("operator:{name}")],
                payload: serde_json::json!({
                    "name": name,
                    "public_key": key.public_key,
                    "public_key_sha256": key.public_key_sha256,
                    "algorithm": algorithm.name(),
                }),
                evidence: vec![],
            },
            now,
        )
        .await
        .map_err(CeremonyError::Ledger)?;
    let text = serde_json::to_string(&key).context("encoding custodian")?;
    store
        .set_setting(&format!("{CUSTODIAN_PREFIX}{name}"), &text)
        .await
        .map_err(CeremonyError::Storage)?;
    let mut names = index(store).await?;
    names.push(name.to_owned());
    let text = serde_json::to_string(&names).context("encoding custodian index")?;
    store
        .set_setting(INDEX_SETTING, &text)
        .await
        .map_err(CeremonyError::Storage)?;
    Ok(key)
}
