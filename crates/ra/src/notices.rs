//! Notices to holders (通知): the revocation of a replaced certificate (queued by the
//! reissue), and the issuance and revocation of certificates whose application named an
//! e-mail address, queued here from the books. The outbox is drained through a
//! [`NoticeSender`]: by e-mail where the application named an address and SMTP is
//! configured (`notice_mail`), else as a line of `DIR/notices.jsonl` for a mail gateway.
//! Every notice is ledgered when queued and when sent; an address never is.

use crate::application::system_actor;
use crate::{RaError, RaService};
use async_trait::async_trait;
use serde_json::Value;
use shuin_core::Serial;
use shuin_ledger::{Book, Entry, EntryDraft};
use shuin_store::NoticeRecord;
use std::io::Write;
use std::path::PathBuf;

/// The notice kind for an issued certificate.
pub const CERTIFICATE_ISSUED: &str = "certificate_issued";
/// The notice kind for a revoked certificate.
pub const CERTIFICATE_REVOKED: &str = "certificate_revoked";

/// An RA node's record of the CA's answers (`shuin_ra::orders`), whose issued and
/// revoked certificates get their notices there (its books hold no
/// `certificate.issued` nor `revocation.accepted`).
use crate::orders::ORDERS_ANSWERED;
/// How long the follower waits for the certificate an `orders.answered` names to be
/// kept before it gives its notice up (logged).
const COPY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(600);

/// What the store holds of a certificate's application.
enum Copy {
    /// No certificate (yet).
    Missing,
    /// Its application named no address.
    Unaddressed,
    /// Its application (id) named one.
    Addressed(String),
}

/// The setting that keeps how far the books were read for notices.
const FOLLOWED_SETTING: &str = "notices.followed_seq";
/// Ledger rows read per query.
const BOOK_PAGE: u64 = 1_000;
/// Pages read per call at most, so that one upkeep round stays short however far behind
/// the reading is (the first round on books that grew before notices existed).
const PAGES_PER_ROUND: usize = 10;

/// How a notice left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Mailed over SMTP to the application's address.
    Mail,
    /// Written to the file for a mail gateway.
    File,
    /// The relay refused the address for good (the SMTP reply code): written to the
    /// file for a mail gateway instead, never retried by mail.
    FileAfterRefusal(u16),
}

impl Delivery {
    /// The name in `notice.sent` (`smtp`, `file`).
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Mail => "smtp",
            Delivery::File | Delivery::FileAfterRefusal(_) => "file",
        }
    }

    /// The SMTP reply code of a permanent refusal, if there was one.
    pub fn smtp_refused(self) -> Option<u16> {
        match self {
            Delivery::FileAfterRefusal(code) => Some(code),
            _ => None,
        }
    }
}

/// Delivers queued notices (mail, a message queue, a file...).
#[async_trait]
pub trait NoticeSender: Send + Sync {
    /// Sends one notice, to `to` where the application named an address; an error leaves
    /// it queued for the next round. An error never carries the address.
    async fn send(
        &self,
        notice: &NoticeRecord,
        to: Option<&str>,
    ) -> Result<Delivery, std::io::Error>;
}

/// Appends each notice as one JSON line to a file (for a mail gateway to pick up). The
/// line names the notice, never an address.
#[derive(Debug, Clone)]
pub struct FileNoticeSender {
    path: PathBuf,
}

impl FileNoticeSender {
    /// Appends to `path`.
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    fn append(&self, notice: &NoticeRecord) -> Result<(), std::io::Error> {
        let line = serde_json::json!({
            "id": notice.id,
            "kind": notice.kind,
            "serial": notice.serial.to_hex(),
            "created_at": shuin_core::timefmt::rfc3339(notice.created_at),
            "notice": notice.payload,
        });
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(file, "{line}")?;
        file.sync_data()
    }
}

#[async_trait]
impl NoticeSender for FileNoticeSender {
    async fn send(
        &self,
        notice: &NoticeRecord,
        _to: Option<&str>,
    ) -> Result<Delivery, std::io::Error> {
        self.append(notice).map(|()| Delivery::File)
    }
}

/// What `notice.sent` says: the notice's kind, how it left, and a relay's permanent
/// refusal that sent it to the file gateway instead.
fn sent_payload(notice: &NoticeRecord, delivery: Delivery) -> serde_json::Value {
    let mut payload = serde_json::json!({"kind": notice.kind, "channel": delivery.as_str()});
    if let Some(code) = delivery.smtp_refused() {
        tracing::warn!(notice = %notice.id, code, "the relay refused the notice's address for good; it went to the file gateway");
        payload["smtp_refused"] = serde_json::json!(code);
    }
    payload
}

