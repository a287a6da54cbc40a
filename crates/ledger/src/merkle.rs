//! The Merkle tree of the ledger, as in [RFC 9162 section 2.1].
//!
//! With `HASH` = SHA-256 and `D[n] = {d(0), ..., d(n-1)}` the entries' canonical bytes:
//!
//! ```text
//! MTH({})       = SHA-256()                                  empty tree
//! MTH({d(0)})   = SHA-256(0x00 || d(0))                      leaf hash
//! MTH(D[n])     = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])) node hash,
//!                 k = the largest power of two smaller than n
//! ```
//!
//! The functions here take leaf hashes rather than entries: `leaves[i]` is
//! `MTH({d(i)})`. Proof generation reads every leaf in range and is meant for stores and
//! tests; verification needs only the proof.
//!
//! [RFC 9162 section 2.1]: https://www.rfc-editor.org/rfc/rfc9162#section-2.1

use sha2::{Digest, Sha256};

use crate::LedgerError;

/// A SHA-256 tree hash.
type Hash = [u8; 32];

/// The root of the empty tree, `SHA-256()` ([RFC 9162 section 2.1.1]).
///
/// [RFC 9162 section 2.1.1]: https://www.rfc-editor.org/rfc/rfc9162#section-2.1.1
pub fn empty_root() -> [u8; 32] {
    Sha256::digest([]).into()
}

/// The leaf hash of `data`, `SHA-256(0x00 || data)` ([RFC 9162 section 2.1.1]).
///
/// [RFC 9162 section 2.1.1]: https://www.rfc-editor.org/rfc/rfc9162#section-2.1.1
pub fn leaf_hash(data: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update([0x00])
        .chain_update(data)
        .finalize()
        .into()
}

/// The interior node hash, `SHA-256(0x01 || left || right)`
/// ([RFC 9162 section 2.1.1]).
///
/// [RFC 9162 section 2.1.1]: https://www.rfc-editor.org/rfc/rfc9162#section-2.1.1
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update([0x01])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The Merkle tree hash `MTH` of the tree whose leaf hashes are `leaves`
/// ([RFC 9162 section 2.1.1]).
///
/// [RFC 9162 section 2.1.1]: https://www.rfc-editor.org/rfc/rfc9162#section-2.1.1
pub fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves {
        [] => empty_root(),
        [only] => *only,
        _ => {
            let (left, right) = leaves.split_at(split_point(leaves.len()));
            node_hash(&root(left), &root(right))
        }
    }
}

