//! `shuin registration create|flags`: the LRA side of the legacy 利用者識別符号 flow
//! (docs/registration.md), and the review list of certificates whose holder's JPKI
//! certificate J-LIS revoked. Also the RA's life-cycle wiring for `serve` and its upkeep
//! (the J-LIS follow-up and the notice outbox).

use crate::config::InstanceConfig;
use crate::console_client::{call, Ask};
use crate::failure::{msg, Context, Result};
use crate::output::show;
use crate::runtime::Store;
use clap::Subcommand;
use shuin_core::{Action, OsRandom};
use shuin_ra::jpki_followup::{flags_json, flags_text};
use shuin_ra::{CodeKey, Delivery, Lifecycle, VerifiedIdentity};
use std::path::Path;
use std::sync::Arc;

/// The file holding the key under which codes are hashed (mode 0600, never in the
/// database or the ledger).
pub(crate) const CODE_KEY_FILE: &str = "registration-code.key";
/// Where the file notice sender appends notices (one JSON object a line).
pub(crate) const NOTICES_FILE: &str = "notices.jsonl";

#[derive(Debug, Subcommand)]
pub(crate) enum RegistrationCommand {
    /// Record an identity verified by an LRA and print its 利用者識別符号 once.
    Create {
        /// The LRA (role lra) who verified the identity signs the request.
        #[command(flatten)]
        ask: Box<Ask>,
        /// The four basic items the LRA verified.
        #[command(flatten)]
        items: crate::apply_cmd::BasicItems,
        /// How the code is sent, e.g. 本人限定受取郵便 (ledgered).
        #[arg(long)]
        delivery: Option<String>,
        /// The postal tracking number (ledgered).
        #[arg(long, requires = "delivery")]
        tracking: Option<String>,
        /// How long the code lives: 30d, 12h, 90m or seconds (default 30d).
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// The review list: certificates flagged because J-LIS revoked the holder's JPKI
    /// certificate.
    Flags(crate::output::Reading),
}

/// The code key of an instance: made (0600) on first use, refused if others can read it
/// (`shuin_ra::CodeKey::open_or_create`).
pub(crate) fn code_key(dir: &Path) -> Result<CodeKey> {
    CodeKey::open_or_create(&dir.join(CODE_KEY_FILE), &OsRandom).map_err(Into::into)
}

/// The RA's life-cycle parts for a served instance.
pub(crate) fn lifecycle(
    dir: &Path,
    config: &InstanceConfig,
    store: Arc<Store>,
) -> Result<Lifecycle> {
    let policy = config.jpki.on_jpki_revocation;
    Ok(Lifecycle::new(store, code_key(dir)?, policy))
}

/// One round of life-cycle upkeep (from `watch::run`; `shuin_ra::RaService::upkeep`),
/// the notices sent as `[notices]` says.
pub(crate) async fn upkeep(instance: &crate::runtime::Instance) {
    instance.state.ra.upkeep(instance.notices.as_ref()).await;
}

/// The notice sender of `[notices]`: SMTP for notices to an address, the rest to
/// `DIR/notices.jsonl`.
pub(crate) fn notice_sender(
    dir: &Path,
    config: &InstanceConfig,
) -> Result<Arc<dyn shuin_ra::NoticeSender>> {
    Ok(config.notices.sender(dir, dir.join(NOTICES_FILE))?)
}

pub(crate) async fn run(command: RegistrationCommand) -> Result<()> {
    match command {
        RegistrationCommand::Create {
            ask,
            items,
            delivery,
            tracking,
            expires_in,
        } => {
            let lifetime = match expires_in {
                None => shuin_ra::DEFAULT_CODE_LIFETIME,
                Some(text) => shuin_core::timefmt::parse_duration(&text)
                    .ok_or_else(|| msg("--expires-in must look like 30d, 12h, 90m or 3600"))?,
            };
            let identity = VerifiedIdentity {
                name: items.name,
                birth_date: items.birth_date,
                address: items.address,
                gender: items.gender,
            };
            let delivery = delivery.map(|method| Delivery { method, tracking });
            let (params, identity) = shuin_ra::console::registration_create_request(
                &identity,
                lifetime,
                delivery.as_ref(),
                &shuin_core::OsRandom,
            )
            .context("identity")?;
            let action = Action::RegistrationCreate;
            let created = call(&ask.console, action, params, Some(identity)).await?;
            crate::output::print_answer(action, &created, ask.json);
            Ok(())
        }
        RegistrationCommand::Flags(read) => {
            let store = crate::runtime::open_store(&read.data).await?;
            let flags = shuin_store::CertificateFlags::certificate_flags(&store).await;
            store.close().await;
            let flags = flags.context("reading the review list")?;
            show(read.json, || flags_json(&flags), || flags_text(&flags));
            Ok(())
        }
    }
}
