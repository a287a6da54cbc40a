//! The zero-config development instance (`shuin serve --dev`): `./shuin-dev` with
//! SQLite, software keys, a two-tier dev CA, and the testkit's simulated J-LIS CA as the
//! only trusted JPKI anchor. Never for production.

use crate::failure::Result;
use crate::init::InitArgs;
use shuin_core::{Clock, OsRandom, SystemClock};
pub(crate) use shuin_testkit::dev::{
    card_dir, dev_admin_key, simulator_dir, DEV_ADDRESS, DEV_BIRTH_DATE, DEV_CARD, DEV_NAME,
};
use std::path::Path;

/// The development policy OID, under the documentation enterprise number 32473
/// (RFC 5612): never an accredited one.
pub(crate) const DEV_POLICY_OID: &str = "1.3.6.1.4.1.32473.1.1";

/// Creates the dev instance under `dir` unless it exists; refreshes the simulated J-LIS
/// CRL so that it is never stale in development.
pub(crate) async fn ensure_dev_instance(dir: &Path, listen: &str) -> Result<()> {
    let clock = SystemClock;
    let now = clock.now();
    shuin_testkit::dev::ensure_jpki_fixtures(dir, now)?;
    if !dir.join(crate::config::CONFIG_FILE).exists() {
        let sim = simulator_dir(dir);
        let first_admin_csr = shuin_testkit::dev::make_dev_admin(dir)?;
        let options = InitArgs {
            data: dir.to_owned(),
            key_backend: "software".into(),
            kms_region: None,
            kms_endpoint: None,
            pkcs11_module: None,
            pkcs11_token: None,
            pkcs11_pin_file: None,
            jpki_trust_anchor: vec![sim.join("ca.pem")],
            jpki_crl: sim.join("crl.der"),
            public_url: format!("http://{listen}"),
            policy_oid: DEV_POLICY_OID.into(),
            responsible_person: "開発用 責任者 (development responsible person)".into(),
            ca_name: "shuin development".into(),
            root_key_type: "p384".into(),
            issuing_key_type: "p256".into(),
            audit_key_type: "p256".into(),
            allow_test_cards: false,
            jpki_crl_later: false,
            listen: listen.into(),
            store_url: shuin_store::config::DEFAULT_URL.into(),
            store_password_file: None,
            custodians: None,
            threshold: None,
            shares_out: None,
            first_admin_csr,
            custodian_csr: Vec::new(),
            first_ceremony: None,
            approvals: Vec::new(),
            statement_out: None,
            development: true,
        };
        crate::init::init(&options, &clock, &OsRandom).await?;
        return Ok(());
    }
    let config = crate::config::InstanceConfig::load(dir)?;
    check_public_url(dir, &config.instance.public_url, listen)
}

/// The address must be one this machine can listen on now, before an instance is made
/// whose certificates name it (the listener itself is bound again when serving).
pub(crate) fn check_listen(listen: &str) -> Result<()> {
    let addr: std::net::SocketAddr = listen.parse().map_err(|_| {
        crate::failure::msg(format!(
            "--listen {listen}: give HOST:PORT with an IP address, for example 127.0.0.1:8080 or [::1]:8080"
        ))
    })?;
    std::net::TcpListener::bind(addr).map(drop).map_err(|e| {
        crate::failure::msg(format!(
            "--listen {listen}: {e}; is another server running there? Give another port with --listen"
        ))
    })
}

/// A dev instance keeps the `public_url` it was made with: its CA certificates, terms
/// URL and every issued certificate's OCSP and CRL URLs name it. Serving it on another
/// address would hand applicants and verifiers URLs that lead nowhere, so it is refused.
fn check_public_url(dir: &Path, public_url: &str, listen: &str) -> Result<()> {
    let wanted = format!("http://{listen}");
    if public_url.trim_end_matches('/') == wanted {
        return Ok(());
    }
    let old = public_url
        .trim_start_matches("http://")
        .trim_end_matches('/');
    Err(crate::failure::msg(format!(
        "{} was made for {public_url} (its public_url, written into its CA certificates and \
         every certificate's OCSP and CRL URLs), but --listen {listen} would serve it at \
         {wanted}; serve it with --listen {old}, or remove {} to make a new development \
         instance for {wanted}",
        dir.display(),
        dir.display()
    )))
}

