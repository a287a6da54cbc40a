//! Where the issuer keys live (`[ca.key_backend]` in shuin.toml: one variant per
//! backend), and the PIN file a PKCS#11 token is opened with. The PIN is read from its
//! file, handed to the backend and zeroized; it never reaches `shuin.toml`, a log or the
//! ledger.

pub use crate::pool_size::{PoolSize, SessionCount, SigningQueue};
use crate::validation::{ModuleValidation, ProviderCertification, ValidationReport};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Where the issuer keys live; one variant per backend.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyBackendConfig {
    /// PKCS#8 files under `dir` (development and tests only).
    Software {
        /// Relative to the instance directory.
        dir: PathBuf,
    },
    /// Keys inside a PKCS#11 token (an HSM, or SoftHSM2 for tests). The PIN is read from
    /// `pin_file` (owner-only permissions) at start and is never stored here.
    Pkcs11 {
        /// The token's PKCS#11 library.
        module: PathBuf,
        /// The token label (slots are found by label, never by number).
        token: String,
        /// File holding the user PIN. Absent on an instance sealed by custodians
        /// (`[ca.seal]`): the PIN then comes from M of N shares at `shuin unseal`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pin_file: Option<PathBuf>,
        /// Sessions opened on the token (1 to 64, default 4). Over a network each call
        /// costs a round trip, so a remote HSM needs more (docs/keys.md).
        #[serde(default, skip_serializing_if = "SessionCount::is_default")]
        sessions: SessionCount,
        /// Signatures that may wait for a free session before more are refused as
        /// busy (1 to 65536, default 1024).
        #[serde(default, skip_serializing_if = "SigningQueue::is_default")]
        signing_queue: SigningQueue,
        /// Retired free text: refused at start with how to write `validation`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fips_validation: Option<String>,
        /// The HSM's CMVP validation as the operator entered it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        validation: Option<ModuleValidation>,
        /// Certifications of the provider or facility holding the HSM.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        certifications: Vec<ProviderCertification>,
    },
    /// Keys in AWS KMS (`awskms:` key URIs). Credentials come from the standard AWS
    /// chain (environment, profile, instance or task role), never from this file.
    Awskms {
        /// The region, for example `ap-northeast-1`.
        region: String,
        /// Another endpoint: a VPC endpoint, or an emulator in tests.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint_url: Option<String>,
        /// Retired free text: refused at start with how to write `validation`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fips_validation: Option<String>,
        /// The provider's HSM validation (CMVP) as the operator entered it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        validation: Option<ModuleValidation>,
        /// The provider's certifications (for example ISMAP), as the operator entered them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        certifications: Vec<ProviderCertification>,
    },
}

impl KeyBackendConfig {
    /// The backend's kind and token label, as a ceremony statement binds them.
    pub fn binding(&self) -> (String, Option<String>) {
        match self {
            KeyBackendConfig::Software { .. } => ("software".to_owned(), None),
            KeyBackendConfig::Pkcs11 { token, .. } => ("pkcs11".to_owned(), Some(token.clone())),
            KeyBackendConfig::Awskms { region, .. } => ("awskms".to_owned(), Some(region.clone())),
        }
    }

    /// The URI a key labelled `label` (as [`KeyBackendConfig::key_label`] makes it) has.
    pub fn key_uri(&self, label: &str) -> crate::KeyRef {
        match self {
            KeyBackendConfig::Software { .. } => {
                crate::KeyRef::software(&format!("{label}.key.pem"))
            }
            KeyBackendConfig::Pkcs11 { token, .. } => crate::Pkcs11Uri {
                token: token.clone(),
                object: label.to_owned(),
            }
            .to_key_ref(),
            KeyBackendConfig::Awskms { .. } => crate::KeyRef::aws_kms(&format!("alias/{label}")),
        }
    }

