//! The auditor's downloads (`/console/audit`): the audit pack and an export of the
//! books, each as one tar file. Like `shuin audit pack`, each is asked for by a signed
//! request (`audit_pack`, or `ledger_read` naming the export) that the gate checks and
//! ledgers first ([`super::api`]); its answer is a one-time link, for this session only,
//! to `/console/downloads/{token}`, which makes the download then. One is made at a
//! time on each console listener; it is written into a temporary directory (off the
//! async workers), made into a tar file there and streamed from that file, whose
//! directory is gone before the first byte leaves.

use super::links::SessionLinks;
use super::sessions::WebSession;
use super::{console_page, message, page_lang, request, signed_in, Console, ConsoleQuery};
use crate::admin_socket::Download;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use shuin_core::Action;
use std::sync::Arc;
use std::time::Duration;

/// How long a download's link is good for.
const LINK_TTL: Duration = Duration::from_secs(300);
/// Links outstanding at most (the oldest goes first beyond), and of one session.
const MAX_LINKS: usize = 64;
const LINKS_PER_SESSION: usize = 4;

/// The download a signed request asks for: `audit_pack` with `download = audit_pack`,
/// or `ledger_read` with `download = ledger_export`.
pub(super) fn asked(request: &shuin_books::OperatorRequest) -> Option<Download> {
    match (request.action, request.param("download")) {
        (Action::AuditPack, Some("audit_pack")) => Some(Download::AuditPack),
        (Action::LedgerRead, Some("ledger_export")) => Some(Download::LedgerExport),
        _ => None,
    }
}

/// The links given out and not yet used, and the one download being made.
pub(crate) struct Downloads {
    links: SessionLinks<Download>,
    making: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Downloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downloads").finish_non_exhaustive()
    }
}

impl Downloads {
    /// No link yet; one download at a time.
    pub(crate) fn new() -> Downloads {
        Downloads {
            links: SessionLinks::new(LINK_TTL, MAX_LINKS, LINKS_PER_SESSION),
            making: tokio::sync::Semaphore::new(1),
        }
    }

    /// A one-time link to `download` for `web`, whose request for it is in the books.
    pub(super) fn link(&self, web: &Arc<WebSession>, download: Download, token: String) -> String {
        let path = format!("/console/downloads/{token}");
        self.links.open(web, token, download);
        path
    }
}

/// `/console/audit`: what the auditor may download, and how to check it.
pub(super) async fn page(
    State(console): State<Console>,
    query: ConsoleQuery,
    headers: HeaderMap,
) -> Response {
    let lang = page_lang(query.lang.as_deref(), &headers);
    let path = "/console/audit";
    let web = match super::books::reader(&console, &headers, path, lang).await {
        Ok(web) => web,
        Err(refused) => return refused,
    };
    let key = console.audit_key.current(console.store.as_ref()).await;
    let key_sha256 = match key {
        Ok(key) => key.map(|k| shuin_ledger::trust::AuditKeyPin::of_key(&k).hex()),
        Err(e) => {
            tracing::error!(error = %e, "the console could not read the audit key");
            return message(&console, path, lang, Some(&web), super::UNAVAILABLE, None);
        }
    };
    let rendered = shuin_web::console_books::audit(
        &request(path, lang),
        &signed_in(&console, &web),
        key_sha256.as_deref(),
    );
    console_page(rendered, StatusCode::OK, lang)
}

/// `GET /console/downloads/{token}`: the download the link was given for, made now.
pub(super) async fn download(
    State(console): State<Console>,
    Path(token): Path<String>,
    query: ConsoleQuery,
    headers: HeaderMap,
) -> Response {
    let lang = page_lang(query.lang.as_deref(), &headers);
    let path = "/console/audit";
    let Some(web) = console.session(&headers).await else {
        return Redirect::to("/console/signin").into_response();
    };
    let gone = (
        "console-download-gone-title",
        "console-download-gone-text",
        StatusCode::NOT_FOUND,
    );
    let busy = (
        "console-download-busy-title",
        "console-download-busy-text",
        StatusCode::SERVICE_UNAVAILABLE,
    );
    // One at a time: a second waits for no one, and keeps its link.
    let Ok(_making) = console.downloads.making.try_acquire() else {
        return message(&console, path, lang, Some(&web), busy, None);
    };
    let Some(download) = console.downloads.links.take(&web, &token) else {
        return message(&console, path, lang, Some(&web), gone, None);
    };
    match made(&console, download).await {
        Ok((name, file)) => tar_response(&name, file),
        Err(code) => {
            let failed = (
                "console-download-failed-title",
                "console-download-failed-text",
                StatusCode::SERVICE_UNAVAILABLE,
            );
            message(&console, path, lang, Some(&web), failed, Some(&code))
        }
    }
}

/// Makes `download` and its tar file; answers the file's name and the open file, whose
/// directory is already removed. A failure answers its stable code.
async fn made(console: &Console, download: Download) -> Result<(String, std::fs::File), String> {
    let stamp = shuin_core::timefmt::rfc3339(console.app.clock.now())
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>();
    let name = match download {
        Download::AuditPack => format!("shuin-audit-pack-{stamp}"),
        Download::LedgerExport => format!("shuin-ledger-export-{stamp}"),
    };
    let work = tempfile::tempdir().map_err(|e| {
        tracing::error!(error = %e, "no temporary directory for a console download");
        "download_write_failed".to_owned()
    })?;
    let out = work.path().join(&name);
    // Writing and verifying an export is long work on files: off the async workers.
    let written = {
        let (writer, out, handle) = (
            console.console.clone(),
            out.clone(),
            tokio::runtime::Handle::current(),
        );
        tokio::task::spawn_blocking(move || handle.block_on(writer.write_download(download, &out)))
            .await
            .unwrap_or_else(|e| Err(shuin_books::console::Outcome::failed(e)))
    };
    if let Err(outcome) = written {
        let (code, message) = match &outcome {
            shuin_books::console::Outcome::Refused { code, message } => (code.clone(), message),
            shuin_books::console::Outcome::Failed { message } => {
                ("download_failed".to_owned(), message)
            }
            shuin_books::console::Outcome::Done { .. } => ("download_failed".to_owned(), &name),
        };
        tracing::error!(
            download = download.as_str(),
            code,
            message,
            "a console download failed"
        );
        return Err(code);
    }
    let file = tokio::task::spawn_blocking(move || tar_of(work, &name).map(|file| (name, file)))
        .await
        .map_err(|e| e.to_string())
        .and_then(|made| made.map_err(|e| e.to_string()));
    file.map_err(|e| {
        tracing::error!(error = %e, "a console download could not be packed");
        "download_write_failed".to_owned()
    })
}

/// The directory `name` in `work` as a tar file, opened; `work` is removed.
fn tar_of(work: tempfile::TempDir, name: &str) -> std::io::Result<std::fs::File> {
    let tar_path = work.path().join(format!("{name}.tar"));
    let mut builder = tar::Builder::new(std::fs::File::create(&tar_path)?);
    builder.mode(tar::HeaderMode::Deterministic);
    builder.follow_symlinks(false);
    builder.append_dir_all(name, work.path().join(name))?;
    builder.into_inner()?.sync_all()?;
    let file = std::fs::File::open(&tar_path)?;
    work.close()?;
    Ok(file)
}

fn tar_response(name: &str, file: std::fs::File) -> Response {
    let length = file.metadata().map(|m| m.len()).ok();
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    // The name is ASCII letters, digits and hyphens.
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.tar\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
