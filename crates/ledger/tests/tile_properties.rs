//! Tiles against the recursive RFC 9162 definitions of `merkle`: roots, inclusion and
//! consistency proofs computed from tiles equal the ones computed from every leaf, for
//! every size up to 600 (roots) or 260 (proofs, then a sample) at the positions where the recursion changes shape, and around the level boundaries, and each reads only the tiles
//! it lists.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use proptest::prelude::*;
use shuin_ledger::merkle;
use shuin_ledger::tiles::{proof, Tile, TileGrowth, TileId, TileSet};

fn leaves(size: u64) -> Vec<[u8; 32]> {
    (0..size)
        .map(|i| merkle::leaf_hash(format!("entry {i}").as_bytes()))
        .collect()
}

/// Every tile of the tree of `size`.
fn tiles(all: &[[u8; 32]], size: u64) -> Vec<Tile> {
    TileGrowth::new(0, size)
        .unwrap()
        .build(&[], &all[..usize::try_from(size).unwrap()])
        .unwrap()
}

/// Only the listed tiles, cut to their width in the tree the proof is for (as a reader
/// fetching them by path gets them).
fn only(all: &[Tile], wanted: &[TileId]) -> TileSet {
    wanted
        .iter()
        .map(|id| {
            let tile = all
                .iter()
                .find(|t| t.id.level == id.level && t.id.index == id.index)
                .unwrap();
            Tile::from_bytes(*id, &tile.to_bytes()).unwrap()
        })
        .collect()
}

/// Every size up to 260, then every 13th up to 600.
fn sizes() -> impl Iterator<Item = u64> {
    (1..=260).chain((261..=600).step_by(13)).chain([600])
}

/// Leaf indices (or sizes) where the recursion changes shape, below `size`.
fn around_boundaries(size: u64) -> impl Iterator<Item = u64> {
    [0, 1, 2, 127, 128, 255, 256, 257, 511, 512]
        .into_iter()
        .chain([
            size / 3,
            size / 2,
            size.saturating_sub(2),
            size.saturating_sub(1),
            size,
        ])
}

fn prefix(all: &[[u8; 32]], size: u64) -> &[[u8; 32]] {
    &all[..usize::try_from(size).unwrap()]
}

#[test]
fn roots_from_tiles_equal_the_tree_hash_for_every_size_up_to_600() {
    let all = leaves(600);
    let built = tiles(&all, 600);
    for size in 0..=600 {
        let wanted = proof::tiles_for_root(size);
        assert!(wanted.len() <= 3, "size {size} reads {wanted:?}");
        let root = proof::root(&only(&built, &wanted), size).unwrap();
        assert_eq!(root, merkle::root(prefix(&all, size)), "size {size}");
    }
}

#[test]
fn inclusion_proofs_from_tiles_equal_the_recursive_ones() {
    let all = leaves(600);
    let built = tiles(&all, 600);
    for size in sizes() {
        for index in around_boundaries(size).filter(|&i| i < size) {
            let wanted = proof::tiles_for_inclusion(index, size).unwrap();
            let set = only(&built, &wanted);
            let expected = merkle::inclusion_proof(&all, index, size).unwrap();
            assert_eq!(
                proof::inclusion_proof(&set, index, size).unwrap(),
                expected,
                "index {index} size {size}"
            );
            assert_eq!(
                proof::leaf_hash(&set, index, size).unwrap(),
                all[usize::try_from(index).unwrap()]
            );
        }
    }
    assert!(proof::tiles_for_inclusion(5, 5).is_err());
}

#[test]
fn consistency_proofs_from_tiles_equal_the_recursive_ones() {
    let all = leaves(600);
    let built = tiles(&all, 600);
    for to in sizes() {
        for from in around_boundaries(to).filter(|&from| from <= to) {
            let wanted = proof::tiles_for_consistency(from, to).unwrap();
            let set = only(&built, &wanted);
            let expected = merkle::consistency_proof(&all, from, to).unwrap();
            assert_eq!(
                proof::consistency_proof(&set, from, to).unwrap(),
                expected,
                "{from} -> {to}"
            );
            assert_eq!(
                proof::root(&set, from).unwrap(),
                merkle::root(prefix(&all, from))
            );
        }
    }
    assert!(proof::tiles_for_consistency(3, 2).is_err());
}

/// Around 65,536 leaves the tree gains a level 2 tile: sizes and leaves near the
/// boundaries, proofs from a few tiles only.
#[test]
fn proofs_across_the_second_level() {
    let all = leaves(70_000);
    let built = tiles(&all, 70_000);
    for size in [65_535, 65_536, 65_537, 65_792, 70_000] {
        let wanted = proof::tiles_for_root(size);
        assert_eq!(
            proof::root(&only(&built, &wanted), size).unwrap(),
            merkle::root(prefix(&all, size))
        );
        for index in [0, 255, 256, 65_535, size - 1]
            .into_iter()
            .filter(|&i| i < size)
        {
            let wanted = proof::tiles_for_inclusion(index, size).unwrap();
            assert!(wanted.len() <= 6, "{index}/{size} reads {}", wanted.len());
            let got = proof::inclusion_proof(&only(&built, &wanted), index, size).unwrap();
            assert!(merkle::verify_inclusion(
                &all[usize::try_from(index).unwrap()],
                index,
                size,
                &got,
                &merkle::root(prefix(&all, size))
            ));
        }
        for from in [1, 256, 65_535, 65_536]
            .into_iter()
            .filter(|&from| from <= size)
        {
            let wanted = proof::tiles_for_consistency(from, size).unwrap();
            let got = proof::consistency_proof(&only(&built, &wanted), from, size).unwrap();
            assert_eq!(got, merkle::consistency_proof(&all, from, size).unwrap());
        }
    }
}

#[test]
fn a_missing_tile_is_named() {
    let all = leaves(300);
    let built = tiles(&all, 300);
    let mut wanted = proof::tiles_for_inclusion(3, 300).unwrap();
    wanted.pop();
    let error = proof::inclusion_proof(&only(&built, &wanted), 3, 300).unwrap_err();
    assert!(error.to_string().contains("tile/"), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tiles_grown_in_random_steps_prove_like_the_tree(
        steps in proptest::collection::vec(1u64..700, 1..6),
        pick in any::<u64>(),
    ) {
        let total: u64 = steps.iter().sum();
        let all = leaves(total);
        let mut set = TileSet::new();
        let mut stored: Vec<Tile> = Vec::new();
        let mut from = 0;
        for step in steps {
            let to = from + step;
            let growth = TileGrowth::new(from, to).unwrap();
            let inputs: Vec<Tile> = growth
                .inputs()
                .iter()
                .map(|id| stored.iter().rev().find(|t| t.id.level == id.level && t.id.index == id.index).unwrap().clone())
                .collect();
            let built = growth
                .build(&inputs, &all[usize::try_from(from).unwrap()..usize::try_from(to).unwrap()])
                .unwrap();
            for tile in built {
                stored.push(tile.clone());
                set.insert(tile);
            }
            prop_assert_eq!(proof::root(&set, to).unwrap(), merkle::root(prefix(&all, to)));
            let index = pick % to;
            prop_assert_eq!(
                proof::inclusion_proof(&set, index, to).unwrap(),
                merkle::inclusion_proof(&all, index, to).unwrap()
            );
            let old = pick % (to + 1);
            prop_assert_eq!(
                proof::consistency_proof(&set, old, to).unwrap(),
                merkle::consistency_proof(&all, old, to).unwrap()
            );
            from = to;
        }
    }
}
