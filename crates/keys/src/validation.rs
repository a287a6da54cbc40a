//! What the operator enters about the module that holds the keys (survey item F4 and
//! theme ❸ 3-3): its CMVP validation (certificate number, FIPS 140-2 or 140-3, level)
//! and the provider's certifications (an ISMAP registration, say), each with the date
//! it was last checked. shuin cannot look these up itself; it keeps them typed, and
//! [`assess`] says what is missing or out of date, never that anything is fine by
//! default.

use serde::{Deserialize, Serialize};

/// The day FIPS 140-2 certificates move to the CMVP's historical list.
pub const FIPS_140_2_HISTORICAL_FROM: &str = "2026-09-21";

/// How long a check stays current: the investigation body visits every year.
const CHECK_VALID_YEARS: i32 = 1;

/// The FIPS 140 edition a module is validated under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FipsStandard {
    /// FIPS 140-2 (historical from 2026-09-21).
    #[serde(rename = "FIPS 140-2")]
    Fips140_2,
    /// FIPS 140-3.
    #[serde(rename = "FIPS 140-3")]
    Fips140_3,
}

/// `[ca.key_backend.validation]`: the module's CMVP certificate as the operator read it
/// on the CMVP list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleValidation {
    /// The CMVP certificate number.
    pub cmvp_certificate: u32,
    /// `"FIPS 140-2"` or `"FIPS 140-3"`.
    pub standard: FipsStandard,
    /// The overall security level, 1 to 4.
    pub level: u8,
    /// The module's name as the certificate gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// When the operator last checked the certificate on the CMVP list (`YYYY-MM-DD`).
    pub checked_on: String,
}

/// `[[ca.key_backend.certifications]]`: a certification of the provider or the
/// facility that holds the module (for example ISMAP), as the operator entered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderCertification {
    /// The scheme, for example `ISMAP`.
    pub scheme: String,
    /// The registration or certificate number.
    pub reference: String,
    /// When the operator last checked it (`YYYY-MM-DD`).
    pub checked_on: String,
}

/// Why an entry was refused at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationEntryError {
    /// The retired free-text field.
    #[error("ca.key_backend.fips_validation is replaced by a typed entry: write [ca.key_backend.validation] with cmvp_certificate, standard (\"FIPS 140-2\" or \"FIPS 140-3\"), level and checked_on (docs/keys.md, \"The module's validation\")")]
    FreeText,
    /// A CMVP certificate number is positive.
    #[error(
        "ca.key_backend.validation.cmvp_certificate must be the certificate's number (1 or more)"
    )]
    Certificate,
    /// FIPS 140 has levels 1 to 4.
    #[error("ca.key_backend.validation.level must be 1, 2, 3 or 4, not {0}")]
    Level(u8),
    /// A date is `YYYY-MM-DD`.
    #[error("{field}: {value:?} is not a date (YYYY-MM-DD)")]
    Date {
        /// Which field.
        field: &'static str,
        /// What it held.
        value: String,
    },
    /// A certification names its scheme and reference.
    #[error("ca.key_backend.certifications: every entry needs a scheme and a reference")]
    Empty,
}

/// Checks the entries once at start-up.
pub fn check_entries(
    validation: Option<&ModuleValidation>,
    certifications: &[ProviderCertification],
) -> Result<(), ValidationEntryError> {
    let date = |field: &'static str, value: &str| {
        shuin_core::timefmt::parse_date(value)
            .map(|_| ())
            .ok_or_else(|| ValidationEntryError::Date {
                field,
                value: value.to_owned(),
            })
    };
    if let Some(v) = validation {
        if v.cmvp_certificate == 0 {
            return Err(ValidationEntryError::Certificate);
        }
        if !(1..=4).contains(&v.level) {
            return Err(ValidationEntryError::Level(v.level));
        }
        date("ca.key_backend.validation.checked_on", &v.checked_on)?;
    }
    for c in certifications {
        if c.scheme.trim().is_empty() || c.reference.trim().is_empty() {
            return Err(ValidationEntryError::Empty);
        }
        date("ca.key_backend.certifications.checked_on", &c.checked_on)?;
    }
    Ok(())
}

/// Something about an entry the inspector must see, by a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationFlag {
    /// No CMVP validation was entered.
    ValidationMissing,
    /// A FIPS 140-2 certificate after 2026-09-21: on the historical list.
    #[serde(rename = "fips_140_2_historical")]
    Fips140_2Historical,
    /// A FIPS 140-2 certificate before 2026-09-21: it moves to the historical list then.
    #[serde(rename = "fips_140_2_sunset")]
    Fips140_2Sunset,
    /// Last checked more than a year ago.
    CheckOverdue,
    /// The check date is later than today.
    CheckedInFuture,
    /// No provider certification was entered for a cloud provider's keys.
    CertificationsMissing,
}