    /// Checks the module's validation and certifications once at start-up; refuses the
    /// retired free-text `fips_validation`.
    pub fn check(&self) -> Result<(), crate::validation::ValidationEntryError> {
        match self {
            KeyBackendConfig::Software { .. } => Ok(()),
            KeyBackendConfig::Pkcs11 {
                fips_validation,
                validation,
                certifications,
                ..
            }
            | KeyBackendConfig::Awskms {
                fips_validation,
                validation,
                certifications,
                ..
            } => {
                if fips_validation.is_some() {
                    return Err(crate::validation::ValidationEntryError::FreeText);
                }
                crate::validation::check_entries(validation.as_ref(), certifications)
            }
        }
    }

    /// The module's validation and the provider's certifications as of `today`
    /// (`YYYY-MM-DD`).
    pub fn validation_report(&self, today: &str) -> ValidationReport {
        match self {
            KeyBackendConfig::Software { .. } => crate::validation::assess(None, &[], false, today),
            KeyBackendConfig::Pkcs11 {
                validation,
                certifications,
                ..
            } => crate::validation::assess(validation.as_ref(), certifications, false, today),
            KeyBackendConfig::Awskms {
                validation,
                certifications,
                ..
            } => crate::validation::assess(validation.as_ref(), certifications, true, today),
        }
    }

    /// The PIN file, where the backend has one.
    pub fn pin_file(&self) -> Option<&Path> {
        match self {
            KeyBackendConfig::Software { .. } | KeyBackendConfig::Awskms { .. } => None,
            KeyBackendConfig::Pkcs11 { pin_file, .. } => pin_file.as_deref(),
        }
    }

    /// The label a key of `role` (`root`, `issuing`) gets in the backend.
    pub fn key_label(&self, role: &str) -> String {
        match self {
            KeyBackendConfig::Software { .. } => role.to_owned(),
            KeyBackendConfig::Pkcs11 { .. } | KeyBackendConfig::Awskms { .. } => {
                format!("shuin-{role}")
            }
        }
    }
}

/// An open backend and, when it has that power, its attribute reader.
pub struct OpenedBackend {
    /// Signers and key generation.
    pub keys: Box<dyn crate::KeyGenerator>,
    /// The keys' attributes (PKCS#11 only).
    pub attributes: Option<Box<dyn crate::KeyAttributes>>,
    /// Describes keys other than by PKCS#11 attributes (AWS KMS metadata).
    pub describer: Option<Box<dyn crate::KeyFactsReader>>,
}

impl std::fmt::Debug for OpenedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedBackend")
            .field("attributes", &self.attributes.is_some())
            .field("describer", &self.describer.is_some())
            .finish_non_exhaustive()
    }
}

/// Why the backend could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The PIN file was refused.
    #[error(transparent)]
    PinFile(#[from] PinFileError),
    /// A sealed instance's PIN comes only from the custodians.
    #[error("this instance is sealed by custodians: its PIN comes only from their shares through `shuin unseal` on the running server")]
    Sealed,
    /// The token could not be opened.
    #[error("opening PKCS#11 token {token:?} with {}: {source}", module.display())]
    Token {
        /// The token label.
        token: String,
        /// The library.
        module: PathBuf,
        /// Why.
        #[source]
        source: Box<crate::KeyError>,
    },
    /// This build has no PKCS#11 backend.
    #[error("this build has no PKCS#11 support")]
    NoPkcs11,
    /// The KMS client could not be set up.
    #[error("AWS KMS in {region}: {source}")]
    Kms {
        /// The region.
        region: String,
        /// Why.
        #[source]
        source: Box<crate::KeyError>,
    },
    /// This build has no AWS KMS backend.
    #[error("this build has no AWS KMS support")]
    NoAwsKms,
}

impl KeyBackendConfig {
    /// Opens the backend of an instance in `dir`, with `pin` (reconstructed from
    /// custodians' shares) or else the PIN file. Relative paths are under `dir`.
    pub fn open(
        &self,
        dir: &Path,
        pin: Option<Zeroizing<String>>,
    ) -> Result<OpenedBackend, OpenError> {
        match self {
            KeyBackendConfig::Software { dir: keys } => Ok(OpenedBackend {
                keys: Box::new(crate::SoftwareBackend::new(dir.join(keys))),
                attributes: None,
                describer: None,
            }),
            KeyBackendConfig::Pkcs11 {
                module,
                token,
                pin_file,
                sessions,
                signing_queue,
                ..
            } => {
                let module = dir.join(module);
                let pin = match (pin, pin_file) {
                    (Some(pin), _) => pin,
                    (None, Some(pin_file)) => read_pin_file(&dir.join(pin_file))?,
                    (None, None) => return Err(OpenError::Sealed),
                };
                let size = PoolSize {
                    sessions: *sessions,
                    signing_queue: *signing_queue,
                };
                open_pkcs11(module, token, pin, size)
            }
            KeyBackendConfig::Awskms {
                region,
                endpoint_url,
                ..
            } => open_awskms(region, endpoint_url.as_deref()),
        }
    }
}

