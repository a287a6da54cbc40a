//! The witness's configuration, `witness.toml` in its data directory:
//!
//! ```toml
//! # The witness's name: the key name of its cosignature lines (a schema-less URL).
//! name = "witness.example.jp/w1"
//!
//! # One table per log it witnesses: its origin and the verifier keys of its
//! # checkpoint signatures (as a ledger export's manifest.json shows the audit key's).
//! [[log]]
//! origin = "ca.example.jp/ledger"
//! keys = ["ca.example.jp/ledger+1a2b3c4d+AjBZMBMG..."]
//! ```

use serde::{Deserialize, Serialize};
use shuin_ledger::{NoteError, NoteKey};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The configuration file's name in the data directory.
pub const CONFIG_FILE: &str = "witness.toml";
/// The key file's name in the data directory.
pub const KEY_FILE: &str = "witness.key";
/// The state directory's name in the data directory.
pub const STATE_DIR: &str = "state";

/// `witness.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// The witness's name (key name of its cosignatures).
    pub name: String,
    /// The logs it witnesses.
    #[serde(default, rename = "log")]
    pub logs: Vec<LogConfig>,
}

/// One witnessed log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// The checkpoints' origin line.
    pub origin: String,
    /// Verifier keys of the log's checkpoint signatures (signed-note vkeys).
    pub keys: Vec<String>,
}

/// Why the configuration is not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML of this shape.
    #[error("{path}: {source}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: toml::de::Error,
    },
    /// A log key does not read.
    #[error("log {origin}: key {key:?}: {source}")]
    LogKey {
        /// The log.
        origin: String,
        /// The verifier key as written.
        key: String,
        /// Why.
        #[source]
        source: NoteError,
    },
    /// A log with no key, an empty origin, or an origin listed twice.
    #[error("log {origin:?}: {reason}")]
    Log {
        /// The log.
        origin: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl LogConfig {
    /// The log whose checkpoints `verifier_key` verifies: for shuin's logs the key's
    /// name is the origin.
    ///
    /// # Errors
    ///
    /// [`ConfigError::LogKey`] when the text is not a verifier key.
    pub fn for_verifier_key(verifier_key: &str) -> Result<LogConfig, ConfigError> {
        let key =
            NoteKey::from_verifier_key(verifier_key).map_err(|source| ConfigError::LogKey {
                origin: String::new(),
                key: verifier_key.to_owned(),
                source,
            })?;
        Ok(LogConfig {
            origin: key.name().to_owned(),
            keys: vec![verifier_key.to_owned()],
        })
    }
}

impl WitnessConfig {
    /// Reads `DIR/witness.toml`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Io`] and [`ConfigError::Syntax`].
    pub fn read(dir: &Path) -> Result<WitnessConfig, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Syntax { path, source })
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        // Serializing these plain strings and tables cannot fail.
        toml::to_string(self).unwrap_or_default()
    }

    /// Each log's verifier keys, by origin, checked once at start.
    ///
    /// # Errors
    ///
    /// [`ConfigError::LogKey`] and [`ConfigError::Log`].
    pub fn log_keys(&self) -> Result<BTreeMap<String, Vec<NoteKey>>, ConfigError> {
        let mut logs = BTreeMap::new();
        for log in &self.logs {
            let fault = |reason| ConfigError::Log {
                origin: log.origin.clone(),
                reason,
            };
            if log.origin.is_empty() || log.origin.contains('\n') {
                return Err(fault("the origin is empty or has a newline"));
            }
            if log.keys.is_empty() {
                return Err(fault("no verifier key"));
            }
            let keys = log
                .keys
                .iter()
                .map(|key| {
                    NoteKey::from_verifier_key(key).map_err(|source| ConfigError::LogKey {
                        origin: log.origin.clone(),
                        key: key.clone(),
                        source,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if logs.insert(log.origin.clone(), keys).is_some() {
                return Err(fault("listed twice"));
            }
        }
        Ok(logs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_documented_shape_parses_and_unknown_fields_do_not() {
        let config: WitnessConfig = toml::from_str(
            "name = \"w.example/1\"\n[[log]]\norigin = \"ca.example/ledger\"\nkeys = [\"k\"]\n",
        )
        .unwrap();
        assert_eq!(config.logs[0].origin, "ca.example/ledger");
        assert_eq!(
            toml::from_str::<WitnessConfig>(&config.to_toml()).unwrap(),
            config
        );
        assert!(toml::from_str::<WitnessConfig>("name = \"w\"\nextra = 1\n").is_err());
        assert!(matches!(config.log_keys(), Err(ConfigError::LogKey { .. })));
        let no_key = WitnessConfig {
            name: "w".into(),
            logs: vec![LogConfig {
                origin: "o".into(),
                keys: vec![],
            }],
        };
        assert!(matches!(no_key.log_keys(), Err(ConfigError::Log { .. })));
    }

    #[test]
    fn a_log_is_named_by_its_verifier_key() {
        use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let mut spki = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
        spki.extend_from_slice(pair.public_key().as_ref());
        let vkey = NoteKey::from_spki("ca.example/ledger", &spki)
            .unwrap()
            .verifier_key();
        let log = LogConfig::for_verifier_key(&vkey).unwrap();
        assert_eq!(log.origin, "ca.example/ledger");
        assert_eq!(log.keys, vec![vkey]);
        assert!(matches!(
            LogConfig::for_verifier_key("not a key"),
            Err(ConfigError::LogKey { .. })
        ));
    }
}
