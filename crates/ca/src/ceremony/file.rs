//! The ceremony file: a declarative TOML description of one key ceremony (key
//! generation, CA certificate signing), checked once when it is read. See docs/keys.md
//! "Key ceremonies".
//!
//! ```toml
//! id = "2027-issuing-rekey"
//! purpose = "Re-key the issuing CA"
//! threshold = 2
//! custodians = ["custodian-a", "custodian-b", "custodian-c"]
//! witnesses = ["auditor-x"]
//!
//! [[steps]]
//! action = "generate_key"
//! label = "issuing-2027"
//! algorithm = "p256"
//!
//! [[steps]]
//! action = "sign_ca_certificate"
//! profile = "issuing"
//! subject_key = "issuing-2027"
//! issuer_key = "root"
//! common_name = "shuin Issuing CA 2027"
//! organization = "shuin"
//! not_before = "2027-04-01T00:00:00Z"
//! validity_days = 3650
//! ```

use super::error::{at_step, invalid, CeremonyError, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The instance's configured root key (`ca.root_key`) as ceremony files name it.
pub const INSTANCE_ROOT: &str = "root";
/// The instance's configured issuing key (`ca.issuing_key`).
pub const INSTANCE_ISSUING: &str = "issuing";

/// Longest validity a ceremony may give a CA certificate (30 years).
const MAX_VALIDITY_DAYS: u32 = 30 * 366;

/// One ceremony.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeremonyFile {
    /// Unique within the instance; a ceremony id is never run twice.
    pub id: String,
    /// What the ceremony is for, in words.
    pub purpose: String,
    /// M: how many distinct custodians must approve.
    pub threshold: u8,
    /// The custodians (enrolled with `shuin ceremony enroll-custodian`) who may approve.
    pub custodians: Vec<String>,
    /// People present who do not approve (named in the statement and the record).
    #[serde(default)]
    pub witnesses: Vec<String>,
    /// What is done, in order.
    pub steps: Vec<Step>,
}

/// One step of a ceremony.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Generate a key in the instance's key backend.
    GenerateKey {
        /// The key's label (the backend adds `shuin-` for PKCS#11, as `init` does).
        label: String,
        /// `rsa2048`, `rsa3072`, `rsa4096`, `p256` or `p384`.
        algorithm: String,
    },
    /// Sign a CA certificate.
    SignCaCertificate {
        /// `root` (self-signed) or `issuing` (under a root).
        profile: CaCertificateProfile,
        /// The certified key: a label generated earlier in this ceremony, or `root` /
        /// `issuing` for the instance's configured keys.
        subject_key: String,
        /// The signing key: the subject key itself for `root`; for `issuing`, `root` (the
        /// instance's root) or a key whose root certificate an earlier step made.
        issuer_key: String,
        /// The subject's CN.
        common_name: String,
        /// The subject's O (`C=JP` is always set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        organization: Option<String>,
        /// Start of validity, RFC 3339 (fixed in the file, so the statement is
        /// reproducible).
        not_before: String,
        /// Length of validity in days.
        validity_days: u32,
    },
    /// Terminate the certification business (認証業務の廃止, docs/termination.md): a
    /// ceremony of its own.
    TerminateBusiness {
        /// Why, as told to the holders.
        reason: String,
        /// Who takes over the records.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        successor: Option<String>,
        /// The final CRL's nextUpdate, in days after it is signed.
        final_crl_days: u32,
    },
}

/// The longest a final CRL may be valid: 50 years.
pub(crate) const MAX_FINAL_CRL_DAYS: u32 = 50 * 366;

/// Which CA certificate profile a signing step uses (`shuin_core::issuance::CaProfile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaCertificateProfile {
    /// Self-signed root: CA, keyCertSign and cRLSign.
    Root,
    /// Issuing CA under a root: path length 0, the accredited policy.
    Issuing,
}

fn check_label(what: &str, label: &str) -> Result<()> {
    if label.is_empty()
        || label.len() > 64
        || !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(format!(
            "{what} {label:?}: use 1 to 64 ASCII letters, digits, - and _"
        )));
    }
    Ok(())
}

