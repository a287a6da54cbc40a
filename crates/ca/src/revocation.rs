//! Revocation and CRL signing (RFC 5280 section 5). A revocation is written to the
//! revocation book before it is stored, and a CRL's TBS hash before it is signed.

use crate::issuance::{ca_actor, CaService, CaStore};
use der::Encode;
use sha2::{Digest, Sha256};
use shuin_core::issuance::IssuerIdentity;
use shuin_core::revocation::RevocationReason;
use shuin_core::x509::crl_stream::{encode_crl, CrlHeader, CrlStreamError, StreamEntry};
use shuin_core::Clock;
use shuin_core::Serial;
use shuin_keys::Signer;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{CertificateState, ConflictKind, CrlRecord, RevocationRecord, StoreError};
use std::sync::Arc;
use std::time::Duration;
use std::time::SystemTime;

/// Why a revocation or CRL was not made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// No certificate with that serial was issued by this CA.
    #[error("no issued certificate has serial {0}")]
    UnknownSerial(String),
    /// Already revoked.
    #[error("certificate {serial} was already revoked at {revoked_at}")]
    AlreadyRevoked {
        /// The serial.
        serial: String,
        /// When (RFC 3339).
        revoked_at: String,
    },
    /// Ledger, storage or key trouble (retryable); nothing was made visible.
    #[error("unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> RevocationError {
    RevocationError::Unavailable(Box::new(e))
}

/// A revocation request that has been authorised.
#[derive(Debug, Clone)]
pub struct RevocationOrder {
    /// The certificate.
    pub serial: Serial,
    /// Why.
    pub reason: RevocationReason,
    /// When the key was compromised, if known.
    pub invalidity_date: Option<SystemTime>,
    /// Who decided (ledger actor).
    pub actor: Actor,
    /// How the request was authorised (`operator`, `subscriber_key`, `jpki`, ...).
    pub authorisation: String,
}

/// The result of a revocation.
#[derive(Debug, Clone)]
pub struct Revoked {
    /// When it took effect.
    pub revoked_at: SystemTime,
    /// The number of the CRL that lists it.
    pub crl_number: u64,
}

impl CaService {
    /// Revokes a certificate and issues a new CRL.
    pub async fn revoke(&self, order: RevocationOrder) -> Result<Revoked, RevocationError> {
        let serial = order.serial.clone();
        let revoked_at = self.record_revocation(order).await?;
        let crl_number = self.issue_crls_after_revocation(&serial).await?;
        Ok(Revoked {
            revoked_at,
            crl_number,
        })
    }

    /// Records (`revocation.accepted`) and stores a revocation, without a new CRL (the
    /// caller issues one: after each revocation, or once after many).
    pub(crate) async fn record_revocation(
        &self,
        order: RevocationOrder,
    ) -> Result<SystemTime, RevocationError> {
        let serial_hex = order.serial.to_hex();
        let certificate = self
            .store()
            .certificate(&order.serial)
            .await
            .map_err(unavailable)?;
        if !certificate.is_some_and(|c| c.state == CertificateState::Issued) {
            return Err(RevocationError::UnknownSerial(serial_hex));
        }
        if let Some(existing) = self
            .store()
            .revocation(&order.serial)
            .await
            .map_err(unavailable)?
        {
            return Err(RevocationError::AlreadyRevoked {
                serial: serial_hex,
                revoked_at: shuin_core::timefmt::rfc3339(existing.revoked_at),
            });
        }
        let now = self.clock().now();
        let record = RevocationRecord {
            serial: order.serial.clone(),
            revoked_at: now,
            reason: order.reason,
            invalidity_date: order.invalidity_date,
            decided_by: order.actor.name.clone(),
        };
        // Record before effect: the revocation book first.
        self.store()
            .append(
                EntryDraft {
                    book: Book::Revocation,
                    kind: "revocation.accepted".into(),
                    actor: order.actor.clone(),
                    subjects: vec![format!("serial:{serial_hex}")],
                    payload: serde_json::json!({
                        "serial": serial_hex,
                        "reason": order.reason.name(),
                        "invalidity_date": order.invalidity_date.map(shuin_core::timefmt::rfc3339),
                        "authorisation": order.authorisation,
                    }),
                    evidence: vec![],
                },
                now,
            )
            .await
            .map_err(unavailable)?;
        match self.store().revoke(&record).await {
            Ok(()) => {}
            Err(StoreError::Conflict(ConflictKind::Revoked)) => {
                let existing = self
                    .store()
                    .revocation(&order.serial)
                    .await
                    .map_err(unavailable)?;
                return Err(RevocationError::AlreadyRevoked {
                    serial: serial_hex,
                    revoked_at: existing
                        .map(|r| shuin_core::timefmt::rfc3339(r.revoked_at))
                        .unwrap_or_default(),
                });
            }
            Err(StoreError::NotFound) => return Err(RevocationError::UnknownSerial(serial_hex)),
            Err(e) => return Err(unavailable(e)),
        }
        Ok(now)
    }

