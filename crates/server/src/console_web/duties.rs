//! The console pages of the secure zone's other decisions: the LRA's revocation
//! (`revoke`) and the responsible person's control of automatic approval. The pages
//! only show and offer; each decision is a request the passkey signs (`super::api`).

use super::{console_page, message, page_lang, request, signed_in, Console, ConsoleQuery};
use super::{FORBIDDEN, UNAVAILABLE};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use shuin_core::{Action, Zone};
use shuin_web::console_duties::{self as pages, AutomationView};
use std::sync::Arc;

/// The page's language and the session, if it may do `action` on this listener; the
/// refusal page otherwise.
async fn allowed(
    console: &Console,
    headers: &HeaderMap,
    query: &ConsoleQuery,
    path: &str,
    action: Action,
) -> Result<(PageLang, Arc<super::sessions::WebSession>), Response> {
    let lang = page_lang(query.lang.as_deref(), headers);
    let Some(web) = console.session(headers).await else {
        return Err(Redirect::to("/console/signin").into_response());
    };
    if console.zone != Zone::Secure {
        return Err(message(
            console,
            path,
            lang,
            Some(&web),
            FORBIDDEN,
            Some("zone_refused"),
        ));
    }
    match console.permits(&web, action).await {
        Ok(true) => Ok((lang, web)),
        Ok(false) => Err(message(console, path, lang, Some(&web), FORBIDDEN, None)),
        Err(()) => Err(message(console, path, lang, Some(&web), UNAVAILABLE, None)),
    }
}

/// The language of a page, and the one asked for, if any.
type PageLang = (shuin_web::Lang, Option<shuin_web::Lang>);

pub(super) async fn revoke(
    State(console): State<Console>,
    query: ConsoleQuery,
    headers: HeaderMap,
) -> Response {
    let path = "/console/revoke";
    let (lang, web) = match allowed(&console, &headers, &query, path, Action::Revoke).await {
        Ok(allowed) => allowed,
        Err(refused) => return refused,
    };
    let revoked = match query.done.as_deref() {
        Some("revoke") => query.id.as_deref(),
        _ => None,
    };
    let rendered = pages::revoke(&request(path, lang), &signed_in(&console, &web), revoked);
    console_page(rendered, StatusCode::OK, lang)
}

pub(super) async fn registrations(
    State(console): State<Console>,
    query: ConsoleQuery,
    headers: HeaderMap,
) -> Response {
    let path = "/console/registrations";
    let (lang, web) =
        match allowed(&console, &headers, &query, path, Action::RegistrationCreate).await {
            Ok(allowed) => allowed,
            Err(refused) => return refused,
        };
    let mut filter = pages::RegistrationFilter {
        state: query.state.clone().unwrap_or_default(),
        matching: query.q.as_deref().unwrap_or_default().trim().to_owned(),
        older: None,
    };
    let rows = match registrations_made(&console, &query, &mut filter).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "the console could not list the registrations");
            return message(&console, path, lang, Some(&web), UNAVAILABLE, None);
        }
    };
    let rendered = pages::registrations(
        &request(path, lang),
        &signed_in(&console, &web),
        &rows,
        &filter,
    );
    console_page(rendered, StatusCode::OK, lang)
}

/// The page of registrations the query asks for; notes in `filter` where older ones
/// start. A state the list does not know lists every state.
async fn registrations_made(
    console: &Console,
    query: &ConsoleQuery,
    filter: &mut pages::RegistrationFilter,
) -> Result<Vec<pages::RegistrationListRow>, shuin_ra::RaError> {
    use shuin_store::lifecycle::{RegistrationQuery, RegistrationState};
    let state = RegistrationState::parse(&filter.state);
    if state.is_none() {
        filter.state.clear();
    }
    // A time beyond what the clock can name is no time: the newest page.
    let before = query.before.and_then(|secs| {
        let at = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs))?;
        Some((at, query.before_id.clone().unwrap_or_default()))
    });
    let asked = RegistrationQuery {
        state,
        matching: (!filter.matching.is_empty()).then(|| filter.matching.clone()),
        before,
        limit: shuin_ra::REGISTRATIONS_SHOWN,
    };
    let rows = console.app.ra.registrations(&asked).await?;
    let full = u32::try_from(rows.len()).is_ok_and(|n| n == shuin_ra::REGISTRATIONS_SHOWN);
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    filter.older = rows
        .last()
        .filter(|_| full)
        .map(|last| (secs(last.created_at), last.id.clone()));
    let time = shuin_core::timefmt::rfc3339;
    Ok(rows
        .into_iter()
        .map(|row| pages::RegistrationListRow {
            created_at: time(row.created_at),
            expires_at: time(row.expires_at),
            state: row.state.as_str().to_owned(),
            expired: row.expired,
            failed_attempts: row.failed_attempts,
            application_id: row.application_id,
            created_by: row.created_by,
            id: row.id,
        })
        .collect())
}

