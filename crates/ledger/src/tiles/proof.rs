//! Roots and proofs from tiles: what a tlog-tiles client computes, and what the server's
//! proof endpoints answer with, reading only the tiles a proof needs.
//!
//! Every hash of an RFC 9162 proof is the tree hash of a range of leaves, and each such
//! range splits into perfect subtrees. The root of a perfect subtree of 2^h leaves
//! starting at leaf `k * 2^h` is a hash at level `h / 8` of one tile when `h` is a
//! multiple of 8, and otherwise the root of 2^(h mod 8) consecutive hashes of that tile.
//! Each computation runs twice over the same recursion: once to list the tiles it reads
//! (`tiles_for_*`), so a reader fetches them all (in parallel, or in one query), then
//! over a [`TileSet`] holding them.

use std::collections::{BTreeSet, HashMap};

use super::{Hash, Tile, TileError, TileId, TILE_HEIGHT, TILE_WIDTH};
use crate::merkle;

/// Tiles at hand, by level and index.
#[derive(Clone, Debug, Default)]
pub struct TileSet {
    tiles: HashMap<(u8, u64), Vec<Hash>>,
}

impl TileSet {
    /// No tiles.
    pub fn new() -> TileSet {
        TileSet::default()
    }

    /// Adds a tile, keeping the wider of two versions of it.
    pub fn insert(&mut self, tile: Tile) {
        let slot = self
            .tiles
            .entry((tile.id.level, tile.id.index))
            .or_default();
        if tile.hashes.len() > slot.len() {
            *slot = tile.hashes;
        }
    }
}

impl FromIterator<Tile> for TileSet {
    fn from_iter<I: IntoIterator<Item = Tile>>(tiles: I) -> TileSet {
        let mut set = TileSet::new();
        for tile in tiles {
            set.insert(tile);
        }
        set
    }
}

/// Where the roots of perfect subtrees come from.
trait Subtrees {
    /// The root of the perfect subtree of `2^height` leaves starting at `start` (a
    /// multiple of `2^height`).
    fn subtree(&mut self, height: u32, start: u64) -> Result<Hash, TileError>;
}

/// The tile holding a subtree's hashes, the first of them and how many.
fn locate(height: u32, start: u64) -> (u8, u64, usize, usize) {
    let level = height / TILE_HEIGHT;
    let first = start.checked_shr(level * TILE_HEIGHT).unwrap_or(0);
    let count = 1usize << (height % TILE_HEIGHT);
    let offset = usize::try_from(first % TILE_WIDTH).unwrap_or(0);
    // level <= 64 / 8, so it fits.
    (
        u8::try_from(level).unwrap_or(u8::MAX),
        first / TILE_WIDTH,
        offset,
        count,
    )
}

/// Lists the tiles of the tree of `size` that a computation reads.
struct Plan {
    size: u64,
    tiles: BTreeSet<TileId>,
}

impl Subtrees for Plan {
    fn subtree(&mut self, height: u32, start: u64) -> Result<Hash, TileError> {
        let (level, index, _, _) = locate(height, start);
        if let Some(id) = TileId::in_tree(level, index, self.size) {
            self.tiles.insert(id);
        }
        Ok([0; 32])
    }
}

/// Computes from the tiles of a [`TileSet`].
struct Reader<'a> {
    size: u64,
    set: &'a TileSet,
}

impl Subtrees for Reader<'_> {
    fn subtree(&mut self, height: u32, start: u64) -> Result<Hash, TileError> {
        let (level, index, offset, count) = locate(height, start);
        let missing = || TileError::MissingTile {
            id: TileId::in_tree(level, index, self.size).unwrap_or(TileId {
                level,
                index,
                width: 0,
            }),
        };
        let hashes = self
            .set
            .tiles
            .get(&(level, index))
            .and_then(|hashes| hashes.get(offset..offset + count))
            .ok_or_else(missing)?;
        Ok(merkle::root(hashes))
    }
}

/// The largest power of two smaller than `n`, for `n > 1`.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start:end])`, `start < end`.
fn range<S: Subtrees>(source: &mut S, start: u64, end: u64) -> Result<Hash, TileError> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return source.subtree(n.trailing_zeros(), start);
    }
    let k = split(n);
    let left = range(source, start, start + k)?;
    let right = range(source, start + k, end)?;
    Ok(merkle::node_hash(&left, &right))
}

/// `PATH(index, D[start:end])` of RFC 9162 section 2.1.3.1, appended to `proof`.
fn path<S: Subtrees>(
    source: &mut S,
    index: u64,
    start: u64,
    end: u64,
    proof: &mut Vec<Hash>,
) -> Result<(), TileError> {
    if end - start <= 1 {
        return Ok(());
    }
    let middle = start + split(end - start);
    if index < middle {
        path(source, index, start, middle, proof)?;
        proof.push(range(source, middle, end)?);
    } else {
        path(source, index, middle, end, proof)?;
        proof.push(range(source, start, middle)?);
    }
    Ok(())
}