#[cfg(feature = "awskms")]
fn open_awskms(region: &str, endpoint_url: Option<&str>) -> Result<OpenedBackend, OpenError> {
    let backend = crate::awskms::KmsBackend::connect(&crate::awskms::KmsSettings {
        region: Some(region.to_owned()),
        endpoint_url: endpoint_url.map(str::to_owned),
        test_credentials: None,
    })
    .map_err(|source| OpenError::Kms {
        region: region.to_owned(),
        source: Box::new(source),
    })?;
    Ok(OpenedBackend {
        keys: Box::new(backend.clone()),
        attributes: None,
        describer: Some(Box::new(backend)),
    })
}

#[cfg(not(feature = "awskms"))]
fn open_awskms(_region: &str, _endpoint_url: Option<&str>) -> Result<OpenedBackend, OpenError> {
    Err(OpenError::NoAwsKms)
}

#[cfg(feature = "pkcs11")]
fn open_pkcs11(
    module: PathBuf,
    token: &str,
    pin: Zeroizing<String>,
    size: PoolSize,
) -> Result<OpenedBackend, OpenError> {
    let backend =
        crate::Pkcs11Backend::open_sized(&module, token, pin, size).map_err(|source| {
            OpenError::Token {
                token: token.to_owned(),
                module,
                source: Box::new(source),
            }
        })?;
    Ok(OpenedBackend {
        keys: Box::new(backend.clone()),
        attributes: Some(Box::new(backend)),
        describer: None,
    })
}

#[cfg(not(feature = "pkcs11"))]
fn open_pkcs11(
    _module: PathBuf,
    _token: &str,
    _pin: Zeroizing<String>,
    _size: PoolSize,
) -> Result<OpenedBackend, OpenError> {
    Err(OpenError::NoPkcs11)
}

/// The key backend as `shuin status` reports it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BackendStatus {
    /// PKCS#8 files: not an HSM.
    Software {
        /// Always false.
        production_grade: bool,
        /// Why.
        note: &'static str,
        /// Where the files are.
        dir: PathBuf,
    },
    /// A PKCS#11 token, as it describes itself.
    Pkcs11 {
        /// The library.
        module: PathBuf,
        /// The configured label.
        token_label: String,
        /// What the token says about itself, read without logging in.
        token: Option<crate::TokenFacts>,
        /// Why the token could not be read.
        token_error: Option<String>,
    },
    /// AWS KMS.
    Awskms {
        /// The region.
        region: String,
        /// The endpoint, when not the region's public one.
        endpoint_url: Option<String>,
        /// True only for AWS itself: an endpoint override may be an emulator.
        production_grade: bool,
    },
}

