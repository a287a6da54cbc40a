//! The pages' text, in Fluent files compiled into the binary (`locales/ja`,
//! `locales/en`). A key missing in a language is shown as the key and remembered, so the
//! server can log it and the tests can refuse it.

use crate::Lang;
use std::cell::RefCell;
use std::collections::HashMap;

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "ja",
        // No Unicode isolation marks around arguments: the pages are HTML, not UI text.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// The messages of one language, for one page being rendered.
#[derive(Debug)]
pub struct Messages {
    lang: Lang,
    missing: RefCell<Vec<String>>,
}

impl Messages {
    /// The messages of `lang`.
    pub fn new(lang: Lang) -> Self {
        Messages {
            lang,
            missing: RefCell::new(Vec::new()),
        }
    }

    /// The page's language.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The message `key` in this language; never another language's.
    pub fn get(&self, key: &str) -> String {
        self.lookup(key, None)
    }

    /// The message `key` with one argument `{ $name }`.
    pub fn with(&self, key: &str, name: &'static str, value: &str) -> String {
        let args = HashMap::from([(name, value.to_owned().into())]);
        self.lookup(key, Some(&args))
    }

    /// The keys that were asked for and exist in no Fluent file of this language.
    pub fn missing(&self) -> Vec<String> {
        self.missing.borrow().clone()
    }

    fn lookup(
        &self,
        key: &str,
        args: Option<&HashMap<&'static str, fluent_templates::fluent_bundle::FluentValue<'_>>>,
    ) -> String {
        match LOCALES.lookup_single_language(&self.lang.identifier(), key, args) {
            Ok(text) => text,
            Err(_) => {
                self.missing.borrow_mut().push(key.to_owned());
                key.to_owned()
            }
        }
    }
}

/// The message keys of a Fluent file's text (lines `key = ...`).
#[cfg(test)]
pub(crate) fn keys_of(ftl: &str) -> std::collections::BTreeSet<&str> {
    ftl.lines()
        .filter_map(|line| line.split_once(" ="))
        .map(|(key, _)| key)
        .filter(|key| {
            key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JA: &str = include_str!("../locales/ja/main.ftl");
    const EN: &str = include_str!("../locales/en/main.ftl");

    #[test]
    fn both_languages_have_the_same_keys() {
        let (ja, en) = (keys_of(JA), keys_of(EN));
        assert!(ja.len() > 20, "{} keys", ja.len());
        let only_ja: Vec<_> = ja.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&ja).collect();
        assert!(only_ja.is_empty(), "only in Japanese: {only_ja:?}");
        assert!(only_en.is_empty(), "only in English: {only_en:?}");
    }

    #[test]
    fn a_missing_key_is_remembered_and_never_filled_from_the_other_language() {
        let en = Messages::new(Lang::En);
        assert_eq!(en.get("no-such-key"), "no-such-key");
        assert_eq!(en.missing(), vec!["no-such-key".to_owned()]);
        assert_eq!(en.get("site-name"), "shuin certification authority");
        assert_eq!(Messages::new(Lang::Ja).get("site-name"), "shuin 認証局");
    }

    #[test]
    fn arguments_are_put_in_without_isolation_marks() {
        let en = Messages::new(Lang::En);
        let text = en.with("status-issued", "serial", "0A1B");
        assert!(text.contains("0A1B"), "{text}");
        assert!(!text.contains('\u{2068}'), "{text:?}");
    }
}
