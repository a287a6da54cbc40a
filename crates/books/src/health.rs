//! The health of an instance (`shuin status`): its status report (the key backend and
//! its validation, FIPS mode, the server and the seal, the automation review, any
//! termination, the same facts the audit pack shows) judged check by check as ok, info,
//! warn or FAIL, and read as lines for a person. Only a FAIL makes `status` exit non-zero;
//! a warn is something an operator should look at. A field the report lacks is a FAIL,
//! never an ok.

use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// As it should be.
    Ok,
    /// Worth knowing, nothing to do.
    Info,
    /// An operator should look at it.
    Warn,
    /// Broken: `status` exits non-zero.
    Fail,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        }
    }
}

/// The checks of one status report.
#[derive(Debug)]
pub struct Health {
    checks: Vec<(Level, &'static str, String)>,
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

impl Health {
    /// Reads the report of `status_cmd::report`.
    pub fn of(report: &Value) -> Health {
        let checks = vec![
            instance(report),
            server(report),
            seal(&report["seal"], report["server_running"] == true),
            key_backend(&report["key_backend"]),
            key_validation(report),
            fips(&report["fips"]),
            automation_review(&report["automation_review"]),
            termination(&report["business_termination"]),
        ];
        Health { checks }
    }

    /// How many checks failed.
    pub fn failed(&self) -> usize {
        self.checks.iter().filter(|c| c.0 == Level::Fail).count()
    }

    /// The lines for a person.
    pub fn text(&self, dir: &Path) -> String {
        let mut out = format!("shuin status of {}\n", dir.display());
        for (level, name, detail) in &self.checks {
            let _ = writeln!(out, "  {:<5} {name:<18} {detail}", level.tag());
        }
        let warned = self.checks.iter().filter(|c| c.0 == Level::Warn).count();
        let summary = match (self.failed(), warned) {
            (0, 0) => "healthy".to_owned(),
            (0, w) => format!("healthy, {w} warning(s) to look at"),
            (f, w) => format!("{f} check(s) FAILED, {w} warning(s)"),
        };
        out.push_str(&summary);
        out
    }
}

fn instance(report: &Value) -> (Level, &'static str, String) {
    let url = text(&report["public_url"]);
    if report["development"] == true {
        let detail = format!("DEVELOPMENT instance at {url}: software keys and a simulated J-LIS CA, never for production");
        (Level::Warn, "instance", detail)
    } else if report["allow_test_cards"] == true {
        let detail = format!(
            "{url}: test cards are accepted ([jpki] allow_test_cards), never in production"
        );
        (Level::Warn, "instance", detail)
    } else {
        (Level::Ok, "instance", url)
    }
}

fn server(report: &Value) -> (Level, &'static str, String) {
    let socket = Path::new(&text(&report["instance"])).join("admin.sock");
    match report["server"].as_str() {
        Some("running") => (Level::Ok, "server", "running (its admin socket answers)".into()),
        Some("not_running") => (
            Level::Warn,
            "server",
            format!(
                "not running (nothing answers on {}): nothing is issued, revoked or published until `shuin serve` runs",
                socket.display()
            ),
        ),
        Some(other) => (Level::Fail, "server", other.to_owned()),
        None => (Level::Fail, "server", "the report does not say".into()),
    }
}

fn seal(seal: &Value, running: bool) -> (Level, &'static str, String) {
    if seal["custodians"].is_null() {
        return (
            Level::Ok,
            "seal",
            "no custodians: the CA is never sealed".into(),
        );
    }
    let (m, n) = (text(&seal["threshold"]), text(&seal["custodians"]));
    match (running, seal["sealed"] == true) {
        (false, _) => (
            Level::Info,
            "seal",
            format!("{m} of {n} custodians unseal the CA once the server runs"),
        ),
        (true, true) => (
            Level::Warn,
            "seal",
            format!(
                "sealed: {} of {m} shares held; nothing is issued until custodians run `shuin unseal`",
                text(&seal["shares_held"])
            ),
        ),
        (true, false) => (Level::Ok, "seal", format!("unsealed ({m} of {n} custodians)")),
    }
}

fn key_backend(backend: &Value) -> (Level, &'static str, String) {
    let kind = text(&backend["kind"]);
    if let Some(error) = backend["token_error"].as_str() {
        return (Level::Fail, "key backend", format!("{kind}: {error}"));
    }
    let mut detail = kind;
    for (name, value) in [
        ("token", &backend["token_label"]),
        ("manufacturer", &backend["token"]["manufacturer"]),
        ("model", &backend["token"]["model"]),
        ("region", &backend["region"]),
        ("endpoint", &backend["endpoint_url"]),
    ] {
        if let Some(value) = value.as_str() {
            let _ = write!(detail, ", {name} {}", value.trim());
        }
    }
    // PKCS#11 tokens say nothing of grade here: key validation below does.
    if backend["production_grade"] == false {
        let note = backend["note"].as_str().unwrap_or("not production grade");
        (Level::Warn, "key backend", format!("{detail}: {note}"))
    } else {
        (Level::Ok, "key backend", detail)
    }
}

fn key_validation(report: &Value) -> (Level, &'static str, String) {
    let Some(flags) = report["key_validation_flags"].as_array() else {
        return (
            Level::Fail,
            "key validation",
            "the report does not say".into(),
        );
    };
    if flags.is_empty() {
        return (Level::Ok, "key validation", "no flags".into());
    }
    let flags: Vec<String> = flags.iter().map(text).collect();
    let validation = &report["key_validation"];
    let mut notes: Vec<String> = validation["validation"]["notes"]
        .as_array()
        .map(|notes| notes.iter().map(text).collect())
        .unwrap_or_default();
    for certification in validation["certifications"]
        .as_array()
        .into_iter()
        .flatten()
    {
        notes.extend(
            certification["notes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text),
        );
    }
    let detail = match notes.is_empty() {
        true => flags.join(", "),
        false => format!("{}: {}", flags.join(", "), notes.join("; ")),
    };
    (Level::Warn, "key validation", detail)
}

fn fips(fips: &Value) -> (Level, &'static str, String) {
    let detail = text(&fips["detail"]);
    match (fips["fips_mode"] == true, fips["built_for_fips"] == true) {
        (true, _) => (Level::Ok, "FIPS", detail),
        (false, false) => (
            Level::Info,
            "FIPS",
            "not a FIPS build (docs/keys.md, \"FIPS build of the software crypto\")".into(),
        ),
        (false, true) => (Level::Warn, "FIPS", detail),
    }
}

fn automation_review(review: &Value) -> (Level, &'static str, String) {
    if let Some(error) = review["error"].as_str() {
        return (Level::Fail, "automation review", error.to_owned());
    }
    let due = text(&review["next_review_due"]);
    let every = text(&review["review_interval_days"]);
    if review["overdue"] == true {
        (
            Level::Warn,
            "automation review",
            format!("overdue since {due}: the responsible person signs off with `shuin automation review --sign-off`"),
        )
    } else {
        (
            Level::Ok,
            "automation review",
            format!("next due {due} (every {every} days)"),
        )
    }
}

fn termination(state: &Value) -> (Level, &'static str, String) {
    if state.is_null() {
        return (Level::Ok, "termination", "none".into());
    }
    if let Some(error) = state["error"].as_str() {
        return (Level::Fail, "termination", error.to_owned());
    }
    match state["phase"].as_str() {
        Some("completed") => (
            Level::Warn,
            "termination",
            "the certification business was terminated (completed): nothing is issued".into(),
        ),
        _ => (
            Level::Warn,
            "termination",
            format!(
                "the certification business is being terminated: phase {}",
                text(&state["phase"])
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Value {
        json!({
            "server_running": true,
            "server": "running",
            "public_url": "https://ca.example.jp",
            "development": false,
            "allow_test_cards": false,
            "key_validation_flags": [],
            "seal": {"custodians": 3, "threshold": 2, "sealed": false, "shares_held": 2},
            "key_backend": {"kind": "pkcs11", "token_label": "shuin-ca", "token": {"manufacturer": "SoftHSM project", "model": "SoftHSM v2"}},
            "key_validation": {"certification_flags": [], "validation": {"flags": [], "notes": []}},
            "fips": {"fips_mode": false, "detail": "not in FIPS mode"},
            "automation_review": {"next_review_due": "2027-01-05T00:00:00Z", "overdue": false, "review_interval_days": 30},
            "business_termination": null,
        })
    }

    #[test]
    fn a_healthy_instance_reads_healthy() {
        let health = Health::of(&report());
        assert_eq!(health.failed(), 0, "{}", health.text(Path::new("inst")));
        let text = health.text(Path::new("inst"));
        assert!(text.ends_with("healthy"), "{text}");
        assert!(text.contains("unsealed (2 of 3 custodians)"), "{text}");
        assert!(
            text.contains("pkcs11, token shuin-ca, manufacturer SoftHSM project"),
            "{text}"
        );
        assert!(!text.contains('{') && !text.contains("Some("), "{text}");
    }

    #[test]
    fn warnings_and_failures_are_told_apart() {
        let mut sealed = report();
        sealed["seal"]["sealed"] = json!(true);
        sealed["seal"]["shares_held"] = json!(1);
        sealed["automation_review"]["overdue"] = json!(true);
        let health = Health::of(&sealed);
        assert_eq!(health.failed(), 0);
        let text = health.text(Path::new("inst"));
        assert!(text.contains("sealed: 1 of 2 shares held"), "{text}");
        assert!(text.ends_with("2 warning(s) to look at"), "{text}");

        let mut stopped = report();
        stopped["server"] = json!("not_running");
        stopped["key_validation_flags"] = json!(["check_overdue"]);
        let health = Health::of(&stopped);
        assert_eq!(health.failed(), 0);
        assert!(health.text(Path::new("inst")).contains("warn  server"));
        assert!(health.text(Path::new("inst")).contains("check_overdue"));

        let mut broken = report();
        broken["key_backend"]["token_error"] = json!("CKR_TOKEN_NOT_PRESENT");
        broken["server"] = json!("unhealthy: inst/admin.sock: no answer within 5 s");
        broken["key_validation_flags"] = serde_json::Value::Null;
        broken["automation_review"] = json!({"error": "reading the books: locked"});
        let health = Health::of(&broken);
        assert_eq!(health.failed(), 4);
        assert!(health.text(Path::new("inst")).contains("FAIL  key backend"));
    }
}
