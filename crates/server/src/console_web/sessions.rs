//! The web console's sessions: opened by a passkey assertion, recorded in the facility
//! book like every operator session (`session.opened`, `session.closed` with the counts),
//! named by a random cookie (`__Host-shuin_console`: `Secure`, `HttpOnly`,
//! `SameSite=Strict`) and ended by sign-out or after [`IDLE`] without a request.

use crate::operator_api::{ClientIdentity, Session, Sessions};
use base64::Engine;
use sha2::{Digest, Sha256};
use shuin_core::RandomSource;
use shuin_store::StoreError;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The session cookie's name; `__Host-` makes browsers keep it only from a secure origin,
/// for the whole host and no other.
pub const COOKIE: &str = "__Host-shuin_console";
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(15 * 60);
/// Open sessions at most; sign-in is refused beyond.
const MAX_SESSIONS: usize = 1024;
/// Open sessions of one operator at most: a new sign-in beyond closes their session
/// seen least recently, so one operator cannot hold the console's sessions.
pub const MAX_SESSIONS_PER_OPERATOR: usize = 8;

/// One signed-in operator.
#[derive(Debug)]
pub struct WebSession {
    /// The operator session as the books have it.
    pub session: Arc<Session>,
    /// The token every form and request of the session carries (CSRF).
    pub csrf: String,
    /// The passkey that signed in: every action must be signed by it.
    pub credential_id: String,
    last_seen: Mutex<Instant>,
}

impl WebSession {
    /// The operator's name.
    pub fn name(&self) -> &str {
        &self.session.identity.name
    }

    /// Whether `csrf` is the session's token.
    pub fn csrf_matches(&self, csrf: &str) -> bool {
        let (a, b) = (Sha256::digest(csrf.as_bytes()), Sha256::digest(&self.csrf));
        a == b
    }
}

/// Why no session was opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Too many sessions are open.
    #[error("too many console sessions are open")]
    Full,
    /// No randomness.
    #[error("randomness: {0}")]
    Random(String),
    /// The opening could not be recorded: no entry, no session.
    #[error("the session could not be recorded: {0}")]
    Books(#[from] StoreError),
}

/// The open sessions of one console listener.
pub struct WebSessions {
    books: Sessions,
    live: Mutex<HashMap<[u8; 32], Arc<WebSession>>>,
}

impl std::fmt::Debug for WebSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSessions").finish_non_exhaustive()
    }
}

