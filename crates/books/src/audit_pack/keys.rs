//! The pack's "Keys" section (theme ❸ 3-3, survey item F4): for each key the CA uses,
//! as the latest `key.facts` entry describes it (read when the CA opened its keys), the
//! backend, the provider and region or the HSM model, the module's validation and the
//! provider's certifications as the operator entered them, and the key's attributes.
//! Whatever is not there is listed as missing by a stable code; nothing is assumed.

use super::facts::Facts;
use serde_json::{json, Value};

/// Codes the section uses besides the validation flags of `shuin status`.
const NOT_RECORDED: &str = "key_facts_not_recorded";
const FACTS_MISSING: &str = "attributes_missing";
const NOT_PRODUCTION_GRADE: &str = "not_production_grade";
const POLICY_FAILED: &str = "issuer_key_policy_failed";

/// The section: `recorded` (the entry's seq and time, or null), `keys` (one row per key)
/// and `missing` (every code found, once).
pub(crate) fn section(facts: &Facts) -> Value {
    let validation = &facts.status["key_validation"];
    let Some(entry) = facts.kind("key.facts").latest else {
        return json!({
            "recorded": null,
            "keys": [],
            "validation": validation,
            "missing": [NOT_RECORDED],
            "note": "no key.facts entry: the CA records its keys' facts each time it opens them (start or unseal)",
        });
    };
    let shared = shared_flags(&facts.status);
    let rows: Vec<Value> = entry.payload["keys"]
        .as_array()
        .map(|keys| keys.iter().map(|k| row(k, &shared, validation)).collect())
        .unwrap_or_default();
    let mut missing: Vec<String> = Vec::new();
    for code in rows
        .iter()
        .flat_map(|r| r["missing"].as_array().cloned().unwrap_or_default())
    {
        if let Some(code) = code.as_str() {
            if !missing.iter().any(|m| m == code) {
                missing.push(code.to_owned());
            }
        }
    }
    if rows.is_empty() {
        missing.push(NOT_RECORDED.to_owned());
    }
    json!({
        "recorded": {"seq": entry.seq, "time": entry.time, "at": entry.payload["at"]},
        "keys": rows,
        "validation": validation,
        "missing": missing,
    })
}

/// Flags that hold for every key of the backend: its validation, its certifications, and
/// whether it is production grade.
fn shared_flags(status: &Value) -> Vec<String> {
    let report = &status["key_validation"];
    let mut lists = vec![
        &report["validation"]["flags"],
        &report["certification_flags"],
    ];
    lists.extend(
        report["certifications"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| &c["flags"]),
    );
    let mut flags: Vec<String> = lists
        .into_iter()
        .flat_map(|list| list.as_array().into_iter().flatten())
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect();
    if report.is_null() {
        flags.push("validation_missing".to_owned());
    }
    if super::catalogue::production_grade(&status["key_backend"]) != "yes" {
        flags.push(NOT_PRODUCTION_GRADE.to_owned());
    }
    flags
}

/// One key's row.
fn row(key: &Value, shared: &[String], validation: &Value) -> Value {
    let facts = &key["facts"];
    let mut missing: Vec<String> = Vec::new();
    if facts.is_null() {
        missing.push(FACTS_MISSING.to_owned());
    }
    if facts["backend"] == "software" {
        missing.push(NOT_PRODUCTION_GRADE.to_owned());
    }
    if !key["policy_failure"].is_null() {
        missing.push(POLICY_FAILED.to_owned());
    }
    for code in shared {
        if !missing.contains(code) {
            missing.push(code.clone());
        }
    }
    json!({
        "role": key["role"],
        "uri": key["uri"],
        "backend": facts["backend"],
        "holder": holder(facts),
        "attributes": attributes(facts),
        "read_error": key["error"],
        "issuer_key_policy": if key["policy_failure"].is_null() { json!("passed") } else { key["policy_failure"].clone() },
        "validation": validation["validation"]["entered"],
        "certifications": validation["certifications"],
        "complete": missing.is_empty(),
        "missing": missing,
    })
}

/// Where the key lives: the provider and region, or the HSM's make and model.
fn holder(facts: &Value) -> Value {
    match facts["backend"].as_str() {
        Some("awskms") => {
            let m = &facts["metadata"];
            json!({
                "provider": "AWS KMS",
                "region": m["region"],
                "cloud_hsm_cluster_id": m["cloud_hsm_cluster_id"],
            })
        }
        Some("pkcs11") => {
            let t = &facts["attributes"]["token"];
            json!({
                "manufacturer": t["manufacturer"],
                "model": t["model"],
                "serial": t["serial"],
                "firmware_version": t["firmware_version"],
                "token_label": t["label"],
            })
        }
        Some("software") => json!({"software": "keys in files: development and tests only"}),
        _ => Value::Null,
    }
}

/// The key's own attributes, without the token (shown in `holder`).
fn attributes(facts: &Value) -> Value {
    match facts["backend"].as_str() {
        Some("awskms") => facts["metadata"].clone(),
        Some("pkcs11") => {
            let mut a = facts["attributes"].clone();
            if let Some(map) = a.as_object_mut() {
                map.remove("token");
            }
            a
        }
        _ => Value::Null,
    }
}

