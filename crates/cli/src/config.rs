//! `DIR/shuin.toml`: one typed section per component, unknown fields refused, checked
//! once at start-up (STYLE.md "Config").

use crate::failure::{msg, Result};
use serde::{Deserialize, Serialize};
pub(crate) use shuin_ca::config::{CaSection, LedgerSection, RevocationSection};
pub(crate) use shuin_keys::config::KeyBackendConfig;
pub(crate) use shuin_ra::config::{JpkiSection, RaSection};
pub(crate) use shuin_repo::publish::PublisherConfig;
pub(crate) use shuin_server::config::ServerSection;
use std::path::{Path, PathBuf};

/// The instance configuration file name.
pub(crate) const CONFIG_FILE: &str = "shuin.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstanceConfig {
    pub(crate) instance: InstanceSection,
    pub(crate) ca: CaSection,
    pub(crate) ra: RaSection,
    pub(crate) jpki: JpkiSection,
    #[serde(default)]
    pub(crate) server: ServerSection,
    #[serde(default)]
    pub(crate) revocation: RevocationSection,
    /// Signed checkpoints of the ledger (`[ledger]`; see docs/ledger.md).
    #[serde(default)]
    pub(crate) ledger: LedgerSection,
    /// How long evidence is kept (`[retention]`; see docs/ledger.md, "Retention").
    #[serde(default)]
    pub(crate) retention: crate::retention_cmd::RetentionSection,
    /// Entry/exit records of the certificate equipment room (`[facility]`; see
    /// docs/ledger.md, "Entry/exit records").
    #[serde(
        default,
        skip_serializing_if = "crate::facility::FacilitySection::is_default"
    )]
    pub(crate) facility: crate::facility::FacilitySection,
    /// Outside repositories that receive copies of the CA certificates and CRLs
    /// (`[[publishers]]`; see docs/repository.md). None by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) publishers: Vec<PublisherConfig>,
    /// The database (`[store]`; see docs/operations.md, "Store: SQLite or PostgreSQL").
    #[serde(default)]
    pub(crate) store: shuin_store::StoreSection,
    /// Where the holders' notices go (`[notices]`; docs/web.md, "Notices by e-mail").
    #[serde(default, skip_serializing_if = "shuin_ra::NoticesSection::is_default")]
    pub(crate) notices: shuin_ra::NoticesSection,
    /// What this instance is in a split deployment (`[node]`; docs/deployment.md).
    #[serde(
        default,
        skip_serializing_if = "shuin_server::node::NodeSection::is_default"
    )]
    pub(crate) node: shuin_server::node::NodeSection,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstanceSection {
    /// Base URL under which certificates point at the repository and OCSP.
    pub(crate) public_url: String,
    /// Whether this is a development instance (`serve --dev`).
    #[serde(default)]
    pub(crate) development: bool,
    /// The CP/CPS (認証業務規程) served at `/repository/cps`.
    #[serde(default = "default_cps")]
    pub(crate) cps: PathBuf,
}

fn default_cps() -> PathBuf {
    PathBuf::from("cps.md")
}

impl InstanceConfig {
    /// Reads and checks `DIR/shuin.toml`.
    pub(crate) fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            msg(format!(
                "{}: {e}; run `shuin init --data {}` first (or `shuin serve --dev`)",
                path.display(),
                dir.display()
            ))
        })?;
        let config: InstanceConfig =
            toml::from_str(&text).map_err(|e| msg(format!("{}: {e}", path.display())))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        if !(self.instance.public_url.starts_with("http://")
            || self.instance.public_url.starts_with("https://"))
        {
            return Err(msg(
                "instance.public_url must start with http:// or https://",
            ));
        }
        self.ca.check_profile()?;
        self.jpki.check()?;
        self.revocation.check()?;
        shuin_repo::publish::check(&self.publishers)?;
        self.ca.check_seal()?;
        self.ca.key_backend.check()?;
        self.ledger.check()?;
        self.facility.check()?;
        self.retention.check()?;
        self.ra.check()?;
        self.server.check().map_err(|e| msg(e.to_string()))?;
        self.node
            .check(&self.server)
            .map_err(|e| msg(e.to_string()))?;
        self.store.check()?;
        Ok(())
    }

    /// Writes the file (refusing to overwrite).
    pub(crate) fn write_new(&self, dir: &Path) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let text = toml::to_string_pretty(self)?;
        let header = "# shuin instance configuration. See docs/operations.md.\n";
        let path = dir.join(CONFIG_FILE);
        // Owner only: it names the keys, the custodians' sealed PIN and the token.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| {
                use std::io::Write;
                f.write_all(header.as_bytes())?;
                f.write_all(text.as_bytes())
            })
            .map_err(|e| msg(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../../../docs/examples/shuin.toml");
        let config: InstanceConfig = toml::from_str(text).unwrap();
        config.check().unwrap();
        // Written owner-only, and never over an existing file.
        let dir = tempfile::tempdir().unwrap();
        config.write_new(dir.path()).unwrap();
        let file = std::fs::metadata(dir.path().join(CONFIG_FILE)).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(&file.permissions());
        assert_eq!(mode & 0o777, 0o600);
        assert!(config.write_new(dir.path()).is_err());
    }
}
