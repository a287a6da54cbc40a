//! The page language: Japanese by default, English one click away (`?lang=en`, kept in
//! a cookie), or as the browser asks (`Accept-Language`). No page mixes the two.

use fluent_templates::LanguageIdentifier;

/// The name of the cookie that keeps the chosen language.
pub const LANGUAGE_COOKIE: &str = "shuin_lang";

/// A page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 日本語 (the default).
    Ja,
    /// English.
    En,
}

impl Lang {
    /// Every language, the default first.
    pub const ALL: [Lang; 2] = [Lang::Ja, Lang::En];

    /// The BCP 47 tag (`ja`, `en`).
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// The other language, offered by the switch on every page.
    pub fn other(self) -> Lang {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }

    /// The language's name in itself, for the switch (`English`, `日本語`).
    pub fn endonym(self) -> &'static str {
        match self {
            Lang::Ja => "日本語",
            Lang::En => "English",
        }
    }

    /// `ja` or `en` (case-insensitive); anything else is not a page language.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("ja") {
            Some(Lang::Ja)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The language of a page: the one asked for in the query (`?lang=`), else the one
    /// kept in the cookie, else the first of `Accept-Language` (by weight) that a page
    /// exists in, else Japanese.
    pub fn negotiate(query: Option<&str>, cookie: Option<&str>, accept: Option<&str>) -> Lang {
        query
            .and_then(Lang::parse)
            .or_else(|| cookie.and_then(Lang::parse))
            .or_else(|| accept.and_then(from_accept_language))
            .unwrap_or(Lang::Ja)
    }

    pub(crate) fn identifier(self) -> LanguageIdentifier {
        match self {
            Lang::Ja => fluent_templates::langid!("ja"),
            Lang::En => fluent_templates::langid!("en"),
        }
    }
}

/// The most wanted page language of an `Accept-Language` header (RFC 9110 12.5.4);
/// among equal weights the first listed wins. Malformed parts are skipped.
fn from_accept_language(header: &str) -> Option<Lang> {
    let mut best: Option<(u16, Lang)> = None;
    for part in header.split(',').take(32) {
        let mut fields = part.split(';');
        let Some(lang) = fields.next().and_then(Lang::parse) else {
            continue;
        };
        let weight = fields
            .find_map(|f| f.trim().strip_prefix("q="))
            .map_or(Some(1000), quality)
            .unwrap_or(0);
        if weight > 0 && best.is_none_or(|(w, _)| weight > w) {
            best = Some((weight, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

/// A quality value (`0`, `0.8`, `1.000`) in thousandths.
fn quality(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{fraction:0<3}");
    let thousandths: u16 = padded.parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_is_the_default() {
        assert_eq!(Lang::negotiate(None, None, None), Lang::Ja);
        assert_eq!(Lang::negotiate(None, None, Some("fr, de;q=0.5")), Lang::Ja);
        assert_eq!(Lang::negotiate(Some("xx"), Some("yy"), Some("")), Lang::Ja);
    }

    #[test]
    fn the_query_wins_then_the_cookie_then_the_browser() {
        assert_eq!(
            Lang::negotiate(Some("en"), Some("ja"), Some("ja")),
            Lang::En
        );
        assert_eq!(Lang::negotiate(None, Some("en"), Some("ja")), Lang::En);
        assert_eq!(
            Lang::negotiate(None, None, Some("en-GB,en;q=0.9")),
            Lang::En
        );
    }

    #[test]
    fn accept_language_is_read_by_weight() {
        assert_eq!(from_accept_language("en;q=0.5, ja;q=0.8"), Some(Lang::Ja));
        assert_eq!(
            from_accept_language("fr, en-US;q=0.7, ja;q=0.3"),
            Some(Lang::En)
        );
        assert_eq!(from_accept_language("en;q=0, ja;q=0.1"), Some(Lang::Ja));
        assert_eq!(from_accept_language("ja;q=2, en;q=abc"), None);
        assert_eq!(from_accept_language("ja-JP;q=1.0"), Some(Lang::Ja));
    }
}
