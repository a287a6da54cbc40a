//! `shuin status --data DIR [--json]`: the key backend (with the token's own facts for
//! PKCS#11, read without logging in), FIPS mode of the software crypto, whether a
//! server runs and the seal state (from its admin socket when one answers), when the
//! next periodic review of automatic approval is due, and any business termination.
//! For a person it reads as a health check (`shuin_books::health`): one line per check, and a
//! non-zero exit when a check fails.

use crate::config::InstanceConfig;
use crate::failure::{Context, Result};
use std::path::Path;

/// Prints the status of the instance in `dir`.
pub(crate) async fn status(dir: &Path, json: bool) -> Result<()> {
    let config = InstanceConfig::load(dir)?;
    let now = shuin_core::Clock::now(&shuin_core::SystemClock);
    let report = report(dir, &config, now).await?;
    let health = shuin_books::health::Health::of(&report);
    crate::output::show(json, || &report, || health.text(dir));
    match health.failed() {
        0 => Ok(()),
        n => Err(crate::failure::msg(format!("{n} check(s) failed"))),
    }
}

/// The status report as JSON at `now` (also part of the audit pack).
pub(crate) async fn report(
    dir: &Path,
    config: &InstanceConfig,
    now: std::time::SystemTime,
) -> Result<serde_json::Value> {
    let liveness = crate::admin_socket::status(dir, std::time::Duration::from_secs(5)).await;
    report_with(dir, config, now, liveness).await
}

/// The status report as JSON at `now`, with the server's `liveness` as known (the
/// running server's own audit pack knows its seal state without asking its socket).
pub(crate) async fn report_with(
    dir: &Path,
    config: &InstanceConfig,
    now: std::time::SystemTime,
    liveness: crate::admin_socket::Liveness,
) -> Result<serde_json::Value> {
    let backend = {
        let (config, dir) = (config.ca.key_backend.clone(), dir.to_owned());
        tokio::task::spawn_blocking(move || config.status(&dir))
            .await
            .context("reading the token")?
    };
    let (live, server) = match liveness {
        crate::admin_socket::Liveness::Running(status) => (Some(status), "running".to_owned()),
        crate::admin_socket::Liveness::NotRunning => (None, "not_running".to_owned()),
        crate::admin_socket::Liveness::Unhealthy(why) => (None, format!("unhealthy: {why}")),
    };
    let seal = shuin_ca::seal::status_report(config.ca.seal.as_ref(), live.as_ref());
    let today = shuin_core::timefmt::rfc3339(now);
    let validation = config
        .ca
        .key_backend
        .validation_report(today.get(..10).unwrap_or(&today));
    Ok(serde_json::json!({
        "instance": dir,
        "server_running": live.is_some(),
        "server": server,
        "allow_test_cards": config.jpki.allow_test_cards,
        "public_url": config.instance.public_url,
        "development": config.instance.development,
        "key_backend": backend,
        "key_validation_flags": validation.all_flags(),
        "key_validation": validation,
        "issuing_key": config.ca.issuing_key,
        "fips": shuin_keys::fips::report(),
        "seal": seal,
        "automation_review": review_schedule(dir, config, now).await,
        "business_termination": termination(dir).await,
    }))
}

/// Where a business termination stands (docs/termination.md): `null` when none was
/// started; an error reading the store is reported in place.
async fn termination(dir: &Path) -> serde_json::Value {
    let state = async {
        let store = crate::runtime::open_store(dir).await?;
        let state = shuin_ca::termination::state(&store).await;
        store.close().await;
        state.map_err(|e| crate::failure::msg(e.to_string()))
    };
    match state.await {
        Ok(state) => serde_json::to_value(state).unwrap_or_default(),
        Err(e) => serde_json::json!({"error": format!("reading the store: {e}")}),
    }
}

/// When the responsible person's next periodic review of automatic approval is due
/// (`[ra] review_interval_days`, from the last sign-off in the books); an error reading
/// the books is reported in place.
async fn review_schedule(
    dir: &Path,
    config: &InstanceConfig,
    now: std::time::SystemTime,
) -> serde_json::Value {
    let schedule = async {
        let store = crate::runtime::open_store(dir).await?;
        let interval = config.ra.review_interval_days;
        let schedule = shuin_ra::automation::schedule_in(&store, interval, now).await;
        store.close().await;
        Ok::<_, crate::failure::Error>(schedule?)
    };
    match schedule.await {
        Ok(schedule) => serde_json::to_value(schedule).unwrap_or_default(),
        Err(e) => serde_json::json!({"error": format!("reading the books: {e}")}),
    }
}
