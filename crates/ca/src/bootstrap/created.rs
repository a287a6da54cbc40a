//! What `shuin init` tells the operator once the instance is made: where its CA
//! certificates and configuration are, how the custodians' shares go out when the CA
//! starts sealed, and how to serve it.

use std::fmt;
use std::path::PathBuf;

/// A new instance, as `init` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceCreated {
    /// The instance directory.
    pub dir: PathBuf,
    /// The root CA certificate, relative to `dir`.
    pub root_certificate: PathBuf,
    /// The issuing CA certificate, relative to `dir`.
    pub issuing_certificate: PathBuf,
    /// The configuration file, relative to `dir`.
    pub config_file: PathBuf,
    /// SHA-256 of the root and issuing CA certificates (DER, lowercase hex), for relying
    /// parties to pin; `None` where a certificate could not be read back.
    pub fingerprints: Option<(String, String)>,
    /// When the CA starts sealed: the share directory, N and M.
    pub sealed: Option<(PathBuf, u8, u8)>,
}

impl fmt::Display for InstanceCreated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = self.dir.display();
        writeln!(f, "instance created in {dir}")?;
        let root = self.dir.join(&self.root_certificate);
        writeln!(f, "  root CA:     {}", root.display())?;
        let issuing = self.dir.join(&self.issuing_certificate);
        writeln!(f, "  issuing CA:  {}", issuing.display())?;
        if let Some((root_sha256, issuing_sha256)) = &self.fingerprints {
            writeln!(f, "  root CA SHA-256:    {root_sha256}")?;
            writeln!(f, "  issuing CA SHA-256: {issuing_sha256}")?;
        }
        let config = self.dir.join(&self.config_file);
        writeln!(f, "  config:      {}", config.display())?;
        if let Some((shares_out, custodians, threshold)) = &self.sealed {
            writeln!(
                f,
                "  shares:      {}/share-1.txt ... share-{custodians}.txt: give one to each custodian; any {threshold} unseal the CA",
                shares_out.display()
            )?;
            writeln!(
                f,
                "  the PIN file is no longer needed by the instance; destroy it if policy says so"
            )?;
            writeln!(f, "the CA starts sealed: run `shuin unseal --data {dir} --operator-key URI --share-file FILE` once per custodian, each with their own key")?;
        }
        write!(f, "serve it with: shuin serve --data {dir}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(sealed: Option<(PathBuf, u8, u8)>) -> InstanceCreated {
        InstanceCreated {
            dir: PathBuf::from("/srv/ca"),
            root_certificate: PathBuf::from("ca/root.pem"),
            issuing_certificate: PathBuf::from("ca/issuing.pem"),
            config_file: PathBuf::from("shuin.toml"),
            fingerprints: None,
            sealed,
        }
    }

    #[test]
    fn an_unsealed_instance_says_where_it_is_and_how_to_serve_it() {
        assert_eq!(
            created(None).to_string(),
            "instance created in /srv/ca\n  root CA:     /srv/ca/ca/root.pem\n  issuing CA:  /srv/ca/ca/issuing.pem\n  config:      /srv/ca/shuin.toml\nserve it with: shuin serve --data /srv/ca"
        );
    }

    #[test]
    fn a_sealed_instance_says_where_the_shares_are_and_how_to_unseal() {
        let text = created(Some((PathBuf::from("/media/shares"), 3, 2))).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8, "{text}");
        assert_eq!(lines[4], "  shares:      /media/shares/share-1.txt ... share-3.txt: give one to each custodian; any 2 unseal the CA");
        assert_eq!(lines[6], "the CA starts sealed: run `shuin unseal --data /srv/ca --operator-key URI --share-file FILE` once per custodian, each with their own key");
    }

    #[test]
    fn the_fingerprints_are_printed_when_known() {
        let mut made = created(None);
        made.fingerprints = Some(("aa".repeat(32), "bb".repeat(32)));
        let text = made.to_string();
        assert!(
            text.contains(&format!("root CA SHA-256:    {}", "aa".repeat(32))),
            "{text}"
        );
        assert!(
            text.contains(&format!("issuing CA SHA-256: {}", "bb".repeat(32))),
            "{text}"
        );
    }
}