/// The largest power of two smaller than `n`, for `n` > 1.
fn split_point(n: usize) -> usize {
    debug_assert!(n > 1);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The first `size` leaves, or an error if fewer were supplied.
fn prefix(leaves: &[[u8; 32]], size: u64) -> Result<&[[u8; 32]], LedgerError> {
    usize::try_from(size)
        .ok()
        .and_then(|size| leaves.get(..size))
        .ok_or(LedgerError::SizeExceedsLeaves {
            size,
            available: leaves.len(),
        })
}

/// The inclusion proof `PATH(index, D[size])` for leaf `index` in the tree of the first
/// `size` leaves ([RFC 9162 section 2.1.3.1]).
///
/// The proof lists sibling subtree hashes from the leaf upwards; it is what the
/// `inclusion_path` field of an RFC 9162 `InclusionProofDataV2` carries.
///
/// # Errors
///
/// [`LedgerError::SizeExceedsLeaves`] if fewer than `size` leaves are supplied and
/// [`LedgerError::IndexOutOfRange`] unless `index < size`.
///
/// [RFC 9162 section 2.1.3.1]: https://www.rfc-editor.org/rfc/rfc9162#section-2.1.3.1
pub fn inclusion_proof(
    leaves: &[[u8; 32]],
    index: u64,
    size: u64,
) -> Result<Vec<[u8; 32]>, LedgerError> {
    let tree = prefix(leaves, size)?;
    let index = usize::try_from(index)
        .ok()
        .filter(|&index| index < tree.len())
        .ok_or(LedgerError::IndexOutOfRange { index, size })?;
    let mut proof = Vec::new();
    path(index, tree, &mut proof);
    Ok(proof)
}

fn path(index: usize, leaves: &[Hash], proof: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let (left, right) = leaves.split_at(split_point(leaves.len()));
    if index < left.len() {
        path(index, left, proof);
        proof.push(root(right));
    } else {
        path(index - left.len(), right, proof);
        proof.push(root(left));
    }
}

/// Verifies that `leaf_hash` is leaf `index` of the tree of `size` leaves with root
/// `root`, given the inclusion `proof` ([RFC 9162 section 2.1.3.2]).
///
/// [RFC 9162 section 2.1.3.2]: https://www.rfc-editor.org/rfc/rfc9162#section-2.1.3.2
pub fn verify_inclusion(
    leaf_hash: &[u8; 32],
    index: u64,
    size: u64,
    proof: &[[u8; 32]],
    root: &[u8; 32],
) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// The consistency proof `PROOF(old_size, D[new_size])` between the trees of the first
/// `old_size` and the first `new_size` leaves ([RFC 9162 section 2.1.4.1]).
///
/// The proof is empty when `old_size` is 0 or equals `new_size`.
///
/// # Errors
///
/// [`LedgerError::SizeExceedsLeaves`] if fewer than `new_size` leaves are supplied and
/// [`LedgerError::ShrinkingTree`] if `old_size > new_size`.
///
/// [RFC 9162 section 2.1.4.1]: https://www.rfc-editor.org/rfc/rfc9162#section-2.1.4.1
pub fn consistency_proof(
    leaves: &[[u8; 32]],
    old_size: u64,
    new_size: u64,
) -> Result<Vec<[u8; 32]>, LedgerError> {
    let tree = prefix(leaves, new_size)?;
    if old_size > new_size {
        return Err(LedgerError::ShrinkingTree { old_size, new_size });
    }
    let mut proof = Vec::new();
    // old_size <= new_size, which fits in usize, so this conversion cannot fail.
    if let Ok(old) = usize::try_from(old_size) {
        if old > 0 {
            subproof(old, tree, true, &mut proof);
        }
    }
    Ok(proof)
}

fn subproof(old: usize, leaves: &[Hash], complete: bool, proof: &mut Vec<Hash>) {
    if old == leaves.len() {
        if !complete {
            proof.push(root(leaves));
        }
        return;
    }
    let (left, right) = leaves.split_at(split_point(leaves.len()));
    if old <= left.len() {
        subproof(old, left, complete, proof);
        proof.push(root(right));
    } else {
        subproof(old - left.len(), right, false, proof);
        proof.push(root(left));
    }
}

/// Verifies that the tree of `new_size` leaves with root `new_root` extends the tree of
/// `old_size` leaves with root `old_root`, given the consistency `proof`
/// ([RFC 9162 section 2.1.4.2]).
///
/// Beyond the RFC, which requires `0 < old_size < new_size`: equal sizes verify when the
/// proof is empty and the roots are equal, and an old size of 0 verifies when the proof
/// is empty and `old_root` is [`empty_root`].
///
/// [RFC 9162 section 2.1.4.2]: https://www.rfc-editor.org/rfc/rfc9162#section-2.1.4.2
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &[u8; 32],
    new_root: &[u8; 32],
    proof: &[[u8; 32]],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == empty_root();
    }
    // Step 2: when the old tree is a perfect subtree of the new one, its root is the
    // first hash of the path.
    let mut path = proof.iter();
    let first = if old_size.is_power_of_two() {
        old_root
    } else {
        match path.next() {
            Some(first) => first,
            None => return false,
        }
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *old_root && sr == *new_root && sn == 0
}

