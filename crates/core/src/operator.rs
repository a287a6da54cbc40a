//! Operators' roles, the zones they act from, and the one policy table that says which
//! role, zone and control each operator action needs (DESIGN.md sections 6 and 9).
//!
//! The table is data: [`Action::ALL`] with [`Action::rule`]. `docs/zones.md` and the
//! audit pack are generated from it, and the server checks every signed operator
//! request against it before anything is ledgered or done.

use serde::{Deserialize, Serialize};

/// An operator role (DESIGN.md section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Key generation and activation, CA certificate signing, profile change, operators.
    CaAdmin,
    /// Holds a share of the CA key activation and approves ceremonies.
    KeyCustodian,
    /// Local registration authority: approves and rejects applications, revokes.
    Lra,
    /// 責任者: suspends and resumes automatic approval and signs off its reviews.
    ResponsiblePerson,
    /// Reads the ledgers and exports the audit pack.
    Auditor,
    /// Health and metrics.
    Monitor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Role::CaAdmin,
        Role::KeyCustodian,
        Role::Lra,
        Role::ResponsiblePerson,
        Role::Auditor,
        Role::Monitor,
    ];

    /// The stable text.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::CaAdmin => "ca_admin",
            Role::KeyCustodian => "key_custodian",
            Role::Lra => "lra",
            Role::ResponsiblePerson => "responsible_person",
            Role::Auditor => "auditor",
            Role::Monitor => "monitor",
        }
    }

    /// Parses the stable text.
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A zone of the facility map (DESIGN.md section 1). Every channel an operator reaches
/// shuin through belongs to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Zone {
    /// 高セキュリティ・ゾーン: the CA and the issuer key; the local console.
    HighSecurity,
    /// セキュア・ゾーン: the RA and its identity database.
    Secure,
    /// The applicant-facing front end.
    Front,
    /// リポジトリ設備: CRLs, OCSP, certificates, CP/CPS.
    Repository,
    /// Outside the facility: monitoring only.
    Remote,
}

impl Zone {
    /// Every zone.
    pub const ALL: [Zone; 5] = [
        Zone::HighSecurity,
        Zone::Secure,
        Zone::Front,
        Zone::Repository,
        Zone::Remote,
    ];

    /// The stable text.
    pub fn as_str(self) -> &'static str {
        match self {
            Zone::HighSecurity => "high_security",
            Zone::Secure => "secure",
            Zone::Front => "front",
            Zone::Repository => "repository",
            Zone::Remote => "remote",
        }
    }

    /// Parses the stable text.
    pub fn parse(text: &str) -> Option<Zone> {
        Zone::ALL.into_iter().find(|z| z.as_str() == text)
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many operators must act together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// One operator's signed request.
    OneOperator,
    /// M of N key custodians, each approval signed by the custodian (the threshold is the
    /// instance's; see the seal and the ceremonies).
    MOfN,
    /// Reading only.
    ReadOnly,
}

/// A state-changing (or reading) operator action. The wire name is what a signed
/// request's `action` field carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Enrol an operator from their CSR and grant a role.
    OperatorAdd,
    /// Grant one more role to an enrolled operator.
    OperatorGrant,
    /// Remove a role.
    OperatorRemoveRole,
    /// Revoke an operator certificate (it goes on the operator CA's CRL); unpairs a node.
    OperatorRevoke,
    /// Pair a node of a split deployment: the operator CA certifies its key.
    NodePair,
    /// Revoke a subscriber certificate.
    Revoke,
    /// List the LRA review queue.
    ReviewList,
    /// Read one application's evidence (personal data).
    ReviewShow,
    /// Approve an application in the LRA review queue.
    ReviewApprove,
    /// Reject an application in the LRA review queue.
    ReviewReject,
    /// Create a 利用者識別符号 registration.
    RegistrationCreate,
    /// Suspend automatic approval.
    AutomationSuspend,
    /// Resume automatic approval.
    AutomationResume,
    /// Sign off the periodic review of automatic approval.
    AutomationReview,
    /// Issue the issuing CA's CRL now.
    CrlNow,
    /// Issue the root CA's CRL (an issuer-key operation).
    RootCrl,
    /// Give a custodian's share to a sealed CA.
    Unseal,
    /// Run a key ceremony (key generation, CA certificate signing).
    Ceremony,
    /// Enrol a custodian's ceremony key.
    CeremonyCustodian,
    /// Import entry/exit records.
    FacilityImport,
    /// Make or revoke the access-control system's token.
    FacilityToken,
    /// Purge evidence past retention.
    RetentionPurge,
    /// Export the audit pack.
    AuditPack,
    /// Ask the server whether it is sealed and who the operator is.
    Status,
    /// Invite one's own passkey for the web console: a one-time token that the
    /// console's enrolment page spends (signed with the operator key).
    PasskeyInvite,
    /// Read the books entry by entry in the web console (the auditor's view).
    LedgerRead,
    /// Remove a passkey (one's own; a ca_admin's operator key removes anyone's).
    PasskeyRemove,
}