pub(super) async fn automation(
    State(console): State<Console>,
    query: ConsoleQuery,
    headers: HeaderMap,
) -> Response {
    let path = "/console/automation";
    let (lang, web) =
        match allowed(&console, &headers, &query, path, Action::AutomationReview).await {
            Ok(allowed) => allowed,
            Err(refused) => return refused,
        };
    let status = match console.app.ra.automation_status().await {
        Ok(status) => status,
        Err(e) => {
            tracing::error!(error = %e, "the console could not read the automation state");
            return message(&console, path, lang, Some(&web), UNAVAILABLE, None);
        }
    };
    let now = shuin_core::timefmt::rfc3339(console.app.clock.now());
    let since = status
        .schedule
        .last_signed_off
        .clone()
        .unwrap_or(now)
        .chars()
        .take(10)
        .collect();
    let view = AutomationView {
        configured: status.configured,
        suspended: status.state.as_ref().is_some_and(|s| s.suspended),
        changed: status.state.map(|s| (s.by, s.at, s.reason)),
        last_signed_off: status.schedule.last_signed_off,
        next_review_due: status.schedule.next_review_due,
        overdue: status.schedule.overdue,
        review_since: since,
        last_review: status.last_review.as_ref().map(review_figures),
    };
    let rendered = pages::automation(
        &request(path, lang),
        &signed_in(&console, &web),
        &view,
        query.done.as_deref(),
    );
    console_page(rendered, StatusCode::OK, lang)
}

/// The reports of reviews made without sign-off, kept for their session.
pub(crate) type Reviews = super::links::SessionLinks<Arc<shuin_web::console_review::ReviewReport>>;

/// Reviews are kept for fifteen minutes, at most 32, two of one session.
pub(super) fn reviews() -> Reviews {
    Reviews::new(std::time::Duration::from_secs(15 * 60), 32, 2)
}

/// The report of the review `result` answers, if `request` asked for one without
/// sign-off (what the page shows, not the whole review).
pub(super) fn preview(
    request: &shuin_books::OperatorRequest,
    result: &serde_json::Value,
) -> Option<Arc<shuin_web::console_review::ReviewReport>> {
    let signed_off = request
        .params
        .get("sign_off")
        .and_then(serde_json::Value::as_bool);
    if request.action != Action::AutomationReview || signed_off != Some(false) {
        return None;
    }
    let review: shuin_ra::automation::AutomationReview =
        serde_json::from_value(result.clone()).ok()?;
    Some(Arc::new(report_of(&review)))
}

/// `/console/automation/reviews/{token}`: a review made for this session, with the
/// sign-off of its period.
pub(super) async fn review(
    State(console): State<Console>,
    axum::extract::Path(token): axum::extract::Path<String>,
    query: ConsoleQuery,
    headers: HeaderMap,
) -> Response {
    let path = "/console/automation";
    let (lang, web) =
        match allowed(&console, &headers, &query, path, Action::AutomationReview).await {
            Ok(allowed) => allowed,
            Err(refused) => return refused,
        };
    let Some(report) = console.reviews.get(&web, &token) else {
        let gone = (
            "console-review-report-gone",
            "console-review-report-gone-text",
            StatusCode::NOT_FOUND,
        );
        return message(&console, path, lang, Some(&web), gone, None);
    };
    let rendered = shuin_web::console_review::review(
        &request(path, lang),
        &signed_in(&console, &web),
        &report,
    );
    console_page(rendered, StatusCode::OK, lang)
}

