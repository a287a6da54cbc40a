//! Property tests for the RFC 9162 Merkle tree: the incremental tree agrees with the
//! recursive definition, and proofs verify exactly when they should.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use proptest::prelude::*;
use shuin_ledger::merkle::{
    consistency_proof, empty_root, inclusion_proof, leaf_hash, root, verify_consistency,
    verify_inclusion,
};
use shuin_ledger::CompactTree;

const MAX_SIZE: u64 = 300;

fn leaves(size: u64, salt: u64) -> Vec<[u8; 32]> {
    (0..size)
        .map(|i| leaf_hash(format!("{salt}/{i}").as_bytes()))
        .collect()
}

fn flip(hash: &[u8; 32], bit: usize) -> [u8; 32] {
    let mut flipped = *hash;
    flipped[bit / 8 % 32] ^= 1 << (bit % 8);
    flipped
}

#[test]
fn incremental_root_equals_recursive_root_for_every_size_up_to_300() {
    let all = leaves(MAX_SIZE, 0);
    let mut tree = CompactTree::new();
    assert_eq!(tree.root(), empty_root());
    for (size, leaf) in (1..).zip(&all) {
        tree.append(*leaf);
        assert_eq!(tree.size(), size);
        let expected = root(&all[..usize::try_from(size).unwrap()]);
        assert_eq!(tree.root(), expected, "size {size}");
        let resumed = CompactTree::from_state(size, tree.to_state()).unwrap();
        assert_eq!(resumed, tree);
    }
}

/// A tree size and a leaf index within it.
fn size_and_index() -> impl Strategy<Value = (u64, u64)> {
    (1..=MAX_SIZE).prop_flat_map(|size| (Just(size), 0..size))
}

/// Two tree sizes, the first no larger than the second.
fn old_and_new_size() -> impl Strategy<Value = (u64, u64)> {
    (1..=MAX_SIZE).prop_flat_map(|new| (1..=new, Just(new)))
}

proptest! {
    #[test]
    fn resuming_from_state_continues_the_same_tree(
        size in 0..=MAX_SIZE, split in 0..=MAX_SIZE, salt: u64,
    ) {
        let split = split.min(size);
        let all = leaves(size, salt);
        let (before, after) = all.split_at(usize::try_from(split).unwrap());
        let mut first = CompactTree::new();
        before.iter().for_each(|leaf| first.append(*leaf));
        let mut resumed = CompactTree::from_state(first.size(), first.to_state()).unwrap();
        after.iter().for_each(|leaf| resumed.append(*leaf));
        prop_assert_eq!(resumed.size(), size);
        prop_assert_eq!(resumed.root(), root(&all));
    }

    #[test]
    fn inclusion_proofs_verify_and_bind_leaf_index_and_root(
        (size, index) in size_and_index(), salt: u64, bit in 0usize..256, shift in 1u64..MAX_SIZE,
    ) {
        let all = leaves(size, salt);
        let tree_root = root(&all);
        let leaf = all[usize::try_from(index).unwrap()];
        let proof = inclusion_proof(&all, index, size).unwrap();
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &tree_root));

        prop_assert!(!verify_inclusion(&flip(&leaf, bit), index, size, &proof, &tree_root));
        prop_assert!(!verify_inclusion(&leaf, index, size, &proof, &flip(&tree_root, bit)));
        if size > 1 {
            let other = (index + shift % (size - 1) + 1) % size;
            prop_assert_ne!(other, index);
            prop_assert!(!verify_inclusion(&leaf, other, size, &proof, &tree_root));
        }
        prop_assert!(!verify_inclusion(&leaf, size, size, &proof, &tree_root));
        if let Some((last, shorter)) = proof.split_last() {
            prop_assert!(!verify_inclusion(&leaf, index, size, shorter, &tree_root));
            let mut altered = proof.clone();
            *altered.last_mut().unwrap() = flip(last, bit);
            prop_assert!(!verify_inclusion(&leaf, index, size, &altered, &tree_root));
        }
        let mut longer = proof.clone();
        longer.push(tree_root);
        prop_assert!(!verify_inclusion(&leaf, index, size, &longer, &tree_root));
    }

    #[test]
    fn consistency_proofs_verify_and_bind_both_roots(
        (old_size, new_size) in old_and_new_size(), salt: u64, bit in 0usize..256,
    ) {
        let all = leaves(new_size, salt);
        let old_root = root(&all[..usize::try_from(old_size).unwrap()]);
        let new_root = root(&all);
        let proof = consistency_proof(&all, old_size, new_size).unwrap();
        prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof));

        let (bad_old, bad_new) = (flip(&old_root, bit), flip(&new_root, bit));
        prop_assert!(!verify_consistency(old_size, new_size, &bad_old, &new_root, &proof));
        prop_assert!(!verify_consistency(old_size, new_size, &old_root, &bad_new, &proof));
        for position in 0..proof.len() {
            let mut altered = proof.clone();
            altered[position] = flip(&altered[position], bit);
            prop_assert!(!verify_consistency(old_size, new_size, &old_root, &new_root, &altered));
        }
        if !proof.is_empty() {
            let shorter = &proof[..proof.len() - 1];
            prop_assert!(!verify_consistency(old_size, new_size, &old_root, &new_root, shorter));
        }
        let mut longer = proof.clone();
        longer.push(new_root);
        prop_assert!(!verify_consistency(old_size, new_size, &old_root, &new_root, &longer));
    }

    #[test]
    fn the_empty_tree_is_consistent_with_every_tree(new_size in 0..=MAX_SIZE, salt: u64) {
        let all = leaves(new_size, salt);
        let proof = consistency_proof(&all, 0, new_size).unwrap();
        prop_assert!(proof.is_empty());
        prop_assert!(verify_consistency(0, new_size, &empty_root(), &root(&all), &proof));
    }
}
