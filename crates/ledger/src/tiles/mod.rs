//! The Merkle tree as C2SP `tlog-tiles` ([tlog-tiles]): static, cacheable files of
//! consecutive tree hashes from which anyone computes roots and proofs.
//!
//! The `n`-th tile at level `l` holds, for `i` from 0 to 255, the RFC 6962 / RFC 9162
//! tree hashes
//!
//! ```text
//! MTH(D[(n * 256 + i) * 256**l : (n * 256 + i + 1) * 256**l])
//! ```
//!
//! that is, level 0 holds leaf hashes and each hash at level `l + 1` is the root of a
//! *full* tile at level `l`. A full tile is 256 hashes (8,192 bytes) and never changes;
//! the rightmost tile of each level is *partial* (1 to 255 hashes) and grows with the
//! tree. A tile is served at
//!
//! ```text
//! <prefix>/tile/<L>/<N>[.p/<W>]
//! ```
//!
//! with `N` written in 3-digit path elements, all but the last prefixed with `x`
//! (1234067 is `x001/x234/067`), and `.p/<W>` naming a partial tile of width `W`.
//!
//! shuin serves hash tiles only. The entry bundles of the specification
//! (`tile/entries/...`) would publish the entries themselves, which carry subject names
//! and other personal data (docs/ledger.md); auditors get the entries through
//! `shuin ledger export` instead.
//!
//! - [`TileId`]: a tile's coordinates, width and path.
//! - [`TileGrowth`]: the tiles that change when the tree grows, built incrementally.
//! - [`proof`]: roots, inclusion and consistency proofs computed from the few tiles they
//!   need.
//!
//! [tlog-tiles]: https://c2sp.org/tlog-tiles

mod build;
mod path;
pub mod proof;

pub use build::TileGrowth;
pub use path::TilePathError;
pub use proof::TileSet;

/// A SHA-256 tree hash.
type Hash = [u8; 32];

/// The height of a tile: each tile is a subtree of 2^8 = 256 hashes.
pub const TILE_HEIGHT: u32 = 8;
/// The number of hashes in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// The bytes of one hash in a tile.
pub const HASH_BYTES: usize = 32;
/// The bytes of a full tile (256 hashes).
pub const FULL_TILE_BYTES: usize = 8192;
/// The highest level a tree of at most 2^64 - 1 entries has hashes at.
pub const MAX_LEVEL: u8 = 7;

/// A tile's place in the tree and its width.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct TileId {
    /// The level `L`: 0 for leaf hashes.
    pub level: u8,
    /// The index `N` of the tile within its level.
    pub index: u64,
    /// How many hashes it holds: 256 for a full tile, 1 to 255 for a partial one.
    pub width: u16,
}

impl TileId {
    /// The tile at `level` and `index` as it stands in the tree of `size` entries, or
    /// `None` if that tree has no hash in it.
    pub fn in_tree(level: u8, index: u64, size: u64) -> Option<TileId> {
        let before = index.checked_mul(TILE_WIDTH)?;
        let width = hashes_at_level(size, level)
            .checked_sub(before)
            .filter(|&width| width > 0)?
            .min(TILE_WIDTH);
        Some(TileId {
            level,
            index,
            width: u16::try_from(width).ok()?,
        })
    }

    /// Whether the tile holds 256 hashes (and therefore never changes).
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The size of its bytes: 32 per hash.
    pub fn byte_len(&self) -> usize {
        usize::from(self.width) * HASH_BYTES
    }
}

/// The number of level-`level` hashes a tree of `size` entries has:
/// `floor(size / 256**level)`.
pub fn hashes_at_level(size: u64, level: u8) -> u64 {
    size.checked_shr(TILE_HEIGHT * u32::from(level))
        .unwrap_or(0)
}

/// A tile with its hashes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Tile {
    /// Where it is and how wide.
    pub id: TileId,
    /// Its `id.width` hashes, in order.
    pub hashes: Vec<[u8; 32]>,
}

