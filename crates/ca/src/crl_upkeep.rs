//! CRL upkeep: which of the issuing CA's CRLs exist (full, delta, partitions), issuing
//! those missing or past half their lifetime, and handing the newest of each (and the
//! root's) to the repository. Publication is passed in, so the CA does not depend on
//! the repository.

use crate::revocation::{CrlKind, CrlLayout, RevocationError};
use crate::CaService;
use shuin_store::{CrlRecord, CrlStore, StoreError};
use std::time::Duration;

/// Where a CRL is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlSlot<'a> {
    /// The issuing CA's full CRL (`ca.crl`).
    IssuingFull,
    /// Another CRL of the issuing CA (delta, partition), by scope.
    IssuingOther(&'a str),
    /// The root's CRL.
    Root,
}

/// Why the CRLs could not be brought up to date.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrlUpkeepError {
    /// Reading the stored CRLs failed.
    #[error("{what}: {source}")]
    Store {
        /// What was being read.
        what: &'static str,
        /// The storage error.
        #[source]
        source: StoreError,
    },
    /// Issuing a CRL failed.
    #[error("issuing the {scope} CRL: {source}")]
    Issue {
        /// The CRL's scope.
        scope: String,
        /// The CA's error.
        #[source]
        source: RevocationError,
    },
}

impl CrlLayout {
    /// The layout for a repository under `public_url`, with `partitions` partitions
    /// (0 for none) and a delta CRL when `delta` is set.
    pub fn under(public_url: &str, partitions: u32, delta: bool) -> CrlLayout {
        let repository_url = format!("{}/repository", public_url.trim_end_matches('/'));
        CrlLayout {
            partitions,
            delta_url: delta.then(|| format!("{repository_url}/ca-delta.crl")),
            repository_url,
        }
    }

    /// The issuing CA's CRLs in this layout: full, delta when on, then the partitions.
    pub fn kinds(&self) -> Vec<CrlKind> {
        let mut kinds = vec![CrlKind::Full];
        if self.delta_url.is_some() {
            kinds.push(CrlKind::Delta);
        }
        kinds.extend((0..self.partitions).map(CrlKind::Partition));
        kinds
    }
}

fn slot(kind: CrlKind, scope: &str) -> CrlSlot<'_> {
    match kind {
        CrlKind::Full => CrlSlot::IssuingFull,
        _ => CrlSlot::IssuingOther(scope),
    }
}

fn lifetime_of(latest: &Option<CrlRecord>) -> Duration {
    latest
        .as_ref()
        .and_then(|c| c.next_update.duration_since(c.this_update).ok())
        .unwrap_or(Duration::from_secs(86_400))
}

/// Publishes the newest stored CRLs of `layout` and the root's, issuing nothing (while
/// sealed: they stay valid to their nextUpdate).
pub async fn publish_stored<S: CrlStore + ?Sized>(
    layout: &CrlLayout,
    store: &S,
    publish: &(dyn Fn(CrlSlot<'_>, CrlRecord) + Sync),
) -> Result<(), CrlUpkeepError> {
    let read = |source| CrlUpkeepError::Store {
        what: "CRL",
        source,
    };
    for kind in layout.kinds() {
        let scope = kind.scope();
        if let Some(crl) = store.latest_crl(&scope).await.map_err(read)? {
            publish(slot(kind, &scope), crl);
        }
    }
    if let Some(root) = store.latest_crl("root").await.map_err(read)? {
        publish(CrlSlot::Root, root);
    }
    Ok(())
}

/// Issues any CRL of the issuing CA (full, delta, partitions) that is missing or past
/// half its lifetime, and publishes the newest of each and the root's.
pub async fn refresh<S: CrlStore + ?Sized>(
    ca: &CaService,
    store: &S,
    publish: &(dyn Fn(CrlSlot<'_>, CrlRecord) + Sync),
) -> Result<(), CrlUpkeepError> {
    let now = ca.clock_handle().now();
    for kind in ca.crl_layout().kinds() {
        let scope = kind.scope();
        let latest = store
            .latest_crl(&scope)
            .await
            .map_err(|source| CrlUpkeepError::Store {
                what: "CRL",
                source,
            })?;
        let lifetime = lifetime_of(&latest);
        let due = match &latest {
            None => true,
            Some(crl) => crl.next_update.duration_since(now).unwrap_or_default() < lifetime / 2,
        };
        let latest = if due {
            Some(
                ca.issue_crl_of(kind)
                    .await
                    .map_err(|source| CrlUpkeepError::Issue {
                        scope: scope.clone(),
                        source,
                    })?,
            )
        } else {
            latest
        };
        if let Some(crl) = latest {
            publish(slot(kind, &scope), crl);
        }
    }
    let root = store
        .latest_crl("root")
        .await
        .map_err(|source| CrlUpkeepError::Store {
            what: "root CRL",
            source,
        })?;
    if let Some(root) = root {
        publish(CrlSlot::Root, root);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_lists_full_delta_and_partitions() {
        let layout = CrlLayout::under("https://ca.example.jp/", 2, true);
        assert_eq!(layout.repository_url, "https://ca.example.jp/repository");
        assert_eq!(
            layout.delta_url.as_deref(),
            Some("https://ca.example.jp/repository/ca-delta.crl")
        );
        assert_eq!(
            layout.kinds(),
            [
                CrlKind::Full,
                CrlKind::Delta,
                CrlKind::Partition(0),
                CrlKind::Partition(1)
            ]
        );
        assert_eq!(
            CrlLayout::under("http://x", 0, false).kinds(),
            [CrlKind::Full]
        );
    }

    #[test]
    fn a_crl_without_dates_counts_as_a_day() {
        assert_eq!(lifetime_of(&None), Duration::from_secs(86_400));
    }
}
