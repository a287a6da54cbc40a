//! The first key ceremony of a test instance on a production key backend: its file, the
//! statement from `init --statement-out`, and the custodians' approvals with their
//! operator key files.

use super::operators::key_uri;
use super::shuin;
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

/// The ceremony custodian made for a PKCS#11 instance that names none.
pub const CEREMONY_CUSTODIAN: &str = "鍵 守";

/// The labels the first ceremony gives the keys (`shuin-` is added on a token).
pub const ROOT_LABEL: &str = "root-ca";
pub const ISSUING_LABEL: &str = "issuing-ca";

/// A first ceremony file: a P-384 root and a P-256 issuing CA, `threshold` of
/// `custodians`.
pub fn ceremony_file(custodians: &[&str], threshold: usize) -> String {
    ceremony_file_with(custodians, threshold, "p384")
}

/// [`ceremony_file`] with the root key's algorithm (moto's KMS signs P-384 wrongly).
pub fn ceremony_file_with(custodians: &[&str], threshold: usize, root_algorithm: &str) -> String {
    let names: Vec<String> = custodians.iter().map(|c| format!("{c:?}")).collect();
    format!(
        r#"id = "first-keys"
purpose = "The root and issuing keys of the CA"
threshold = {threshold}
custodians = [{names}]

[[steps]]
action = "generate_key"
label = "{ROOT_LABEL}"
algorithm = "{root_algorithm}"

[[steps]]
action = "sign_ca_certificate"
profile = "root"
subject_key = "{ROOT_LABEL}"
issuer_key = "{ROOT_LABEL}"
common_name = "shuin Test Root CA"
organization = "shuin"
not_before = "2026-01-01T00:00:00Z"
validity_days = 7300

[[steps]]
action = "generate_key"
label = "{ISSUING_LABEL}"
algorithm = "p256"

[[steps]]
action = "sign_ca_certificate"
profile = "issuing"
subject_key = "{ISSUING_LABEL}"
issuer_key = "{ROOT_LABEL}"
common_name = "shuin Test Issuing CA"
organization = "shuin"
not_before = "2026-01-01T00:00:00Z"
validity_days = 3650
"#,
        names = names.join(", ")
    )
}

/// Writes the ceremony file, runs `init` (as `init_command` builds it) with
/// `--statement-out`, has the first min(2, N) custodians approve with their key files
/// under WORK/operators, and returns the options that make the instance.
pub fn first_ceremony_args(
    work: &Path,
    init_command: &dyn Fn() -> Command,
    custodians: &[&str],
    root_algorithm: &str,
) -> Vec<OsString> {
    let threshold = custodians.len().min(2);
    let file = work.join("first-keys.toml");
    std::fs::write(
        &file,
        ceremony_file_with(custodians, threshold, root_algorithm),
    )
    .unwrap();
    let statement = work.join("first-keys.statement.json");
    let out = init_command()
        .arg("--first-ceremony")
        .arg(&file)
        .arg("--statement-out")
        .arg(&statement)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "init --statement-out: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut args: Vec<OsString> = vec!["--first-ceremony".into(), file.into()];
    for (i, name) in custodians.iter().take(threshold).enumerate() {
        let approval = work.join(format!("first-keys.approval-{i}.json"));
        let out = shuin()
            .args(["ceremony", "approve", "--statement"])
            .arg(&statement)
            .args(["--custodian", name, "--operator-key"])
            .arg(key_uri(work, name))
            .arg("--out")
            .arg(&approval)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ceremony approve: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        args.push("--approval".into());
        args.push(approval.into());
    }
    args
}
