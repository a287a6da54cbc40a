//! What `shuin apply` leaves on disk and says: the new private key (owner-only, never
//! overwritten), and once issued the certificate and its chain beside it.

use crate::apply::ApplyOutcome;
use crate::error::ClientError;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The files of an application whose certificate goes to `out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeFiles {
    /// The certificate.
    pub certificate: PathBuf,
    /// The chain: `OUT.chain`.
    pub chain: PathBuf,
    /// The new private key: `key_out`, or `OUT.key`.
    pub key: PathBuf,
}

impl OutcomeFiles {
    /// The files for the certificate `out` and the key `key_out` (default `OUT.key`).
    pub fn new(out: &Path, key_out: Option<&Path>) -> OutcomeFiles {
        let beside = |extension: &str| {
            let mut path = out.as_os_str().to_owned();
            path.push(extension);
            PathBuf::from(path)
        };
        OutcomeFiles {
            certificate: out.to_path_buf(),
            chain: beside(".chain"),
            key: key_out.map_or_else(|| beside(".key"), Path::to_path_buf),
        }
    }

    /// Refuses a key file that exists already: a private key is never overwritten.
    pub fn check_key_is_new(&self) -> Result<(), ClientError> {
        if self.key.exists() {
            return Err(ClientError::File(format!(
                "{} exists; refusing to overwrite a private key (use --key-out)",
                self.key.display()
            )));
        }
        Ok(())
    }

    /// Writes the key (mode 0600) and, when issued, the certificate and the chain.
    pub fn save(&self, outcome: &ApplyOutcome) -> Result<(), ClientError> {
        let file_error = |path: &Path, e: &dyn std::fmt::Display| {
            ClientError::File(format!("{}: {e}", path.display()))
        };
        let key_pem = match outcome {
            ApplyOutcome::Issued { key_pem, .. } | ApplyOutcome::PendingReview { key_pem, .. } => {
                key_pem
            }
        };
        shuin_keys::write_private_file(&self.key, key_pem.as_bytes())
            .map_err(|e| file_error(&self.key, &e))?;
        if let ApplyOutcome::Issued {
            certificate_pem,
            chain_pem,
            ..
        } = outcome
        {
            for (path, pem) in [
                (&self.certificate, certificate_pem),
                (&self.chain, chain_pem),
            ] {
                std::fs::write(path, pem).map_err(|e| file_error(path, &e))?;
            }
        }
        Ok(())
    }

    /// What `shuin apply --json` prints.
    pub fn to_json(&self, outcome: &ApplyOutcome) -> Value {
        match outcome {
            ApplyOutcome::Issued {
                application_id,
                serial,
                ..
            } => json!({"status": "issued", "application_id": application_id, "serial": serial,
                "certificate": self.certificate, "key": self.key}),
            ApplyOutcome::PendingReview {
                application_id,
                reasons,
                ..
            } => json!({"status": "pending_review", "application_id": application_id,
                "review_reasons": reasons, "key": self.key}),
        }
    }

    /// What `shuin apply` tells the applicant, in Japanese and English.
    pub fn text(&self, outcome: &ApplyOutcome) -> String {
        match outcome {
            ApplyOutcome::Issued { serial, .. } => format!(
                "発行されました / issued: serial {serial}\n  certificate: {}\n  chain:       {}\n  private key: {} (keep it safe / 厳重に保管してください)",
                self.certificate.display(),
                self.chain.display(),
                self.key.display()
            ),
            ApplyOutcome::PendingReview {
                application_id,
                reasons,
                ..
            } => format!(
                "審査待ちです / pending review: application {application_id} ({})\n  private key: {} (keep it: once approved, `shuin fetch --server URL --application {application_id} --out {}` collects the certificate and checks it against this key)",
                reasons.join(", "),
                self.key.display(),
                self.certificate.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn issued() -> ApplyOutcome {
        ApplyOutcome::Issued {
            application_id: "a1".into(),
            serial: "0a".into(),
            certificate_pem: "CERT".into(),
            chain_pem: "CHAIN".into(),
            key_pem: Zeroizing::new("KEY".into()),
        }
    }

    #[test]
    fn the_files_sit_beside_the_certificate() {
        let files = OutcomeFiles::new(Path::new("dir/cert.pem"), None);
        assert_eq!(files.chain, Path::new("dir/cert.pem.chain"));
        assert_eq!(files.key, Path::new("dir/cert.pem.key"));
        let files = OutcomeFiles::new(Path::new("c.pem"), Some(Path::new("k.pem")));
        assert_eq!(files.key, Path::new("k.pem"));
    }

    #[test]
    fn an_issued_outcome_is_saved_once_and_the_key_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("shuin-client-saved-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = OutcomeFiles::new(&dir.join("cert.pem"), None);
        files.check_key_is_new().unwrap();
        files.save(&issued()).unwrap();
        assert_eq!(std::fs::read_to_string(&files.chain).unwrap(), "CHAIN");
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let refused = files.check_key_is_new().unwrap_err().to_string();
        assert!(
            refused.contains("refusing to overwrite a private key"),
            "{refused}"
        );
        assert!(files.save(&issued()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn outcomes_read_for_the_applicant() {
        let files = OutcomeFiles::new(Path::new("c.pem"), None);
        assert_eq!(files.to_json(&issued())["status"], "issued");
        assert!(files
            .text(&issued())
            .starts_with("発行されました / issued: serial 0a\n"));
        let pending = ApplyOutcome::PendingReview {
            application_id: "a2".into(),
            reasons: vec!["x".into(), "y".into()],
            key_pem: Zeroizing::new("KEY".into()),
        };
        assert_eq!(files.to_json(&pending)["review_reasons"], json!(["x", "y"]));
        assert!(files
            .text(&pending)
            .starts_with("審査待ちです / pending review: application a2 (x, y)\n"));
    }
}
