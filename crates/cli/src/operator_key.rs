//! The operator's own key, named by `--operator-key`: a key on the operator's PKCS#11
//! token (`pkcs11:token=LABEL;object=LABEL`, RFC 7512, with `--pkcs11-module` and the
//! PIN from a 0600 `--pin-file` or the terminal), or, for development and tests only, a
//! PKCS#8 key file (`file:PATH`).

use crate::failure::{msg, Context, Result};
use shuin_keys::{personal, Pkcs11Uri, Signer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Where the operator's key is, as given on the command line.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct OperatorKeyArgs {
    /// The operator's personal key: `pkcs11:token=LABEL;object=LABEL` on their token, or
    /// `file:PATH` (a PKCS#8 key file; development and tests only).
    #[arg(long, value_name = "URI")]
    pub(crate) operator_key: String,
    /// The PKCS#11 library of the operator's token (with a pkcs11: key).
    #[arg(long, value_name = "PATH")]
    pub(crate) pkcs11_module: Option<PathBuf>,
    /// A file holding the token's PIN, mode 0600; without it the PIN is asked for on the
    /// terminal.
    #[arg(long, value_name = "FILE")]
    pub(crate) pin_file: Option<PathBuf>,
}

impl OperatorKeyArgs {
    /// Opens the key.
    pub(crate) fn signer(&self) -> Result<Arc<dyn Signer>> {
        if let Some(path) = self.operator_key.strip_prefix("file:") {
            eprintln!(
                "shuin: note: {path} is a key file: for development and tests only; production operators keep their key on a token (pkcs11:)"
            );
            return personal::open_file(Path::new(path))
                .map_err(|e| msg(format!("--operator-key {e}")));
        }
        if !self.operator_key.starts_with("pkcs11:") {
            return Err(msg(format!(
                "--operator-key {:?}: give pkcs11:token=LABEL;object=LABEL, or file:PATH for a development key file",
                self.operator_key
            )));
        }
        let uri = Pkcs11Uri::parse(&self.operator_key)
            .context(format!("--operator-key {}", self.operator_key))?;
        let module = self
            .pkcs11_module
            .as_ref()
            .ok_or_else(|| msg("a pkcs11: --operator-key needs --pkcs11-module PATH"))?;
        let pin = match &self.pin_file {
            Some(path) => shuin_keys::config::read_pin_file(path)?,
            None => Zeroizing::new(
                rpassword::prompt_password(format!("PIN of token {:?}: ", uri.token)).map_err(
                    |e| {
                        msg(format!(
                            "reading the PIN from the terminal: {e}; or give --pin-file FILE"
                        ))
                    },
                )?,
            ),
        };
        personal::open_pkcs11(module, &uri, pin, "operator").map_err(Into::into)
    }
}