impl CeremonyFile {
    /// Reads and checks a ceremony file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).context(path.display())?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a ceremony file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let file: CeremonyFile = toml::from_str(text).context(format!("ceremony file {origin}"))?;
        file.check().map_err(|e| CeremonyError::File {
            path: origin.to_owned(),
            source: Box::new(e),
        })?;
        Ok(file)
    }

    /// The rules a ceremony must follow before anything else looks at it.
    pub fn check(&self) -> Result<()> {
        check_label("id", &self.id)?;
        if self.purpose.trim().is_empty() {
            return Err(invalid("purpose must say what the ceremony is for"));
        }
        let mut names = std::collections::BTreeSet::new();
        for name in &self.custodians {
            if name.trim().is_empty() || !names.insert(name.as_str()) {
                return Err(invalid(format!(
                    "custodian {name:?} is empty or named twice"
                )));
            }
        }
        if self.threshold == 0 || usize::from(self.threshold) > self.custodians.len() {
            return Err(invalid(format!(
                "threshold {} must be between 1 and the number of custodians ({})",
                self.threshold,
                self.custodians.len()
            )));
        }
        if let Some(both) = self.witnesses.iter().find(|w| names.contains(w.as_str())) {
            return Err(invalid(format!(
                "{both:?} is both a custodian and a witness; a witness does not approve"
            )));
        }
        if self.steps.is_empty() {
            return Err(invalid("a ceremony needs at least one step"));
        }
        let terminates = self
            .steps
            .iter()
            .any(|s| matches!(s, Step::TerminateBusiness { .. }));
        if terminates && self.steps.len() > 1 {
            return Err(invalid(
                "a terminate_business step is a ceremony of its own: no other step may go with it",
            ));
        }
        // Keys known at each step: the instance's, then those generated so far; and the
        // keys that have a root certificate made earlier in this ceremony.
        let mut generated: Vec<&str> = Vec::new();
        let mut roots: Vec<&str> = vec![INSTANCE_ROOT];
        for (index, step) in self.steps.iter().enumerate() {
            let number = u32::try_from(index + 1).context("step count")?;
            let at = |e: String| at_step(number, invalid(e));
            match step {
                Step::TerminateBusiness {
                    reason,
                    successor,
                    final_crl_days,
                } => {
                    if reason.trim().is_empty() || reason.chars().count() > 400 {
                        return Err(at("reason must have 1 to 400 characters".into()));
                    }
                    if successor
                        .as_ref()
                        .is_some_and(|s| s.trim().is_empty() || s.chars().count() > 200)
                    {
                        return Err(at("successor must have 1 to 200 characters".into()));
                    }
                    if *final_crl_days == 0 || *final_crl_days > MAX_FINAL_CRL_DAYS {
                        return Err(at(format!(
                            "final_crl_days must be between 1 and {MAX_FINAL_CRL_DAYS}"
                        )));
                    }
                }
                Step::GenerateKey { label, algorithm } => {
                    check_label("label", label).map_err(|e| at_step(number, e))?;
                    if label == INSTANCE_ROOT
                        || label == INSTANCE_ISSUING
                        || generated.contains(&label.as_str())
                    {
                        return Err(at(format!(
                            "the label {label:?} is taken (root and issuing name the instance's keys)"
                        )));
                    }
                    if shuin_keys::KeySpec::parse(algorithm).is_none() {
                        return Err(at(format!(
                            "algorithm {algorithm:?}: expected rsa2048, rsa3072, rsa4096, p256 or p384"
                        )));
                    }
                    generated.push(label);
                }
                Step::SignCaCertificate {
                    profile,
                    subject_key,
                    issuer_key,
                    common_name,
                    organization,
                    not_before,
                    validity_days,
                } => {
                    let known = |key: &str| {
                        key == INSTANCE_ROOT || key == INSTANCE_ISSUING || generated.contains(&key)
                    };
                    if !known(subject_key) {
                        return Err(at(format!(
                            "subject_key {subject_key:?} is neither root, issuing nor a key generated in an earlier step"
                        )));
                    }
                    match profile {
                        CaCertificateProfile::Root if issuer_key != subject_key => {
                            return Err(at(
                                "a root certificate is self-signed: issuer_key must equal subject_key"
                                    .into(),
                            ))
                        }
                        CaCertificateProfile::Root => roots.push(subject_key),
                        CaCertificateProfile::Issuing if !roots.contains(&issuer_key.as_str()) => {
                            return Err(at(format!(
                                "issuer_key {issuer_key:?} must be root or a key whose root certificate an earlier step made"
                            )))
                        }
                        CaCertificateProfile::Issuing if issuer_key == subject_key => {
                            return Err(at("an issuing CA is not signed by its own key".into()))
                        }
                        CaCertificateProfile::Issuing => {}
                    }
                    if common_name.trim().is_empty() || common_name.chars().count() > 64 {
                        return Err(at("common_name must have 1 to 64 characters".into()));
                    }
                    if organization
                        .as_ref()
                        .is_some_and(|o| o.trim().is_empty() || o.chars().count() > 64)
                    {
                        return Err(at("organization must have 1 to 64 characters".into()));
                    }
                    if shuin_core::timefmt::parse_rfc3339(not_before).is_none() {
                        return Err(at(format!(
                            "not_before {not_before:?} is not an RFC 3339 time"
                        )));
                    }
                    if *validity_days == 0 || *validity_days > MAX_VALIDITY_DAYS {
                        return Err(at(format!(
                            "validity_days must be between 1 and {MAX_VALIDITY_DAYS}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const GOOD: &str = r#"
id = "rekey-1"
purpose = "Re-key the issuing CA"
threshold = 2
custodians = ["a", "b", "c"]
witnesses = ["w"]

[[steps]]
action = "generate_key"
label = "issuing-2"
algorithm = "p256"

[[steps]]
action = "sign_ca_certificate"
profile = "issuing"
subject_key = "issuing-2"
issuer_key = "root"
common_name = "Issuing CA 2"
not_before = "2026-01-01T00:00:00Z"
validity_days = 3650
"#;

    fn parse(text: &str) -> Result<CeremonyFile> {
        let file: CeremonyFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        file.check()?;
        Ok(file)
    }

    #[test]
    fn the_example_in_docs_parses() {
        let file = parse(include_str!("../../../../docs/examples/ceremony.toml")).unwrap();
        assert_eq!(file.threshold, 2);
        assert_eq!(file.steps.len(), 2);
    }

    #[test]
    fn the_termination_example_parses_and_stands_alone() {
        let text = include_str!("../../../../docs/examples/termination.toml");
        let file = parse(text).unwrap();
        assert!(matches!(
            file.steps.as_slice(),
            [Step::TerminateBusiness {
                final_crl_days: 3653,
                ..
            }]
        ));
        let with_key = format!(
            "{text}\n[[steps]]\naction = \"generate_key\"\nlabel = \"k\"\nalgorithm = \"p256\"\n"
        );
        let refused = parse(&with_key).unwrap_err().to_string();
        assert!(refused.contains("a ceremony of its own"), "{refused}");
        for (from, to, reason) in [
            (
                "final_crl_days = 3653",
                "final_crl_days = 0",
                "final_crl_days",
            ),
            (
                "final_crl_days = 3653",
                "final_crl_days = 99999",
                "final_crl_days",
            ),
            (
                "reason = \"事業の廃止 / the business is discontinued\"",
                "reason = \" \"",
                "reason",
            ),
            (
                "successor = \"後継認証 株式会社\"",
                "successor = \"\"",
                "successor",
            ),
        ] {
            let error = parse(&text.replace(from, to)).unwrap_err().to_string();
            assert!(error.contains(reason), "{to}: {error}");
        }
    }

    #[test]
    fn a_good_file_parses() {
        let file = parse(GOOD).unwrap();
        assert_eq!(file.steps.len(), 2);
        assert_eq!(file.threshold, 2);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let cases = [
            (GOOD.replace("threshold = 2", "threshold = 4"), "threshold"),
            (GOOD.replace("threshold = 2", "threshold = 0"), "threshold"),
            (GOOD.replace("[\"w\"]", "[\"a\"]"), "both a custodian"),
            (
                GOOD.replace("issuer_key = \"root\"", "issuer_key = \"issuing\""),
                "issuer_key",
            ),
            (
                GOOD.replace("subject_key = \"issuing-2\"", "subject_key = \"nope\""),
                "subject_key",
            ),
            (GOOD.replace("\"p256\"", "\"ed25519\""), "algorithm"),
            (
                GOOD.replace("label = \"issuing-2\"", "label = \"root\""),
                "taken",
            ),
            (
                GOOD.replace("2026-01-01T00:00:00Z", "tomorrow"),
                "not_before",
            ),
            (
                GOOD.replace("validity_days = 3650", "validity_days = 3650\nextra = 1"),
                "unknown field",
            ),
            (GOOD.replace("id = \"rekey-1\"", "id = \"re key\""), "id"),
        ];
        for (text, expected) in cases {
            let error = parse(&text).unwrap_err().to_string();
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }

    #[test]
    fn a_new_root_can_sign_a_new_issuing_ca() {
        let text = r#"
id = "root-ceremony"
purpose = "New hierarchy"
threshold = 1
custodians = ["a"]
[[steps]]
action = "generate_key"
label = "root-2"
algorithm = "p384"
[[steps]]
action = "sign_ca_certificate"
profile = "root"
subject_key = "root-2"
issuer_key = "root-2"
common_name = "Root 2"
not_before = "2026-01-01T00:00:00Z"
validity_days = 7300
[[steps]]
action = "generate_key"
label = "issuing-3"
algorithm = "p256"
[[steps]]
action = "sign_ca_certificate"
profile = "issuing"
subject_key = "issuing-3"
issuer_key = "root-2"
common_name = "Issuing 3"
not_before = "2026-01-01T00:00:00Z"
validity_days = 3650
"#;
        assert!(parse(text).is_ok());
    }
}
