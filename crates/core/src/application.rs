//! The application document `shuin-application/1` (DESIGN.md section 3.3).
//!
//! It is parsed only after the CMS signature around it has verified.

use crate::reason::{ReasonCode, Rejection};
use serde::{Deserialize, Serialize};

/// The only document format this server speaks.
pub const APPLICATION_FORMAT: &str = "shuin-application/1";

/// Most characters accepted in a name.
pub const MAX_NAME_CHARS: usize = 100;
/// Most characters accepted in an address (JPKI allows 200).
pub const MAX_ADDRESS_CHARS: usize = 200;

/// `new` or `reissue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationKind {
    /// A first certificate.
    New,
    /// A replacement for the certificate named in `replaces`.
    Reissue,
}

/// What the applicant typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicantEntries {
    /// Name as on the card (surname, U+3000, given name).
    pub name: String,
    /// `YYYY-MM-DD`, Gregorian.
    pub birth_date: String,
    /// Address from the prefecture.
    pub address: String,
    /// `1`, `2` or `3`; optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
}

/// The signed application document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationDocument {
    /// Always `shuin-application/1`.
    pub format: String,
    /// `new` or `reissue`.
    pub kind: ApplicationKind,
    /// The challenge nonce.
    pub nonce: String,
    /// Hex SHA-256 of the terms shown to the applicant.
    pub terms_sha256: String,
    /// The applicant's own entries.
    pub applicant: ApplicantEntries,
    /// Standard base64 of the DER PKCS#10 for the new key. Empty (absent) in a `new`
    /// application that only registers the JPKI-verified identity: the key follows with a
    /// 利用者識別符号 (docs/registration.md).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub csr: String,
    /// Optional e-mail address for the holder's notices (issuance, revocation): one plain
    /// address (see [`is_notice_address`]). Personal data: kept with the application,
    /// never in the books.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Hex serial of the certificate being replaced (reissue only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

impl ApplicationDocument {
    /// Parses and validates the document (step 5 of the order of checks).
    pub fn parse(content: &[u8]) -> Result<Self, Rejection> {
        let value: serde_json::Value = serde_json::from_slice(content).map_err(|e| {
            Rejection::new(
                ReasonCode::MalformedRequest,
                format!("the application is not JSON: {e}"),
            )
        })?;
        match value.get("format") {
            Some(serde_json::Value::String(format)) if format == APPLICATION_FORMAT => {}
            Some(serde_json::Value::String(format)) => {
                return Err(Rejection::new(
                    ReasonCode::UnsupportedFormat,
                    format!("format {format:?} is not supported; use {APPLICATION_FORMAT:?}"),
                ))
            }
            _ => {
                return Err(Rejection::new(
                    ReasonCode::MalformedRequest,
                    "the application has no string field \"format\"",
                ))
            }
        }
        let document: ApplicationDocument = serde_json::from_value(value).map_err(|e| {
            Rejection::new(
                ReasonCode::MalformedRequest,
                format!("the application does not match {APPLICATION_FORMAT}: {e}"),
            )
        })?;
        document.validate()?;
        Ok(document)
    }

    fn validate(&self) -> Result<(), Rejection> {
        let bad = |detail: &str| Err(Rejection::new(ReasonCode::MalformedRequest, detail));
        let applicant = &self.applicant;
        if applicant.name.trim().is_empty() || applicant.name.chars().count() > MAX_NAME_CHARS {
            return bad("applicant.name must be 1 to 100 characters");
        }
        if applicant.address.trim().is_empty()
            || applicant.address.chars().count() > MAX_ADDRESS_CHARS
        {
            return bad("applicant.address must be 1 to 200 characters");
        }
        if crate::timefmt::parse_date(&applicant.birth_date).is_none() {
            return bad("applicant.birth_date must be a valid YYYY-MM-DD date");
        }
        if let Some(gender) = &applicant.gender {
            if !matches!(gender.as_str(), "1" | "2" | "3") {
                return bad("applicant.gender must be \"1\", \"2\" or \"3\"");
            }
        }
        if self.terms_sha256.len() != 64
            || !self.terms_sha256.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return bad("terms_sha256 must be 64 hex digits");
        }
        if self.nonce.is_empty() || self.nonce.len() > 128 {
            return bad("nonce must be the value from POST /api/v1/challenges");
        }
        if self
            .email
            .as_deref()
            .is_some_and(|email| !is_notice_address(email))
        {
            return bad("email must be one plain address such as name@example.jp");
        }
        if self.csr.is_empty() && self.kind == ApplicationKind::Reissue {
            return bad("a reissue needs a csr");
        }
        match (self.kind, &self.replaces) {
            (ApplicationKind::New, Some(_)) => bad("replaces is only allowed when kind is reissue"),
            (ApplicationKind::Reissue, None) => bad("kind reissue needs replaces"),
            (ApplicationKind::Reissue, Some(serial))
                if crate::serial::Serial::from_hex(serial).is_none() =>
            {
                bad("replaces must be a hex serial")
            }
            _ => Ok(()),
        }
    }
}