/// `SUBPROOF(old, D[start:end], complete)` of RFC 9162 section 2.1.4.1.
fn subproof<S: Subtrees>(
    source: &mut S,
    old: u64,
    (start, end): (u64, u64),
    complete: bool,
    proof: &mut Vec<Hash>,
) -> Result<(), TileError> {
    if old == end {
        if !complete {
            proof.push(range(source, start, end)?);
        }
        return Ok(());
    }
    let middle = start + split(end - start);
    if old <= middle {
        subproof(source, old, (start, middle), complete, proof)?;
        proof.push(range(source, middle, end)?);
    } else {
        subproof(source, old, (middle, end), false, proof)?;
        proof.push(range(source, start, middle)?);
    }
    Ok(())
}

fn root_with<S: Subtrees>(source: &mut S, size: u64) -> Result<Hash, TileError> {
    if size == 0 {
        return Ok(merkle::empty_root());
    }
    range(source, 0, size)
}

fn inclusion_with<S: Subtrees>(
    source: &mut S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, TileError> {
    if index >= size {
        return Err(TileError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(source, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn consistency_with<S: Subtrees>(
    source: &mut S,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, TileError> {
    if from > to {
        return Err(TileError::ShrinkingTree { from, to });
    }
    let mut proof = Vec::new();
    if from > 0 {
        subproof(source, from, (0, to), true, &mut proof)?;
    }
    Ok(proof)
}

fn planned(
    size: u64,
    run: impl FnOnce(&mut Plan) -> Result<(), TileError>,
) -> Result<Vec<TileId>, TileError> {
    let mut plan = Plan {
        size,
        tiles: BTreeSet::new(),
    };
    run(&mut plan)?;
    Ok(plan.tiles.into_iter().collect())
}

/// The tiles of the tree of `size` that [`root`] reads.
pub fn tiles_for_root(size: u64) -> Vec<TileId> {
    planned(size, |plan| root_with(plan, size).map(drop)).unwrap_or_default()
}

/// The root `MTH(D[size])` from the tiles of the tree of `size`.
///
/// # Errors
///
/// [`TileError::MissingTile`] if a tile of [`tiles_for_root`] is not in `tiles`.
pub fn root(tiles: &TileSet, size: u64) -> Result<[u8; 32], TileError> {
    root_with(&mut Reader { size, set: tiles }, size)
}

/// The tiles of the tree of `size` that [`leaf_hash`] and [`inclusion_proof`] read.
///
/// # Errors
///
/// [`TileError::IndexOutOfRange`] unless `index < size`.
pub fn tiles_for_inclusion(index: u64, size: u64) -> Result<Vec<TileId>, TileError> {
    planned(size, |plan| {
        plan.subtree(0, index)?;
        inclusion_with(plan, index, size).map(drop)
    })
}

/// The leaf hash of entry `index` from the tiles of a tree of `size`.
///
/// # Errors
///
/// [`TileError::IndexOutOfRange`] unless `index < size`, [`TileError::MissingTile`] if
/// its level 0 tile is not in `tiles`.
pub fn leaf_hash(tiles: &TileSet, index: u64, size: u64) -> Result<[u8; 32], TileError> {
    if index >= size {
        return Err(TileError::IndexOutOfRange { index, size });
    }
    Reader { size, set: tiles }.subtree(0, index)
}

/// The inclusion proof `PATH(index, D[size])` (RFC 9162 section 2.1.3.1) from tiles.
///
/// # Errors
///
/// [`TileError::IndexOutOfRange`] unless `index < size`, and
/// [`TileError::MissingTile`] if a tile of [`tiles_for_inclusion`] is not in `tiles`.
pub fn inclusion_proof(tiles: &TileSet, index: u64, size: u64) -> Result<Vec<[u8; 32]>, TileError> {
    inclusion_with(&mut Reader { size, set: tiles }, index, size)
}

/// The tiles of the tree of `to` that [`consistency_proof`] reads (with the roots of
/// both trees).
///
/// # Errors
///
/// [`TileError::ShrinkingTree`] if `from > to`.
pub fn tiles_for_consistency(from: u64, to: u64) -> Result<Vec<TileId>, TileError> {
    planned(to, |plan| {
        consistency_with(plan, from, to)?;
        root_with(plan, from)?;
        root_with(plan, to).map(drop)
    })
}

/// The consistency proof `PROOF(from, D[to])` (RFC 9162 section 2.1.4.1) from the tiles
/// of the tree of `to`.
///
/// # Errors
///
/// [`TileError::ShrinkingTree`] if `from > to`, and [`TileError::MissingTile`] if a tile
/// of [`tiles_for_consistency`] is not in `tiles`.
pub fn consistency_proof(tiles: &TileSet, from: u64, to: u64) -> Result<Vec<[u8; 32]>, TileError> {
    consistency_with(
        &mut Reader {
            size: to,
            set: tiles,
        },
        from,
        to,
    )
}