    /// Signs and stores a new full CRL of the issuing CA (and, when partitions or delta
    /// CRLs are configured, those too).
    pub async fn issue_crl(&self) -> Result<CrlRecord, RevocationError> {
        let full = self.issue_crl_of(CrlKind::Full).await?;
        if self.crl_layout().delta_url.is_some() {
            self.issue_crl_of(CrlKind::Delta).await?;
        }
        for index in 0..self.crl_layout().partitions {
            self.issue_crl_of(CrlKind::Partition(index)).await?;
        }
        Ok(full)
    }

    /// The scope of the CRL issued right after revoking `serial`: the delta CRL when
    /// configured, else the serial's partition when partitioned, else the full CRL.
    pub(crate) fn scope_after_revocation(&self, serial: &Serial) -> String {
        let layout = self.crl_layout();
        let kind = if layout.delta_url.is_some() {
            CrlKind::Delta
        } else if layout.partitions > 0 {
            CrlKind::Partition(partition_of(serial, layout.partitions))
        } else {
            CrlKind::Full
        };
        kind.scope()
    }

    /// After a revocation: a delta CRL when delta CRLs are configured (the full CRL
    /// follows on its schedule), else a full CRL; plus the serial's partition.
    pub(crate) async fn issue_crls_after_revocation(
        &self,
        serial: &Serial,
    ) -> Result<u64, RevocationError> {
        let layout = self.crl_layout().clone();
        let number = if layout.delta_url.is_some() {
            self.issue_crl_of(CrlKind::Delta).await?.number
        } else {
            self.issue_crl_of(CrlKind::Full).await?.number
        };
        if layout.partitions > 0 {
            self.issue_crl_of(CrlKind::Partition(partition_of(serial, layout.partitions)))
                .await?;
        }
        Ok(number)
    }

    /// Signs and stores one CRL of the issuing CA.
    pub async fn issue_crl_of(&self, kind: CrlKind) -> Result<CrlRecord, RevocationError> {
        let _serialised = self.crl_lock().lock().await;
        let layout = self.crl_layout().clone();
        let scope_name = kind.scope();
        let mut extra = Vec::new();
        let mut filter = EntryFilter::All;
        // Full and delta CRLs share one number sequence (RFC 5280 section 5.2.3).
        let mut number_floor = 0;
        match kind {
            CrlKind::Full => {
                if let Some(url) = &layout.delta_url {
                    extra.push(freshest_crl(url).map_err(unavailable)?);
                }
                number_floor = self
                    .store()
                    .next_crl_number("ca-delta")
                    .await
                    .map_err(unavailable)?;
            }
            CrlKind::Delta => {
                let base = self
                    .store()
                    .latest_crl("ca")
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| {
                        RevocationError::Unavailable("a delta CRL needs a full CRL first".into())
                    })?;
                extra.push(delta_indicator(base.number).map_err(unavailable)?);
                filter = EntryFilter::RevokedSince(base.this_update);
                number_floor = base.number + 1;
            }
            CrlKind::Partition(index) => {
                let url = layout.partition_url(index);
                extra.push(issuing_distribution_point(&url).map_err(unavailable)?);
                filter = EntryFilter::Partition {
                    index,
                    count: layout.partitions,
                };
            }
        }
        publish_crl(
            Arc::clone(self.store()),
            self.clock().as_ref(),
            CrlScope {
                name: &scope_name,
                signer: self.signer(),
                issuer: self.identity(),
                lifetime: self.crl_lifetime(),
            },
            CrlContents {
                extra_extensions: extra,
                filter,
                number_floor,
            },
        )
        .await
    }
}

/// Which CRL of the issuing CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlKind {
    /// The full CRL (`/repository/ca.crl`).
    Full,
    /// The delta CRL against the latest full CRL (`/repository/ca-delta.crl`).
    Delta,
    /// One partition (`/repository/ca-pN.crl`), with an issuingDistributionPoint.
    Partition(u32),
}

