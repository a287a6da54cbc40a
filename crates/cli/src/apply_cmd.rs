//! `shuin apply`: the applicant client.

use crate::failure::{msg, Result};
use shuin_client::{ApplyOutcome, ApplyRequest, CardSource, OutcomeFiles};
use shuin_keys::KeySpec;
use std::path::PathBuf;

/// What `shuin apply` takes.
#[derive(Debug, clap::Args)]
pub(crate) struct ApplyArgs {
    /// Server base URL.
    #[arg(long)]
    server: String,
    #[command(flatten)]
    card: CardArgs,
    /// The four basic items as on the card.
    #[command(flatten)]
    items: BasicItems,
    #[command(flatten)]
    new_key: NewKey,
    /// An e-mail address for the notices of issuance and revocation (kept with the
    /// application as personal data, never in the books).
    #[arg(long, value_parser = notice_email)]
    notice_email: Option<String>,
}

/// A notice address must be one plain address.
pub(crate) fn notice_email(text: &str) -> std::result::Result<String, String> {
    if shuin_core::application::is_notice_address(text) {
        Ok(text.to_owned())
    } else {
        Err("must be one plain address such as name@example.jp / メールアドレスを一つ入力してください".into())
    }
}

/// Where the applicant's JPKI signing key is (`apply` and `disclose`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CardArgs {
    /// JPKI signing key (PKCS#8 PEM) of a file-based card.
    #[arg(long, requires = "card_cert", conflicts_with = "dev_card")]
    card_key: Option<PathBuf>,
    /// JPKI signing certificate (PEM or DER) of a file-based card.
    #[arg(long, requires = "card_key")]
    card_cert: Option<PathBuf>,
    /// A card made by `serve --dev` (or `testkit card` under DEV_DIR/cards/NAME).
    #[arg(long)]
    dev_card: Option<String>,
    /// A JPKI card through this PKCS#11 module (OpenSC's opensc-pkcs11.so for a real
    /// My Number card in a reader).
    #[arg(long, requires = "card_pin_file", conflicts_with_all = ["card_key", "dev_card"])]
    card_pkcs11: Option<PathBuf>,
    /// The card's token label (with --card-pkcs11).
    #[arg(long, default_value = "JPKI")]
    card_token: String,
    /// A file holding the card's signing PIN, mode 0600 (with --card-pkcs11).
    #[arg(long, requires = "card_pkcs11")]
    card_pin_file: Option<PathBuf>,
    /// Where dev cards live.
    #[arg(long, default_value = "shuin-dev")]
    dev_dir: PathBuf,
}

/// The applicant's new key and where its certificate goes (`apply` and `enroll`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct NewKey {
    /// The new key's type: p256, p384, rsa2048, rsa3072 or rsa4096.
    #[arg(long, default_value = "p256")]
    key_type: String,
    /// Where to write the new private key (default: OUT.key; never overwritten).
    #[arg(long)]
    key_out: Option<PathBuf>,
    /// Where to write the certificate (its chain goes to OUT.chain).
    #[arg(long, default_value = "cert.pem")]
    pub(crate) out: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

impl NewKey {
    /// The key type, and the files, checked to hold no key yet.
    pub(crate) fn prepare(&self) -> Result<(KeySpec, OutcomeFiles)> {
        let files = OutcomeFiles::new(&self.out, self.key_out.as_deref());
        files.check_key_is_new()?;
        Ok((key_spec("--key-type", &self.key_type)?, files))
    }

    /// Saves the outcome and tells the applicant.
    pub(crate) fn save(&self, files: &OutcomeFiles, outcome: &ApplyOutcome) -> Result<()> {
        files.save(outcome)?;
        let (json, text) = (|| files.to_json(outcome), || files.text(outcome));
        crate::output::show(self.json, json, text);
        Ok(())
    }
}

/// The four basic items (基本4情報) as typed: an applicant's, checked against the card,
/// or the identity an LRA verified (`registration create`), or a test card's.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BasicItems {
    /// Name (surname, full-width space, given name).
    #[arg(long)]
    pub(crate) name: String,
    /// Birth date, YYYY-MM-DD.
    #[arg(long, value_parser = birth_date)]
    pub(crate) birth_date: String,
    /// Address.
    #[arg(long)]
    pub(crate) address: String,
    /// Gender: 1, 2 or 3.
    #[arg(long, value_parser = ["1", "2", "3"])]
    pub(crate) gender: Option<String>,
}

/// A birth date must be a real `YYYY-MM-DD` date.
fn birth_date(text: &str) -> std::result::Result<String, String> {
    match shuin_core::timefmt::parse_date(text) {
        Some(_) => Ok(text.to_owned()),
        None => {
            Err("must be a valid YYYY-MM-DD date / 生年月日は YYYY-MM-DD で入力してください".into())
        }
    }
}

impl CardArgs {
    /// The card the flags name.
    pub(crate) fn source(&self) -> Result<CardSource> {
        let dev_card = |name: &String| {
            let dir = crate::dev::card_dir(&self.dev_dir, name);
            let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
            CardSource::Files { key, cert }
        };
        match (&self.card_key, &self.card_cert, &self.dev_card, &self.card_pkcs11) {
            (None, None, None, Some(module)) => Ok(CardSource::Pkcs11 {
                module: module.clone(),
                token: self.card_token.clone(),
                pin_file: self.card_pin_file.clone().unwrap_or_default(),
            }),
            (Some(key), Some(cert), None, None) => Ok(CardSource::Files {
                key: key.clone(),
                cert: cert.clone(),
            }),
            (None, None, Some(name), None) => {
                let dir = crate::dev::card_dir(&self.dev_dir, name);
                if !dir.join("cert.pem").exists() {
                    return Err(msg(format!(
                        "--dev-card {name}: no card in {} (`shuin serve --dev` makes the card {}; --dev-dir names another development instance)",
                        dir.display(),
                        crate::dev::DEV_CARD
                    )));
                }
                Ok(dev_card(name))
            }
            _ => Err(msg(
                "give --card-pkcs11 MODULE --card-pin-file FILE, --card-key FILE --card-cert FILE, or --dev-card NAME",
            )),
        }
    }
}

/// Runs the flow and writes the key, the certificate and its chain.
pub(crate) fn run(args: ApplyArgs) -> Result<()> {
    let card = args.card.source()?;
    let (key_spec, files) = args.new_key.prepare()?;
    let request = ApplyRequest {
        server: args.server,
        name: args.items.name,
        birth_date: args.items.birth_date,
        address: args.items.address,
        gender: args.items.gender,
        key_spec,
        notice_email: args.notice_email,
    };
    let card = card.open()?;
    let outcome = shuin_client::apply(&request, card.as_ref())?;
    args.new_key.save(&files, &outcome)
}

/// The key type `flag` names.
pub(crate) fn key_spec(flag: &str, text: &str) -> Result<KeySpec> {
    KeySpec::parse(text).ok_or_else(|| {
        msg(format!(
            "{flag} must be p256, p384, rsa2048, rsa3072 or rsa4096"
        ))
    })
}