fn token(rng: &dyn RandomSource) -> Result<String, OpenError> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes)
        .map_err(|e| OpenError::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn cookie_key(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

impl WebSessions {
    /// The sessions of a listener, recorded through `books`.
    pub fn new(books: Sessions) -> WebSessions {
        WebSessions {
            books,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// Opens a session for `identity` signed in with `credential_id` from `peer`:
    /// recorded first; returns the cookie value and the session.
    pub async fn open(
        &self,
        identity: ClientIdentity,
        credential_id: String,
        peer: SocketAddr,
        rng: &dyn RandomSource,
    ) -> Result<(String, Arc<WebSession>), OpenError> {
        self.sweep().await;
        let key_sha256 = identity.key_sha256.clone();
        if self.lock().len() >= MAX_SESSIONS {
            return Err(OpenError::Full);
        }
        let cookie = token(rng)?;
        let csrf = token(rng)?;
        let session = self.books.open(identity, peer).await?;
        let web = Arc::new(WebSession {
            session,
            csrf,
            credential_id,
            last_seen: Mutex::new(Instant::now()),
        });
        self.lock().insert(cookie_key(&cookie), web.clone());
        // Beyond the cap (also when sign-ins of one operator raced), their sessions seen
        // least recently are closed, recorded like any other.
        while let Some(oldest) = self.oldest_beyond_cap(&key_sha256) {
            self.books.close(&oldest.session).await;
        }
        Ok((cookie, web))
    }

    /// The session of the operator whose key is `key_sha256` seen least recently, taken
    /// out, when they hold more than [`MAX_SESSIONS_PER_OPERATOR`].
    fn oldest_beyond_cap(&self, key_sha256: &str) -> Option<Arc<WebSession>> {
        let mut live = self.lock();
        let seen = |web: &WebSession| *web.last_seen.lock().unwrap_or_else(|p| p.into_inner());
        let theirs: Vec<([u8; 32], Instant)> = live
            .iter()
            .filter(|(_, web)| web.session.identity.key_sha256 == key_sha256)
            .map(|(key, web)| (*key, seen(web)))
            .collect();
        if theirs.len() <= MAX_SESSIONS_PER_OPERATOR {
            return None;
        }
        let (key, _) = theirs.into_iter().min_by_key(|(_, at)| *at)?;
        live.remove(&key)
    }

    /// How many sessions are open.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// The live session named by `cookie`, touched; an idle one is closed and `None`.
    pub async fn find(&self, cookie: &str) -> Option<Arc<WebSession>> {
        let key = cookie_key(cookie);
        let found = self.lock().get(&key).cloned()?;
        let idle = {
            let mut seen = found.last_seen.lock().unwrap_or_else(|p| p.into_inner());
            let idle = seen.elapsed() > IDLE;
            if !idle {
                *seen = Instant::now();
            }
            idle
        };
        if idle {
            self.lock().remove(&key);
            self.books.close(&found.session).await;
            return None;
        }
        Some(found)
    }

    /// Ends the session named by `cookie` (sign-out).
    pub async fn close(&self, cookie: &str) {
        let removed = self.lock().remove(&cookie_key(cookie));
        if let Some(web) = removed {
            self.books.close(&web.session).await;
        }
    }

    /// Closes every idle session.
    pub async fn sweep(&self) {
        let idle: Vec<Arc<WebSession>> = {
            let mut live = self.lock();
            let keys: Vec<[u8; 32]> = live
                .iter()
                .filter(|(_, web)| {
                    web.last_seen
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .elapsed()
                        > IDLE
                })
                .map(|(key, _)| *key)
                .collect();
            keys.iter().filter_map(|key| live.remove(key)).collect()
        };
        for web in idle {
            self.books.close(&web.session).await;
        }
    }

    /// Closes every session (at shutdown).
    pub async fn close_all(&self) {
        let all: Vec<Arc<WebSession>> = self.lock().drain().map(|(_, web)| web).collect();
        for web in all {
            self.books.close(&web.session).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<WebSession>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The value of the session cookie in a `Cookie` header.
pub fn cookie_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then_some(value)
        })
}

/// The `Set-Cookie` value that names a session, or (`None`) that ends it.
pub fn set_cookie(value: Option<&str>) -> String {
    match value {
        Some(value) => {
            format!("{COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Strict")
        }
        None => format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use shuin_core::{OsRandom, SystemClock, Zone};

    #[tokio::test]
    async fn one_operator_holds_a_bounded_number_of_sessions_and_the_oldest_goes() {
        let store = Arc::new(shuin_store::sqlite::SqliteStore::in_memory().await.unwrap());
        let books = Sessions::new(store.clone(), Arc::new(SystemClock), Zone::Secure);
        let sessions = WebSessions::new(books);
        let identity = |name: &str| ClientIdentity {
            name: name.into(),
            key_sha256: format!("{name}-key"),
            certificate_sha256: format!("{name}-cert"),
        };
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut cookies = Vec::new();
        for _ in 0..MAX_SESSIONS_PER_OPERATOR {
            let (cookie, _) = sessions
                .open(identity("a"), "cred".into(), peer, &OsRandom)
                .await
                .unwrap();
            cookies.push(cookie);
        }
        sessions
            .open(identity("b"), "cred".into(), peer, &OsRandom)
            .await
            .unwrap();
        // The first of a's sessions is seen least recently once the others are used.
        for cookie in &cookies[1..] {
            assert!(sessions.find(cookie).await.is_some());
        }
        let (newest, _) = sessions
            .open(identity("a"), "cred".into(), peer, &OsRandom)
            .await
            .unwrap();
        assert_eq!(sessions.count(), MAX_SESSIONS_PER_OPERATOR + 1);
        assert!(
            sessions.find(&cookies[0]).await.is_none(),
            "the oldest closed"
        );
        assert!(sessions.find(&newest).await.is_some());
        // Its closing is in the books like any other.
        let rows = shuin_store::LedgerStore::ledger_rows(store.as_ref())
            .await
            .unwrap();
        let closed = rows
            .iter()
            .filter_map(|r| shuin_ledger::Entry::from_canonical(&r.canonical).ok())
            .filter(|e| e.kind == "session.closed")
            .count();
        assert_eq!(closed, 1);
        // Sign-ins of one operator at once end within the cap too.
        let sessions = Arc::new(sessions);
        let mut opening = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let (sessions, identity) = (sessions.clone(), identity("c"));
            opening.spawn(async move {
                sessions
                    .open(identity, "cred".into(), peer, &OsRandom)
                    .await
                    .map(|_| ())
            });
        }
        while let Some(opened) = opening.join_next().await {
            opened.unwrap().unwrap();
        }
        let theirs = sessions
            .lock()
            .values()
            .filter(|web| web.session.identity.key_sha256 == "c-key")
            .count();
        assert_eq!(theirs, MAX_SESSIONS_PER_OPERATOR);
    }
}
