//! Links that one console session was given to something the server made for it after a
//! signed request (a download, a review's report): each names a random token, works
//! only in that session and only for a while; beyond a bound, overall or for one
//! session, the oldest (of that session) is dropped.

use super::sessions::WebSession;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

struct Link<T> {
    value: T,
    session: Weak<WebSession>,
    until: Instant,
}

/// The open links of one kind.
pub(crate) struct SessionLinks<T> {
    links: Mutex<HashMap<String, Link<T>>>,
    ttl: Duration,
    max: usize,
    per_session: usize,
}

impl<T> std::fmt::Debug for SessionLinks<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLinks").finish_non_exhaustive()
    }
}

impl<T: Clone> SessionLinks<T> {
    /// Links good for `ttl`, at most `max` open, at most `per_session` of one session.
    pub(crate) fn new(ttl: Duration, max: usize, per_session: usize) -> Self {
        SessionLinks {
            links: Mutex::new(HashMap::new()),
            ttl,
            max: max.max(1),
            per_session: per_session.max(1),
        }
    }

    /// Opens the link `token` to `value` for `web`.
    pub(crate) fn open(&self, web: &Arc<WebSession>, token: String, value: T) {
        let now = Instant::now();
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        links.retain(|_, link| link.until > now && link.session.strong_count() > 0);
        let own = |link: &Link<T>| std::ptr::eq(link.session.as_ptr(), Arc::as_ptr(web));
        loop {
            let theirs = links.values().filter(|link| own(link)).count();
            let oldest = if theirs >= self.per_session {
                // This session's oldest: one session never pushes out another's links.
                links
                    .iter()
                    .filter(|(_, link)| own(link))
                    .min_by_key(|(_, link)| link.until)
            } else if links.len() >= self.max {
                links.iter().min_by_key(|(_, link)| link.until)
            } else {
                break;
            };
            let Some(token) = oldest.map(|(token, _)| token.clone()) else {
                break;
            };
            links.remove(&token);
        }
        let link = Link {
            value,
            session: Arc::downgrade(web),
            until: now + self.ttl,
        };
        links.insert(token, link);
    }

    /// What `token` links to for `web`, if it is open; it stays open.
    pub(crate) fn get(&self, web: &Arc<WebSession>, token: &str) -> Option<T> {
        let links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        let link = links.get(token)?;
        Self::usable(link, web).then(|| link.value.clone())
    }

    /// What `token` links to for `web`, if it is open; the link is closed.
    pub(crate) fn take(&self, web: &Arc<WebSession>, token: &str) -> Option<T> {
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        let usable = Self::usable(links.get(token)?, web);
        // Another session's link stays for its own session.
        usable.then(|| links.remove(token).map(|link| link.value))?
    }

    fn usable(link: &Link<T>, web: &Arc<WebSession>) -> bool {
        let own = link
            .session
            .upgrade()
            .is_some_and(|session| Arc::ptr_eq(&session, web));
        own && link.until > Instant::now()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::console_web::sessions::WebSessions;
    use crate::operator_api::{ClientIdentity, Sessions};
    use shuin_core::{OsRandom, SystemClock, Zone};

    async fn two_sessions() -> (WebSessions, Arc<WebSession>, Arc<WebSession>) {
        let store = Arc::new(shuin_store::sqlite::SqliteStore::in_memory().await.unwrap());
        let sessions = WebSessions::new(Sessions::new(store, Arc::new(SystemClock), Zone::Secure));
        let peer = "127.0.0.1:1".parse().unwrap();
        let mut open = Vec::new();
        for name in ["a", "b"] {
            let identity = ClientIdentity {
                name: name.into(),
                key_sha256: format!("{name}-key"),
                certificate_sha256: format!("{name}-cert"),
            };
            let (_, web) = sessions
                .open(identity, "c".into(), peer, &OsRandom)
                .await
                .unwrap();
            open.push(web);
        }
        let b = open.pop().unwrap();
        let a = open.pop().unwrap();
        (sessions, a, b)
    }

    #[tokio::test]
    async fn a_link_serves_its_own_session_only_and_one_session_cannot_crowd_out_another() {
        let (_sessions, a, b) = two_sessions().await;
        let links = SessionLinks::new(Duration::from_secs(60), 3, 2);
        links.open(&b, "b1".into(), 1);
        links.open(&a, "a1".into(), 1);
        links.open(&a, "a2".into(), 2);
        assert_eq!(links.get(&b, "a1"), None, "another session's link");
        assert_eq!(links.take(&b, "a1"), None);
        assert_eq!(links.get(&a, "a1"), Some(1), "still open for its own");
        // A third link of a pushes out a's oldest, never b's.
        links.open(&a, "a3".into(), 3);
        assert_eq!(links.get(&a, "a1"), None);
        assert_eq!(links.get(&b, "b1"), Some(1));
        assert_eq!(links.take(&a, "a3"), Some(3));
        assert_eq!(links.take(&a, "a3"), None, "taken once");
        let expired = SessionLinks::new(Duration::ZERO, 3, 2);
        expired.open(&a, "x".into(), 1);
        assert_eq!(expired.get(&a, "x"), None);
    }
}
