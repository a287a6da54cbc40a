//! Building tiles incrementally: growing the tree from `from` to `to` entries touches
//! only the rightmost tiles of each level, so it needs the partial tiles of the old tree
//! and the new leaf hashes, never the whole log.

use super::{hashes_at_level, Hash, Tile, TileError, TileId, MAX_LEVEL, TILE_WIDTH};
use crate::merkle;

/// The growth of a tree from `from` to `to` entries, as tiles.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TileGrowth {
    from: u64,
    to: u64,
}

impl TileGrowth {
    /// The growth from `from` to `to` entries.
    ///
    /// # Errors
    ///
    /// [`TileError::ShrinkingTree`] if `from > to`.
    pub fn new(from: u64, to: u64) -> Result<TileGrowth, TileError> {
        if from > to {
            return Err(TileError::ShrinkingTree { from, to });
        }
        Ok(TileGrowth { from, to })
    }

    /// The old size.
    pub fn from(&self) -> u64 {
        self.from
    }

    /// The new size.
    pub fn to(&self) -> u64 {
        self.to
    }

    /// The levels that gain hashes.
    fn growing_levels(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=MAX_LEVEL).take_while(|&level| {
            hashes_at_level(self.to, level) > hashes_at_level(self.from, level)
        })
    }

    /// The partial tiles of the old tree that [`TileGrowth::build`] extends: at each
    /// level that grows, the old rightmost tile if it is partial.
    pub fn inputs(&self) -> Vec<TileId> {
        self.growing_levels()
            .filter_map(|level| {
                let old = hashes_at_level(self.from, level);
                (!old.is_multiple_of(TILE_WIDTH))
                    .then(|| TileId::in_tree(level, old / TILE_WIDTH, self.from))
                    .flatten()
            })
            .collect()
    }

    /// The tiles of the new tree that the old one lacks or holds narrower, level by
    /// level, left to right: what is to be stored and published.
    pub fn outputs(&self) -> Vec<TileId> {
        let mut tiles = Vec::new();
        for level in self.growing_levels() {
            let first = hashes_at_level(self.from, level) / TILE_WIDTH;
            let last = (hashes_at_level(self.to, level) - 1) / TILE_WIDTH;
            tiles.extend((first..=last).filter_map(|index| TileId::in_tree(level, index, self.to)));
        }
        tiles
    }

    /// Builds the [`TileGrowth::outputs`] from the [`TileGrowth::inputs`] (tiles of the
    /// old tree; wider versions are fine) and the leaf hashes of entries `from..to`.
    ///
    /// # Errors
    ///
    /// [`TileError::LeafCount`] unless exactly `to - from` leaf hashes are given, and
    /// [`TileError::MissingTile`] if an input is missing or too narrow.
    pub fn build(&self, inputs: &[Tile], leaves: &[[u8; 32]]) -> Result<Vec<Tile>, TileError> {
        let expected = self.to - self.from;
        if u64::try_from(leaves.len()).ok() != Some(expected) {
            return Err(TileError::LeafCount {
                expected,
                found: leaves.len(),
            });
        }
        let mut tiles = Vec::new();
        let mut new: Vec<Hash> = leaves.to_vec();
        for level in self.growing_levels() {
            let old = hashes_at_level(self.from, level);
            let first = old / TILE_WIDTH;
            let mut hashes = self.old_partial(inputs, level, old)?;
            hashes.append(&mut new);
            for (index, chunk) in (first..).zip(hashes.chunks(256)) {
                let id = TileId {
                    level,
                    index,
                    width: u16::try_from(chunk.len()).map_err(|_| TileError::LeafCount {
                        expected,
                        found: leaves.len(),
                    })?,
                };
                if id.is_full() {
                    new.push(merkle::root(chunk));
                }
                tiles.push(Tile {
                    id,
                    hashes: chunk.to_vec(),
                });
            }
        }
        Ok(tiles)
    }

    /// The hashes of the old tree's partial tile at `level` (which has `old` hashes), or
    /// none if that level's tiles were all full.
    fn old_partial(&self, inputs: &[Tile], level: u8, old: u64) -> Result<Vec<Hash>, TileError> {
        let Some(id) = TileId::in_tree(level, old / TILE_WIDTH, self.from) else {
            return Ok(Vec::new());
        };
        if id.is_full() {
            return Ok(Vec::new());
        }
        let width = usize::from(id.width);
        inputs
            .iter()
            .find(|tile| tile.id.level == level && tile.id.index == id.index)
            .and_then(|tile| tile.hashes.get(..width))
            .map(<[Hash]>::to_vec)
            .ok_or(TileError::MissingTile { id })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn leaves(from: u64, to: u64) -> Vec<[u8; 32]> {
        (from..to)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect()
    }

    /// The tiles of the tree of `size`, built from scratch.
    fn whole(size: u64) -> Vec<Tile> {
        TileGrowth::new(0, size)
            .unwrap()
            .build(&[], &leaves(0, size))
            .unwrap()
    }

    #[test]
    fn the_specifications_example_sizes() {
        // 70,000: 273 full level 0 tiles, one partial of width 112, one full level 1
        // tile, one partial level 1 tile of width 17, one partial level 2 tile of width 1.
        let tiles = TileGrowth::new(0, 70_000).unwrap().outputs();
        let at = |level: u8| -> Vec<TileId> {
            tiles.iter().copied().filter(|t| t.level == level).collect()
        };
        assert_eq!(at(0).iter().filter(|t| t.is_full()).count(), 273);
        assert_eq!(at(0).last().unwrap().width, 112);
        assert_eq!(at(1).len(), 2);
        assert!(at(1)[0].is_full());
        assert_eq!(at(1)[1].width, 17);
        assert_eq!(at(2), [TileId::in_tree(2, 0, 70_000).unwrap()]);
        assert_eq!(at(2)[0].width, 1);
        assert_eq!(tiles.len(), 273 + 1 + 2 + 1);
        // 256: a full level 0 tile and a partial level 1 tile of width 1.
        let tiles = TileGrowth::new(0, 256).unwrap().outputs();
        assert_eq!(tiles.len(), 2);
        assert!(tiles[0].is_full());
        assert_eq!((tiles[1].level, tiles[1].width), (1, 1));
        assert!(TileGrowth::new(0, 0).unwrap().outputs().is_empty());
    }

    #[test]
    fn built_tiles_match_their_outputs_and_hash_the_level_below() {
        let tiles = whole(70_000);
        let ids: Vec<TileId> = tiles.iter().map(|t| t.id).collect();
        assert_eq!(ids, TileGrowth::new(0, 70_000).unwrap().outputs());
        let level_one = tiles.iter().find(|t| t.id.level == 1).unwrap();
        assert_eq!(level_one.hashes[3], merkle::root(&leaves(768, 1024)));
        let level_two = tiles.iter().find(|t| t.id.level == 2).unwrap();
        assert_eq!(level_two.hashes[0], merkle::root(&leaves(0, 65_536)));
    }

    #[test]
    fn growing_step_by_step_gives_the_tiles_built_at_once() {
        for steps in [
            &[1, 2, 255, 256, 257, 600][..],
            &[256, 512, 65_535, 65_536, 65_537, 70_000],
            &[100, 65_600],
            &[70_000],
        ] {
            let mut stored: std::collections::BTreeMap<(u8, u64), Tile> = Default::default();
            let mut from = 0;
            for &to in steps {
                let growth = TileGrowth::new(from, to).unwrap();
                let inputs: Vec<Tile> = growth
                    .inputs()
                    .iter()
                    .map(|id| stored[&(id.level, id.index)].clone())
                    .collect();
                let built = growth.build(&inputs, &leaves(from, to)).unwrap();
                let ids: Vec<TileId> = built.iter().map(|t| t.id).collect();
                assert_eq!(ids, growth.outputs(), "{from}..{to}");
                for tile in built {
                    stored.insert((tile.id.level, tile.id.index), tile);
                }
                let all: Vec<Tile> = stored.values().cloned().collect();
                let mut expected = whole(to);
                expected.sort_by_key(|t| (t.id.level, t.id.index));
                assert_eq!(all, expected, "after {from}..{to}");
                from = to;
            }
        }
    }

    #[test]
    fn wrong_inputs_are_refused() {
        let growth = TileGrowth::new(10, 20).unwrap();
        assert!(matches!(
            growth.build(&[], &leaves(10, 20)),
            Err(TileError::MissingTile { .. })
        ));
        assert!(matches!(
            growth.build(&[], &leaves(10, 19)),
            Err(TileError::LeafCount { .. })
        ));
        assert!(matches!(
            TileGrowth::new(2, 1),
            Err(TileError::ShrinkingTree { .. })
        ));
        assert_eq!(
            growth.inputs(),
            [TileId {
                level: 0,
                index: 0,
                width: 10
            }]
        );
    }
}
