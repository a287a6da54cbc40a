//! Notices by e-mail (`[notices]` of shuin.toml): a notice whose application named an
//! address goes to an SMTP relay (lettre over rustls with aws-lc-rs); any other notice,
//! or every notice without SMTP configured, goes to the file for a mail gateway. The
//! message is in Japanese, then English. An address is never logged: errors carry the
//! SMTP reply code only.

use crate::notices::{Delivery, FileNoticeSender, NoticeSender, CERTIFICATE_ISSUED};
use async_trait::async_trait;
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use shuin_store::NoticeRecord;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long one SMTP exchange may take before the notice is left for the next round.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// `[notices]`: where notices go. Without `smtp_url`, every notice goes to the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticesSection {
    /// The SMTP relay: `smtp://HOST:PORT?tls=required` (STARTTLS, the usual for port
    /// 587), `smtps://HOST:465` (TLS from the start), or `smtp://HOST:PORT` (plain, for a
    /// relay on the same host only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_url: Option<String>,
    /// The sender, e.g. `shuin CA <ca@example.jp>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The SMTP user name, if the relay asks for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_username: Option<String>,
    /// A file holding the SMTP password (relative to the instance directory), never the
    /// password itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_password_file: Option<PathBuf>,
}

/// Why `[notices]` cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("[notices]: {0}")]
pub struct NoticeMailError(String);

impl NoticesSection {
    /// Whether nothing is configured (every notice to the file).
    pub fn is_default(&self) -> bool {
        self == &NoticesSection::default()
    }

    /// The sender for an instance at `dir`, writing what is not mailed to `file`.
    pub fn sender(
        &self,
        dir: &Path,
        file: PathBuf,
    ) -> Result<Arc<dyn NoticeSender>, NoticeMailError> {
        let file = FileNoticeSender::new(file);
        let Some(url) = &self.smtp_url else {
            if self.from.is_some() || self.smtp_username.is_some() {
                return Err(NoticeMailError(
                    "from and smtp_username need smtp_url".into(),
                ));
            }
            return Ok(Arc::new(file));
        };
        let from: Mailbox = self
            .from
            .as_deref()
            .ok_or_else(|| NoticeMailError("smtp_url needs from (the sender's address)".into()))?
            .parse()
            .map_err(|e| NoticeMailError(format!("from is not an address: {e}")))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| NoticeMailError(format!("smtp_url: {e}")))?
            .timeout(Some(SMTP_TIMEOUT));
        match (&self.smtp_username, &self.smtp_password_file) {
            (Some(user), Some(path)) => {
                let password = std::fs::read_to_string(dir.join(path)).map_err(|e| {
                    NoticeMailError(format!("smtp_password_file {}: {e}", path.display()))
                })?;
                let password = zeroize::Zeroizing::new(password);
                builder = builder.credentials(Credentials::new(
                    user.clone(),
                    password.trim_end_matches(['\r', '\n']).to_owned(),
                ));
            }
            (None, None) => {}
            _ => {
                return Err(NoticeMailError(
                    "smtp_username and smtp_password_file go together".into(),
                ))
            }
        }
        Ok(Arc::new(MailNoticeSender {
            transport: builder.build(),
            from,
            file,
        }))
    }
}

/// Mails a notice to its application's address; files the others.
struct MailNoticeSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    file: FileNoticeSender,
}

#[async_trait]
impl NoticeSender for MailNoticeSender {
    async fn send(
        &self,
        notice: &NoticeRecord,
        to: Option<&str>,
    ) -> Result<Delivery, std::io::Error> {
        let Some(to) = to else {
            return self.file.send(notice, None).await;
        };
        let to: Mailbox = to
            .parse()
            .map_err(|_| std::io::Error::other("the application's address is not a mailbox"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(notice.payload["title"].as_str().unwrap_or("shuin"))
            .header(ContentType::TEXT_PLAIN)
            .body(mail_body(notice))
            .map_err(|e| std::io::Error::other(format!("the message could not be built: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(Delivery::Mail),
            // Refused for good (a 5xx reply): retrying would never succeed, so the notice
            // goes to the file gateway, where the desk sees it.
            Err(e) if e.is_permanent() => {
                let code = e
                    .status()
                    .and_then(|code| code.to_string().parse::<u16>().ok())
                    .unwrap_or(500);
                self.file.send(notice, None).await?;
                Ok(Delivery::FileAfterRefusal(code))
            }
            // The reply text may quote the address: only its code is told.
            Err(e) => Err(std::io::Error::other(match e.status() {
                Some(code) => format!("SMTP could not take the notice now ({code})"),
                None if e.is_timeout() => "SMTP timed out".to_owned(),
                None => "SMTP connection failed".to_owned(),
            })),
        }
    }
}

/// The text of a notice: Japanese, then English.
fn mail_body(notice: &NoticeRecord) -> String {
    let p = &notice.payload;
    let text = |key: &str| p[key].as_str().unwrap_or("-").to_owned();
    let serial = notice.serial.to_hex();
    let application = text("application_id");
    let (ja, en) = if notice.kind == CERTIFICATE_ISSUED {
        (
            format!("電子証明書を発行しました。\nシリアル番号: {serial}\n申込番号: {application}\n発行日時: {}\n", text("at")),
            format!("Your certificate has been issued.\nSerial number: {serial}\nApplication: {application}\nIssued at: {}\n", text("at")),
        )
    } else {
        let serial = p["revoked_serial"].as_str().map_or(serial, str::to_owned);
        let at = p["revoked_at"]
            .as_str()
            .map_or_else(|| text("at"), str::to_owned);
        (
            format!("電子証明書を失効しました。\nシリアル番号: {serial}\n理由: {}\n失効日時: {at}\n", text("reason")),
            format!("Your certificate has been revoked.\nSerial number: {serial}\nReason: {}\nRevoked at: {at}\n", text("reason")),
        )
    };
    format!(
        "{ja}\nこのお知らせに心当たりがない場合は、認証局にご連絡ください。\n\n----\n\n{en}\nIf you did not expect this notice, please contact the certification authority.\n"
    )
}