/// One line: how many keys, how many with complete facts, and what is missing.
pub(crate) fn summary(section: &Value) -> String {
    let keys = section["keys"].as_array().map_or(0, Vec::len);
    let complete = section["keys"]
        .as_array()
        .map_or(0, |k| k.iter().filter(|r| r["complete"] == true).count());
    let missing: Vec<&str> = section["missing"]
        .as_array()
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if missing.is_empty() {
        format!("{keys} keys, facts complete for all")
    } else {
        format!(
            "{keys} keys, facts complete for {complete}; missing: {}",
            missing.join(", ")
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::super::facts::{Facts, InstanceSettings, KindRecord};
    use super::*;
    use shuin_ledger::{Actor, Book, Entry};
    use std::collections::BTreeMap;

    fn facts(status: Value, keys: Option<Value>) -> Facts {
        let mut kinds = BTreeMap::new();
        if let Some(keys) = keys {
            let entry = Entry {
                seq: 7,
                time: "2026-12-06T00:00:00Z".into(),
                book: Book::Facility,
                kind: "key.facts".into(),
                actor: Actor {
                    name: "shuin-ca".into(),
                    role: "system".into(),
                    zone: "high_security".into(),
                },
                subjects: vec![],
                payload: json!({"at": "opened", "keys": keys}),
                evidence: vec![],
            };
            kinds.insert(
                "key.facts".to_owned(),
                KindRecord {
                    count: 1,
                    latest: Some(entry),
                },
            );
        }
        Facts {
            generated_at: "2026-12-06T00:00:00Z".into(),
            instance: InstanceSettings {
                public_url: "https://ca.example".into(),
                development: false,
                issuing_key: "awskms:k".into(),
                policy_oid: "1.2.392.1".into(),
                subscriber_validity_days: 1825,
                responsible_person: "r".into(),
                automatic_approval: true,
                nonce_ttl_seconds: 300,
                publishers: 0,
                rule_version: "1".into(),
                retention: Default::default(),
                audit_key_sha256: None,
            },
            status,
            kinds,
            books: BTreeMap::new(),
            ledger_verification: Value::Null,
            latest_checkpoint: None,
            export: Value::Null,
            crl: Value::Null,
            retention: Value::Null,
            operators: Value::Null,
            automation_state: None,
            counts: Value::Null,
            files: Value::Null,
        }
    }

    fn kms_key(role: &str) -> Value {
        json!({
            "role": role, "uri": "awskms:arn", "error": null, "policy_failure": null,
            "facts": {"backend": "awskms", "metadata": {"arn": "arn", "region": "ap-northeast-1", "origin": "AWS_KMS"}},
        })
    }

    fn kms_status(validation: Value, certifications: Value) -> Value {
        json!({
            "key_backend": {"kind": "awskms", "region": "ap-northeast-1", "production_grade": true},
            "key_validation": {
                "validation": validation,
                "certifications": certifications,
                "certification_flags": [],
            },
        })
    }

    #[test]
    fn complete_kms_facts_show_no_missing_codes() {
        let status = kms_status(
            json!({"entered": {"cmvp_certificate": 4884, "standard": "FIPS 140-3", "level": 3, "checked_on": "2026-11-01"}, "flags": []}),
            json!([{"entered": {"scheme": "ISMAP", "reference": "C1", "checked_on": "2026-11-01"}, "flags": []}]),
        );
        let s = section(&facts(status, Some(json!([kms_key("issuing")]))));
        assert_eq!(s["missing"], json!([]));
        assert_eq!(s["keys"][0]["complete"], true);
        assert_eq!(s["keys"][0]["holder"]["provider"], "AWS KMS");
        assert_eq!(s["keys"][0]["holder"]["region"], "ap-northeast-1");
        assert_eq!(s["keys"][0]["attributes"]["origin"], "AWS_KMS");
        assert_eq!(s["keys"][0]["validation"]["cmvp_certificate"], 4884);
        assert_eq!(summary(&s), "1 keys, facts complete for all");
    }

    #[test]
    fn a_missing_cmvp_number_is_missing_not_fine() {
        let status = kms_status(
            json!({"entered": null, "flags": ["validation_missing"]}),
            json!([]),
        );
        let s = section(&facts(
            status,
            Some(json!([kms_key("issuing"), kms_key("ocsp")])),
        ));
        assert_eq!(s["missing"], json!(["validation_missing"]));
        assert_eq!(s["keys"][1]["complete"], false);
        assert!(summary(&s).contains("missing: validation_missing"));
    }

    #[test]
    fn no_record_of_the_keys_is_missing() {
        let s = section(&facts(kms_status(json!({}), json!([])), None));
        assert_eq!(s["missing"], json!([NOT_RECORDED]));
        assert!(s["recorded"].is_null());
        let empty = section(&facts(kms_status(json!({}), json!([])), Some(json!([]))));
        assert_eq!(empty["missing"], json!([NOT_RECORDED]));
    }

    #[test]
    fn unread_software_or_softhsm_keys_are_flagged() {
        let softhsm = json!({
            "key_backend": {"kind": "pkcs11", "token": {"manufacturer": "SoftHSM project"}},
            "key_validation": {"validation": {"entered": null, "flags": ["validation_missing"]}, "certifications": [], "certification_flags": []},
        });
        let unread = json!({"role": "audit", "uri": "pkcs11:x", "facts": null, "error": "gone", "policy_failure": "no facts to check"});
        let s = section(&facts(softhsm, Some(json!([unread]))));
        let codes = s["keys"][0]["missing"].clone();
        for code in [
            FACTS_MISSING,
            POLICY_FAILED,
            "validation_missing",
            NOT_PRODUCTION_GRADE,
        ] {
            assert!(
                codes.as_array().unwrap().iter().any(|c| c == code),
                "{code}: {codes}"
            );
        }
        assert_eq!(s["keys"][0]["read_error"], "gone");
        let software = json!({"role": "issuing", "uri": "soft:i", "facts": {"backend": "software"}, "error": null, "policy_failure": "x"});
        let s = section(&facts(
            json!({"key_backend": {"kind": "software"}}),
            Some(json!([software])),
        ));
        assert!(s["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == NOT_PRODUCTION_GRADE));
        // A status without a validation report is missing its validation too.
        assert!(s["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "validation_missing"));
    }
}
