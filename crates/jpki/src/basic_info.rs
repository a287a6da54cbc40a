//! The four basic items (基本4情報) of a JPKI signing certificate, with their substitute
//! maps, read from the subjectAltName (DESIGN.md section 3.7).
//!
//! ```text
//! SubjectAltName ::= GeneralNames            -- RFC 5280 section 4.2.1.6
//! GeneralName ::= CHOICE { otherName [0] OtherName, ... }
//! OtherName ::= SEQUENCE {
//!     type-id    OBJECT IDENTIFIER,          -- 1.2.392.200149.8.5.5.{1..6}
//!     value      [0] EXPLICIT UTF8String }
//! -- .1 name, .2 name substitute map, .3 gender, .4 birth date EYYYYMMDD,
//! -- .5 address, .6 address substitute map
//! ```
//!
//! Entries are found by OID, never by position.

use crate::error::JpkiError;
use const_oid::ObjectIdentifier;
use der::{Decode, Tag, Tagged};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::Extension;

/// `1.2.392.200149.8.5.5.1`: name.
pub const OID_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.1");
/// `…5.5.2`: name substitute map.
pub const OID_NAME_SUBSTITUTES: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.2");
/// `…5.5.3`: gender.
pub const OID_GENDER: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.3");
/// `…5.5.4`: birth date `EYYYYMMDD`.
pub const OID_BIRTH_DATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.4");
/// `…5.5.5`: address.
pub const OID_ADDRESS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.5");
/// `…5.5.6`: address substitute map.
pub const OID_ADDRESS_SUBSTITUTES: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.6");

/// Most characters accepted in the name and address items (JPKI allows 200 for addresses).
const MAX_ITEM_CHARS: usize = 400;

/// The basic items, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicInfo {
    /// Name as on the card: surname, U+3000, given name.
    pub name: String,
    /// One `0`/`1` per character of `name`; `1` marks a substitute character (代替文字).
    pub name_substitutes: Option<String>,
    /// `1` male, `2` female, `3` unknown.
    pub gender: String,
    /// Date of birth.
    pub birth: BirthDate,
    /// Address from the prefecture.
    pub address: String,
    /// One `0`/`1` per character of `address`.
    pub address_substitutes: Option<String>,
}

/// The Japanese era digit of a JPKI birth date. The date itself is Gregorian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Era {
    /// `0`: unknown.
    Unknown,
    /// `1`: 明治.
    Meiji,
    /// `2`: 大正.
    Taisho,
    /// `3`: 昭和.
    Showa,
    /// `4`: 平成.
    Heisei,
    /// `5`: 令和.
    Reiwa,
}

impl Era {
    /// From the era digit.
    pub fn from_digit(digit: char) -> Option<Self> {
        match digit {
            '0' => Some(Era::Unknown),
            '1' => Some(Era::Meiji),
            '2' => Some(Era::Taisho),
            '3' => Some(Era::Showa),
            '4' => Some(Era::Heisei),
            '5' => Some(Era::Reiwa),
            _ => None,
        }
    }

    /// The era digit.
    pub fn digit(self) -> char {
        match self {
            Era::Unknown => '0',
            Era::Meiji => '1',
            Era::Taisho => '2',
            Era::Showa => '3',
            Era::Heisei => '4',
            Era::Reiwa => '5',
        }
    }
}

/// A JPKI birth date: era digit plus a valid Gregorian date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BirthDate {
    /// The era digit as recorded.
    pub era: Era,
    /// Gregorian year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month.
    pub day: u8,
}