/// What an action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Any one of these roles may perform it.
    pub roles: &'static [Role],
    /// Only from these zones.
    pub zones: &'static [Zone],
    /// How many operators act.
    pub control: Control,
    /// Whether it uses an issuer key (root, issuing, operator CA or audit): such actions
    /// happen on the local high-security console only, whatever the role.
    pub issuer_key: bool,
}

const LOCAL: &[Zone] = &[Zone::HighSecurity];
const EVERY_ROLE: &[Role] = &Role::ALL;
const INSIDE: &[Zone] = &[Zone::Secure, Zone::HighSecurity];
const READING: &[Zone] = &[Zone::Secure, Zone::HighSecurity, Zone::Remote];
const ANY: &[Zone] = &[
    Zone::HighSecurity,
    Zone::Secure,
    Zone::Front,
    Zone::Repository,
    Zone::Remote,
];

impl Action {
    /// Every action, in the order of the policy table.
    pub const ALL: [Action; 27] = [
        Action::Unseal,
        Action::Ceremony,
        Action::CeremonyCustodian,
        Action::RootCrl,
        Action::OperatorAdd,
        Action::OperatorGrant,
        Action::OperatorRemoveRole,
        Action::OperatorRevoke,
        Action::NodePair,
        Action::Revoke,
        Action::ReviewList,
        Action::ReviewShow,
        Action::ReviewApprove,
        Action::ReviewReject,
        Action::RegistrationCreate,
        Action::CrlNow,
        Action::AutomationSuspend,
        Action::AutomationResume,
        Action::AutomationReview,
        Action::FacilityImport,
        Action::FacilityToken,
        Action::RetentionPurge,
        Action::AuditPack,
        Action::Status,
        Action::PasskeyInvite,
        Action::LedgerRead,
        Action::PasskeyRemove,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::OperatorAdd => "operator_add",
            Action::OperatorGrant => "operator_grant",
            Action::OperatorRemoveRole => "operator_remove_role",
            Action::OperatorRevoke => "operator_revoke",
            Action::NodePair => "node_pair",
            Action::Revoke => "revoke",
            Action::ReviewList => "review_list",
            Action::ReviewShow => "review_show",
            Action::ReviewApprove => "review_approve",
            Action::ReviewReject => "review_reject",
            Action::RegistrationCreate => "registration_create",
            Action::AutomationSuspend => "automation_suspend",
            Action::AutomationResume => "automation_resume",
            Action::AutomationReview => "automation_review",
            Action::CrlNow => "crl_now",
            Action::RootCrl => "root_crl",
            Action::Unseal => "unseal",
            Action::Ceremony => "ceremony",
            Action::CeremonyCustodian => "ceremony_custodian",
            Action::FacilityImport => "facility_import",
            Action::FacilityToken => "facility_token",
            Action::RetentionPurge => "retention_purge",
            Action::AuditPack => "audit_pack",
            Action::Status => "status",
            Action::PasskeyInvite => "passkey_invite",
            Action::LedgerRead => "ledger_read",
            Action::PasskeyRemove => "passkey_remove",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// The policy table (DESIGN.md section 6).
    pub fn rule(self) -> Rule {
        use Role::*;
        let one = |roles: &'static [Role], zones: &'static [Zone]| Rule {
            roles,
            zones,
            control: Control::OneOperator,
            issuer_key: false,
        };
        let key = |roles: &'static [Role], control: Control| Rule {
            roles,
            zones: LOCAL,
            control,
            issuer_key: true,
        };
        match self {
            Action::Unseal => key(&[KeyCustodian], Control::MOfN),
            Action::Ceremony => key(&[CaAdmin], Control::MOfN),
            Action::RootCrl => key(&[CaAdmin], Control::OneOperator),
            Action::CeremonyCustodian => one(&[CaAdmin], LOCAL),
            // The operator CA's key signs the certificate and the operator CRL.
            Action::OperatorAdd | Action::OperatorRevoke | Action::NodePair => {
                key(&[CaAdmin], Control::OneOperator)
            }
            Action::OperatorGrant | Action::OperatorRemoveRole => one(&[CaAdmin], LOCAL),
            Action::Revoke
            | Action::ReviewApprove
            | Action::ReviewReject
            | Action::RegistrationCreate
            | Action::CrlNow => one(&[Lra], INSIDE),
            Action::AutomationSuspend | Action::AutomationResume | Action::AutomationReview => {
                one(&[ResponsiblePerson], INSIDE)
            }
            Action::FacilityImport => one(&[CaAdmin], INSIDE),
            Action::FacilityToken => one(&[CaAdmin], LOCAL),
            Action::RetentionPurge => one(&[CaAdmin], LOCAL),
            Action::ReviewList | Action::ReviewShow => Rule {
                roles: &[Lra],
                zones: INSIDE,
                control: Control::ReadOnly,
                issuer_key: false,
            },
            Action::AuditPack | Action::LedgerRead => Rule {
                roles: &[Auditor, CaAdmin],
                zones: READING,
                control: Control::ReadOnly,
                issuer_key: false,
            },
            Action::PasskeyInvite | Action::PasskeyRemove => one(EVERY_ROLE, INSIDE),
            Action::Status => Rule {
                roles: EVERY_ROLE,
                zones: ANY,
                control: Control::ReadOnly,
                issuer_key: false,
            },
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Control {
    /// The stable text.
    pub fn as_str(self) -> &'static str {
        match self {
            Control::OneOperator => "one operator",
            Control::MOfN => "M of N custodians",
            Control::ReadOnly => "read only",
        }
    }
}

/// The policy table as Markdown: one row per action (`docs/zones.md` is this text;
/// `shuin policy` prints it).
pub fn policy_markdown() -> String {
    let mut out =
        String::from("| action | roles | zones | control | issuer key |\n|---|---|---|---|---|\n");
    for action in Action::ALL {
        let rule = action.rule();
        let roles: Vec<&str> = rule.roles.iter().map(|r| r.as_str()).collect();
        let zones: Vec<&str> = rule.zones.iter().map(|z| z.as_str()).collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            action.as_str(),
            roles.join(", "),
            zones.join(", "),
            rule.control.as_str(),
            if rule.issuer_key {
                "yes: local console only"
            } else {
                "no"
            },
        ));
    }
    out
}