impl CrlKind {
    /// The storage scope and repository file stem.
    pub fn scope(self) -> String {
        match self {
            CrlKind::Full => "ca".into(),
            CrlKind::Delta => "ca-delta".into(),
            CrlKind::Partition(index) => format!("ca-p{index}"),
        }
    }
}

/// How the issuing CA's CRLs are laid out (from configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrlLayout {
    /// Partition count; 0 for none.
    pub partitions: u32,
    /// The base URL of the repository (`https://.../repository`).
    pub repository_url: String,
    /// The delta CRL's URL, when delta CRLs are on.
    pub delta_url: Option<String>,
}

impl CrlLayout {
    /// The URL of partition `index`.
    pub fn partition_url(&self, index: u32) -> String {
        format!("{}/ca-p{index}.crl", self.repository_url)
    }

    /// The CRL distribution point for a certificate with `serial`.
    pub fn distribution_point(&self, serial: &Serial) -> String {
        if self.partitions == 0 {
            format!("{}/ca.crl", self.repository_url)
        } else {
            self.partition_url(partition_of(serial, self.partitions))
        }
    }
}

pub use shuin_core::revocation::crl_partition as partition_of;

fn freshest_crl(url: &str) -> Result<x509_cert::ext::Extension, der::Error> {
    // FreshestCRL ::= CRLDistributionPoints (RFC 5280 section 5.2.6), non-critical.
    let mut ext = shuin_core::x509::extensions::crl_distribution_point(url)?;
    ext.extn_id = const_oid::db::rfc5280::ID_CE_FRESHEST_CRL;
    Ok(ext)
}

fn delta_indicator(base: u64) -> Result<x509_cert::ext::Extension, der::Error> {
    // BaseCRLNumber ::= CRLNumber (RFC 5280 section 5.2.4), critical.
    let bytes = Serial::from_magnitude(&base.to_be_bytes())
        .map(|s| s.der_integer_content())
        .unwrap_or_else(|| vec![0]);
    Ok(x509_cert::ext::Extension {
        extn_id: const_oid::db::rfc5280::ID_CE_DELTA_CRL_INDICATOR,
        critical: true,
        extn_value: der::asn1::OctetString::new(der::asn1::Uint::new(&bytes)?.to_der()?)?,
    })
}

fn issuing_distribution_point(url: &str) -> Result<x509_cert::ext::Extension, der::Error> {
    // RFC 5280 section 5.2.5, critical; this partition covers only end-entity certificates:
    // SEQUENCE { [0] { fullName [0] { uniformResourceIdentifier [6] url } }, [1] TRUE }
    fn tlv(tag: u8, content: &[u8]) -> Result<Vec<u8>, der::Error> {
        let mut out = vec![tag];
        let len = der::Length::try_from(content.len())?;
        len.encode_to_vec(&mut out)?;
        out.extend_from_slice(content);
        Ok(out)
    }
    der::asn1::Ia5StringRef::new(url)?;
    let uri = tlv(0x86, url.as_bytes())?;
    let full_name = tlv(0xa0, &uri)?;
    let distribution_point = tlv(0xa0, &full_name)?;
    let mut content = distribution_point;
    content.extend_from_slice(&[0x81, 0x01, 0xff]);
    let value = tlv(0x30, &content)?;
    Ok(x509_cert::ext::Extension {
        extn_id: const_oid::db::rfc5280::ID_CE_ISSUING_DISTRIBUTION_POINT,
        critical: true,
        extn_value: der::asn1::OctetString::new(value)?,
    })
}

/// Which revocations a CRL lists.
#[derive(Debug, Clone, Copy)]
pub enum EntryFilter {
    /// Every revocation.
    All,
    /// Revocations at or after an instant (delta CRLs).
    RevokedSince(SystemTime),
    /// Revocations of one partition.
    Partition {
        /// The partition.
        index: u32,
        /// How many there are.
        count: u32,
    },
    /// None (the root's CRL, which has no revoked CAs).
    Nothing,
}

impl EntryFilter {
    fn includes(self, record: &RevocationRecord) -> bool {
        match self {
            EntryFilter::All => true,
            EntryFilter::RevokedSince(t) => record.revoked_at >= t,
            EntryFilter::Partition { index, count } => partition_of(&record.serial, count) == index,
            EntryFilter::Nothing => false,
        }
    }
}

