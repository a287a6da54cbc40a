//! Matching the applicant's entries with the basic items of the JPKI certificate
//! (DESIGN.md section 3.3).
//!
//! Both sides are normalised: Unicode NFKC, then every white-space character removed
//! (U+3000 included); in addresses the hyphen-likes ‐ - ‑ – — − － are unified. Fields are
//! compared in the order name, birth date, address, gender; the first hard mismatch is
//! the answer. A mismatching name or address whose substitute map flags a 代替文字 goes to
//! review instead.
//!
//! **Era 0 (unknown) always goes to review**, whether or not the dates agree: J-LIS
//! records era 0 when the date of birth itself is not known for certain, so neither a
//! match nor a mismatch of the date proves anything and an operator must decide.

use crate::basic_info::{BasicInfo, Era};
use shuin_core::application::ApplicantEntries;
use shuin_core::{ReasonCode, ReviewReason};
use unicode_normalization::UnicodeNormalization;

/// The result of matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchOutcome {
    /// Every entry agrees with the certificate.
    Match,
    /// No hard mismatch, but a human must look (reasons sorted, without duplicates).
    Review(Vec<ReviewReason>),
    /// A rejection with its code and a detail for the applicant.
    Mismatch(ReasonCode, String),
}

/// Characters treated as the same hyphen in addresses.
const HYPHEN_LIKES: [char; 7] = [
    '\u{2010}', '-', '\u{2011}', '\u{2013}', '\u{2014}', '\u{2212}', '\u{FF0D}',
];

/// NFKC, then every white-space character removed.
pub fn normalize_text(text: &str) -> String {
    text.nfkc().filter(|c| !c.is_whitespace()).collect()
}

/// [`normalize_text`], then the hyphen-likes unified to `-`.
pub fn normalize_address(text: &str) -> String {
    normalize_text(text)
        .chars()
        .map(|c| if HYPHEN_LIKES.contains(&c) { '-' } else { c })
        .collect()
}

fn flags_substitutes(map: Option<&str>) -> bool {
    map.is_some_and(|m| m.contains('1'))
}

/// Compares what the applicant typed with what the card says.
pub fn match_applicant(entries: &ApplicantEntries, basic: &BasicInfo) -> MatchOutcome {
    let mut reviews = Vec::new();
    if normalize_text(&entries.name) != normalize_text(&basic.name) {
        if flags_substitutes(basic.name_substitutes.as_deref()) {
            reviews.push(ReviewReason::NameSubstituteCharacters);
        } else {
            return MatchOutcome::Mismatch(
                ReasonCode::ApplicantNameMismatch,
                "the name does not match the JPKI signing certificate".into(),
            );
        }
    }
    if basic.birth.era == Era::Unknown {
        reviews.push(ReviewReason::BirthDateEraUnknown);
    } else if normalize_text(&entries.birth_date) != basic.birth.iso() {
        return MatchOutcome::Mismatch(
            ReasonCode::ApplicantBirthDateMismatch,
            "the birth date does not match the JPKI signing certificate".into(),
        );
    }
    if normalize_address(&entries.address) != normalize_address(&basic.address) {
        if flags_substitutes(basic.address_substitutes.as_deref()) {
            reviews.push(ReviewReason::AddressSubstituteCharacters);
        } else {
            return MatchOutcome::Mismatch(
                ReasonCode::ApplicantAddressMismatch,
                "the address does not match the JPKI signing certificate".into(),
            );
        }
    }
    if let Some(gender) = &entries.gender {
        if normalize_text(gender) != basic.gender {
            return MatchOutcome::Mismatch(
                ReasonCode::ApplicantGenderMismatch,
                "the gender does not match the JPKI signing certificate".into(),
            );
        }
    }
    if reviews.is_empty() {
        MatchOutcome::Match
    } else {
        reviews.sort();
        reviews.dedup();
        MatchOutcome::Review(reviews)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::basic_info::BirthDate;

    fn card() -> BasicInfo {
        BasicInfo {
            name: "山田　太郎".into(),
            name_substitutes: Some("00000".into()),
            gender: "1".into(),
            birth: BirthDate {
                era: Era::Heisei,
                year: 1990,
                month: 1,
                day: 2,
            },
            address: "東京都千代田区霞が関一丁目１番１－２号".into(),
            address_substitutes: None,
        }
    }

    fn entries() -> ApplicantEntries {
        ApplicantEntries {
            name: "山田 太郎".into(),
            birth_date: "1990-01-02".into(),
            address: "東京都千代田区霞が関一丁目1番1-2号".into(),
            gender: Some("1".into()),
        }
    }

    #[test]
    fn normalisation_removes_spaces_and_unifies_width_and_hyphens() {
        assert_eq!(normalize_text("山田\u{3000}太郎 \t"), "山田太郎");
        assert_eq!(normalize_text("ＡＢＣ１２３"), "ABC123");
        for hyphen in HYPHEN_LIKES {
            assert_eq!(normalize_address(&format!("1{hyphen}2")), "1-2");
        }
        assert_eq!(
            normalize_address("1ー2"),
            "1ー2",
            "the long vowel mark is not a hyphen"
        );
        assert_eq!(match_applicant(&entries(), &card()), MatchOutcome::Match);
    }

    #[test]
    fn mismatches_in_order() {
        let mut e = entries();
        e.name = "山田 花子".into();
        e.gender = Some("2".into());
        assert!(matches!(
            match_applicant(&e, &card()),
            MatchOutcome::Mismatch(ReasonCode::ApplicantNameMismatch, _)
        ));
        let mut e = entries();
        e.birth_date = "1990-01-03".into();
        assert!(matches!(
            match_applicant(&e, &card()),
            MatchOutcome::Mismatch(ReasonCode::ApplicantBirthDateMismatch, _)
        ));
        let mut e = entries();
        e.address = "東京都港区".into();
        assert!(matches!(
            match_applicant(&e, &card()),
            MatchOutcome::Mismatch(ReasonCode::ApplicantAddressMismatch, _)
        ));
        let mut e = entries();
        e.gender = Some("2".into());
        assert!(matches!(
            match_applicant(&e, &card()),
            MatchOutcome::Mismatch(ReasonCode::ApplicantGenderMismatch, _)
        ));
        e.gender = None;
        assert_eq!(match_applicant(&e, &card()), MatchOutcome::Match);
    }

    #[test]
    fn substitutes_and_unknown_era_go_to_review() {
        let mut c = card();
        c.name_substitutes = Some("01000".into());
        c.address_substitutes = Some("1".repeat(c.address.chars().count()));
        c.birth.era = Era::Unknown;
        let mut e = entries();
        e.name = "山崎 太郎".into();
        e.address = "東京都千代田区霞ヶ関".into();
        assert_eq!(
            match_applicant(&e, &c),
            MatchOutcome::Review(vec![
                ReviewReason::NameSubstituteCharacters,
                ReviewReason::AddressSubstituteCharacters,
                ReviewReason::BirthDateEraUnknown,
            ])
        );
        // A hard mismatch later still wins over collected reviews.
        e.gender = Some("3".into());
        assert!(matches!(
            match_applicant(&e, &c),
            MatchOutcome::Mismatch(ReasonCode::ApplicantGenderMismatch, _)
        ));
        // Era 0 goes to review even when the date agrees.
        assert_eq!(
            match_applicant(
                &entries(),
                &BasicInfo {
                    birth: c.birth,
                    ..card()
                }
            ),
            MatchOutcome::Review(vec![ReviewReason::BirthDateEraUnknown])
        );
    }
}