/// Why the policy refuses an action, before any role is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyRefusal {
    /// The action may not be done from this zone.
    ZoneRefused {
        /// What was asked.
        action: Action,
        /// Where from.
        zone: Zone,
    },
    /// None of the operator's roles may do it.
    RoleMissing {
        /// What was asked.
        action: Action,
    },
}

impl PolicyRefusal {
    /// The stable reason code.
    pub fn code(self) -> &'static str {
        match self {
            PolicyRefusal::ZoneRefused { .. } => "zone_refused",
            PolicyRefusal::RoleMissing { .. } => "role_missing",
        }
    }
}

impl std::fmt::Display for PolicyRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyRefusal::ZoneRefused { action, zone } => {
                let allowed: Vec<&str> = action.rule().zones.iter().map(|z| z.as_str()).collect();
                write!(
                    f,
                    "zone_refused: {action} is not allowed from the {zone} zone (only {})",
                    allowed.join(", ")
                )
            }
            PolicyRefusal::RoleMissing { action } => {
                let roles: Vec<&str> = action.rule().roles.iter().map(|r| r.as_str()).collect();
                write!(
                    f,
                    "role_missing: {action} needs the role {}",
                    roles.join(" or ")
                )
            }
        }
    }
}

/// Checks `action` from `zone` by an operator holding `held`; on success, the role it
/// is done in (the first of the rule's roles that is held).
pub fn permit(action: Action, zone: Zone, held: &[Role]) -> Result<Role, PolicyRefusal> {
    let rule = action.rule();
    if !rule.zones.contains(&zone) {
        return Err(PolicyRefusal::ZoneRefused { action, zone });
    }
    rule.roles
        .iter()
        .copied()
        .find(|r| held.contains(r))
        .ok_or(PolicyRefusal::RoleMissing { action })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for zone in Zone::ALL {
            assert_eq!(Zone::parse(zone.as_str()), Some(zone));
        }
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(action));
            let wire = serde_json::to_value(action).unwrap_or_default();
            assert_eq!(wire, serde_json::json!(action.as_str()));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Action::parse("drop_tables"), None);
    }

    #[test]
    fn issuer_key_actions_are_local_only() {
        for action in Action::ALL {
            let rule = action.rule();
            if rule.issuer_key {
                assert_eq!(rule.zones, [Zone::HighSecurity], "{action}");
            }
            assert!(!rule.roles.is_empty(), "{action}");
        }
        assert_eq!(
            permit(Action::Unseal, Zone::Secure, &[Role::KeyCustodian]),
            Err(PolicyRefusal::ZoneRefused {
                action: Action::Unseal,
                zone: Zone::Secure
            })
        );
    }

    #[test]
    fn the_documented_table_is_the_policy() {
        let doc = include_str!("../../../docs/zones.md");
        assert!(
            doc.contains(&policy_markdown()),
            "docs/zones.md is out of date: regenerate its table with `shuin policy`"
        );
    }

    #[test]
    fn remote_may_only_read() {
        for action in Action::ALL {
            let rule = action.rule();
            if rule.zones.contains(&Zone::Remote) {
                assert_eq!(rule.control, Control::ReadOnly, "{action}");
            }
        }
    }

    #[test]
    fn roles_are_checked() {
        assert_eq!(
            permit(Action::Revoke, Zone::HighSecurity, &[Role::Lra]),
            Ok(Role::Lra)
        );
        let refused = permit(Action::Revoke, Zone::HighSecurity, &[Role::Monitor]);
        assert_eq!(
            refused,
            Err(PolicyRefusal::RoleMissing {
                action: Action::Revoke
            })
        );
        assert!(refused
            .err()
            .map(|r| r.to_string())
            .unwrap_or_default()
            .contains("needs the role lra"));
        assert_eq!(
            permit(
                Action::AutomationSuspend,
                Zone::Secure,
                &[Role::Lra, Role::ResponsiblePerson]
            ),
            Ok(Role::ResponsiblePerson)
        );
    }
}