impl RaService {
    /// Sends up to `limit` queued notices; each sent one is marked and ledgered
    /// (`notice.sent` with how it left). Returns how many were sent.
    pub async fn send_notices(
        &self,
        sender: &dyn NoticeSender,
        limit: u32,
    ) -> Result<usize, RaError> {
        let lifecycle = self.lifecycle()?;
        let mut sent = 0;
        for notice in lifecycle.store.pending_notices(limit).await? {
            let to = self.notice_address(&notice).await?;
            let delivery = match sender.send(&notice, to.as_deref()).await {
                Ok(delivery) => delivery,
                Err(e) => {
                    tracing::warn!(notice = %notice.id, error = %e, "sending a notice failed; it stays queued");
                    continue;
                }
            };
            let now = self.clock.now();
            lifecycle.store.mark_notice_sent(&notice.id, now).await?;
            self.store
                .append(
                    EntryDraft {
                        book: Book::Revocation,
                        kind: "notice.sent".into(),
                        actor: system_actor(),
                        subjects: vec![
                            format!("serial:{}", notice.serial),
                            format!("notice:{}", notice.id),
                        ],
                        payload: sent_payload(&notice, delivery),
                        evidence: vec![],
                    },
                    now,
                )
                .await?;
            sent += 1;
        }
        Ok(sent)
    }

    /// The address the notice's application named, if any (read when sending, from the
    /// application: never kept with the notice or in the books).
    async fn notice_address(&self, notice: &NoticeRecord) -> Result<Option<String>, RaError> {
        let Some(id) = notice.payload["application_id"].as_str() else {
            return Ok(None);
        };
        let record = self.store.application(id).await?;
        Ok(record.and_then(|r| r.details["notice_email"].as_str().map(str::to_owned)))
    }