/// An append-only Merkle tree that keeps only the roots of its perfect subtrees, so
/// appending costs O(log n) hashes and memory stays O(log n).
///
/// A tree of size `n` holds one subtree root per one bit of `n`, largest subtree (the
/// leftmost leaves) first. For example size 6 = 0b110 holds `MTH(D[0:4])` and
/// `MTH(D[4:6])`. This is the "compact range" of the tree prefix, the same state
/// Trillian and the transparency-dev tools keep; a store persists [`CompactTree::size`]
/// and [`CompactTree::to_state`] to resume without reading every leaf.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct CompactTree {
    size: u64,
    subtrees: Vec<Hash>,
}

impl CompactTree {
    /// The empty tree.
    pub fn new() -> CompactTree {
        CompactTree::default()
    }

    /// Resumes a tree from its size and the hashes returned by
    /// [`CompactTree::to_state`].
    ///
    /// # Errors
    ///
    /// [`LedgerError::CompactStateMismatch`] unless there is one hash per one bit of
    /// `size`.
    pub fn from_state(size: u64, hashes: Vec<[u8; 32]>) -> Result<CompactTree, LedgerError> {
        let expected = size.count_ones();
        if usize::try_from(expected).ok() != Some(hashes.len()) {
            return Err(LedgerError::CompactStateMismatch {
                size,
                expected,
                found: hashes.len(),
            });
        }
        Ok(CompactTree {
            size,
            subtrees: hashes,
        })
    }