impl KeyBackendConfig {
    /// The backend's status for an instance in `dir`. For PKCS#11 this reads the token's
    /// facts without logging in (a sealed instance has no PIN): it blocks.
    pub fn status(&self, dir: &Path) -> BackendStatus {
        match self {
            KeyBackendConfig::Software { dir: keys } => BackendStatus::Software {
                production_grade: false,
                note: "software keys: development and tests only, not an HSM",
                dir: keys.clone(),
            },
            KeyBackendConfig::Pkcs11 { module, token, .. } => {
                let module = dir.join(module);
                let (facts, error) = match token_facts(&module, token) {
                    Ok(facts) => (Some(facts), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                BackendStatus::Pkcs11 {
                    module,
                    token_label: token.clone(),
                    token: facts,
                    token_error: error,
                }
            }
            KeyBackendConfig::Awskms {
                region,
                endpoint_url,
                ..
            } => BackendStatus::Awskms {
                region: region.clone(),
                endpoint_url: endpoint_url.clone(),
                production_grade: endpoint_url.is_none(),
            },
        }
    }
}

#[cfg(feature = "pkcs11")]
fn token_facts(module: &Path, token: &str) -> Result<crate::TokenFacts, crate::KeyError> {
    crate::Pkcs11Backend::token_facts(module, token)
}

#[cfg(not(feature = "pkcs11"))]
fn token_facts(_module: &Path, _token: &str) -> Result<crate::TokenFacts, &'static str> {
    Err("this build has no PKCS#11 support")
}

/// The `shuin init` options that choose the key backend.
#[derive(Debug, Clone, Default)]
pub struct BackendChoice {
    /// `software`, `pkcs11` or `awskms`.
    pub kind: String,
    pub pkcs11_module: Option<PathBuf>,
    pub pkcs11_token: Option<String>,
    pub pkcs11_pin_file: Option<PathBuf>,
    pub kms_region: Option<String>,
    pub kms_endpoint: Option<String>,
}

/// Why the `init` options name no usable backend; the text names the flag.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChoiceError(String);

impl BackendChoice {
    /// The backend configuration. Relative paths are made absolute against `cwd`, so the
    /// instance does not depend on where it is served from.
    pub fn config(self, cwd: &Path) -> Result<KeyBackendConfig, ChoiceError> {
        let refuse = |text: &str| Err(ChoiceError(text.to_owned()));
        let pkcs11_given = self.pkcs11_module.is_some()
            || self.pkcs11_token.is_some()
            || self.pkcs11_pin_file.is_some();
        if self.kind != "awskms" && (self.kms_region.is_some() || self.kms_endpoint.is_some()) {
            return refuse("--kms-region and --kms-endpoint need --key-backend awskms");
        }
        match self.kind.as_str() {
            "awskms" if pkcs11_given => refuse("--pkcs11-* options need --key-backend pkcs11"),
            "awskms" => match self.kms_region {
                Some(region) => Ok(KeyBackendConfig::Awskms {
                    region,
                    endpoint_url: self.kms_endpoint,
                    fips_validation: None,
                    validation: None,
                    certifications: Vec::new(),
                }),
                None => refuse("--key-backend awskms needs --kms-region REGION (credentials come from the AWS chain: environment, profile or role)"),
            },
            "software" if pkcs11_given => refuse(
                "--pkcs11-module, --pkcs11-token and --pkcs11-pin-file need --key-backend pkcs11",
            ),
            "software" => Ok(KeyBackendConfig::Software {
                dir: PathBuf::from("keys"),
            }),
            "pkcs11" => {
                let Some(module) = self.pkcs11_module else {
                    return refuse(
                        "--key-backend pkcs11 needs --pkcs11-module PATH (the token's PKCS#11 library)",
                    );
                };
                let Some(token) = self.pkcs11_token.filter(|t| !t.is_empty()) else {
                    return refuse("--key-backend pkcs11 needs --pkcs11-token LABEL");
                };
                let Some(pin_file) = self.pkcs11_pin_file else {
                    return refuse(
                        "--key-backend pkcs11 needs --pkcs11-pin-file FILE (the user PIN, mode 0600)",
                    );
                };
                Ok(KeyBackendConfig::Pkcs11 {
                    module: cwd.join(module),
                    token,
                    pin_file: Some(cwd.join(pin_file)),
                    sessions: SessionCount::default(),
                    signing_queue: SigningQueue::default(),
                    fips_validation: None,
                    validation: None,
                    certifications: Vec::new(),
                })
            }
            other => Err(ChoiceError(format!(
                "--key-backend {other:?}: expected software, pkcs11 or awskms"
            ))),
        }
    }
}

/// An issuer key's attribute evidence and the policy's verdict on it.
pub type IssuerKeyCheck = (crate::KeyAttributeEvidence, Result<(), String>);

impl OpenedBackend {
    /// The facts of the key named by `key`: PKCS#11 attributes, KMS metadata, or that
    /// it is a software key. `None`: this backend cannot describe its keys, which the
    /// audit pack shows as missing. Blocks (it asks the token or KMS).
    pub fn key_facts(
        &self,
        key: &crate::KeyRef,
    ) -> Result<Option<crate::KeyFacts>, crate::KeyError> {
        if let Some(reader) = &self.attributes {
            let attributes = reader.attributes(key)?;
            return Ok(Some(crate::KeyFacts::Pkcs11 { attributes }));
        }
        if let Some(describer) = &self.describer {
            return describer.key_facts(key).map(Some);
        }
        Ok((self.keys.info().kind == "software").then_some(crate::KeyFacts::Software))
    }