/// The loud banner of `serve --dev`.
pub(crate) fn banner(dir: &Path, local: &str) {
    let bar = "!".repeat(78);
    eprintln!("{bar}\n!! DEVELOPMENT INSTANCE — NOT FOR PRODUCTION / 開発用インスタンス — 本番利用禁止\n!! Software keys and a SIMULATED J-LIS CA in {}.\n{bar}", dir.display());
    crate::output::say!("shuin is serving on http://{local}");
    crate::output::say!("  pages:        http://{local}/  (ja; English: http://{local}/?lang=en)");
    crate::output::say!("  challenges:   POST http://{local}/api/v1/challenges");
    crate::output::say!("  applications: POST http://{local}/api/v1/applications");
    crate::output::say!(
        "  repository:   http://{local}/repository/ca.crt  /repository/root.crt  /repository/terms"
    );
    crate::output::say!();
    crate::output::say!(
        "Operator key (ca_admin, lra, responsible_person; development only): file:{}",
        dev_admin_key(dir).display()
    );
    crate::output::say!();
    crate::output::say!("Apply with the dev card (paste in another terminal):");
    crate::output::say!("  {}", apply_hint(&own_invocation(), local));
}

/// How this binary was started (argv\[0\]), for hints that name the very command to
/// paste: `shuin` when it was found on the PATH, its path otherwise.
pub(crate) fn own_invocation() -> String {
    std::env::args_os()
        .next()
        .map(|arg| arg.to_string_lossy().into_owned())
        .filter(|arg| !arg.is_empty())
        .unwrap_or_else(|| "shuin".to_owned())
}

/// The `apply` command for the dev card, run by `program`, to the server at `local`.
fn apply_hint(program: &str, local: &str) -> String {
    let program = if program.contains([' ', '\'', '"']) {
        format!("'{}'", program.replace('\'', "'\\''"))
    } else {
        program.to_owned()
    };
    format!(
        "{program} apply --server http://{local} --dev-card {DEV_CARD} --name '{DEV_NAME}' --birth-date {DEV_BIRTH_DATE} --address '{DEV_ADDRESS}' --out cert.pem"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listen_address_is_checked_before_an_instance_is_made() {
        let refused = check_listen("localhost").expect_err("no port").to_string();
        assert!(
            refused.contains("--listen localhost: give HOST:PORT"),
            "{refused}"
        );
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr").to_string();
        let refused = check_listen(&addr).expect_err("in use").to_string();
        assert!(refused.contains("another server"), "{refused}");
        drop(taken);
    }

    #[test]
    fn a_dev_instance_is_served_only_at_its_public_url() {
        let dir = Path::new("shuin-dev");
        assert!(check_public_url(dir, "http://127.0.0.1:8080", "127.0.0.1:8080").is_ok());
        assert!(check_public_url(dir, "http://127.0.0.1:8080/", "127.0.0.1:8080").is_ok());
        let refused = check_public_url(dir, "http://127.0.0.1:8080", "127.0.0.1:9090")
            .expect_err("another port")
            .to_string();
        for part in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:9090",
            "--listen 127.0.0.1:8080",
            "remove shuin-dev",
        ] {
            assert!(refused.contains(part), "{part} missing from: {refused}");
        }
    }

    #[test]
    fn the_hint_names_the_binary_as_it_was_started() {
        let hint = apply_hint("shuin", "127.0.0.1:8080");
        assert!(
            hint.starts_with("shuin apply --server http://127.0.0.1:8080 --dev-card "),
            "{hint}"
        );
        assert!(!hint.contains("cargo"));
        let hint = apply_hint("/opt/my tools/shuin", "127.0.0.1:8080");
        assert!(hint.starts_with("'/opt/my tools/shuin' apply "), "{hint}");
        let hint = apply_hint("./target/release/shuin", "127.0.0.1:1");
        assert!(hint.starts_with("./target/release/shuin apply "), "{hint}");
    }
}
