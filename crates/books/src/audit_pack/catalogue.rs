//! The 25 survey items of docs/criteria.md and the modernisation conditions, each mapped
//! to the evidence the instance gathers itself or marked organisational (outside
//! software).

use super::facts::Facts;
use serde::Serialize;
use serde_json::{json, Value};

/// One piece of evidence for an item.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// What it is.
    pub label: String,
    /// Where it comes from: `ledger:<kind>`, `config`, `status`, `store`, `file`.
    pub source: String,
    /// Whether this source is records of what happened (ledger entries, stored rows),
    /// rather than the configuration or the software's own tables. Only records make an
    /// item "evidence".
    pub records: bool,
    /// Whether the instance holds records of it yet (for a configuration fact: whether
    /// it is set).
    pub found: bool,
    /// One line for people.
    pub summary: String,
    /// The evidence itself.
    pub value: Value,
}

/// A catalogue item with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// The item's id (`F1`, `B4`, `C-REMOTE`, ...).
    pub id: &'static str,
    /// Its group in docs/criteria.md.
    pub group: &'static str,
    /// Its title in Japanese.
    pub title_ja: &'static str,
    /// Its title in English.
    pub title_en: &'static str,
    /// `evidence`, `partial` or `organisational`.
    pub status: &'static str,
    /// The evidence found for it.
    pub evidence: Vec<Evidence>,
    /// What stays outside software (procedures, premises, contracts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisational: Option<&'static str>,
}

struct Builder<'a> {
    facts: &'a Facts,
    item: Item,
}

impl<'a> Builder<'a> {
    fn new(
        facts: &'a Facts,
        id: &'static str,
        group: &'static str,
        title_ja: &'static str,
        title_en: &'static str,
    ) -> Self {
        Self {
            facts,
            item: Item {
                id,
                group,
                title_ja,
                title_en,
                status: "organisational",
                evidence: Vec::new(),
                organisational: None,
            },
        }
    }

    /// Ledger entries of a kind: the count and the latest one.
    fn kind(mut self, kind: &str, label: &str) -> Self {
        let record = self.facts.kind(kind);
        let (summary, value) = match &record.latest {
            Some(latest) => (
                format!(
                    "{} entries; latest seq {} at {} by {} ({})",
                    record.count, latest.seq, latest.time, latest.actor.name, latest.actor.role
                ),
                json!({"kind": kind, "count": record.count, "latest": latest}),
            ),
            None => (
                "no records yet".to_owned(),
                json!({"kind": kind, "count": 0}),
            ),
        };
        self.item.evidence.push(Evidence {
            label: label.to_owned(),
            source: format!("ledger:{kind}"),
            records: true,
            found: record.count > 0,
            summary,
            value,
        });
        self
    }

    /// Every kind starting with `prefix` (for books other parts of shuin add to).
    fn kinds_with_prefix(mut self, prefix: &str, label: &str) -> Self {
        let found = self.facts.kinds_with_prefix(prefix);
        let total: u64 = found.iter().map(|(_, r)| r.count).sum();
        let summary = if found.is_empty() {
            "no records yet".to_owned()
        } else {
            found
                .iter()
                .map(|(k, r)| format!("{k}: {}", r.count))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let value = json!({
            "prefix": prefix,
            "count": total,
            "kinds": found.iter().map(|(k, r)| json!({"kind": k, "count": r.count, "latest": r.latest})).collect::<Vec<_>>(),
        });
        self.item.evidence.push(Evidence {
            label: label.to_owned(),
            source: format!("ledger:{prefix}*"),
            records: true,
            found: total > 0,
            summary,
            value,
        });
        self
    }

    /// A fact from the configuration, the status or the software's own tables: shown,
    /// but never what makes an item "evidence".
    fn fact(mut self, label: &str, source: &str, summary: String, value: Value) -> Self {
        let found = !value.is_null();
        self.item.evidence.push(Evidence {
            label: label.to_owned(),
            source: source.to_owned(),
            records: false,
            found,
            summary,
            value,
        });
        self
    }

    /// A count of stored records (rows of the store, not the configuration): records
    /// when `count` is more than zero.
    fn stored(mut self, label: &str, count: u64, value: Value) -> Self {
        self.item.evidence.push(Evidence {
            label: label.to_owned(),
            source: "store".to_owned(),
            records: true,
            found: count > 0,
            summary: if count > 0 {
                format!("{count} stored")
            } else {
                "no records yet".to_owned()
            },
            value,
        });
        self
    }

    fn organisational(mut self, note: &'static str) -> Self {
        self.item.organisational = Some(note);
        self
    }

    fn build(mut self) -> Item {
        // Evidence: records of the item exist (ledger entries or stored rows; the
        // configuration alone never counts). Partial: part of the item is organisational,
        // or no records exist yet.
        let any_found = self.item.evidence.iter().any(|e| e.records && e.found);
        self.item.status = match (self.item.evidence.is_empty(), self.item.organisational) {
            (true, _) => "organisational",
            (false, None) if any_found => "evidence",
            _ => "partial",
        };
        self.item
    }
}

/// Whether the key backend is production grade, as far as the records say: a software
/// backend or a SoftHSM2 token never is, and a backend that did not report it is
/// "unknown", never assumed.
pub(crate) fn production_grade(key_backend: &Value) -> &'static str {
    let soft_token = ["token", "manufacturer"]
        .iter()
        .try_fold(key_backend, |v, k| v.get(k))
        .and_then(Value::as_str)
        .is_some_and(|m| m.contains("SoftHSM"));
    match key_backend["production_grade"].as_bool() {
        _ if soft_token || key_backend["kind"] == "software" => "no",
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown (not reported)",
    }
}