impl Tile {
    /// The tile as served: its hashes concatenated.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.hashes.concat()
    }

    /// Reads the tile `id` from `bytes`, which may hold more hashes than `id.width` (a
    /// wider version of the same tile: tiles only grow, so the first hashes are the same).
    ///
    /// # Errors
    ///
    /// [`TileError::Malformed`] unless `bytes` is a whole number of hashes, at least
    /// `id.width` of them.
    pub fn from_bytes(id: TileId, bytes: &[u8]) -> Result<Tile, TileError> {
        let hashes = hashes_of(bytes).ok_or(TileError::Malformed {
            id,
            bytes: bytes.len(),
        })?;
        let width = usize::from(id.width);
        if hashes.len() < width {
            return Err(TileError::Malformed {
                id,
                bytes: bytes.len(),
            });
        }
        Ok(Tile {
            id,
            hashes: hashes.into_iter().take(width).collect(),
        })
    }
}

/// `bytes` as hashes, if it is a whole number of them.
pub(crate) fn hashes_of(bytes: &[u8]) -> Option<Vec<Hash>> {
    let chunks = bytes.chunks_exact(HASH_BYTES);
    if !chunks.remainder().is_empty() {
        return None;
    }
    chunks.map(|chunk| Hash::try_from(chunk).ok()).collect()
}

/// Why tiles could not be built or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TileError {
    /// A tree cannot shrink.
    #[error("a tree of {from} entries cannot grow into one of {to}")]
    ShrinkingTree {
        /// The old size.
        from: u64,
        /// The new size.
        to: u64,
    },
    /// The growth needs a different number of new leaf hashes.
    #[error("growing the tiles needs {expected} new leaf hashes, {found} were given")]
    LeafCount {
        /// Entries between the two sizes.
        expected: u64,
        /// Leaf hashes given.
        found: usize,
    },
    /// A tile the computation needs was not given (or was narrower).
    #[error("tile {} is needed but was not given", .id.path())]
    MissingTile {
        /// The tile.
        id: TileId,
    },
    /// Tile bytes that are not the hashes the tile should hold.
    #[error("tile {} has {bytes} bytes, not {} or more in 32-byte hashes", .id.path(), .id.byte_len())]
    Malformed {
        /// The tile.
        id: TileId,
        /// How many bytes it had.
        bytes: usize,
    },
    /// An inclusion proof for a leaf outside the tree.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf.
        index: u64,
        /// The tree size.
        size: u64,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn widths_follow_the_size() {
        assert_eq!(hashes_at_level(70_000, 0), 70_000);
        assert_eq!(hashes_at_level(70_000, 1), 273);
        assert_eq!(hashes_at_level(70_000, 2), 1);
        assert_eq!(hashes_at_level(u64::MAX, 8), 0);
        assert_eq!(hashes_at_level(u64::MAX, 63), 0);
        assert_eq!(TileId::in_tree(0, 273, 70_000).unwrap().width, 112);
        assert!(TileId::in_tree(0, 272, 70_000).unwrap().is_full());
        assert_eq!(TileId::in_tree(0, 274, 70_000), None);
        assert_eq!(TileId::in_tree(1, 1, 70_000).unwrap().width, 17);
        assert_eq!(TileId::in_tree(2, 0, 70_000).unwrap().width, 1);
        assert_eq!(TileId::in_tree(3, 0, 70_000), None);
        assert_eq!(TileId::in_tree(0, u64::MAX, u64::MAX), None);
    }

    #[test]
    fn tile_bytes_round_trip_and_truncate() {
        let id = TileId {
            level: 0,
            index: 0,
            width: 2,
        };
        let tile = Tile {
            id,
            hashes: vec![[1; 32], [2; 32]],
        };
        assert_eq!(Tile::from_bytes(id, &tile.to_bytes()).unwrap(), tile);
        let wider = [[1u8; 32], [2; 32], [3; 32]].concat();
        assert_eq!(Tile::from_bytes(id, &wider).unwrap(), tile);
        assert!(Tile::from_bytes(id, &[0; 33]).is_err());
        assert!(Tile::from_bytes(id, &[0; 32]).is_err());
    }
}
