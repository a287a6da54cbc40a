//! The zero-config development instance (`shuin serve --dev`): `./shuin-dev` with
//! SQLite, software keys, a two-tier dev CA, and the testkit's simulated J-LIS CA as the
//! only trusted JPKI anchor. Never for production.

use crate::failure::{Context, Result};
use crate::init::InitOptions;
use shuin_core::{Clock, OsRandom, SystemClock};
use shuin_keys::KeySpec;
use std::path::{Path, PathBuf};

/// The development policy OID, under the documentation enterprise number 32473
/// (RFC 5612): never an accredited one.
pub(crate) const DEV_POLICY_OID: &str = "1.3.6.1.4.1.32473.1.1";

/// The dev card made with every dev instance, and the identity on it.
pub(crate) const DEV_CARD: &str = "yamada";
pub(crate) const DEV_NAME: &str = "山田　太郎";
pub(crate) const DEV_BIRTH_DATE: &str = "1990-01-02";
pub(crate) const DEV_ADDRESS: &str = "東京都千代田区霞が関一丁目1番1号";

pub(crate) fn simulator_dir(dev: &Path) -> PathBuf {
    dev.join("jpki-sim")
}

pub(crate) fn card_dir(dev: &Path, name: &str) -> PathBuf {
    dev.join("cards").join(name)
}

/// Creates the dev instance under `dir` unless it exists; refreshes the simulated J-LIS
/// CRL so that it is never stale in development.
pub(crate) async fn ensure_dev_instance(dir: &Path, listen: &str) -> Result<()> {
    let clock = SystemClock;
    let now = clock.now();
    let sim = simulator_dir(dir);
    if !sim.join("ca.pem").exists() {
        std::fs::create_dir_all(&sim).context(sim.display())?;
        shuin_testkit::make_jpki_ca_dir(&sim, now)
            .map_err(|e| crate::failure::msg(format!("simulated J-LIS CA: {e}")))?;
    }
    let card = card_dir(dir, DEV_CARD);
    if !card.join("cert.pem").exists() {
        std::fs::create_dir_all(&card).context(card.display())?;
        shuin_testkit::make_card_dir(
            &sim,
            shuin_testkit::CardDirOptions {
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
        .map_err(|e| crate::failure::msg(format!("dev card: {e}")))?;
    }
    shuin_testkit::refresh_crl(&sim, now)
        .map_err(|e| crate::failure::msg(format!("simulated J-LIS CRL: {e}")))?;
    if !dir.join(crate::config::CONFIG_FILE).exists() {
        let options = InitOptions {
            data: dir.to_owned(),
            key_backend: crate::config::KeyBackendConfig::Software {
                dir: std::path::PathBuf::from("keys"),
            },
            trust_anchors: vec![sim.join("ca.pem")],
            jpki_crl: sim.join("crl.der"),
            public_url: format!("http://{listen}"),
            policy_oid: DEV_POLICY_OID.into(),
            responsible_person: "開発用 責任者 (development responsible person)".into(),
            ca_name: "shuin development".into(),
            root_key: KeySpec::EcP384,
            issuing_key: KeySpec::EcP256,
            allow_test_cards: false,
            listen: listen.into(),
            development: true,
            custodians: None,
            first_admin_csr: Some(dev_admin(dir)?),
            custodian_csrs: Vec::new(),
            first_ceremony: None,
        };
        crate::init::init(&options, &clock, &OsRandom).await?;
    }
    Ok(())
}

/// The dev admin's key file (development only), made once.
pub(crate) fn dev_admin_key(dev: &Path) -> PathBuf {
    dev.join("operators").join("admin.key.pem")
}

/// Makes the dev admin's key file and its CSR; returns the CSR's path.
fn dev_admin(dev: &Path) -> Result<PathBuf> {
    let dir = dev.join("operators");
    std::fs::create_dir_all(&dir).context(dir.display())?;
    let key = dev_admin_key(dev);
    let (signer, pkcs8) = shuin_keys::SoftwareSigner::generate(KeySpec::EcP256)
        .map_err(|e| crate::failure::msg(format!("dev admin key: {e}")))?;
    let pem = shuin_keys::pkcs8_pem(&pkcs8)
        .map_err(|e| crate::failure::msg(format!("dev admin key: {e}")))?;
    shuin_keys::write_private_file(&key, pem.as_bytes()).context(key.display())?;
    let csr = shuin_client::build_named_csr(&signer, DEV_ADMIN)
        .map_err(|e| crate::failure::msg(format!("dev admin CSR: {e}")))?;
    let path = dir.join("admin.csr.der");
    std::fs::write(&path, csr).context(path.display())?;
    Ok(path)
}

/// The dev instance's first admin.
pub(crate) const DEV_ADMIN: &str = "開発用 管理者 (development admin)";

/// The loud banner of `serve --dev`.
pub(crate) fn banner(dir: &Path, local: &str) {
    let bar = "!".repeat(78);
    eprintln!("{bar}\n!! DEVELOPMENT INSTANCE — NOT FOR PRODUCTION / 開発用インスタンス — 本番利用禁止\n!! Software keys and a SIMULATED J-LIS CA in {}.\n{bar}", dir.display());
    println!("shuin is serving on http://{local}");
    println!("  challenges:   POST http://{local}/api/v1/challenges");
    println!("  applications: POST http://{local}/api/v1/applications");
    println!(
        "  repository:   http://{local}/repository/ca.crt  /repository/root.crt  /repository/terms"
    );
    println!();
    println!(
        "Operator key (ca_admin, lra, responsible_person; development only): file:{}",
        dev_admin_key(dir).display()
    );
    println!();
    println!("Apply with the dev card (paste in another terminal):");
    println!(
        "  cargo run --release -- apply --server http://{local} --dev-card {DEV_CARD} --name '{DEV_NAME}' --birth-date {DEV_BIRTH_DATE} --address '{DEV_ADDRESS}' --out cert.pem"
    );
}