impl BirthDate {
    /// Parses `EYYYYMMDD`.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let era = Era::from_digit(text.chars().next()?)?;
        let iso = format!(
            "{}-{}-{}",
            text.get(1..5)?,
            text.get(5..7)?,
            text.get(7..9)?
        );
        let (year, month, day) = shuin_core::timefmt::parse_date(&iso)?;
        Some(Self {
            era,
            year,
            month,
            day,
        })
    }

    /// `YYYY-MM-DD`.
    pub fn iso(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Reads and validates the basic items from a certificate's extensions.
pub(crate) fn basic_info(extensions: Option<&Vec<Extension>>) -> Result<BasicInfo, JpkiError> {
    let mut sans = extensions
        .into_iter()
        .flatten()
        .filter(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME);
    let san = sans
        .next()
        .ok_or_else(|| JpkiError::basic("the certificate has no subjectAltName"))?;
    if sans.next().is_some() {
        return Err(JpkiError::basic(
            "the certificate has two subjectAltName extensions",
        ));
    }
    let names = SubjectAltName::from_der(san.extn_value.as_bytes())
        .map_err(|_| JpkiError::basic("the subjectAltName does not decode"))?;
    let mut items: [Option<String>; 6] = Default::default();
    let oids = [
        OID_NAME,
        OID_NAME_SUBSTITUTES,
        OID_GENDER,
        OID_BIRTH_DATE,
        OID_ADDRESS,
        OID_ADDRESS_SUBSTITUTES,
    ];
    for name in &names.0 {
        let GeneralName::OtherName(other) = name else {
            continue;
        };
        let Some(index) = oids.iter().position(|oid| *oid == other.type_id) else {
            continue;
        };
        if other.value.tag() != Tag::Utf8String {
            return Err(JpkiError::basic(format!(
                "item {} is not a UTF8String",
                other.type_id
            )));
        }
        let text = std::str::from_utf8(other.value.value())
            .map_err(|_| JpkiError::basic(format!("item {} is not UTF-8", other.type_id)))?;
        let slot = &mut items[index];
        if slot.is_some() {
            return Err(JpkiError::basic(format!(
                "item {} appears twice",
                other.type_id
            )));
        }
        *slot = Some(text.to_owned());
    }
    let [name, name_substitutes, gender, birth, address, address_substitutes] = items;
    let name = required_text(name, "name")?;
    let address = required_text(address, "address")?;
    let gender = gender.ok_or_else(|| JpkiError::basic("the gender is missing"))?;
    if !matches!(gender.as_str(), "1" | "2" | "3") {
        return Err(JpkiError::basic("the gender is not 1, 2 or 3"));
    }
    let birth_text = birth.ok_or_else(|| JpkiError::basic("the birth date is missing"))?;
    let birth = BirthDate::parse(&birth_text).ok_or_else(|| {
        JpkiError::basic("the birth date is not EYYYYMMDD with era 0-5 and a valid date")
    })?;
    check_map(name_substitutes.as_deref(), &name, "name")?;
    check_map(address_substitutes.as_deref(), &address, "address")?;
    Ok(BasicInfo {
        name,
        name_substitutes,
        gender,
        birth,
        address,
        address_substitutes,
    })
}

fn required_text(value: Option<String>, what: &str) -> Result<String, JpkiError> {
    let value = value.ok_or_else(|| JpkiError::basic(format!("the {what} is missing")))?;
    if value.trim().is_empty() {
        return Err(JpkiError::basic(format!("the {what} is empty")));
    }
    if value.chars().count() > MAX_ITEM_CHARS || value.chars().any(char::is_control) {
        return Err(JpkiError::basic(format!(
            "the {what} is too long or has control characters"
        )));
    }
    Ok(value)
}

fn check_map(map: Option<&str>, field: &str, what: &str) -> Result<(), JpkiError> {
    let Some(map) = map else { return Ok(()) };
    if !map.chars().all(|c| c == '0' || c == '1') {
        return Err(JpkiError::basic(format!(
            "the {what} substitute map has digits other than 0 and 1"
        )));
    }
    if map.chars().count() != field.chars().count() {
        return Err(JpkiError::basic(format!(
            "the {what} substitute map does not have one digit per character"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuin_core::x509::extensions::other_name_san;

    fn items(entries: &[(ObjectIdentifier, &str)]) -> Result<BasicInfo, JpkiError> {
        let san = other_name_san(entries, false).unwrap_or_else(|e| panic!("{e}"));
        basic_info(Some(&vec![san]))
    }

    fn good() -> Vec<(ObjectIdentifier, &'static str)> {
        vec![
            (OID_ADDRESS, "東京都千代田区"),
            (OID_NAME, "山田　太郎"),
            (OID_BIRTH_DATE, "319900102"),
            (OID_GENDER, "1"),
            (OID_NAME_SUBSTITUTES, "00000"),
        ]
    }

    #[test]
    fn reads_items_by_oid_in_any_order() {
        let info = items(&good()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.name, "山田　太郎");
        assert_eq!(info.birth.iso(), "1990-01-02");
        assert_eq!(info.birth.era, Era::Showa);
        assert_eq!(info.address_substitutes, None);
    }

    #[test]
    fn refuses_malformed_items() {
        let with = |oid: ObjectIdentifier, value: &'static str| {
            let mut entries: Vec<_> = good().into_iter().filter(|(o, _)| *o != oid).collect();
            entries.push((oid, value));
            items(&entries).err().map(|e| e.code())
        };
        let bad = Some(shuin_core::ReasonCode::JpkiBasicInfoInvalid);
        assert_eq!(with(OID_GENDER, "4"), bad);
        assert_eq!(with(OID_GENDER, "12"), bad);
        assert_eq!(with(OID_BIRTH_DATE, "619900102"), bad);
        assert_eq!(with(OID_BIRTH_DATE, "319900230"), bad);
        assert_eq!(with(OID_BIRTH_DATE, "31990012"), bad);
        assert_eq!(with(OID_NAME_SUBSTITUTES, "00200"), bad);
        assert_eq!(with(OID_NAME_SUBSTITUTES, "0000"), bad);
        assert_eq!(with(OID_NAME, " "), bad);
        let missing: Vec<_> = good()
            .into_iter()
            .filter(|(o, _)| *o != OID_ADDRESS)
            .collect();
        assert!(items(&missing).is_err());
        let mut twice = good();
        twice.push((OID_NAME, "別人"));
        assert!(items(&twice).is_err());
        assert!(basic_info(None).is_err());
    }

    #[test]
    fn birth_dates() {
        let date = BirthDate::parse("019000229");
        assert_eq!(date, None, "1900 is not a leap year");
        let date = BirthDate::parse("020000229").unwrap_or_else(|| panic!("2000-02-29 is valid"));
        assert_eq!(
            (date.era, date.iso()),
            (Era::Unknown, "2000-02-29".to_owned())
        );
        assert_eq!(BirthDate::parse("３19900102"), None);
        assert_eq!(Era::from_digit('5').map(Era::digit), Some('5'));
    }
}
