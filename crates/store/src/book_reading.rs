//! Reading the books in order and in bounded pages, from where a reader stopped: the
//! loop every follower of the ledger shares (reconciliation, the resume loop, the
//! periodic review's schedule, ...).

use crate::{LedgerStore, StoreError};
use shuin_ledger::StoredEntry;

/// Something that reads the books in order and remembers where it stopped.
pub trait BookReader {
    /// The position of the first row not read yet.
    fn next_seq(&self) -> u64;
    /// Reads `rows`, which follow the rows read before; moves [`BookReader::next_seq`]
    /// past them.
    fn read(&mut self, rows: &[StoredEntry]);
}

/// Hands `reader` the rows of `store` it has not read, `page` rows per query (at least
/// one), until the books end: only one page is held at a time.
///
/// # Errors
///
/// A page cannot be read; the pages before it were read.
pub async fn catch_up<S, R>(store: &S, reader: &mut R, page: u64) -> Result<(), StoreError>
where
    S: LedgerStore + ?Sized,
    R: BookReader + ?Sized,
{
    let page = page.max(1);
    loop {
        let rows = store.ledger_rows_page(reader.next_seq(), page).await?;
        let full = u64::try_from(rows.len()).is_ok_and(|n| n >= page);
        reader.read(&rows);
        if !full {
            return Ok(());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use shuin_ledger::{Actor, Book, EntryDraft};

    #[derive(Default)]
    struct Kinds {
        next: u64,
        seen: Vec<u64>,
    }

    impl BookReader for Kinds {
        fn next_seq(&self) -> u64 {
            self.next
        }
        fn read(&mut self, rows: &[StoredEntry]) {
            for row in rows {
                self.seen.push(row.seq);
                self.next = row.seq + 1;
            }
        }
    }

    #[tokio::test]
    async fn every_row_is_read_once_in_pages_and_later_only_the_new_ones() {
        let store = crate::sqlite::SqliteStore::in_memory().await.unwrap();
        let draft = || EntryDraft {
            book: Book::Facility,
            kind: "test".into(),
            actor: Actor {
                name: "t".into(),
                role: "system".into(),
                zone: "secure".into(),
            },
            subjects: vec![],
            payload: serde_json::Value::Null,
            evidence: vec![],
        };
        let at = std::time::UNIX_EPOCH;
        for _ in 0..7 {
            store.append(draft(), at).await.unwrap();
        }
        let mut reader = Kinds::default();
        catch_up(&store, &mut reader, 3).await.unwrap();
        assert_eq!(reader.seen, (0..7).collect::<Vec<_>>());
        catch_up(&store, &mut reader, 3).await.unwrap();
        assert_eq!(reader.seen.len(), 7, "nothing read twice");
        store.append(draft(), at).await.unwrap();
        catch_up(&store, &mut reader, 0).await.unwrap();
        assert_eq!(reader.seen.last(), Some(&7));
    }
}
