//! `shuin demo`: a throwaway development instance, a test card, an application, the
//! issuance and the ledger check, with a readable summary. Revocation, CRL and OCSP join
//! the demo when they land.

use crate::failure::{msg, Context, Result};
use shuin_store::LedgerStore;

/// Runs the demo in a temporary directory.
pub(crate) async fn run() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("shuin-demo-{}", std::process::id()));
    let result = run_in(&dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(dir: &std::path::Path) -> Result<()> {
    crate::output::say!(
        "shuin demo — 朱印 デモ (a throwaway development instance in {})",
        dir.display()
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding a local port")?;
    let local = listener.local_addr().context("local address")?.to_string();
    crate::dev::ensure_dev_instance(dir, &local).await?;
    crate::output::say!(
        "1. instance: two-tier dev CA (software keys), simulated J-LIS CA trusted, terms published"
    );
    let instance = crate::runtime::open(dir).await?;
    let store = instance.store.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve::serve_on(listener, instance, async move {
        let _ = stopped.await;
    }));
    crate::output::say!("2. server listening on http://{local}");

    let card_dir = crate::dev::card_dir(dir, crate::dev::DEV_CARD);
    let request = shuin_client::ApplyRequest {
        server: format!("http://{local}"),
        name: crate::dev::DEV_NAME.into(),
        birth_date: crate::dev::DEV_BIRTH_DATE.into(),
        address: crate::dev::DEV_ADDRESS.into(),
        gender: Some("1".into()),
        key_spec: shuin_keys::KeySpec::EcP256,
        notice_email: None,
    };
    let outcome = tokio::task::spawn_blocking(move || {
        let card =
            shuin_client::FileCard::load(&card_dir.join("cert.pem"), &card_dir.join("key.pem"))?;
        shuin_client::apply(&request, &card)
    })
    .await
    .map_err(|e| msg(format!("client task: {e}")))??;
    let (serial, certificate_pem, key_pem) = match outcome {
        shuin_client::ApplyOutcome::Issued {
            serial,
            application_id,
            certificate_pem,
            key_pem,
            ..
        } => {
            crate::output::say!(
                "3. applicant {} signed an application with the test card's JPKI signing key",
                crate::dev::DEV_NAME
            );
            crate::output::say!("4. RA verified CMS, J-LIS chain and CRL, the 4 basic items; approved automatically (application {application_id})");
            crate::output::say!(
                "5. CA recorded, linted, signed and stored certificate serial {serial}"
            );
            (serial, certificate_pem, key_pem)
        }
        shuin_client::ApplyOutcome::PendingReview { reasons, .. } => {
            return Err(msg(format!(
                "the demo application went to review unexpectedly: {}",
                reasons.join(", ")
            )));
        }
    };
    let base = format!("http://{local}");
    let issuing_der = shuin_ca::parts::read_pem_or_der(&dir.join("ca/issuing.pem"))?;
    let serial_typed = shuin_core::Serial::from_hex(&serial).ok_or_else(|| msg("bad serial"))?;
    let seen = tokio::task::spawn_blocking(move || {
        shuin_client::revoke_and_watch(
            &base,
            &issuing_der,
            &serial_typed,
            &certificate_pem,
            &key_pem,
            "keyCompromise",
            std::time::Duration::from_secs(5),
        )
    })
    .await
    .map_err(|e| msg(format!("client task: {e}")))??;
    crate::output::say!("6. OCSP before revocation: {}", seen.before);
    crate::output::say!(
        "7. the subscriber revoked it with the certificate's own key (keyCompromise); CRL number {}",
        seen.answer["crl_number"]
    );
    crate::output::say!(
        "8. OCSP now: {}; CRL {} lists the serial: {}",
        seen.after,
        seen.crl_number,
        seen.listed
    );
    if !seen.listed || !matches!(seen.after, shuin_client::OcspAnswer::Revoked(_)) {
        return Err(msg("the revocation did not reach OCSP and the CRL"));
    }
    let rows = store.ledger_rows().await.context("ledger")?;
    let head = store.ledger_head().await.context("ledger head")?;
    let report = shuin_ledger::verify_log(rows, head.as_ref())
        .map_err(|e| msg(format!("ledger verification failed: {e}")))?;
    crate::output::say!(
        "9. ledger verified: {} entries, tree head {}",
        report.size,
        report.root_hex
    );
    let _ = stop.send(());
    server
        .await
        .map_err(|e| msg(format!("server task: {e}")))??;
    crate::output::say!("done — 完了. Next: `shuin serve --dev` and the README walkthrough.");
    Ok(())
}
