//! `shuin revoke` and `shuin crl`: operator revocation and CRL issuance, run on the CA
//! host beside (or without) a running server. A running server picks up the change
//! within a second.

use crate::failure::{msg, Context, Result};
use crate::operator_cmd::{authorize, failed, now};
use crate::runtime::open_ca;
use shuin_ca::{CrlScope, RevocationError, RevocationOrder};
use shuin_core::revocation::RevocationReason;
use shuin_core::Serial;
use shuin_keys::KeyRef;
use shuin_ledger::Actor;
use shuin_ra::operators::Role;
use std::path::Path;

/// What `shuin revoke` takes.
pub(crate) struct RevokeArgs<'a> {
    pub(crate) serial: &'a str,
    pub(crate) reason: &'a str,
    pub(crate) operator: &'a str,
    pub(crate) invalidity_date: Option<&'a str>,
    pub(crate) json: bool,
}

pub(crate) async fn revoke(dir: &Path, args: RevokeArgs<'_>) -> Result<()> {
    let serial = Serial::from_hex(args.serial)
        .ok_or_else(|| msg(format!("--serial {:?} is not a hex serial", args.serial)))?;
    let reason = RevocationReason::parse(args.reason).ok_or_else(|| {
        let names: Vec<&str> = RevocationReason::ALL.iter().map(|r| r.name()).collect();
        msg(format!("--reason must be one of {}", names.join(", ")))
    })?;
    let invalidity_date =
        match args.invalidity_date {
            None => None,
            Some(text) => Some(shuin_core::timefmt::parse_rfc3339(text).ok_or_else(|| {
                msg("--invalidity-date must be RFC 3339, e.g. 2026-01-02T03:04:05Z")
            })?),
        };
    if args.operator.trim().is_empty() {
        return Err(msg("--operator must name who decided"));
    }
    let side = open_ca(dir).await?;
    let actor = match authorise(&side, args.operator).await {
        Ok(actor) => actor,
        Err(e) => {
            side.store.close().await;
            return Err(e);
        }
    };
    let order = RevocationOrder {
        serial: serial.clone(),
        reason,
        invalidity_date,
        actor,
        authorisation: "operator".into(),
    };
    let result = side.ca.revoke(order).await;
    side.store.close().await;
    match result {
        Ok(revoked) => {
            let at = shuin_core::timefmt::rfc3339(revoked.revoked_at);
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"status": "revoked", "serial": serial.to_hex(), "reason": reason.name(), "revoked_at": at, "crl_number": revoked.crl_number})
                );
            } else {
                println!(
                    "revoked {} ({}) at {at}; CRL number {}",
                    serial.to_hex(),
                    reason.name(),
                    revoked.crl_number
                );
            }
            Ok(())
        }
        Err(RevocationError::UnknownSerial(s)) => Err(msg(format!(
            "certificate_unknown: no issued certificate has serial {s}"
        ))),
        Err(RevocationError::AlreadyRevoked { serial, revoked_at }) => Err(msg(format!(
            "certificate_already_revoked: {serial} was revoked at {revoked_at}"
        ))),
        Err(e) => Err(msg(e.to_string())),
    }
}

/// Checks that `operator` holds the `lra` role (the refusal is ledgered by
/// `operators::authorize`), after making sure the registry has its initial designation.
async fn authorise(side: &crate::runtime::CaSide, operator: &str) -> Result<Actor> {
    shuin_ra::operators::ensure_initial_designation(
        side.store.as_ref(),
        &side.config.ra.responsible_person,
        now(),
    )
    .await
    .map_err(failed)?;
    authorize(
        side.store.as_ref(),
        operator,
        Role::Lra,
        "revoke a certificate",
    )
    .await
}

/// Issues a fresh CRL of the issuing CA, and with `root` also of the root (the root key
/// must be reachable from this host).
pub(crate) async fn crl(dir: &Path, root: bool, json: bool) -> Result<()> {
    let side = open_ca(dir).await?;
    let issued = side
        .ca
        .issue_crl()
        .await
        .map_err(|e| msg(format!("issuing the CRL: {e}")))?;
    let mut out = vec![
        serde_json::json!({"scope": "ca", "crl_number": issued.number, "next_update": shuin_core::timefmt::rfc3339(issued.next_update)}),
    ];
    if root {
        let root_key = KeyRef::parse(&side.config.ca.root_key).context("ca.root_key")?;
        let signer = side.backend.signer(&root_key).context("root key")?;
        let root_cert =
            x509_cert::Certificate::from_der(&side.chain.root_der).context("root certificate")?;
        let identity = shuin_core::issuance::IssuerIdentity {
            name: root_cert.tbs_certificate.subject.clone(),
            key_id: shuin_core::x509::extensions::key_identifier(
                &root_cert.tbs_certificate.subject_public_key_info,
            ),
        };
        let clock = side.ca.clock_handle();
        let record = shuin_ca::publish_crl(
            side.store.clone(),
            clock.as_ref(),
            CrlScope {
                name: "root",
                signer: &signer,
                issuer: &identity,
                lifetime: side.config.revocation.root_crl_lifetime(),
            },
            shuin_ca::CrlContents {
                extra_extensions: Vec::new(),
                filter: shuin_ca::EntryFilter::Nothing,
                number_floor: 0,
            },
        )
        .await
        .map_err(|e| msg(format!("issuing the root CRL: {e}")))?;
        out.push(serde_json::json!({"scope": "root", "crl_number": record.number, "next_update": shuin_core::timefmt::rfc3339(record.next_update)}));
    }
    side.store.close().await;
    if json {
        println!("{}", serde_json::Value::Array(out));
    } else {
        for crl in out {
            println!(
                "issued {} CRL number {} (next update {})",
                crl["scope"].as_str().unwrap_or(""),
                crl["crl_number"],
                crl["next_update"].as_str().unwrap_or("")
            );
        }
    }
    Ok(())
}

use der::Decode;