/// Whether `text` is one plain e-mail address that notices may be sent to: at most 254
/// characters, `local@domain` with a dotted domain, printable ASCII without spaces,
/// quotes, brackets, commas or semicolons (so that it can never carry a second address
/// or a header line).
pub fn is_notice_address(text: &str) -> bool {
    let plain = |c: char| c.is_ascii_graphic() && !"\"(),:;<>[\\]`".contains(c);
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    text.len() <= 254
        && (1..=64).contains(&local.len())
        && local.chars().all(plain)
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && domain.contains('.')
        && domain
            .split('.')
            .all(|label| (1..=63).contains(&label.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_addresses_are_one_plain_address() {
        for good in ["yamada@example.jp", "a.b+notice@mail.example.co.jp"] {
            assert!(is_notice_address(good), "{good}");
        }
        for bad in [
            "",
            "yamada",
            "@example.jp",
            "yamada@localhost",
            "yamada@example..jp",
            "a@b@example.jp",
            "yamada@example.jp\r\nBcc: x@example.jp",
            "yamada@example.jp, other@example.jp",
            "\"y\"@example.jp",
            "山田@example.jp",
            "yamada@例え.jp",
        ] {
            assert!(!is_notice_address(bad), "{bad:?}");
        }
        let long = format!("{}@example.jp", "a".repeat(65));
        assert!(!is_notice_address(&long));
        let mut v = sample();
        v["email"] = serde_json::json!("yamada@example.jp");
        assert_eq!(code(v.clone()), None);
        v["email"] = serde_json::json!("yamada@example.jp\nBcc: x@y.jp");
        assert_eq!(code(v), Some(ReasonCode::MalformedRequest));
    }

    fn sample() -> serde_json::Value {
        serde_json::json!({
            "format": "shuin-application/1",
            "kind": "new",
            "nonce": "abc",
            "terms_sha256": "00".repeat(32),
            "applicant": {"name": "山田　太郎", "birth_date": "1990-01-02", "address": "東京都千代田区", "gender": "1"},
            "csr": "AAAA"
        })
    }

    fn code(v: serde_json::Value) -> Option<ReasonCode> {
        ApplicationDocument::parse(v.to_string().as_bytes())
            .err()
            .map(|r| r.code)
    }

    #[test]
    fn accepts_the_documented_shape() {
        assert_eq!(code(sample()), None);
    }

    #[test]
    fn refuses_unknown_fields_formats_and_bad_values() {
        let mut v = sample();
        v["extra"] = serde_json::json!(1);
        assert_eq!(code(v), Some(ReasonCode::MalformedRequest));
        let mut v = sample();
        v["format"] = serde_json::json!("shuin-application/2");
        assert_eq!(code(v), Some(ReasonCode::UnsupportedFormat));
        let mut v = sample();
        v["applicant"]["birth_date"] = serde_json::json!("1990-02-30");
        assert_eq!(code(v), Some(ReasonCode::MalformedRequest));
        let mut v = sample();
        v["applicant"]["gender"] = serde_json::json!("4");
        assert_eq!(code(v), Some(ReasonCode::MalformedRequest));
        let mut v = sample();
        v["kind"] = serde_json::json!("reissue");
        assert_eq!(code(v), Some(ReasonCode::MalformedRequest));
        let mut v = sample();
        v["kind"] = serde_json::json!("reissue");
        v["replaces"] = serde_json::json!("01");
        v.as_object_mut().unwrap().remove("csr");
        assert_eq!(code(v), Some(ReasonCode::MalformedRequest));
        // A new application without csr registers the identity (docs/registration.md).
        let mut v = sample();
        v.as_object_mut().unwrap().remove("csr");
        assert_eq!(code(v), None);
        assert_eq!(
            ApplicationDocument::parse(b"[").err().map(|r| r.code),
            Some(ReasonCode::MalformedRequest)
        );
    }
}
