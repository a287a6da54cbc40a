//! The tiled log over a real store: tiles grow only to signed checkpoints whose root
//! they reproduce, and the proofs read from them equal the recursive ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use shuin_ledger::tiles::TileId;
use shuin_ledger::{merkle, Actor, Book, Checkpoint, EntryDraft};
use shuin_repo::tiles::{LedgerTiles, TilesError};
use shuin_store::sqlite::SqliteStore;
use shuin_store::{
    CheckpointWriter, KeyedDraft, LedgerReader, LedgerStore, StoredCheckpoint, TileStore,
};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

async fn append(store: &SqliteStore, count: u64) {
    let drafts = (0..count)
        .map(|i| KeyedDraft {
            key: None,
            draft: EntryDraft {
                book: Book::Facility,
                kind: "test.tiles".into(),
                actor: Actor {
                    name: "tester".into(),
                    role: "system".into(),
                    zone: "secure".into(),
                },
                subjects: vec![],
                payload: serde_json::json!({ "i": i }),
                evidence: vec![],
            },
        })
        .collect();
    store
        .append_batch(drafts, UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .await
        .unwrap();
}

/// A checkpoint note of `size` with `root` (the signature line is not checked here).
fn note(size: u64, root: [u8; 32]) -> StoredCheckpoint {
    let body = Checkpoint {
        origin: "example.jp/ledger".into(),
        size,
        root,
    }
    .body();
    StoredCheckpoint {
        size,
        note: format!(
            "{body}\n\u{2014} example.jp/ledger {}\n",
            base64::engine::general_purpose::STANDARD.encode([0u8; 8])
        ),
    }
}

async fn sign(store: &SqliteStore, size: u64) {
    let leaves = store.leaf_hashes(size).await.unwrap();
    store
        .add_checkpoint(&note(size, merkle::root(&leaves)))
        .await
        .unwrap();
}

#[tokio::test]
async fn tiles_follow_the_signed_checkpoints_and_prove_like_the_tree() {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let tiles = LedgerTiles::new(store.clone());
    append(&store, 300).await;
    assert_eq!(tiles.catch_up().await.unwrap(), 0, "nothing signed yet");
    assert_eq!(
        tiles
            .tile(TileId::in_tree(0, 0, 10).unwrap())
            .await
            .unwrap(),
        None
    );

    sign(&store, 10).await;
    sign(&store, 40).await;
    let mut changes = tiles.subscribe();
    assert_eq!(tiles.catch_up().await.unwrap(), 40);
    assert_eq!(*changes.borrow_and_update(), 40);
    let leaves = store.leaf_hashes(300).await.unwrap();
    let tile = tiles
        .tile(TileId::in_tree(0, 0, 40).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tile, leaves[..40].concat());
    // A narrower version is the same tile at an earlier size; a wider one is not served.
    let narrow = TileId::in_tree(0, 0, 10).unwrap();
    assert_eq!(
        tiles.tile(narrow).await.unwrap().unwrap(),
        leaves[..10].concat()
    );
    assert_eq!(
        tiles
            .tile(TileId::in_tree(0, 0, 41).unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        tiles
            .tile(TileId::in_tree(0, 0, 256).unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        tiles
            .tile(TileId {
                level: 9,
                index: u64::MAX,
                width: 256
            })
            .await
            .unwrap(),
        None
    );

    // A request beyond the tiled size catches up with a newer checkpoint first.
    sign(&store, 300).await;
    let full = TileId::in_tree(0, 0, 300).unwrap();
    assert!(full.is_full());
    assert_eq!(
        tiles.tile(full).await.unwrap().unwrap(),
        leaves[..256].concat()
    );
    assert_eq!(store.tiled_size().await.unwrap(), 300);
    let level_one = tiles
        .tile(TileId::in_tree(1, 0, 300).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(level_one, merkle::root(&leaves[..256]).to_vec());

    for (index, size) in [(0, 1), (3, 10), (39, 40), (255, 300), (299, 300), (17, 299)] {
        let answer = tiles.inclusion(index, size).await.unwrap();
        assert_eq!(
            answer.path,
            merkle::inclusion_proof(&leaves, index, size).unwrap()
        );
        assert_eq!(
            answer.root,
            merkle::root(&leaves[..usize::try_from(size).unwrap()])
        );
        assert_eq!(answer.leaf_hash, leaves[usize::try_from(index).unwrap()]);
    }
    for (from, to) in [(0, 300), (10, 40), (40, 300), (256, 300), (300, 300)] {
        let answer = tiles.consistency(from, to).await.unwrap();
        assert_eq!(
            answer.path,
            merkle::consistency_proof(&leaves, from, to).unwrap()
        );
        assert_eq!(
            answer.from_root,
            merkle::root(&leaves[..usize::try_from(from).unwrap()])
        );
    }
    assert!(matches!(
        tiles.inclusion(0, 301).await,
        Err(TilesError::BeyondCheckpoint {
            size: 301,
            tiled: 300
        })
    ));
}

#[tokio::test]
async fn leaves_that_do_not_give_the_signed_root_are_not_tiled() {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let tiles = LedgerTiles::new(store.clone());
    append(&store, 20).await;
    store.add_checkpoint(&note(20, [7; 32])).await.unwrap();
    assert!(matches!(
        tiles.catch_up().await,
        Err(TilesError::RootMismatch { size: 20, .. })
    ));
    assert_eq!(store.tiled_size().await.unwrap(), 0);
    assert_eq!(
        tiles
            .tile(TileId::in_tree(0, 0, 20).unwrap())
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        tiles.inclusion(0, 20).await,
        Err(TilesError::BeyondCheckpoint { .. })
    ));
    // Requests do not read the leaves again while the failure is recent.
    assert!(tiles.backing_off());
}

#[tokio::test]
async fn the_filesystem_publisher_gets_the_tiles_then_their_checkpoint() {
    use shuin_repo::publish::{FilesystemPublisher, LogQueue, Publisher, QueueSettings};
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let tiles = Arc::new(LedgerTiles::new(store.clone()));
    let work = tempfile::tempdir().unwrap();
    let publisher: Arc<dyn Publisher> =
        Arc::new(FilesystemPublisher::new(work.path().join("repo")));
    let _queue = LogQueue::start(tiles.clone(), &[publisher], QueueSettings::default());
    let ledger = work.path().join("repo").join("ledger");
    append(&store, 300).await;
    let leaves = store.leaf_hashes(300).await.unwrap();
    for size in [40, 300] {
        sign(&store, size).await;
        tiles.catch_up().await.unwrap();
        let checkpoint = store.latest_checkpoint().await.unwrap().unwrap().note;
        for _ in 0..200 {
            if std::fs::read_to_string(ledger.join("checkpoint"))
                .ok()
                .as_ref()
                == Some(&checkpoint)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            std::fs::read_to_string(ledger.join("checkpoint")).unwrap(),
            checkpoint
        );
    }
    let read = |path: &str| std::fs::read(ledger.join(path)).unwrap();
    assert_eq!(read("tile/0/000.p/40"), leaves[..40].concat());
    assert_eq!(read("tile/0/000"), leaves[..256].concat());
    assert_eq!(read("tile/0/001.p/44"), leaves[256..].concat());
    assert_eq!(
        read("tile/1/000.p/1"),
        merkle::root(&leaves[..256]).to_vec()
    );
}
