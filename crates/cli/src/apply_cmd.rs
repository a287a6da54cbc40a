//! `shuin apply`: the applicant client.

use crate::failure::{msg, Result};
use shuin_client::{ApplyRequest, FileCard, OutcomeFiles};
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
    let files = OutcomeFiles::new(out, key_out);
    files.check_key_is_new().map_err(|e| msg(e.to_string()))?;
    let outcome = shuin_client::apply(&request, card.as_ref()).map_err(|e| msg(e.to_string()))?;
    files.save(&outcome).map_err(|e| msg(e.to_string()))?;
    if json {
        println!("{}", files.to_json(&outcome));
    } else {
        println!("{}", files.text(&outcome));
    }
    Ok(())
}

pub(crate) fn key_spec(text: &str) -> Result<KeySpec> {
    KeySpec::parse(text)
        .ok_or_else(|| msg("--key-type must be p256, p384, rsa2048, rsa3072 or rsa4096"))
}
