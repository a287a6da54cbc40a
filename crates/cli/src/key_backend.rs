//! Choosing and opening the key backend named by `ca.key_backend`
//! (`shuin_keys::config`), and checking an issuer key against the attribute policy
//! (DESIGN.md section 7).

use crate::config::KeyBackendConfig;
use crate::failure::{msg, Context, Result};
use shuin_keys::{check_issuer_key_policy, KeyAttributeEvidence, KeyRef};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// An open backend and, when it has that power, its attribute reader.
pub(crate) use shuin_keys::config::OpenedBackend;

/// The backend configuration from `shuin init` options. Relative paths are made absolute
/// against the current directory, so the instance does not depend on where it is served
/// from.
pub(crate) fn from_init_args(
    kind: &str,
    module: Option<PathBuf>,
    token: Option<String>,
    pin_file: Option<PathBuf>,
    kms: (Option<String>, Option<String>),
) -> Result<KeyBackendConfig> {
    let (kms_region, kms_endpoint) = kms;
    if kind != "awskms" && (kms_region.is_some() || kms_endpoint.is_some()) {
        return Err(msg(
            "--kms-region and --kms-endpoint need --key-backend awskms",
        ));
    }
    match kind {
        "awskms" => {
            if module.is_some() || token.is_some() || pin_file.is_some() {
                return Err(msg("--pkcs11-* options need --key-backend pkcs11"));
            }
            let region = kms_region.ok_or_else(|| {
                msg("--key-backend awskms needs --kms-region REGION (credentials come from the AWS chain: environment, profile or role)")
            })?;
            Ok(KeyBackendConfig::Awskms {
                region,
                endpoint_url: kms_endpoint,
                fips_validation: None,
            })
        }
        "software" => {
            if module.is_some() || token.is_some() || pin_file.is_some() {
                return Err(msg(
                    "--pkcs11-module, --pkcs11-token and --pkcs11-pin-file need --key-backend pkcs11",
                ));
            }
            Ok(KeyBackendConfig::Software {
                dir: PathBuf::from("keys"),
            })
        }
        "pkcs11" => {
            let absolute = |path: PathBuf| -> Result<PathBuf> {
                if path.is_absolute() {
                    Ok(path)
                } else {
                    Ok(std::env::current_dir()
                        .context("current directory")?
                        .join(path))
                }
            };
            let module = module.ok_or_else(|| {
                msg("--key-backend pkcs11 needs --pkcs11-module PATH (the token's PKCS#11 library)")
            })?;
            let token = token
                .filter(|t| !t.is_empty())
                .ok_or_else(|| msg("--key-backend pkcs11 needs --pkcs11-token LABEL"))?;
            let pin_file = pin_file.ok_or_else(|| {
                msg("--key-backend pkcs11 needs --pkcs11-pin-file FILE (the user PIN, mode 0600)")
            })?;
            Ok(KeyBackendConfig::Pkcs11 {
                module: absolute(module)?,
                token,
                pin_file: Some(absolute(pin_file)?),
                fips_validation: None,
            })
        }
        other => Err(msg(format!(
            "--key-backend {other:?}: expected software, pkcs11 or awskms"
        ))),
    }
}

/// Reads a PIN file: owner-only permissions, one line (`shuin_keys::config`).
pub(crate) fn read_pin_file(path: &Path) -> Result<Zeroizing<String>> {
    shuin_keys::config::read_pin_file(path).map_err(|e| msg(e.to_string()))
}

/// The label a key of `role` (`root`, `issuing`) gets in the backend.
pub(crate) fn key_label(config: &KeyBackendConfig, role: &str) -> String {
    config.key_label(role)
}

/// Opens the backend of an instance in `dir`.
pub(crate) fn open(config: &KeyBackendConfig, dir: &Path) -> Result<OpenedBackend> {
    open_with_pin(config, dir, None)
}

/// Opens the backend with `pin` (reconstructed from custodians' shares) instead of the
/// PIN file; `None` reads the PIN file (`shuin_keys::config`).
pub(crate) fn open_with_pin(
    config: &KeyBackendConfig,
    dir: &Path,
    pin: Option<Zeroizing<String>>,
) -> Result<OpenedBackend> {
    if let KeyBackendConfig::Software { .. } = config {
        tracing::warn!("the issuer keys are software keys: development and tests only");
    }
    config.open(dir, pin).map_err(|e| msg(e.to_string()))
}

/// Reads `key`'s attributes and checks the issuer key policy. `Ok(None)` for a backend
/// without attributes (software). On a policy failure the evidence is still returned in
/// the error's text, naming the failing attribute.
pub(crate) fn check_issuer_key(
    opened: &OpenedBackend,
    key: &KeyRef,
    role: &str,
) -> Result<Option<(KeyAttributeEvidence, Result<()>)>> {
    let Some(reader) = &opened.attributes else {
        return Ok(None);
    };
    let evidence = reader
        .attributes(key)
        .context(format!("reading the attributes of the {role} key"))?;
    let verdict = check_issuer_key_policy(&evidence)
        .map_err(|e| msg(format!("refusing the {role} key: {e}")));
    Ok(Some((evidence, verdict)))
}

/// Opens the backend for serving with `issuing_key`: its attributes are read and must
/// pass the policy, and the evidence is logged. Refuses with one clear line otherwise.
pub(crate) fn open_for_issuing(
    config: &KeyBackendConfig,
    dir: &Path,
    issuing_key: &str,
) -> Result<OpenedBackend> {
    let opened = open(config, dir)?;
    let key = KeyRef::parse(issuing_key).context("ca.issuing_key")?;
    if let Some((evidence, verdict)) = check_issuer_key(&opened, &key, "issuing")? {
        let json = serde_json::to_string(&evidence).context("key attribute evidence")?;
        match &verdict {
            Ok(()) => tracing::info!(evidence = %json, "issuing key attributes pass the policy"),
            Err(e) => tracing::error!(evidence = %json, "{e}"),
        }
        verdict?;
    }
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_arguments_make_a_backend_config() {
        assert!(matches!(
            from_init_args("software", None, None, None, (None, None)).unwrap(),
            KeyBackendConfig::Software { .. }
        ));
        let error = from_init_args("pkcs11", Some("/m.so".into()), None, None, (None, None))
            .unwrap_err()
            .to_string();
        assert!(error.contains("--pkcs11-token"), "{error}");
        let config = from_init_args(
            "pkcs11",
            Some("/m.so".into()),
            Some("T".into()),
            Some("pin".into()),
            (None, None),
        )
        .unwrap();
        let KeyBackendConfig::Pkcs11 { pin_file, .. } = &config else {
            panic!("{config:?}");
        };
        assert!(pin_file.as_ref().unwrap().is_absolute());
        let text = toml::to_string(&config).unwrap();
        assert!(text.contains("kind = \"pkcs11\""), "{text}");
        assert!(
            from_init_args("software", Some("/m.so".into()), None, None, (None, None)).is_err()
        );
        let kms = from_init_args(
            "awskms",
            None,
            None,
            None,
            (Some("ap-northeast-1".into()), None),
        )
        .unwrap();
        assert!(toml::to_string(&kms).unwrap().contains("kind = \"awskms\""));
        assert!(from_init_args("awskms", None, None, None, (None, None)).is_err());
    }
}
