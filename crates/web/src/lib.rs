//! The web pages (DESIGN.md section 12): rendered on the server from templates compiled
//! into the binary (askama), with the text of both languages in Fluent files. Japanese is
//! the default and English one click away; no page mixes the two. There is no script:
//! the Content-Security-Policy below allows only shuin's own stylesheet.
//!
//! This crate renders and nothing else: no HTTP, no store. `shuin-server` gathers the
//! facts, serves the pages on the listeners of their zone and sets the headers.

pub mod console;
pub mod console_books;
pub mod console_duties;
pub mod console_review;
#[cfg(test)]
mod console_tests;
pub mod difference;
mod facts;
mod lang;
mod messages;
mod monitoring;
mod pages;
#[cfg(test)]
mod pages_tests;

pub use facts::{fingerprint, CertificateFacts, CrlFacts};
pub use lang::{Lang, LANGUAGE_COOKIE};
pub use messages::Messages;
pub use monitoring::{console_monitoring, monitoring, parse_exposition, Family};
pub use pages::{
    apply, disclosure, page_paths, query_escape, repository, revoke, status, Audience, PageRequest,
    RenderError, Rendered, RepositoryFacts, Site, StatusView,
};

/// The icon every page names (`/static/favicon.svg`), so that browsers ask for no
/// `/favicon.ico`.
pub const FAVICON: &str = include_str!("../static/favicon.svg");

/// The stylesheet, served at `/static/shuin.css`.
pub const STYLESHEET: &str = include_str!("../static/shuin.css");

/// The Content-Security-Policy of every page: nothing but shuin's own stylesheet (no
/// script at all, no inline style), forms only to shuin, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