/// What goes into a CRL besides the issuer: extra extensions, which entries, and the
/// smallest acceptable number (for sequences shared between scopes).
#[derive(Debug, Clone)]
pub struct CrlContents {
    /// Extensions after AKI and cRLNumber.
    pub extra_extensions: Vec<x509_cert::ext::Extension>,
    /// Which revocations.
    pub filter: EntryFilter,
    /// The number is at least this.
    pub number_floor: u64,
}

/// Which CRL: its scope name, and the key and identity that sign it.
#[derive(Debug)]
pub struct CrlScope<'a> {
    /// `ca`, `ca-delta`, `ca-pN` or `root`.
    pub name: &'a str,
    /// The CA's key.
    pub signer: &'a Arc<dyn Signer>,
    /// The CA's name and key identifier.
    pub issuer: &'a IssuerIdentity,
    /// thisUpdate to nextUpdate.
    pub lifetime: Duration,
}

const PAGE: u32 = 10_000;

/// Walks the revocations page by page (blocking on the runtime; call from a blocking
/// thread). A storage error ends the walk and is kept in `failure`.
struct PagedEntries {
    store: Arc<dyn CaStore>,
    runtime: tokio::runtime::Handle,
    filter: EntryFilter,
    after: Option<Serial>,
    page: std::vec::IntoIter<RevocationRecord>,
    done: bool,
    failure: Arc<std::sync::Mutex<Option<StoreError>>>,
}

impl Iterator for PagedEntries {
    type Item = StreamEntry;

    fn next(&mut self) -> Option<StreamEntry> {
        loop {
            if let Some(record) = self.page.next() {
                self.after = Some(record.serial.clone());
                if !self.filter.includes(&record) {
                    continue;
                }
                return Some(StreamEntry {
                    serial: record.serial,
                    revoked_at: record.revoked_at,
                    reason_code: Some(record.reason.code()),
                    invalidity_date: record.invalidity_date,
                });
            }
            if self.done || matches!(self.filter, EntryFilter::Nothing) {
                return None;
            }
            let page = self
                .runtime
                .block_on(self.store.revocations_page(self.after.as_ref(), PAGE));
            match page {
                Ok(records) => {
                    self.done = records.len() < usize::try_from(PAGE).unwrap_or(usize::MAX);
                    self.page = records.into_iter();
                }
                Err(e) => {
                    *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    self.done = true;
                    return None;
                }
            }
        }
    }
}

