//! Conformance checks for the stored tiles ([`crate::TileStore`]), run by
//! [`crate::conformance::run`] after the ledger checks.

use crate::conformance::{at, ensure, fail};
use crate::{
    CheckpointWriter, ConflictKind, KeyedDraft, LedgerStore, StoreError, StoredCheckpoint,
    StoredTile, TileStore,
};
use shuin_ledger::tiles::{Tile, TileGrowth, TileId};
use shuin_ledger::{Actor, Book, EntryDraft};

fn draft(i: u64) -> KeyedDraft {
    KeyedDraft {
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
    }
}

fn is_conflict(result: &Result<(), StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(ConflictKind::Other)))
}

/// The tiles growing the tree from `from` to `to`, built from the stored leaves and
/// tiles.
async fn grow<S: TileStore>(store: &S, from: u64, to: u64) -> Result<Vec<StoredTile>, String> {
    let growth = TileGrowth::new(from, to).map_err(|e| e.to_string())?;
    let wanted: Vec<(u8, u64)> = growth.inputs().iter().map(|t| (t.level, t.index)).collect();
    let mut inputs = Vec::new();
    for (id, stored) in growth.inputs().into_iter().zip(
        store
            .tiles(&wanted)
            .await
            .map_err(|e| fail("input tiles", e))?,
    ) {
        inputs.push(Tile::from_bytes(id, &stored.hashes).map_err(|e| e.to_string())?);
    }
    let leaves = store
        .leaf_hashes_between(from, to)
        .await
        .map_err(|e| fail("leaf hashes", e))?;
    let built = growth.build(&inputs, &leaves).map_err(|e| e.to_string())?;
    Ok(built
        .iter()
        .map(|tile| StoredTile {
            level: tile.id.level,
            index: tile.id.index,
            hashes: tile.to_bytes(),
        })
        .collect())
}

async fn sign<S: CheckpointWriter>(store: &S, size: u64) -> Result<(), String> {
    store
        .add_checkpoint(&StoredCheckpoint {
            size,
            note: format!("conformance tiles {size}\n"),
        })
        .await
        .map_err(|e| fail("checkpoint", e))
}

/// Any ledger state with no tiles: tiles are stored only up to a signed size, only from
/// the tiled size, only growing, and atomically with the size.
pub(crate) async fn run<S>(store: &S) -> Result<(), String>
where
    S: LedgerStore + CheckpointWriter + TileStore,
{
    ensure!(
        store.tiled_size().await.map_err(|e| fail("size", e))? == 0,
        "tiled size starts at 0"
    );
    ensure!(
        store
            .tiled_checkpoint()
            .await
            .map_err(|e| fail("checkpoint", e))?
            .is_none(),
        "no tiled checkpoint before any tiles"
    );
    let start = store
        .ledger_size()
        .await
        .map_err(|e| fail("ledger size", e))?;
    store
        .append_batch((0..300).map(draft).collect(), at(1_800_000_500))
        .await
        .map_err(|e| fail("append", e))?;
    let (first, second) = (start + 10, start + 300);
    let all = store
        .leaf_hashes(second)
        .await
        .map_err(|e| fail("leaves", e))?;
    let between = store
        .leaf_hashes_between(start + 3, second + 5)
        .await
        .map_err(|e| fail("leaves between", e))?;
    ensure!(
        all.get(usize::try_from(start + 3).unwrap_or(usize::MAX)..) == Some(between.as_slice()),
        "leaf_hashes_between gives the stored leaves from its start to the end of the log"
    );

    // Not signed yet, or not from the tiled size: refused, nothing written.
    let tiles = grow(store, 0, first).await?;
    ensure!(
        is_conflict(&store.put_tiles(0, first, &tiles).await),
        "tiles of an unsigned size are refused"
    );
    sign(store, first).await?;
    ensure!(
        is_conflict(&store.put_tiles(1, first, &tiles).await),
        "tiles from another size are refused"
    );
    ensure!(
        store.tiled_size().await.map_err(|e| fail("size", e))? == 0,
        "a refused put writes nothing"
    );
    store
        .put_tiles(0, first, &tiles)
        .await
        .map_err(|e| fail("put", e))?;
    ensure!(
        store.tiled_size().await.map_err(|e| fail("size", e))? == first,
        "the tiled size moves"
    );
    let tiled = store
        .tiled_checkpoint()
        .await
        .map_err(|e| fail("checkpoint", e))?;
    ensure!(
        tiled.as_ref().map(|c| c.size) == Some(first),
        "the tiled checkpoint is the one of the tiled size: {tiled:?}"
    );
    ensure!(
        is_conflict(&store.put_tiles(0, first, &tiles).await),
        "a put is not replayed"
    );

    // Growing: the partial tiles get wider; a tile that would change is refused.
    sign(store, second).await?;
    let grown = grow(store, first, second).await?;
    let mut forged = grown.clone();
    if let Some(tile) = forged.first_mut() {
        tile.hashes[0] ^= 1;
    }
    ensure!(
        is_conflict(&store.put_tiles(first, second, &forged).await),
        "a tile that changes its first hashes is refused"
    );
    ensure!(
        store.tiled_size().await.map_err(|e| fail("size", e))? == first,
        "a refused tile rolls back the size"
    );
    store
        .put_tiles(first, second, &grown)
        .await
        .map_err(|e| fail("grow", e))?;
    let wanted: Vec<(u8, u64)> = grown.iter().map(|t| (t.level, t.index)).collect();
    let stored = store.tiles(&wanted).await.map_err(|e| fail("tiles", e))?;
    ensure!(stored == grown, "the stored tiles are the grown ones");
    let missing = store.tiles(&[(7, 9)]).await.map_err(|e| fail("tiles", e))?;
    ensure!(missing.is_empty(), "a tile not stored is left out");
    let last = TileId::in_tree(0, (second - 1) / 256, second).ok_or("the last tile")?;
    ensure!(
        stored
            .iter()
            .any(|t| t.level == 0 && t.index == last.index && t.hashes.len() == last.byte_len()),
        "the rightmost level 0 tile has the width of the new size"
    );
    Ok(())
}