/// The CMVP entry in one line: the certificate and its flags, or "missing".
fn validation_summary(report: &Value) -> String {
    let entered = &report["validation"]["entered"];
    let flags: Vec<&str> = report["validation"]["flags"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let text = if entered.is_null() {
        "missing".to_owned()
    } else {
        format!(
            "certificate #{} ({}, level {}, checked {})",
            short(&entered["cmvp_certificate"]),
            short(&entered["standard"]),
            short(&entered["level"]),
            short(&entered["checked_on"])
        )
    };
    match (report.is_null(), flags.is_empty()) {
        (true, _) => "missing (not reported)".to_owned(),
        (false, true) => text,
        (false, false) if entered.is_null() => text,
        (false, false) => format!("{text}; flagged: {}", flags.join(", ")),
    }
}

/// A count, or the sum of a map of counts.
fn total(value: &Value) -> u64 {
    match value {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::Object(map) => map.values().map(total).sum(),
        _ => 0,
    }
}

fn short(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "not set".to_owned(),
        other => other.to_string(),
    }
}

/// The zone and role policy, from the table the gate enforces
/// (`shuin_core::operator::Action::rule`), never written as prose here.
pub(crate) fn zone_policy() -> Value {
    use shuin_core::operator::Action;
    let actions: Vec<Value> = Action::ALL
        .iter()
        .map(|action| {
            let rule = action.rule();
            json!({
                "action": action.as_str(),
                "roles": rule.roles,
                "zones": rule.zones,
                "control": rule.control,
                "issuer_key": rule.issuer_key,
            })
        })
        .collect();
    json!({"source": "shuin_core::operator::Action::rule (docs/zones.md)", "actions": actions})
}

fn config_facts(facts: &Facts) -> (Value, Value, Value) {
    let c = &facts.instance;
    let profile = json!({
        "policy_oid": c.policy_oid,
        "subscriber_validity_days": c.subscriber_validity_days,
        "max_validity": "5 years (capped at the JPKI certificate's notAfter)",
        "subject": "C=JP, CN=<name from the JPKI certificate> (UTF8String)",
        "key_usage": "digitalSignature, nonRepudiation (critical)",
        "extensions": ["certificatePolicies", "SKI", "AKI", "CRL DP", "AIA (OCSP, caIssuers)"],
        "lint": "every TBS is linted before signing (RFC 5280, pkilint in CI)",
        "new_keys_accepted": "RSA 2048-4096 with e=65537; EC P-256, P-384",
    });
    let automation = json!({
        "automatic_approval": c.automatic_approval,
        "responsible_person_configured": c.responsible_person,
        "rule_version": c.rule_version,
        "state": facts.automation_state.as_deref().map(|s| serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::String(s.to_owned()))),
    });
    // Without custodians there is no seal to show (the software backend has no secret).
    let seal = if facts.status["seal"]["custodians"].is_null() {
        Value::Null
    } else {
        facts.status["seal"].clone()
    };
    (profile, automation, seal)
}