    /// The perfect subtree roots, largest first; persist them with the size.
    pub fn to_state(&self) -> Vec<[u8; 32]> {
        self.subtrees.clone()
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash (see [`leaf_hash`]).
    pub fn append(&mut self, leaf_hash: [u8; 32]) {
        let mut hash = leaf_hash;
        let mut bits = self.size;
        // Each trailing one bit of the size is a perfect subtree as large as the one
        // being carried; merge them, like a binary increment.
        while bits & 1 == 1 {
            // Invariant: one subtree per one bit of the size, so this is always Some.
            let Some(left) = self.subtrees.pop() else {
                break;
            };
            hash = node_hash(&left, &hash);
            bits >>= 1;
        }
        self.subtrees.push(hash);
        // A log cannot hold 2^64 entries; overflow is not a practical concern.
        self.size += 1;
    }

    /// The Merkle tree hash of all leaves appended so far.
    pub fn root(&self) -> [u8; 32] {
        let mut from_right = self.subtrees.iter().rev();
        match from_right.next() {
            None => empty_root(),
            Some(last) => from_right.fold(*last, |right, left| node_hash(left, &right)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn unhex(text: &str) -> Hash {
        hex::decode(text).unwrap().try_into().unwrap()
    }

    /// The leaf inputs of the RFC 6962 reference test vectors (certificate-transparency
    /// `merkle_tree_test.cc`, reused by transparency-dev/merkle).
    const VECTOR_LEAVES: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];

    /// Roots of the first 1..=8 vector leaves.
    const VECTOR_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn vector_leaf_hashes() -> Vec<Hash> {
        VECTOR_LEAVES.iter().map(|data| leaf_hash(data)).collect()
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(root(&[]), empty_root());
        assert_eq!(CompactTree::new().root(), empty_root());
    }

    #[test]
    fn reference_vector_roots() {
        let leaves = vector_leaf_hashes();
        let mut tree = CompactTree::new();
        for (size, expected) in (1..).zip(VECTOR_ROOTS) {
            tree.append(leaves[size - 1]);
            assert_eq!(root(&leaves[..size]), unhex(expected), "size {size}");
            assert_eq!(tree.root(), unhex(expected), "size {size}");
        }
    }

    /// Inclusion proofs from the same reference vectors.
    #[test]
    fn reference_vector_inclusion_proofs() {
        let leaves = vector_leaf_hashes();
        let cases: [(u64, u64, &[&str]); 4] = [
            (0, 1, &[]),
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
        ];
        for (index, size, expected) in cases {
            let proof = inclusion_proof(&leaves, index, size).unwrap();
            let expected: Vec<Hash> = expected.iter().map(|h| unhex(h)).collect();
            assert_eq!(proof, expected, "index {index} size {size}");
            let tree_root = unhex(VECTOR_ROOTS[usize::try_from(size - 1).unwrap()]);
            let leaf = leaves[usize::try_from(index).unwrap()];
            assert!(verify_inclusion(&leaf, index, size, &proof, &tree_root));
        }
    }

    /// Consistency proofs from the same reference vectors.
    #[test]
    fn reference_vector_consistency_proofs() {
        let leaves = vector_leaf_hashes();
        let cases: [(u64, u64, &[&str]); 3] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old_size, new_size, expected) in cases {
            let proof = consistency_proof(&leaves, old_size, new_size).unwrap();
            let expected: Vec<Hash> = expected.iter().map(|h| unhex(h)).collect();
            assert_eq!(proof, expected, "{old_size} -> {new_size}");
            let old_root = unhex(VECTOR_ROOTS[usize::try_from(old_size - 1).unwrap()]);
            let new_root = unhex(VECTOR_ROOTS[usize::try_from(new_size - 1).unwrap()]);
            assert!(verify_consistency(
                old_size, new_size, &old_root, &new_root, &proof
            ));
        }
    }

    #[test]
    fn proof_requests_outside_the_tree_are_errors() {
        let leaves = vector_leaf_hashes();
        assert!(matches!(
            inclusion_proof(&leaves, 0, 9),
            Err(LedgerError::SizeExceedsLeaves {
                size: 9,
                available: 8
            })
        ));
        assert!(matches!(
            inclusion_proof(&leaves, 3, 3),
            Err(LedgerError::IndexOutOfRange { index: 3, size: 3 })
        ));
        assert!(matches!(
            inclusion_proof(&leaves, 0, 0),
            Err(LedgerError::IndexOutOfRange { index: 0, size: 0 })
        ));
        assert!(matches!(
            consistency_proof(&leaves, 5, 4),
            Err(LedgerError::ShrinkingTree {
                old_size: 5,
                new_size: 4
            })
        ));
        assert!(matches!(
            consistency_proof(&leaves, 1, 9),
            Err(LedgerError::SizeExceedsLeaves { .. })
        ));
    }

    #[test]
    fn degenerate_consistency_cases() {
        let leaves = vector_leaf_hashes();
        let r3 = root(&leaves[..3]);
        assert_eq!(
            consistency_proof(&leaves, 3, 3).unwrap(),
            Vec::<Hash>::new()
        );
        assert!(verify_consistency(3, 3, &r3, &r3, &[]));
        assert!(!verify_consistency(3, 3, &r3, &empty_root(), &[]));
        assert!(!verify_consistency(3, 3, &r3, &r3, &[r3]));
        assert_eq!(
            consistency_proof(&leaves, 0, 3).unwrap(),
            Vec::<Hash>::new()
        );
        assert!(verify_consistency(0, 3, &empty_root(), &r3, &[]));
        assert!(!verify_consistency(0, 3, &r3, &r3, &[]));
        assert!(!verify_consistency(4, 3, &r3, &r3, &[]));
        assert!(!verify_consistency(2, 3, &root(&leaves[..2]), &r3, &[]));
    }

    #[test]
    fn compact_state_must_fit_the_size() {
        assert!(CompactTree::from_state(0, vec![]).is_ok());
        assert!(matches!(
            CompactTree::from_state(6, vec![[0; 32]]),
            Err(LedgerError::CompactStateMismatch {
                size: 6,
                expected: 2,
                found: 1
            })
        ));
        let leaves = vector_leaf_hashes();
        let mut tree = CompactTree::new();
        leaves[..6].iter().for_each(|leaf| tree.append(*leaf));
        assert_eq!(
            tree.to_state(),
            vec![root(&leaves[..4]), root(&leaves[4..6])]
        );
    }
}