/// Numbers, records (`crl.signing` with the TBS hash), signs, stores and records
/// (`crl.issued`) a CRL. The revoked list is streamed from storage into one buffer
/// (`shuin_core::x509::crl_stream`), so memory stays bounded by the CRL's own size.
pub async fn publish_crl(
    store: Arc<dyn CaStore>,
    clock: &dyn Clock,
    scope: CrlScope<'_>,
    contents: CrlContents,
) -> Result<CrlRecord, RevocationError> {
    for _ in 0..3 {
        let now = clock.now();
        let number = store
            .next_crl_number(scope.name)
            .await
            .map_err(unavailable)?
            .max(contents.number_floor);
        let header = CrlHeader {
            issuer: scope.issuer.name.clone(),
            issuer_key_id: scope.issuer.key_id.clone(),
            this_update: now,
            next_update: now + scope.lifetime,
            number,
            extra_extensions: contents.extra_extensions.clone(),
        };
        let subject = format!("crl:{}:{number}", scope.name);
        // The TBS hash must be ledgered before the signature: the signing closure hands
        // the TBS back, the ledger entry is written, and only then is it signed.
        let (tbs_tx, tbs_rx) = std::sync::mpsc::channel::<(String, usize)>();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<bool>();
        let failure = Arc::new(std::sync::Mutex::new(None));
        let signer = Arc::clone(scope.signer);
        let algorithm = signer.algorithm();
        let runtime = tokio::runtime::Handle::current();
        let paging_store = Arc::clone(&store);
        let filter = contents.filter;
        let paging_failure = Arc::clone(&failure);
        let task = tokio::task::spawn_blocking(move || {
            let entries = || {
                Ok::<_, shuin_keys::KeyError>(PagedEntries {
                    store: Arc::clone(&paging_store),
                    runtime: runtime.clone(),
                    filter,
                    after: None,
                    page: Vec::new().into_iter(),
                    done: false,
                    failure: Arc::clone(&paging_failure),
                })
            };
            let sign = |tbs: &[u8]| {
                let _ = tbs_tx.send((hex::encode(Sha256::digest(tbs)), tbs.len()));
                if go_rx.recv().unwrap_or(false) {
                    signer.sign(tbs)
                } else {
                    Err(shuin_keys::KeyError::SigningFailed)
                }
            };
            encode_crl(&header, algorithm, entries, sign)
        });
        // Wait for the TBS (or for the encoder to stop early).
        let tbs = tokio::task::spawn_blocking(move || tbs_rx.recv().ok())
            .await
            .map_err(|_| RevocationError::Unavailable("the CRL task failed".into()))?;
        let Some((tbs_sha256, _)) = tbs else {
            let result = task
                .await
                .map_err(|_| RevocationError::Unavailable("the CRL task failed".into()))?;
            if let Err(CrlStreamError::EntriesChanged) = result {
                continue;
            }
            return Err(RevocationError::Unavailable(match result {
                Err(e) => Box::new(e),
                Ok(_) => "the CRL encoder stopped without signing".into(),
            }));
        };
        let paging_error = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(e) = paging_error {
            let _ = go_tx.send(false);
            let _ = task.await;
            return Err(unavailable(e));
        }
        let recorded = store
            .append(
                EntryDraft {
                    book: Book::Revocation,
                    kind: "crl.signing".into(),
                    actor: ca_actor(),
                    subjects: vec![subject.clone()],
                    payload: serde_json::json!({"scope": scope.name, "crl_number": number, "tbs_sha256": tbs_sha256}),
                    evidence: vec![format!("sha256:{tbs_sha256}")],
                },
                now,
            )
            .await;
        let _ = go_tx.send(recorded.is_ok());
        let result = task
            .await
            .map_err(|_| RevocationError::Unavailable("the CRL task failed".into()))?;
        recorded.map_err(unavailable)?;
        let der = match result {
            Ok(der) => der,
            Err(CrlStreamError::EntriesChanged) => continue,
            Err(e) => return Err(unavailable(e)),
        };
        let record = CrlRecord {
            scope: scope.name.to_owned(),
            number,
            this_update: header_time(now),
            next_update: header_time(now + scope.lifetime),
            der,
        };
        match store.put_crl(&record).await {
            Ok(()) => {}
            // Another process took the number: sign again with the next one.
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(unavailable(e)),
        }
        store
            .append(
                EntryDraft {
                    book: Book::Revocation,
                    kind: "crl.issued".into(),
                    actor: ca_actor(),
                    subjects: vec![subject],
                    payload: serde_json::json!({
                        "scope": scope.name,
                        "crl_number": number,
                        "next_update": shuin_core::timefmt::rfc3339(record.next_update),
                    }),
                    evidence: vec![format!(
                        "sha256:{}",
                        hex::encode(Sha256::digest(&record.der))
                    )],
                },
                now,
            )
            .await
            .map_err(unavailable)?;
        return Ok(record);
    }
    Err(RevocationError::Unavailable(
        "the CRL could not be made consistently; try again".into(),
    ))
}

fn header_time(t: SystemTime) -> SystemTime {
    shuin_core::clock::truncate_to_seconds(t)
}

#[async_trait::async_trait]
impl shuin_core::revocation::Revoker for CaService {
    async fn revoke(
        &self,
        request: shuin_core::revocation::RevocationRequest,
    ) -> Result<shuin_core::revocation::RevocationDone, shuin_core::revocation::RevocationPortError>
    {
        use shuin_core::revocation::RevocationPortError as PortError;
        let order = RevocationOrder {
            serial: request.serial,
            reason: request.reason,
            invalidity_date: request.invalidity_date,
            actor: Actor {
                name: request.decided_by,
                role: request.role,
                zone: "secure".into(),
            },
            authorisation: request.authorisation,
        };
        match CaService::revoke(self, order).await {
            Ok(done) => Ok(shuin_core::revocation::RevocationDone {
                revoked_at: done.revoked_at,
                crl_number: done.crl_number,
            }),
            Err(RevocationError::UnknownSerial(_)) => Err(PortError::UnknownSerial),
            Err(RevocationError::AlreadyRevoked { revoked_at, .. }) => {
                Err(PortError::AlreadyRevoked {
                    revoked_at: shuin_core::timefmt::parse_rfc3339(&revoked_at)
                        .unwrap_or(std::time::UNIX_EPOCH),
                })
            }
            Err(e) => Err(PortError::Unavailable(Box::new(e))),
        }
    }
}
