//! `shuin revoke-mine`: a holder has their own certificate revoked (holder client,
//! docs/revocation.md "Who can revoke"): signed with the certificate's own key, or, when
//! that key is lost, with the JPKI card they applied with.

use crate::apply_cmd::CardArgs;
use crate::failure::{msg, Result};
use std::path::PathBuf;

/// What `shuin revoke-mine` takes.
#[derive(Debug, clap::Args)]
pub(crate) struct RevokeMineArgs {
    /// Server base URL.
    #[arg(long)]
    server: String,
    /// The certificate to revoke (PEM), signed for with its own key (--key).
    #[arg(long, conflicts_with = "serial")]
    cert: Option<PathBuf>,
    /// The certificate's private key (PKCS#8 PEM; default: CERT.key, as `apply` wrote it).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// The serial (hex) of the certificate to revoke, signed for with your JPKI card
    /// (--card-key/--card-cert, --card-pkcs11 or --dev-card) when its key is lost.
    #[arg(long)]
    serial: Option<String>,
    #[command(flatten)]
    card: CardArgs,
    /// RFC 5280 reason name: unspecified, keyCompromise, affiliationChanged, superseded,
    /// cessationOfOperation, privilegeWithdrawn.
    #[arg(long, default_value = "unspecified")]
    reason: String,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: RevokeMineArgs) -> Result<()> {
    let answer = match (&args.cert, &args.serial) {
        (Some(cert), None) => {
            let key = args
                .key
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{}.key", cert.display())));
            let read = |path: &PathBuf| {
                std::fs::read_to_string(path)
                    .map_err(|e| msg(format!("{}: {e}", path.display())))
            };
            let (cert_pem, key_pem) = (read(cert)?, zeroize::Zeroizing::new(read(&key)?));
            shuin_client::request_revocation(&args.server, &cert_pem, &key_pem, &args.reason)?
        }
        (None, Some(serial)) => {
            let card = args.card.source()?.open()?;
            shuin_client::request_revocation_with_card(
                &args.server,
                card.as_ref(),
                serial,
                &args.reason,
            )?
        }
        _ => {
            return Err(msg(
                "name the certificate: --cert FILE (signed with its key), or --serial HEX with your card",
            ))
        }
    };
    let text = || {
        format!(
            "certificate {} revoked at {} (CRL {})\n電子証明書 {} を失効しました",
            answer["serial"].as_str().unwrap_or_default(),
            answer["revoked_at"].as_str().unwrap_or_default(),
            answer["crl_number"],
            answer["serial"].as_str().unwrap_or_default(),
        )
    };
    crate::output::show(args.json, || answer.clone(), text);
    Ok(())
}