    /// Queues the notices of issuance and revocation for the certificates whose
    /// application named an e-mail address, from the books appended since the last call
    /// (`certificate.issued`, `revocation.accepted`; on an RA node of a split deployment,
    /// the issued and revoked certificates of `orders.answered`). A revocation by reissue or by the
    /// business termination has its own notice. Each notice is queued once, however often
    /// this runs (the notice ids are `issued:SERIAL` and `revoked:SERIAL`). Reads at most
    /// [`PAGES_PER_ROUND`] pages; the next call goes on. Returns how many were queued.
    pub async fn queue_holder_notices(&self) -> Result<usize, RaError> {
        let lifecycle = self.lifecycle()?;
        let mut next: u64 = match self.store.setting(FOLLOWED_SETTING).await? {
            Some(text) => text.parse().map_err(|_| {
                RaError::Unavailable(format!("setting {FOLLOWED_SETTING} is not a number").into())
            })?,
            None => 0,
        };
        let mut queued = 0;
        'pages: for _ in 0..PAGES_PER_ROUND {
            let page = self.store.ledger_rows_page(next, BOOK_PAGE).await?;
            let mut full = u64::try_from(page.len()).is_ok_and(|n| n >= BOOK_PAGE);
            for row in &page {
                let Ok(entry) = Entry::from_canonical(&row.canonical) else {
                    next = next.max(row.seq.saturating_add(1));
                    continue;
                };
                let Some(notices) = self.holder_notices(&entry).await? else {
                    // Its certificates are not kept yet: read it again next round.
                    full = false;
                    break;
                };
                for notice in notices {
                    let application = notice.payload["application_id"].as_str().map(str::to_owned);
                    let store = lifecycle.store.as_ref();
                    crate::reissue::queue_notice(
                        store,
                        &notice,
                        application.as_deref(),
                        self.clock.now(),
                    )
                    .await?;
                    queued += 1;
                }
                next = next.max(row.seq.saturating_add(1));
            }
            self.store
                .set_setting(FOLLOWED_SETTING, &next.to_string())
                .await?;
            if !full {
                break 'pages;
            }
        }
        Ok(queued)
    }

    /// The notices an entry calls for; `None` when an RA node's `orders.answered` names a
    /// certificate its store does not hold yet (it is kept right after the entry is
    /// written), unless the entry is older than [`COPY_PATIENCE`].
    async fn holder_notices(&self, entry: &Entry) -> Result<Option<Vec<NoticeRecord>>, RaError> {
        if entry.kind != ORDERS_ANSWERED {
            return Ok(Some(self.holder_notice(entry).await?.into_iter().collect()));
        }
        let mut notices = Vec::new();
        let issued = entry.payload["answers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["outcome"] == "issued")
            .filter_map(|a| a["serial"].as_str().and_then(Serial::from_hex));
        for answer in entry.payload["answers"].as_array().into_iter().flatten() {
            if let Some(notice) = self.revoked_notice(entry, answer).await? {
                notices.push(notice);
            }
        }
        for serial in issued {
            match self.addressed_application(&serial).await? {
                Copy::Missing => {
                    let at = shuin_core::timefmt::parse_rfc3339(&entry.time);
                    let waited = at.and_then(|at| self.clock.now().duration_since(at).ok());
                    if waited.is_none_or(|w| w < COPY_PATIENCE) {
                        return Ok(None);
                    }
                    tracing::warn!(serial = %serial.to_hex(), "an answered certificate was never kept; no issuance notice");
                }
                Copy::Unaddressed => {}
                Copy::Addressed(application) => notices.push(NoticeRecord {
                    id: format!("issued:{}", serial.to_hex()),
                    kind: CERTIFICATE_ISSUED.into(),
                    payload: notice_text(CERTIFICATE_ISSUED, &serial, &application, entry),
                    serial,
                    created_at: self.clock.now(),
                    sent_at: None,
                }),
            }
        }
        Ok(Some(notices))
    }

    /// The notice of a revocation an RA node's `orders.answered` carries: its order
    /// (`revoke:SERIAL`) was not a reissue's or the termination's (which send their
    /// own), and the node keeps the certificate, whose application named an address.
    async fn revoked_notice(
        &self,
        entry: &Entry,
        answer: &Value,
    ) -> Result<Option<NoticeRecord>, RaError> {
        if answer["outcome"] != "revoked" || has_own_notice(answer) {
            return Ok(None);
        }
        let serial = answer["order"]
            .as_str()
            .and_then(|order| order.strip_prefix("revoke:"))
            .and_then(Serial::from_hex);
        let Some(serial) = serial else {
            return Ok(None);
        };
        let Copy::Addressed(application) = self.addressed_application(&serial).await? else {
            return Ok(None);
        };
        let mut payload = notice_text(CERTIFICATE_REVOKED, &serial, &application, entry);
        payload["reason"] = answer["reason"].clone();
        Ok(Some(NoticeRecord {
            id: format!("revoked:{}", serial.to_hex()),
            kind: CERTIFICATE_REVOKED.into(),
            serial,
            payload,
            created_at: self.clock.now(),
            sent_at: None,
        }))
    }

    /// Whether the application of the certificate `serial` named an address.
    async fn addressed_application(&self, serial: &Serial) -> Result<Copy, RaError> {
        let Some(certificate) = self.store.certificate(serial).await? else {
            return Ok(Copy::Missing);
        };
        let application = certificate.application_id;
        let addressed = self
            .store
            .application(&application)
            .await?
            .is_some_and(|r| r.details["notice_email"].is_string());
        Ok(if addressed {
            Copy::Addressed(application)
        } else {
            Copy::Unaddressed
        })
    }

    /// The notice an entry calls for: an issuance or a revocation of a certificate whose
    /// application named an address.
    async fn holder_notice(&self, entry: &Entry) -> Result<Option<NoticeRecord>, RaError> {
        let (kind, prefix) = match entry.kind.as_str() {
            "certificate.issued" => (CERTIFICATE_ISSUED, "issued"),
            "revocation.accepted" if !has_own_notice(&entry.payload) => {
                (CERTIFICATE_REVOKED, "revoked")
            }
            _ => return Ok(None),
        };
        let Some(serial) = entry.payload["serial"].as_str().and_then(Serial::from_hex) else {
            return Ok(None);
        };
        let Copy::Addressed(application) = self.addressed_application(&serial).await? else {
            return Ok(None);
        };
        let payload = notice_text(kind, &serial, &application, entry);
        Ok(Some(NoticeRecord {
            id: format!("{prefix}:{}", serial.to_hex()),
            kind: kind.into(),
            serial,
            payload,
            created_at: self.clock.now(),
            sent_at: None,
        }))
    }
}

/// A revocation whose notice is queued by its own procedure: by reissue (旧証明書の失効通知)
/// or by the business termination.
fn has_own_notice(payload: &Value) -> bool {
    let authorisation = payload["authorisation"].as_str().unwrap_or_default();
    authorisation == "reissue" || authorisation.starts_with("termination:")
}

/// What the notice says (ledgered with `notice.queued`: no address, no name).
fn notice_text(kind: &str, serial: &Serial, application: &str, entry: &Entry) -> Value {
    let mut payload = serde_json::json!({
        "serial": serial.to_hex(),
        "application_id": application,
        "at": entry.time,
    });
    if kind == CERTIFICATE_ISSUED {
        payload["title"] = "電子証明書の発行のお知らせ / Your certificate has been issued".into();
    } else {
        payload["title"] = "電子証明書の失効のお知らせ / Your certificate has been revoked".into();
        payload["reason"] = entry.payload["reason"].clone();
    }
    payload
}
