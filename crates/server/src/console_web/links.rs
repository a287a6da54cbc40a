//! Links that one console session was given to something the server made for it after a
//! signed request (a download, a review's report): each names a random token, works
//! only in that session and only for a while, and the oldest is dropped beyond a bound.

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
}

impl<T> std::fmt::Debug for SessionLinks<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLinks").finish_non_exhaustive()
    }
}

impl<T: Clone> SessionLinks<T> {
    /// Links good for `ttl`, at most `max` open.
    pub(crate) fn new(ttl: Duration, max: usize) -> Self {
        SessionLinks {
            links: Mutex::new(HashMap::new()),
            ttl,
            max: max.max(1),
        }
    }

    /// Opens the link `token` to `value` for `web`.
    pub(crate) fn open(&self, web: &Arc<WebSession>, token: String, value: T) {
        let now = Instant::now();
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        links.retain(|_, link| link.until > now && link.session.strong_count() > 0);
        while links.len() >= self.max {
            let oldest = links
                .iter()
                .min_by_key(|(_, link)| link.until)
                .map(|(token, _)| token.clone());
            match oldest {
                Some(token) => links.remove(&token),
                None => break,
            };
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
