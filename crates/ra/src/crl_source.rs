//! Where the RA gets the J-LIS CRL: a file that an outside job refreshes, re-read when
//! its modification time or size changes (DESIGN.md section 3.7). Reading and verifying
//! a J-LIS CRL (tens of megabytes) never happens on a request: `refresh` does it, off the
//! async workers (the upkeep loop, and once at start), and requests only take the CRL
//! loaded last.

use shuin_jpki::{JpkiCrl, TrustAnchors};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The current J-LIS CRL, if one is usable.
pub trait CrlSource: Send + Sync + std::fmt::Debug {
    /// The CRL to check against now; `None` means revocation status is unavailable.
    /// Never reads or parses: cheap on a request.
    fn current(&self) -> Option<Arc<JpkiCrl>>;

    /// Loads a changed CRL. Blocking (reads and verifies the file): call it off the
    /// async workers.
    fn refresh(&self) {}
}

/// A fixed CRL (tests).
#[derive(Debug, Clone)]
pub struct StaticCrlSource(pub Option<Arc<JpkiCrl>>);

impl CrlSource for StaticCrlSource {
    fn current(&self) -> Option<Arc<JpkiCrl>> {
        self.0.clone()
    }
}

#[derive(Debug, Default)]
struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    crl: Option<Arc<JpkiCrl>>,
}

/// A CRL file, verified under the trust anchors at each reload.
#[derive(Debug)]
pub struct FileCrlSource {
    path: PathBuf,
    anchors: TrustAnchors,
    loaded: Mutex<Loaded>,
}

impl FileCrlSource {
    /// Watches `path`; the CRL's signature must verify under one of `anchors`.
    pub fn new(path: PathBuf, anchors: TrustAnchors) -> Self {
        Self {
            path,
            anchors,
            loaded: Mutex::new(Loaded::default()),
        }
    }

    /// The last load error, for status output, re-checked now.
    pub fn check(&self) -> Result<(), String> {
        let der = std::fs::read(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        JpkiCrl::parse(&der, &self.anchors)
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

impl CrlSource for FileCrlSource {
    fn current(&self) -> Option<Arc<JpkiCrl>> {
        let loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        loaded.crl.clone()
    }

    fn refresh(&self) {
        let metadata = std::fs::metadata(&self.path).ok();
        let stamp = metadata.and_then(|m| Some((m.modified().ok()?, m.len())));
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if stamp.is_none() {
            // The file vanished: fail closed.
            *loaded = Loaded::default();
            return;
        }
        if loaded.stamp != stamp {
            let parsed = std::fs::read(&self.path)
                .ok()
                .and_then(|der| JpkiCrl::parse(&der, &self.anchors).ok());
            match parsed {
                // An older CRL could un-revoke a card: the newer one stays.
                Some(crl)
                    if loaded
                        .crl
                        .as_deref()
                        .is_some_and(|held| crl.is_older_than(held)) =>
                {
                    tracing::warn!(path = %self.path.display(), "the J-LIS CRL file holds an older CRL than the one loaded (lower CRL number or earlier thisUpdate); keeping the loaded one");
                }
                Some(crl) => {
                    tracing::info!(path = %self.path.display(), entries = crl.revoked_count(), "loaded the J-LIS CRL");
                    loaded.crl = Some(Arc::new(crl));
                }
                None => {
                    tracing::warn!(path = %self.path.display(), "the J-LIS CRL file does not parse or verify; failing closed");
                    loaded.crl = None;
                }
            }
            loaded.stamp = stamp;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use shuin_testkit::SimulatedJlisCa;
    use std::time::Duration;

    #[test]
    fn an_older_crl_never_replaces_the_loaded_one() {
        #[allow(clippy::disallowed_methods)] // tests stand outside the injected clock
        let t = SystemTime::now();
        let jlis = SimulatedJlisCa::generate(t).unwrap();
        let anchors = TrustAnchors::from_der_certs(vec![jlis.cert_der().to_vec()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jlis.crl");
        let write = |number: u64, revoked: &[Vec<u8>]| {
            let der = jlis
                .crl_der_with(
                    revoked,
                    t,
                    t + Duration::from_secs(86_400),
                    number,
                    Vec::new(),
                )
                .unwrap();
            std::fs::write(&path, der).unwrap();
        };
        let source = FileCrlSource::new(path.clone(), anchors);
        // CRL 300 revokes card 7.
        write(300, &[vec![7]]);
        assert!(source.current().is_none(), "nothing is read on a request");
        source.refresh();
        assert!(source.current().unwrap().is_revoked(&[7]));
        // A replayed CRL 299 that does not list card 7 (a different size, so it is read).
        write(299, &[vec![8], vec![9]]);
        source.refresh();
        let held = source.current().unwrap();
        assert!(held.is_revoked(&[7]), "an older CRL un-revoked a card");
        // CRL 301 is taken.
        write(301, &[vec![7], vec![10], vec![11]]);
        source.refresh();
        assert!(source.current().unwrap().is_revoked(&[11]));
    }
}