/// The survey items and the modernisation conditions.
pub(crate) fn catalogue(facts: &Facts) -> (Vec<Item>, Vec<Item>) {
    let f = facts;
    let (profile, automation, seal) = config_facts(f);
    let key_backend = f.status["key_backend"].clone();
    let b = |id, group, ja, en| Builder::new(f, id, group, ja, en);
    let key_summary = format!(
        "{} backend, production grade: {}, CMVP validation: {}",
        short(&key_backend["kind"]),
        production_grade(&key_backend),
        validation_summary(&f.status["key_validation"])
    );
    let keys = super::keys::section(f);
    let seal_summary = if seal.is_null() {
        "no custodians configured: the instance does not start sealed".to_owned()
    } else {
        format!(
            "{} of {} custodians unseal the CA; sealed now: {}",
            short(&seal["threshold"]),
            short(&seal["custodians"]),
            short(&seal["sealed"])
        )
    };
    let crl_summary = format!(
        "CRL #{} next update {}: {}",
        short(&f.crl["number"]),
        short(&f.crl["next_update"]),
        if f.crl["fresh"] == true {
            "fresh"
        } else {
            "NOT fresh"
        }
    );
    let verification_summary = format!(
        "database ledger verified: {}; export verified: {}",
        short(&f.ledger_verification["ok"]),
        short(&f.export["verified"]["ok"])
    );
    let operators_summary = format!(
        "{} operators registered; designated responsible person: {}",
        f.operators["operators"].as_array().map_or(0, Vec::len),
        short(&f.operators["designated_responsible_person"])
    );
    let books_value = json!(f.books);
    let book = |name: &str| f.books.get(name).copied().unwrap_or(0);
    let items = vec![
        b("F1", "facilities", "認証設備室への入出場を管理するために必要な措置", "Entry/exit control of the CA equipment room")
            .kind("facility.access_event", "imported entry/exit records (facility book)")
            .organisational("the room, its locks, badge readers and guards; shuin imports and keeps their records")
            .build(),
        b("F2", "facilities", "認証業務用設備への不正なアクセス等を防止するために必要な措置", "Preventing unauthorised access to CA equipment")
            .fact("zone and role policy", "software", "the roles and zones each operator action needs, as the gate enforces them".into(), zone_policy())
            .kind("operator.refused", "refused operator actions")
            .organisational("network segregation, firewalls and host hardening")
            .build(),
        b("F3", "facilities", "正当な権限を有しない者による認証業務用設備の作動を防止するための措置等", "Preventing operation by unauthorised people")
            .fact("operator registry", "store", operators_summary.clone(), f.operators.clone())
            .fact("M-of-N seal", "config+status", seal_summary.clone(), seal.clone())
            .kind("seal.unseal_attempt", "unseal attempts")
            .kinds_with_prefix("ceremony.", "key ceremonies")
            .build(),
        b("F4", "facilities", "発行者署名符号の生成管理に使用する暗号装置", "The crypto device for the issuer key (FIPS 140-2/140-3)")
            .fact("key backend and token", "status", key_summary.clone(), key_backend.clone())
            .kind("key.attributes", "HSM key attributes")
            .kind("key.facts", "every key's facts, as read when the CA opened its keys")
            .fact("keys, their holder, validation and attributes", "ledger:key.facts+config", super::keys::summary(&keys), keys)
            .fact("software crypto FIPS mode", "status", short(&f.status["fips"]), f.status["fips"].clone())
            .organisational("the HSM's CMVP certificate itself, checked on the CMVP list (entered as [ca.key_backend.validation])")
            .build(),
        b("F5", "facilities", "認証業務用設備等の災害の被害を防止するために必要な措置", "Disaster protection")
            .fact("outside repositories (copies of certificates and CRLs)", "config", format!("{} publishers", f.instance.publishers), json!(f.instance.publishers))
            .organisational("premises, backups, standby site and recovery drills")
            .build(),
        b("V1", "identity verification", "認証業務の利用申込み等", "How applications are received")
            .fact("applicant API", "software", "signed CMS applications with a one-time challenge (docs/applicant-api.md)".into(), json!({"routes": ["POST /api/v1/challenges", "POST /api/v1/applications"], "nonce_ttl_seconds": f.instance.nonce_ttl_seconds}))
            .stored("applications by status", total(&f.counts["applications"]), f.counts["applications"].clone())
            .kind("application.accepted", "applications accepted")
            .build(),
        b("V2", "identity verification", "利用者の真偽の確認方法等", "How the applicant's identity is verified")
            .kind("facility.jpki_trust_anchors_configured", "trusted J-LIS signing CAs")
            .fact("J-LIS CRL", "file", short(&f.files["jpki_crl"]["sha256"]), f.files["jpki_crl"].clone())
            .kind("application.accepted", "JPKI verification results (accepted)")
            .kind("application.rejected", "JPKI verification results (rejected)")
            .kind("application.approved", "manual approvals by an LRA (substitute characters)")
            .build(),
        b("B1", "business method", "利用申込者に対する説明事項", "What applicants must be told (重要事項)")
            .fact("terms document", "file", format!("sha256 {}", short(&f.files["terms"]["sha256"])), f.files["terms"].clone())
            .kind("application.accepted", "applications binding the terms' SHA-256")
            .build(),
        b("B2", "business method", "利用申込書等の記載事項等", "Contents of application forms")
            .fact("application document format", "software", "shuin-application/1 (docs/applicant-api.md)".into(), json!({"format": "shuin-application/1", "fields": ["kind", "nonce", "terms_sha256", "applicant.name", "applicant.birth_date", "applicant.address", "applicant.gender", "csr", "email", "replaces"]}))
            .build(),
        b("B3", "business method", "利用者署名符号及び利用者識別符号の生成等", "Generation of user keys and identification codes")
            .fact("key policy", "software", "keys made by the applicant; proof of possession; key reuse refused".into(), json!({"accepted": profile["new_keys_accepted"].clone(), "reuse": "refused (key_reused)", "identification_code": "stored only as an HMAC; one use; locked after 5 wrong codes"}))
            .kinds_with_prefix("registration.", "identification code registrations")
            .build(),
        b("B4", "business method", "電子証明書に係る事項", "Certificate matters (validity, algorithms)")
            .fact("certificate profile", "config", format!("validity {} days, policy {}", f.instance.subscriber_validity_days, f.instance.policy_oid), profile.clone())
            .kind("certificate.issued", "certificates issued")
            .build(),
        b("B5", "business method", "認定認証業務と他の業務との誤認を防止するための措置", "Keeping accredited certificates distinguishable")
            .fact("accredited policy OID", "config", f.instance.policy_oid.clone(), json!(f.instance.policy_oid))
            .fact("issuing CA certificate", "file", short(&f.files["issuing_certificate"]["sha256"]), f.files["issuing_certificate"].clone())
            .build(),
        b("B6", "business method", "電子証明書への属性の記録", "Attributes recorded in certificates")
            .fact("certificate profile", "config", "subject C=JP, CN from the JPKI certificate; no other attributes".into(), profile.clone())
            .build(),
        b("B7", "business method", "署名検証者への情報提供", "Information for signature verifiers")
            .fact("CRL freshness", "store", crl_summary.clone(), f.crl.clone())
            .fact("repository", "config", f.instance.public_url.clone(), json!({"public_url": f.instance.public_url, "paths": ["/repository/ca.crt", "/repository/root.crt", "/repository/ca.crl", "/repository/cps", "/ocsp"]}))
            .kind("crl.issued", "CRLs issued")
            .build(),
        b("B8", "business method", "電子証明書の失効に係る事項", "Revocation")
            .kind("revocation.accepted", "revocations")
            .kind("revocation.refused", "refused revocation requests")
            .kind("crl.issued", "CRL numbers")
            .stored("revocations stored", total(&f.counts["revocations"]), f.counts["revocations"].clone())
            .build(),
        b("B9", "business method", "認証業務の実施に関する規程", "The CP/CPS (認証業務規程)")
            .fact("published CP/CPS", "file", format!("sha256 {}", short(&f.files["cps"]["sha256"])), f.files["cps"].clone())
            .organisational("writing, approving and notifying the CP/CPS")
            .build(),
        b("B10", "business method", "認証業務の廃止", "Business termination")
            .fact("termination procedure", "software", "a termination ceremony approved by M custodians; the server revokes every certificate, notifies the holders, signs the final CRL and writes the hand-over export".into(), json!({"ceremony_step": "terminate_business", "doc": "docs/termination.md"}))
            .kind("termination.approved", "terminations approved")
            .kind("termination.completed", "terminations completed")
            .organisational("notifying the authority and the holders by other means; keeping the repository after termination")
            .build(),
        b("B11", "business method", "電子証明書名義人への情報の開示", "Disclosure to the certificate holder")
            .fact("status of one's application", "software", "GET /api/v1/applications/{id}".into(), json!({"route": "GET /api/v1/applications/{id}"}))
            .fact("disclosure of one's records with one's card", "software", "POST /api/v1/disclosures".into(), json!({"route": "POST /api/v1/disclosures", "client": "shuin disclose"}))
            .kind("disclosure.made", "disclosures to holders")
            .kind("disclosure.refused", "refused disclosure requests")
            .kind("notice.sent", "notices sent to holders")
            .organisational("disclosure requests by other channels (by post, by an agent, without a card)")
            .build(),
        b("B12", "business method", "認証業務実施のための組織及び体制等", "Organisation and structure")
            .fact("operator registry", "store", operators_summary.clone(), f.operators.clone())
            .kind("organization.responsible_person_designated", "responsible person designations")
            .organisational("the organisation chart, duties and staffing")
            .build(),
        b("B13", "business method", "認証業務用設備の操作等に関する許諾等", "Authorisation to operate CA equipment")
            .kind("operator.request", "signed operator requests admitted")
            .kind("operator.role_granted", "role grants")
            .kind("operator.refused", "refusals")
            .fact("zone and role policy", "software", "the roles and zones each operator action needs, as the gate enforces them".into(), zone_policy())
            .build(),
        b("B14", "business method", "発行者署名符号の漏えいを防止するために必要な措置", "Preventing leakage of the issuer key")
            .fact("key backend and token", "status", key_summary, key_backend)
            .kind("key.attributes", "non-extractable key attributes")
            .fact("M-of-N seal", "config+status", seal_summary, seal)
            .kinds_with_prefix("ceremony.", "key ceremonies")
            .build(),
        b("L1", "books", "認証業務利用申込に関する帳簿書類", "Application books")
            .fact("application book", "ledger", format!("{} entries", book("application")), books_value.clone())
            .fact("ledger verification", "ledger", verification_summary.clone(), json!({"database": f.ledger_verification, "export": f.export}))
            .fact("audit key pin", "config", f.instance.audit_key_sha256.as_deref().map_or("not pinned".to_owned(), |p| format!("SHA-256 {p}")), json!(f.instance.audit_key_sha256))
            .kind("application.evidence_purged", "evidence purged after retention")
            .build(),
        b("L2", "books", "電子証明書の失効に関する帳簿書類", "Revocation books")
            .fact("revocation book", "ledger", format!("{} entries", book("revocation")), books_value.clone())
            .kind("revocation.accepted", "revocations")
            .build(),
        b("L3", "books", "認証事業者の組織管理に関する帳簿書類", "Organisation books")
            .fact("organisation book", "ledger", format!("{} entries", book("organization")), books_value.clone())
            .kind("operator.enrolled", "operators enrolled")
            .kind("operator.role_granted", "roles granted")
            .build(),
        b("L4", "books", "設備及び安全対策措置に関する帳簿書類", "Facility and safety books")
            .fact("facility book", "ledger", format!("{} entries", book("facility")), books_value)
            .kind("key.generated", "key generation")
            .kind("facility.access_event", "entry/exit records")
            .build(),
    ];
    let conditions = vec![
        b("C-REMOTE", "remote operation (theme 4)", "高セキュリティ・ゾーンへの遠隔アクセスは稼働状況の確認に限る", "Remote access to the high-security zone is limited to monitoring")
            .fact("zone and role policy", "software", "the zones each operator action is allowed from, as the gate enforces them".into(), zone_policy())
            .kind("operator.refused", "refused operator actions")
            .organisational("VPN, monitoring for unusual traffic, cloud provider audits (ISMAP, ISO 27001/27017, SOC 2/3)")
            .build(),
        b("C-AUTO-RULE", "automation (theme 5)", "CP/CPSに定めた確認を満たせば必ず承認する", "The CP/CPS names the checks; passing them always means approval")
            .fact("automation settings", "config+store", format!("automatic approval {}, rule {}", short(&automation["automatic_approval"]), short(&automation["rule_version"])), automation.clone())
            .fact("published CP/CPS", "file", format!("sha256 {}", short(&f.files["cps"]["sha256"])), f.files["cps"].clone())
            .organisational("the CP/CPS text that states the checks")
            .build(),
        b("C-AUTO-RESPONSIBLE", "automation (theme 5)", "責任者の選任", "A responsible person is assigned")
            .kind("organization.responsible_person_designated", "designations")
            .fact("designated responsible person", "store", short(&f.operators["designated_responsible_person"]), f.operators["designated_responsible_person"].clone())
            .build(),
        b("C-AUTO-REVIEW", "automation (theme 5)", "不適正な発行がないことの定期的な確認と障害対応", "Periodic review for improper issuance, and incident handling")
            .kind("automation.review_signed_off", "last periodic review")
            .kind("automation.suspended", "suspensions")
            .fact("automation state", "store", short(&automation["state"]), automation.clone())
            .build(),
        b("C-AUTO-BOOKS", "automation (theme 5)", "責任者名の帳簿への自動記録", "The responsible person's name entered in the books as the decider")
            .kind("application.accepted", "automatic decisions naming the approver")
            .build(),
    ];
    (items, conditions)
}