impl ValidationFlag {
    /// One line for people.
    pub fn text(self) -> &'static str {
        match self {
            ValidationFlag::ValidationMissing => {
                "no CMVP validation entered ([ca.key_backend.validation])"
            }
            ValidationFlag::Fips140_2Historical => {
                "a FIPS 140-2 certificate: on the CMVP historical list since 2026-09-21"
            }
            ValidationFlag::Fips140_2Sunset => {
                "a FIPS 140-2 certificate: it moves to the CMVP historical list on 2026-09-21"
            }
            ValidationFlag::CheckOverdue => "last checked more than a year ago",
            ValidationFlag::CheckedInFuture => "the check date is later than today",
            ValidationFlag::CertificationsMissing => {
                "no provider certification entered ([[ca.key_backend.certifications]])"
            }
        }
    }
}

/// An entry with what [`assess`] found about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessed<T> {
    /// What the operator entered (`None`: nothing).
    pub entered: Option<T>,
    /// What the inspector must look at; empty only when the entry is present and current.
    pub flags: Vec<ValidationFlag>,
    /// The flags as text.
    pub notes: Vec<&'static str>,
}

impl<T> Assessed<T> {
    fn new(entered: Option<T>, flags: Vec<ValidationFlag>) -> Self {
        let notes = flags.iter().map(|f| f.text()).collect();
        Assessed {
            entered,
            flags,
            notes,
        }
    }
}

/// The module's validation and the provider's certifications as of `today`
/// (`YYYY-MM-DD`, UTC). `cloud` is true for a provider's service (AWS KMS), whose
/// certifications must be entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationReport {
    /// The CMVP validation.
    pub validation: Assessed<ModuleValidation>,
    /// The provider's certifications, each assessed.
    pub certifications: Vec<Assessed<ProviderCertification>>,
    /// Flags about the certifications as a whole.
    pub certification_flags: Vec<ValidationFlag>,
}

/// Flags the entries as of `today` (`YYYY-MM-DD`).
pub fn assess(
    validation: Option<&ModuleValidation>,
    certifications: &[ProviderCertification],
    cloud: bool,
    today: &str,
) -> ValidationReport {
    let validation = match validation {
        None => Assessed::new(None, vec![ValidationFlag::ValidationMissing]),
        Some(v) => {
            let mut flags = Vec::new();
            if v.standard == FipsStandard::Fips140_2 {
                flags.push(if today >= FIPS_140_2_HISTORICAL_FROM {
                    ValidationFlag::Fips140_2Historical
                } else {
                    ValidationFlag::Fips140_2Sunset
                });
            }
            flags.extend(check_date(&v.checked_on, today));
            Assessed::new(Some(v.clone()), flags)
        }
    };
    let certification_flags = if cloud && certifications.is_empty() {
        vec![ValidationFlag::CertificationsMissing]
    } else {
        Vec::new()
    };
    ValidationReport {
        validation,
        certifications: certifications
            .iter()
            .map(|c| {
                let flags = check_date(&c.checked_on, today).into_iter().collect();
                Assessed::new(Some(c.clone()), flags)
            })
            .collect(),
        certification_flags,
    }
}

impl ValidationReport {
    /// Every flag, of the validation and of each certification.
    pub fn all_flags(&self) -> Vec<ValidationFlag> {
        let mut all = self.validation.flags.clone();
        for c in &self.certifications {
            all.extend(c.flags.iter().copied());
        }
        all.extend(self.certification_flags.iter().copied());
        all
    }
}