    /// Reads `key`'s attributes and checks the issuer key policy: `Ok(None)` for a
    /// backend without attributes (software, KMS); otherwise the evidence and the
    /// verdict, whose error names the failing attribute.
    pub fn check_issuer_key(
        &self,
        key: &crate::KeyRef,
        role: &str,
    ) -> Result<Option<IssuerKeyCheck>, String> {
        let Some(reader) = &self.attributes else {
            return Ok(None);
        };
        let evidence = reader
            .attributes(key)
            .map_err(|e| format!("reading the attributes of the {role} key: {e}"))?;
        let verdict = crate::check_issuer_key_policy(&evidence)
            .map_err(|e| format!("refusing the {role} key: {e}"));
        Ok(Some((evidence, verdict)))
    }
}

/// Why a PIN file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PinFileError {
    /// It could not be read.
    #[error("PIN file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Group or others may read or write it.
    #[error("PIN file {} has mode {mode:04o}: it must not be readable or writable by group or others (chmod 600 it)", path.display())]
    NotPrivate {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// It is empty or holds more than one line.
    #[error("PIN file {} must hold the PIN on one line", path.display())]
    NotOneLine {
        /// The file.
        path: PathBuf,
    },
}

/// Reads a PIN file: owner-only permissions, one line, the trailing newline dropped.
pub fn read_pin_file(path: &Path) -> Result<Zeroizing<String>, PinFileError> {
    use std::os::unix::fs::PermissionsExt;
    let read = |source| PinFileError::Read {
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(read)?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PinFileError::NotPrivate {
            path: path.to_owned(),
            mode,
        });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(read)?);
    let pin = text.trim_end_matches(['\n', '\r']);
    if pin.is_empty() || pin.contains('\n') {
        return Err(PinFileError::NotOneLine {
            path: path.to_owned(),
        });
    }
    Ok(Zeroizing::new(pin.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {

    #[test]
    fn the_module_validation_is_typed_and_the_free_text_refused() {
        let base = "kind = \"awskms\"\nregion = \"ap-northeast-1\"\n";
        let typed: KeyBackendConfig = toml::from_str(&format!(
            "{base}[validation]\ncmvp_certificate = 4884\nstandard = \"FIPS 140-3\"\nlevel = 3\nchecked_on = \"2026-11-01\"\n[[certifications]]\nscheme = \"ISMAP\"\nreference = \"C1\"\nchecked_on = \"2026-11-01\"\n"
        ))
        .unwrap();
        assert!(typed.check().is_ok());
        let report = typed.validation_report("2026-12-06");
        assert!(report.all_flags().is_empty(), "{report:?}");
        let bare: KeyBackendConfig = toml::from_str(base).unwrap();
        assert_eq!(
            bare.validation_report("2026-12-06").all_flags(),
            [
                crate::validation::ValidationFlag::ValidationMissing,
                crate::validation::ValidationFlag::CertificationsMissing
            ]
        );
        let free: KeyBackendConfig =
            toml::from_str(&format!("{base}fips_validation = \"FIPS 140-3 L3\"\n")).unwrap();
        let refused = free.check().unwrap_err().to_string();
        assert!(refused.contains("[ca.key_backend.validation]"), "{refused}");
        let software: KeyBackendConfig =
            toml::from_str("kind = \"software\"\ndir = \"keys\"\n").unwrap();
        assert_eq!(
            software.validation_report("2026-12-06").all_flags(),
            [crate::validation::ValidationFlag::ValidationMissing]
        );
    }

    #[test]
    fn init_options_make_a_backend_config() {
        let choice = |kind: &str| BackendChoice {
            kind: kind.into(),
            ..BackendChoice::default()
        };
        let cwd = Path::new("/srv/ca");
        assert!(matches!(
            choice("software").config(cwd).unwrap(),
            KeyBackendConfig::Software { .. }
        ));
        let error = BackendChoice {
            pkcs11_module: Some("/m.so".into()),
            ..choice("pkcs11")
        }
        .config(cwd)
        .unwrap_err()
        .to_string();
        assert!(error.contains("--pkcs11-token"), "{error}");
        let config = BackendChoice {
            pkcs11_module: Some("m.so".into()),
            pkcs11_token: Some("T".into()),
            pkcs11_pin_file: Some("pin".into()),
            ..choice("pkcs11")
        }
        .config(cwd)
        .unwrap();
        let KeyBackendConfig::Pkcs11 {
            pin_file, module, ..
        } = &config
        else {
            panic!("{config:?}");
        };
        assert_eq!(pin_file.as_deref(), Some(Path::new("/srv/ca/pin")));
        assert_eq!(module, Path::new("/srv/ca/m.so"));
        assert!(BackendChoice {
            pkcs11_module: Some("/m.so".into()),
            ..choice("software")
        }
        .config(cwd)
        .is_err());
        let kms = BackendChoice {
            kms_region: Some("ap-northeast-1".into()),
            ..choice("awskms")
        }
        .config(cwd)
        .unwrap();
        assert!(matches!(kms, KeyBackendConfig::Awskms { .. }));
        assert!(choice("awskms").config(cwd).is_err());
        assert!(choice("hsm").config(cwd).is_err());
    }
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn pin_files_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        std::fs::write(&path, "123456\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = read_pin_file(&path).unwrap_err().to_string();
        assert!(
            error.contains("mode 0644") && error.contains("chmod 600"),
            "{error}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_pin_file(&path).unwrap().as_str(), "123456");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_pin_file(&path).is_err());
    }

    #[test]
    fn labels_follow_the_backend() {
        let software = KeyBackendConfig::Software { dir: "keys".into() };
        assert_eq!(software.key_label("root"), "root");
        let text = "kind = \"pkcs11\"\nmodule = \"/m.so\"\ntoken = \"T\"\n";
        let pkcs11: KeyBackendConfig = toml::from_str(text).unwrap();
        assert_eq!(pkcs11.key_label("issuing"), "shuin-issuing");
        assert!(pkcs11.pin_file().is_none());
    }

    #[test]
    fn pool_sizes_are_read_and_out_of_range_ones_refused() {
        let base = "kind = \"pkcs11\"\nmodule = \"/m.so\"\ntoken = \"T\"\n";
        let sized: KeyBackendConfig =
            toml::from_str(&format!("{base}sessions = 16\nsigning_queue = 64\n")).unwrap();
        let KeyBackendConfig::Pkcs11 {
            sessions,
            signing_queue,
            ..
        } = sized
        else {
            panic!("{sized:?}");
        };
        assert_eq!((sessions.get(), signing_queue.get()), (16, 64));
        let default: KeyBackendConfig = toml::from_str(base).unwrap();
        assert!(!toml::to_string(&default).unwrap().contains("sessions"));
        for (line, range) in [
            ("sessions = 0", "1 to 64"),
            ("sessions = 65", "1 to 64"),
            ("signing_queue = 0", "1 to 65536"),
        ] {
            let error = toml::from_str::<KeyBackendConfig>(&format!("{base}{line}\n"))
                .unwrap_err()
                .to_string();
            assert!(error.contains(line) && error.contains(range), "{error}");
        }
    }

    #[test]
    fn a_sealed_token_opens_only_with_the_custodians_pin() {
        let text = "kind = \"pkcs11\"\nmodule = \"/m.so\"\ntoken = \"T\"\n";
        let sealed: KeyBackendConfig = toml::from_str(text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            sealed.open(dir.path(), None),
            Err(OpenError::Sealed)
        ));
        let software = KeyBackendConfig::Software { dir: "keys".into() };
        assert!(software
            .open(dir.path(), None)
            .unwrap()
            .attributes
            .is_none());
    }
}
