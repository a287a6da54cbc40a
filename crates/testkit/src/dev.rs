//! The fixtures of a development instance (`shuin serve --dev`, `shuin demo`): a
//! simulated J-LIS CA, one test card, and a software key and CSR for the first
//! operator. Never trusted outside --dev.

use crate::{make_card_dir, make_jpki_ca_dir, refresh_crl, CardDirOptions, TestkitError};
use shuin_keys::{KeyError, KeySpec};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The dev card's name in `DIR/cards/`.
pub const DEV_CARD: &str = "yamada";
/// The dev card holder's name.
pub const DEV_NAME: &str = "山田　太郎";
/// The dev card holder's birth date.
pub const DEV_BIRTH_DATE: &str = "1990-01-02";
/// The dev card holder's address.
pub const DEV_ADDRESS: &str = "東京都千代田区霞が関一丁目1番1号";
/// The first operator of a development instance.
pub const DEV_ADMIN: &str = "開発用 管理者 (development admin)";

/// Why a development fixture could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevError {
    /// The simulated J-LIS CA.
    #[error("simulated J-LIS CA: {0}")]
    JpkiCa(#[source] TestkitError),
    /// The dev card.
    #[error("dev card: {0}")]
    Card(#[source] TestkitError),
    /// The simulated J-LIS CRL.
    #[error("simulated J-LIS CRL: {0}")]
    Crl(#[source] TestkitError),
    /// The first operator's key.
    #[error("dev admin key: {0}")]
    AdminKey(#[source] KeyError),
    /// The first operator's CSR.
    #[error("dev admin CSR: {0}")]
    AdminCsr(#[source] shuin_client::ClientError),
    /// The first operator's key file could not be written.
    #[error("{}: {source}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// A file or directory could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DevError + '_ {
    move |source| DevError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The simulated J-LIS CA's directory.
pub fn simulator_dir(dev: &Path) -> PathBuf {
    dev.join("jpki-sim")
}

/// A test card's directory.
pub fn card_dir(dev: &Path, name: &str) -> PathBuf {
    dev.join("cards").join(name)
}

/// The first operator's key file.
pub fn dev_admin_key(dev: &Path) -> PathBuf {
    dev.join("operators").join("admin.key.pem")
}

/// Makes the simulated J-LIS CA and the dev card if they are missing, and refreshes the
/// simulated CRL.
pub fn ensure_jpki_fixtures(dir: &Path, now: SystemTime) -> Result<(), DevError> {
    let sim = simulator_dir(dir);
    if !sim.join("ca.pem").exists() {
        std::fs::create_dir_all(&sim).map_err(io(&sim))?;
        make_jpki_ca_dir(&sim, now).map_err(DevError::JpkiCa)?;
    }
    let card = card_dir(dir, DEV_CARD);
    if !card.join("cert.pem").exists() {
        std::fs::create_dir_all(&card).map_err(io(&card))?;
        make_card_dir(
            &sim,
            CardDirOptions {
                name: DEV_NAME.into(),
                birth_date: DEV_BIRTH_DATE.into(),
                address: DEV_ADDRESS.into(),
                gender: Some("1".into()),
                revoked: false,
                expired: false,
            },
            &card,
            now,
        )
        .map_err(DevError::Card)?;
    }
    refresh_crl(&sim, now).map_err(DevError::Crl)?;
    Ok(())
}

/// Makes the first operator's software key ([`dev_admin_key`]) and returns the path of
/// its CSR (DER), for `init`.
pub fn make_dev_admin(dev: &Path) -> Result<PathBuf, DevError> {
    let dir = dev.join("operators");
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let key = dev_admin_key(dev);
    let (signer, pkcs8) =
        shuin_keys::SoftwareSigner::generate(KeySpec::EcP256).map_err(DevError::AdminKey)?;
    let pem = shuin_keys::pkcs8_pem(&pkcs8).map_err(DevError::AdminKey)?;
    shuin_keys::write_private_file(&key, pem.as_bytes()).map_err(|source| DevError::KeyFile {
        path: key.clone(),
        source,
    })?;
    let csr = shuin_client::build_named_csr(&signer, DEV_ADMIN).map_err(DevError::AdminCsr)?;
    let path = dir.join("admin.csr.der");
    std::fs::write(&path, csr).map_err(io(&path))?;
    Ok(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_fixtures_are_made_once_and_the_crl_refreshed() {
        let dir = tempfile::tempdir().unwrap();
        let now = shuin_core::Clock::now(&shuin_core::SystemClock);
        ensure_jpki_fixtures(dir.path(), now).unwrap();
        let card = card_dir(dir.path(), DEV_CARD).join("cert.pem");
        let first = std::fs::read(&card).unwrap();
        ensure_jpki_fixtures(dir.path(), now).unwrap();
        assert_eq!(std::fs::read(&card).unwrap(), first);
        assert!(simulator_dir(dir.path()).join("crl.der").exists());
        let csr = make_dev_admin(dir.path()).unwrap();
        assert!(csr.exists() && dev_admin_key(dir.path()).exists());
    }
}
