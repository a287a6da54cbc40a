//! The ledgered outcome of publishing: a `publication.succeeded` entry in the revocation
//! book for every item a publisher has put in place.

use super::{ItemKind, PublicationRecorder, PublishedItem};
use shuin_core::Clock;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::LedgerStore;
use std::sync::Arc;

/// Writes `publication.succeeded` entries to the revocation book.
pub struct LedgerRecorder<L> {
    /// Where the entries go.
    pub ledger: Arc<L>,
    /// The entries' time.
    pub clock: Arc<dyn Clock>,
}

#[async_trait::async_trait]
impl<L: LedgerStore + 'static> PublicationRecorder for LedgerRecorder<L> {
    async fn record(
        &self,
        publisher: &str,
        item: &PublishedItem,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let draft = publication_entry(publisher, item);
        self.ledger.append(draft, self.clock.now()).await?;
        Ok(())
    }
}

/// The ledger entry for one publication of a CRL.
pub fn publication_entry(publisher: &str, item: &PublishedItem) -> EntryDraft {
    let scope = match item.kind {
        ItemKind::RootCrl | ItemKind::RootCertificate => "root".to_owned(),
        ItemKind::CaCrl | ItemKind::CaCertificate => "ca".to_owned(),
        // The same scope names as the CRL store and `/repository/<scope>.crl`.
        ItemKind::DeltaCrl => "ca-delta".to_owned(),
        ItemKind::PartitionCrl(index) => format!("ca-p{index}"),
    };
    let sha256 = item.sha256_hex();
    let mut subjects = Vec::new();
    if let Some(number) = item.crl_number {
        subjects.push(format!("crl:{scope}:{number}"));
    }
    EntryDraft {
        book: Book::Revocation,
        kind: "publication.succeeded".into(),
        actor: Actor {
            name: "shuin-repo".into(),
            role: "system".into(),
            zone: "repository".into(),
        },
        subjects,
        payload: serde_json::json!({
            "publisher": publisher,
            "item": item.kind.file_name(),
            "crl_number": item.crl_number,
            "sha256": sha256,
        }),
        evidence: vec![format!("sha256:{sha256}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_entry_names_publisher_item_number_and_hash() {
        let item = PublishedItem {
            kind: ItemKind::CaCrl,
            crl_number: Some(42),
            der: Arc::new(vec![0x30, 0x00]),
        };
        let entry = publication_entry("s3:bucket", &item);
        assert_eq!(entry.kind, "publication.succeeded");
        assert_eq!(entry.book, Book::Revocation);
        assert_eq!(entry.subjects, ["crl:ca:42"]);
        assert_eq!(entry.payload["publisher"], "s3:bucket");
        assert_eq!(entry.payload["item"], "ca.crl");
        assert_eq!(entry.payload["crl_number"], 42);
        assert_eq!(entry.payload["sha256"], item.sha256_hex());
    }
}
