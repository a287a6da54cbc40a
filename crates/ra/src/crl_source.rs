//! Where the RA gets the J-LIS CRL: a file that an outside job refreshes, re-read when
//! its modification time or size changes (DESIGN.md section 3.7).

use shuin_jpki::{JpkiCrl, TrustAnchors};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The current J-LIS CRL, if one is usable.
pub trait CrlSource: Send + Sync + std::fmt::Debug {
    /// The CRL to check against now; `None` means revocation status is unavailable.
    fn current(&self) -> Option<Arc<JpkiCrl>>;
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
        let metadata = std::fs::metadata(&self.path).ok();
        let stamp = metadata.and_then(|m| Some((m.modified().ok()?, m.len())));
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if stamp.is_none() {
            // The file vanished: fail closed.
            *loaded = Loaded::default();
            return None;
        }
        if loaded.stamp != stamp {
            let parsed = std::fs::read(&self.path)
                .ok()
                .and_then(|der| JpkiCrl::parse(&der, &self.anchors).ok());
            match parsed {
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
        loaded.crl.clone()
    }
}