/// What the page shows of `review`.
fn report_of(
    review: &shuin_ra::automation::AutomationReview,
) -> shuin_web::console_review::ReviewReport {
    use shuin_web::console_review::{ExceptionRow, ReviewReport, SignalRow};
    let signals = review
        .signals
        .iter()
        .map(|signal| {
            let kind = signal["signal"].as_str().unwrap_or_default().to_owned();
            let figures = signal
                .as_object()
                .map(|members| {
                    members
                        .iter()
                        .filter(|(name, _)| name.as_str() != "signal")
                        .map(|(name, value)| {
                            let value = value
                                .as_str()
                                .map_or_else(|| value.to_string(), str::to_owned);
                            (name.clone(), value)
                        })
                        .collect()
                })
                .unwrap_or_default();
            SignalRow { kind, figures }
        })
        .collect();
    let exceptions = review
        .recheck
        .exceptions
        .iter()
        .flat_map(|issuance| {
            issuance.exceptions.iter().map(move |finding| ExceptionRow {
                seq: issuance.seq,
                time: issuance.time.clone(),
                serial: issuance.serial.clone().unwrap_or_else(|| "-".into()),
                application: issuance.application.clone().unwrap_or_else(|| "-".into()),
                code: finding.code.code().to_owned(),
                detail: finding.detail.clone(),
            })
        })
        .collect();
    let counts = |map: &std::collections::BTreeMap<String, usize>| {
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    };
    ReviewReport {
        period: (review.since.clone(), review.until.clone()),
        applications: review.applications,
        automatic_decisions: review.automatic_decisions.len(),
        pending_review: counts(&review.pending_review),
        rejections: counts(&review.rejections),
        signals,
        rechecked: (
            review.recheck.issuances_checked,
            review.recheck.automatic,
            review.recheck.lra_approved,
        ),
        exceptions,
        since: review.since.chars().take(10).collect(),
    }
}

/// `/console/monitoring`: the figures of `/metrics`, for any operator whose roles the
/// policy lets ask for the status here (monitoring staff from the remote zone).
pub(super) async fn monitoring(
    State(console): State<Console>,
    query: ConsoleQuery,
    headers: HeaderMap,
) -> Response {
    let lang = page_lang(query.lang.as_deref(), &headers);
    let path = "/console/monitoring";
    let Some(web) = console.session(&headers).await else {
        return Redirect::to("/console/signin").into_response();
    };
    match console.permits(&web, Action::Status).await {
        Ok(true) => {}
        Ok(false) => return message(&console, path, lang, Some(&web), FORBIDDEN, None),
        Err(()) => return message(&console, path, lang, Some(&web), UNAVAILABLE, None),
    }
    let sealing = crate::metrics::Sealing::Console(console.console.clone());
    let exposition = crate::metrics::exposition(&console.app, &sealing).await;
    let rendered = shuin_web::console_monitoring(
        &request(path, lang),
        &signed_in(&console, &web),
        &exposition,
    );
    console_page(rendered, StatusCode::OK, lang)
}

/// The figures of a signed-off review, from its entry.
fn review_figures(entry: &shuin_ledger::Entry) -> shuin_web::console_duties::ReviewFigures {
    let p = &entry.payload;
    let number = |key: &str| p[key].as_u64().unwrap_or(0);
    let text = |key: &str| p[key].as_str().unwrap_or_default().to_owned();
    shuin_web::console_duties::ReviewFigures {
        by: entry.actor.name.clone(),
        period: (text("since"), text("until")),
        automatic_decisions: number("automatic_decisions"),
        applications: number("applications"),
        issuances_checked: number("issuances_checked"),
        signals: p["signals"]
            .as_array()
            .map_or(0, |a| u64::try_from(a.len()).unwrap_or(u64::MAX)),
        exceptions: p["exceptions"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(code, n)| (code.clone(), n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// `/console/passkeys`: the operator's own passkeys, each removable.
pub(super) async fn passkeys(
    State(console): State<Console>,
    query: ConsoleQuery,
    headers: HeaderMap,
) -> Response {
    let path = "/console/passkeys";
    let (lang, web) = match allowed(&console, &headers, &query, path, Action::PasskeyRemove).await {
        Ok(allowed) => allowed,
        Err(refused) => return refused,
    };
    let roster = match console.console.roster().await {
        Ok(roster) => roster,
        Err(e) => {
            tracing::error!(error = %e, "the console could not read the organisation book");
            return message(&console, path, lang, Some(&web), UNAVAILABLE, None);
        }
    };
    let rows: Vec<pages::PasskeyRow> = roster
        .passkeys_of(web.name())
        .iter()
        .map(|p| pages::PasskeyRow {
            credential_id: p.key.credential_id.clone(),
            registered_at: p.registered_at.clone(),
            current: p.key.credential_id == web.credential_id,
        })
        .collect();
    let removed = query.done.as_deref() == Some("passkey_remove");
    let rendered = pages::passkeys(
        &request(path, lang),
        &signed_in(&console, &web),
        &rows,
        removed,
    );
    console_page(rendered, StatusCode::OK, lang)
}
