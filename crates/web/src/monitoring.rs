//! The monitoring page (remote zone, DESIGN.md section 12): the very figures of
//! `/metrics`, read back from its Prometheus text, grouped by family, each family named
//! in the page's language.

use crate::messages::Messages;
use crate::pages::{finish, Chrome, PageRequest, RenderError, Rendered};
use askama::Template;

/// One metric family of the exposition text: its name and its samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// The metric name (`shuin_ledger_entries`).
    pub name: String,
    /// Each sample: its labels as written (`crl="ca"`, or empty) and its value.
    pub samples: Vec<(String, String)>,
}

/// The families of a Prometheus text exposition (version 0.0.4), in their order. Lines
/// that are neither comments nor samples are skipped.
pub fn parse_exposition(text: &str) -> Vec<Family> {
    let mut families: Vec<Family> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').unwrap_or(rest)),
            None => (series, ""),
        };
        let sample = (labels.to_owned(), value.to_owned());
        match families.last_mut() {
            Some(family) if family.name == name => family.samples.push(sample),
            _ => families.push(Family {
                name: name.to_owned(),
                samples: vec![sample],
            }),
        }
    }
    families
}

struct Shown {
    key: String,
    name: String,
    samples: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "monitoring.html")]
struct MonitoringPage<'a> {
    t: &'a Messages,
    chrome: Chrome,
    families: Vec<Shown>,
}

/// `/monitoring`: every family of `exposition` (the `/metrics` text).
pub fn monitoring(request: &PageRequest<'_>, exposition: &str) -> Result<Rendered, RenderError> {
    monitoring_page(request, Chrome::new(request, ""), exposition)
}

/// `/console/monitoring`: the same page in the web console, for an operator signed in
/// with a passkey.
pub fn console_monitoring(
    request: &PageRequest<'_>,
    signed_in: &crate::console::SignedIn<'_>,
    exposition: &str,
) -> Result<Rendered, RenderError> {
    let chrome = crate::console::chrome(request, Some(signed_in), "");
    monitoring_page(request, chrome, exposition)
}

fn monitoring_page(
    request: &PageRequest<'_>,
    chrome: Chrome,
    exposition: &str,
) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let families = parse_exposition(exposition)
        .into_iter()
        .map(|family| Shown {
            key: format!("metric-{}", family.name.replace('_', "-")),
            samples: family
                .samples
                .into_iter()
                .map(|(labels, value)| (labels, shown_value(&family.name, value)))
                .collect(),
            name: family.name,
        })
        .collect();
    let page = MonitoringPage {
        t: &t,
        chrome,
        families,
    };
    finish(page.render(), &t)
}

/// A value as people read it: a time (seconds since the epoch) also in RFC 3339.
fn shown_value(name: &str, value: String) -> String {
    let is_time = name.ends_with("_update_seconds") || name == "shuin_time_seconds";
    match value.parse::<u64>() {
        Ok(secs) if is_time => {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            format!("{} ({value})", shuin_core::timefmt::rfc3339(at))
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Audience, Lang};

    /// Every family `/metrics` writes (crates/server/src/metrics.rs), as it writes them.
    pub(crate) const EXPOSITION: &str = "# HELP shuin_up 1 while the server answers.\n\
# TYPE shuin_up gauge\nshuin_up 1\nshuin_sealed 0\nshuin_ledger_entries 42\n\
shuin_ledger_checkpoint_size 40\nshuin_crl_next_update_seconds{crl=\"ca\"} 1800000000\n\
shuin_crl_number{crl=\"ca\"} 3\nshuin_time_seconds 1799990000\n\
shuin_http_responses_total{zone=\"remote\",class=\"2xx\"} 5\n\
shuin_refusals_unledgered_total{reason=\"revocation_not_authorized\"} 0\n\
shuin_jpki_crls 1\nshuin_jpki_crl_this_update_seconds{anchor=\"abababababababab\"} 1799900000\n\
shuin_jpki_crl_next_update_seconds{anchor=\"abababababababab\"} 1800000000\n\
shuin_key_sessions{key_backend=\"software\",pool=\"issuing\"} 2\n\
shuin_key_signatures_in_flight{key_backend=\"software\",pool=\"issuing\"} 0\n\
shuin_key_signatures_waiting{key_backend=\"software\",pool=\"issuing\"} 0\n\
shuin_key_signatures_total{key_backend=\"software\",pool=\"issuing\"} 9\n\
shuin_key_signature_errors_total{key_backend=\"software\",pool=\"issuing\"} 0\n\
shuin_process_open_fds 24\nshuin_process_resident_memory_bytes 50331648\n";

    #[test]
    fn the_exposition_is_read_back_by_family() {
        let families = parse_exposition(EXPOSITION);
        assert_eq!(families.len(), 19);
        let crl = families
            .iter()
            .find(|f| f.name == "shuin_crl_number")
            .unwrap();
        assert_eq!(crl.samples, vec![("crl=\"ca\"".to_owned(), "3".to_owned())]);
        assert!(parse_exposition("").is_empty());
    }

    #[test]
    fn every_family_is_named_in_both_languages() {
        for lang in Lang::ALL {
            let request = PageRequest {
                path: "/monitoring",
                lang,
                audience: Audience::Monitoring,
            };
            let page = monitoring(&request, EXPOSITION).unwrap();
            assert!(page.missing.is_empty(), "{lang:?}: {:?}", page.missing);
            assert!(page.html.contains("<code>shuin_ledger_entries</code>"));
            assert!(
                page.html.contains("2027-01-15T08:00:00Z (1800000000)"),
                "{}",
                page.html
            );
            assert!(!page.html.contains("href=\"/status\""), "no applicant page");
        }
    }
}
