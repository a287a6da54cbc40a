//! `shuin apply`: the applicant client.

use crate::failure::{msg, Result};
use shuin_client::{ApplyOutcome, ApplyRequest, FileCard};
use shuin_keys::KeySpec;
use std::path::{Path, PathBuf};

/// Where the card comes from.
pub(crate) enum CardSource {
    Files {
        key: PathBuf,
        cert: PathBuf,
    },
    Dev {
        name: String,
        dev_dir: PathBuf,
    },
    /// A JPKI card through a PKCS#11 module; the signing PIN comes from `pin_file`.
    Pkcs11 {
        module: PathBuf,
        token: String,
        pin_file: PathBuf,
    },
}

/// Runs the flow and writes the key and certificate.
pub(crate) fn run(
    request: ApplyRequest,
    card: CardSource,
    out: &Path,
    key_out: Option<&Path>,
    json: bool,
) -> Result<()> {
    let card: Box<dyn shuin_client::CardSigner> = match card {
        CardSource::Files { key, cert } => {
            Box::new(FileCard::load(&cert, &key).map_err(|e| msg(e.to_string()))?)
        }
        CardSource::Dev { name, dev_dir } => {
            let dir = crate::dev::card_dir(&dev_dir, &name);
            Box::new(
                FileCard::load(&dir.join("cert.pem"), &dir.join("key.pem"))
                    .map_err(|e| msg(e.to_string()))?,
            )
        }
        CardSource::Pkcs11 {
            module,
            token,
            pin_file,
        } => {
            let pin = crate::key_backend::read_pin_file(&pin_file)?;
            Box::new(
                shuin_client::Pkcs11Card::open(&module, &token, pin)
                    .map_err(|e| msg(e.to_string()))?,
            )
        }
    };
    let key_path = key_out.map(Path::to_path_buf).unwrap_or_else(|| {
        let mut p = out.as_os_str().to_owned();
        p.push(".key");
        PathBuf::from(p)
    });
    if key_path.exists() {
        return Err(msg(format!(
            "{} exists; refusing to overwrite a private key (use --key-out)",
            key_path.display()
        )));
    }
    let outcome = shuin_client::apply(&request, card.as_ref()).map_err(|e| msg(e.to_string()))?;
    match outcome {
        ApplyOutcome::Issued {
            application_id,
            serial,
            certificate_pem,
            chain_pem,
            key_pem,
        } => {
            crate::output::write_file(&key_path, key_pem.as_bytes(), true)?;
            crate::output::write_file(out, certificate_pem.as_bytes(), false)?;
            let mut chain_path = out.as_os_str().to_owned();
            chain_path.push(".chain");
            crate::output::write_file(Path::new(&chain_path), chain_pem.as_bytes(), false)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"status": "issued", "application_id": application_id, "serial": serial, "certificate": out, "key": key_path})
                );
            } else {
                println!("発行されました / issued: serial {serial}");
                println!("  certificate: {}", out.display());
                println!("  chain:       {}", Path::new(&chain_path).display());
                println!(
                    "  private key: {} (keep it safe / 厳重に保管してください)",
                    key_path.display()
                );
            }
        }
        ApplyOutcome::PendingReview {
            application_id,
            reasons,
            key_pem,
        } => {
            crate::output::write_file(&key_path, key_pem.as_bytes(), true)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"status": "pending_review", "application_id": application_id, "review_reasons": reasons, "key": key_path})
                );
            } else {
                println!(
                    "審査待ちです / pending review: application {application_id} ({})",
                    reasons.join(", ")
                );
                println!(
                    "  private key: {} (keep it for when the certificate is issued)",
                    key_path.display()
                );
            }
        }
    }
    Ok(())
}

pub(crate) fn key_spec(text: &str) -> Result<KeySpec> {
    KeySpec::parse(text)
        .ok_or_else(|| msg("--key-type must be p256, p384, rsa2048, rsa3072 or rsa4096"))
}
