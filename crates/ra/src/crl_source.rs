//! Where the RA gets the J-LIS CRLs: files that an outside job refreshes, each re-read
//! when its modification time or size changes (DESIGN.md section 3.7). J-LIS CA
//! generations overlap (signca02 and signca03), so several files may be configured; each
//! CRL answers only for certificates of its own issuer (issuer name and the anchor whose
//! key verifies it).
//!
//! Reading and verifying a J-LIS CRL (tens of megabytes) never happens on a request:
//! `refresh` does it, off the async workers (the upkeep loop runs it in `spawn_blocking`,
//! and once at start), without holding the lock that requests take. Requests only clone
//! an `Arc` of the set loaded last.

use shuin_jpki::{CrlRefusal, JpkiCrl, JpkiCrlSet, TrustAnchors};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// The J-LIS CRLs in force.
pub trait CrlSource: Send + Sync + std::fmt::Debug {
    /// The CRLs to check against now; an empty set means revocation status is
    /// unavailable. Never reads or parses: cheap on a request.
    fn current(&self) -> Arc<JpkiCrlSet>;

    /// Loads changed CRL files. Blocking (reads and verifies files): call it off the
    /// async workers.
    fn refresh(&self) {}
}

/// A fixed set of CRLs (tests).
#[derive(Debug, Clone, Default)]
pub struct StaticCrlSource(pub Arc<JpkiCrlSet>);

impl StaticCrlSource {
    /// One CRL, or none.
    pub fn of(crl: Option<JpkiCrl>) -> Self {
        Self(Arc::new(crl.map(JpkiCrlSet::single).unwrap_or_default()))
    }
}

impl CrlSource for StaticCrlSource {
    fn current(&self) -> Arc<JpkiCrlSet> {
        self.0.clone()
    }
}

/// One configured CRL file and what was taken from it.
#[derive(Debug)]
struct CrlFile {
    path: PathBuf,
    /// Whether it has been looked at once (a missing file is reported once, not every tick).
    seen: bool,
    stamp: Option<(SystemTime, u64)>,
    crl: Option<Arc<JpkiCrl>>,
}

/// What reloading keeps between rounds.
#[derive(Debug)]
struct Reload {
    files: Vec<CrlFile>,
    /// The newest CRL ever taken per issuer: a high-water mark that outlives a file
    /// becoming unusable, so an older CRL is refused even after a gap.
    newest: JpkiCrlSet,
}

/// CRL files, verified under the trust anchors at each reload.
#[derive(Debug)]
pub struct FileCrlSource {
    anchors: TrustAnchors,
    /// Held only by `refresh` (one reload at a time), never by a request.
    reload: Mutex<Reload>,
    /// The set requests read; replaced whole, under a short write lock.
    current: RwLock<Arc<JpkiCrlSet>>,
}

impl FileCrlSource {
    /// Watches `paths`; each CRL's signature must verify under one of `anchors`.
    pub fn new(paths: Vec<PathBuf>, anchors: TrustAnchors) -> Self {
        let files = paths
            .into_iter()
            .map(|path| CrlFile {
                path,
                seen: false,
                stamp: None,
                crl: None,
            })
            .collect();
        Self {
            anchors,
            reload: Mutex::new(Reload {
                files,
                newest: JpkiCrlSet::empty(),
            }),
            current: RwLock::new(Arc::default()),
        }
    }

    /// Re-checks every file now, for status output: the first unusable one, with its
    /// reason code.
    pub fn check(&self) -> Result<(), String> {
        let reload = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        for file in &reload.files {
            read_crl(file, &self.anchors)
                .map_err(|(refusal, e)| format!("{}: {refusal}: {e}", file.path.display()))?;
        }
        Ok(())
    }

    /// Reloads `file` if it changed; whether what it contributes changed.
    fn reload(&self, file: &mut CrlFile, newest: &mut JpkiCrlSet) -> bool {
        let stamp = std::fs::metadata(&file.path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        if file.seen && stamp == file.stamp {
            return false;
        }
        file.seen = true;
        file.stamp = stamp;
        let path = file.path.display();
        match read_crl(file, &self.anchors) {
            Ok(crl) => {
                let crl = Arc::new(crl);
                if newest.admit(crl.clone()).is_err() {
                    // An older CRL could un-revoke a card: the loaded one stays.
                    tracing::warn!(%path, reason = CrlRefusal::OlderThanLoaded.code(), "refused a J-LIS CRL older than the one loaded for its issuer (lower CRL number or earlier thisUpdate); keeping the loaded one");
                    return false;
                }
                tracing::info!(%path, entries = crl.revoked_count(), "loaded a J-LIS CRL");
                file.crl = Some(crl);
                true
            }
            Err((refusal, error)) => {
                tracing::warn!(%path, reason = refusal.code(), %error, "refused a J-LIS CRL file; certificates of its issuer fail closed until a usable CRL is there");
                file.crl.take().is_some()
            }
        }
    }
}

/// Reads and verifies one file.
fn read_crl(file: &CrlFile, anchors: &TrustAnchors) -> Result<JpkiCrl, (CrlRefusal, String)> {
    let der = std::fs::read(&file.path).map_err(|e| (CrlRefusal::Unreadable, e.to_string()))?;
    JpkiCrl::parse(&der, anchors).map_err(|e| {
        let refusal = match &e {
            shuin_jpki::JpkiError::CrlInvalid { refusal, .. } => *refusal,
            _ => CrlRefusal::Malformed,
        };
        (refusal, e.to_string())
    })
}

impl CrlSource for FileCrlSource {
    fn current(&self) -> Arc<JpkiCrlSet> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn refresh(&self) {
        let mut reload = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        let Reload { files, newest } = &mut *reload;
        let mut changed = false;
        for file in files.iter_mut() {
            changed |= self.reload(file, newest);
        }
        if !changed {
            return;
        }
        let mut set = JpkiCrlSet::empty();
        for crl in files.iter().filter_map(|file| file.crl.clone()) {
            if set.admit(crl).is_err() {
                tracing::warn!(
                    reason = CrlRefusal::OlderThanLoaded.code(),
                    "two J-LIS CRL files hold CRLs of the same issuer; the newer one is used"
                );
            }
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
    }
}

#[cfg(test)]
#[path = "crl_source_tests.rs"]
mod tests;