/// A check date against today: in the future, or more than a year old. Dates are
/// `YYYY-MM-DD`, which order as text.
fn check_date(checked_on: &str, today: &str) -> Option<ValidationFlag> {
    if checked_on > today {
        return Some(ValidationFlag::CheckedInFuture);
    }
    let year: i32 = today.get(0..4)?.parse().ok()?;
    let a_year_ago = format!("{:04}{}", year - CHECK_VALID_YEARS, today.get(4..)?);
    (checked_on < a_year_ago.as_str()).then_some(ValidationFlag::CheckOverdue)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn v140_3() -> ModuleValidation {
        ModuleValidation {
            cmvp_certificate: 4884,
            standard: FipsStandard::Fips140_3,
            level: 3,
            module: Some("HSM".into()),
            checked_on: "2026-11-01".into(),
        }
    }

    #[test]
    fn a_current_140_3_entry_has_no_flags() {
        let r = assess(Some(&v140_3()), &[], false, "2026-12-06");
        assert!(r.validation.flags.is_empty());
        assert!(r.all_flags().is_empty());
    }

    #[test]
    fn nothing_entered_is_missing_never_fine() {
        let r = assess(None, &[], true, "2026-12-06");
        assert_eq!(r.validation.flags, [ValidationFlag::ValidationMissing]);
        assert_eq!(
            r.certification_flags,
            [ValidationFlag::CertificationsMissing]
        );
        // An on-premises HSM need not name a provider.
        assert!(assess(None, &[], false, "2026-12-06")
            .certification_flags
            .is_empty());
    }

    #[test]
    fn fips_140_2_is_flagged_before_and_after_the_historical_date() {
        let v = ModuleValidation {
            standard: FipsStandard::Fips140_2,
            checked_on: "2026-01-10".into(),
            ..v140_3()
        };
        let before = assess(Some(&v), &[], false, "2026-09-20");
        assert_eq!(before.validation.flags, [ValidationFlag::Fips140_2Sunset]);
        let on = assess(Some(&v), &[], false, "2026-09-21");
        assert_eq!(on.validation.flags, [ValidationFlag::Fips140_2Historical]);
        // The codes are as docs/keys.md lists them.
        assert_eq!(
            serde_json::to_value(&on.validation.flags).unwrap(),
            serde_json::json!(["fips_140_2_historical"])
        );
        assert_eq!(
            serde_json::to_value(&before.validation.flags).unwrap(),
            serde_json::json!(["fips_140_2_sunset"])
        );
    }

    #[test]
    fn checks_older_than_a_year_or_in_the_future_are_flagged() {
        let old = ModuleValidation {
            checked_on: "2025-12-05".into(),
            ..v140_3()
        };
        let r = assess(Some(&old), &[], false, "2026-12-06");
        assert_eq!(r.validation.flags, [ValidationFlag::CheckOverdue]);
        let exactly_a_year = ModuleValidation {
            checked_on: "2025-12-06".into(),
            ..v140_3()
        };
        assert!(assess(Some(&exactly_a_year), &[], false, "2026-12-06")
            .validation
            .flags
            .is_empty());
        let ismap = ProviderCertification {
            scheme: "ISMAP".into(),
            reference: "C21-0001".into(),
            checked_on: "2027-01-01".into(),
        };
        let r = assess(Some(&v140_3()), &[ismap], true, "2026-12-06");
        assert_eq!(r.certifications[0].flags, [ValidationFlag::CheckedInFuture]);
        assert!(r.certification_flags.is_empty());
        assert_eq!(r.all_flags(), [ValidationFlag::CheckedInFuture]);
    }

    #[test]
    fn entries_are_checked_at_start() {
        assert_eq!(check_entries(Some(&v140_3()), &[]), Ok(()));
        let bad_level = ModuleValidation {
            level: 5,
            ..v140_3()
        };
        assert_eq!(
            check_entries(Some(&bad_level), &[]),
            Err(ValidationEntryError::Level(5))
        );
        let no_cert = ModuleValidation {
            cmvp_certificate: 0,
            ..v140_3()
        };
        assert_eq!(
            check_entries(Some(&no_cert), &[]),
            Err(ValidationEntryError::Certificate)
        );
        let bad_date = ModuleValidation {
            checked_on: "2026-02-30".into(),
            ..v140_3()
        };
        assert!(matches!(
            check_entries(Some(&bad_date), &[]),
            Err(ValidationEntryError::Date { .. })
        ));
        let empty = ProviderCertification {
            scheme: " ".into(),
            reference: "x".into(),
            checked_on: "2026-01-01".into(),
        };
        assert_eq!(
            check_entries(None, &[empty]),
            Err(ValidationEntryError::Empty)
        );
    }

    #[test]
    fn the_standard_is_written_as_on_the_certificate() {
        let text = "cmvp_certificate = 4884\nstandard = \"FIPS 140-3\"\nlevel = 3\nchecked_on = \"2026-11-01\"\n";
        let v: ModuleValidation = toml::from_str(text).unwrap();
        assert_eq!(v.standard, FipsStandard::Fips140_3);
        assert!(toml::from_str::<ModuleValidation>(&text.replace("140-3", "140-4")).is_err());
    }
}
