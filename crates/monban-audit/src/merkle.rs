//! RFC 6962 / RFC 9162 Merkle tree hashing over SHA-256: leaf and node hashes, the compact
//! right-edge state used for O(log n) appends, and inclusion and consistency proofs
//! (generation against a [`HashStore`], verification as in RFC 9162 §2.1.3.2 and §2.1.4.2).
//!
//! Nodes are addressed by [`NodeId`]: the perfect subtree at `level` and `index` covers the
//! leaves `[index * 2^level, (index + 1) * 2^level)`. Level 0 holds the leaf hashes. A store
//! keeps every perfect subtree hash, so any proof needs O(log n) reads and no rehashing of
//! leaves.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Length of a [`Hash`](type@Hash) in bytes.
pub const HASH_LEN: usize = 32;

/// Root hash of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Largest supported tree size (2^63): keeps every level and index within `i64` for SQL stores.
pub const MAX_TREE_SIZE: u64 = 1 << 63;

/// Leaf hash: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// Interior node hash: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Errors from proof generation, proof verification and tree-state handling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not inside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("consistency needs 0 < size1 <= size2, got size1 {size1} and size2 {size2}")]
    BadSizes { size1: u64, size2: u64 },
    #[error("tree size {size} is larger than the supported maximum 2^63")]
    TreeTooLarge { size: u64 },
    #[error("proof has {got} hashes but a proof for these sizes needs {want}")]
    WrongProofLength { got: usize, want: usize },
    #[error("{what} is {len} bytes long; a SHA-256 hash is 32 bytes")]
    BadHashLength { what: &'static str, len: usize },
    #[error("proof does not lead to the expected root hash")]
    RootMismatch,
    #[error("the two roots differ although the tree sizes are equal")]
    EqualSizesDifferentRoots,
    #[error("root of the empty tree must be SHA-256 of the empty string")]
    BadEmptyRoot,
    #[error("right edge of a tree of size {size} has {want} hashes, got {got}")]
    BadRightEdge { size: u64, want: usize, got: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Errors a storage backend reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("store has no hash for node at level {level}, index {index}: is the tree that large?")]
    MissingNode { level: u8, index: u64 },
    #[error("store has no leaf with sequence number {seq} (tree size is {size})")]
    MissingLeaf { seq: u64, size: u64 },
    #[error("append conflict: batch starts at sequence {first_seq} but the log has {size} entries; reload and retry")]
    Conflict { first_seq: u64, size: u64 },
    #[error("store backend failed: {0}")]
    Backend(String),
}

/// Address of a perfect subtree: `level` 0 is a leaf, `index` counts subtrees of that level from
/// the left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    /// Node id of a leaf.
    pub const fn leaf(index: u64) -> Self {
        NodeId { level: 0, index }
    }
    /// The leaves covered by this node, `[first, end)`; `None` if out of the u64 range.
    pub fn leaf_range(self) -> Option<(u64, u64)> {
        let width = 1u64.checked_shl(u32::from(self.level))?;
        let first = self.index.checked_mul(width)?;
        Some((first, first.checked_add(width)?))
    }
}

/// Read access to perfect-subtree hashes, what proof generation needs. A database backs it with
/// a table keyed by (level, index).
pub trait HashStore {
    /// Hash of the perfect subtree at `id`. Level 0 is the leaf hash.
    fn node_hash(&self, id: NodeId) -> Result<Hash, StoreError>;

    /// Hashes of several nodes, in the order asked. Override to fetch them in one query.
    fn node_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        ids.iter().map(|id| self.node_hash(*id)).collect()
    }

    /// Leaf hash at `index`.
    fn leaf_hash(&self, index: u64) -> Result<Hash, StoreError> {
        self.node_hash(NodeId::leaf(index))
    }
}

impl<T: HashStore + ?Sized> HashStore for &T {
    fn node_hash(&self, id: NodeId) -> Result<Hash, StoreError> {
        (**self).node_hash(id)
    }
    fn node_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        (**self).node_hashes(ids)
    }
}

/// Largest power of two strictly smaller than `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Splits `[begin, end)` into perfect subtrees, left to right, appending them to `out`.
/// For the ranges that arise in RFC 9162 (begin aligned to a power of two at least the range
/// size) the subtrees shrink from left to right and the range hash is their right-to-left fold.
fn decompose(mut begin: u64, end: u64, out: &mut Vec<NodeId>) {
    while begin < end {
        let size = end - begin;
        let by_size = 63 - size.leading_zeros();
        let by_align = if begin == 0 {
            63
        } else {
            begin.trailing_zeros()
        };
        let level = by_size.min(by_align);
        out.push(NodeId {
            level: level as u8,
            index: begin >> level,
        });
        begin += 1u64 << level;
    }
}

/// Hash of the tree whose perfect subtrees (left to right, shrinking) are `parts`.
fn fold_right(parts: &[Hash]) -> Hash {
    let mut iter = parts.iter().rev();
    let Some(last) = iter.next() else {
        return EMPTY_ROOT;
    };
    let mut acc = *last;
    for left in iter {
        acc = node_hash(left, &acc);
    }
    acc
}

/// The ids of the perfect subtrees on the right edge of a tree of `size` leaves (largest first).
/// A store that appends needs exactly these hashes to extend the tree.
pub fn right_edge_ids(size: u64) -> Vec<NodeId> {
    let mut out = Vec::with_capacity(size.count_ones() as usize);
    decompose(0, size, &mut out);
    out
}

/// The node reads a proof needs, and how to combine them: generate the plan, fetch
/// [`ProofPlan::ids`] from storage in one go, then call [`ProofPlan::assemble`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofPlan {
    /// Nodes to read, in order.
    pub ids: Vec<NodeId>,
    /// For each proof element, how many consecutive entries of `ids` fold into it.
    groups: Vec<u8>,
}

impl ProofPlan {
    fn from_ranges(ranges: &[(u64, u64)]) -> Self {
        let mut ids = Vec::with_capacity(ranges.len() + 8);
        let mut groups = Vec::with_capacity(ranges.len());
        for &(b, e) in ranges.iter().rev() {
            let before = ids.len();
            decompose(b, e, &mut ids);
            groups.push((ids.len() - before) as u8);
        }
        ProofPlan { ids, groups }
    }

    /// Number of hashes in the finished proof.
    pub fn proof_len(&self) -> usize {
        self.groups.len()
    }

    /// Builds the proof from the hashes of [`ProofPlan::ids`], given in the same order.
    pub fn assemble(&self, hashes: &[Hash]) -> Result<Vec<Hash>, ProofError> {
        if hashes.len() != self.ids.len() {
            return Err(ProofError::Store(StoreError::Backend(format!(
                "store returned {} hashes for {} requested nodes",
                hashes.len(),
                self.ids.len()
            ))));
        }
        let mut out = Vec::with_capacity(self.groups.len());
        let mut pos = 0usize;
        for &g in &self.groups {
            let g = usize::from(g);
            out.push(fold_right(&hashes[pos..pos + g]));
            pos += g;
        }
        Ok(out)
    }

    /// Reads the needed nodes from `store` and builds the proof.
    pub fn fetch<S: HashStore + ?Sized>(&self, store: &S) -> Result<Vec<Hash>, ProofError> {
        let hashes = store.node_hashes(&self.ids)?;
        self.assemble(&hashes)
    }
}

fn check_size(size: u64) -> Result<(), ProofError> {
    if size > MAX_TREE_SIZE {
        return Err(ProofError::TreeTooLarge { size });
    }
    Ok(())
}

/// Plan for the inclusion proof of leaf `index` in the tree of `size` leaves
/// (RFC 9162 §2.1.3.1, `PATH(m, D[n])`).
pub fn inclusion_plan(index: u64, size: u64) -> Result<ProofPlan, ProofError> {
    check_size(size)?;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // Ranges collected top-down; the proof lists them bottom-up.
    let mut ranges = Vec::with_capacity(64);
    let (mut begin, mut end) = (0u64, size);
    while end - begin > 1 {
        let k = split_point(end - begin);
        if index < begin + k {
            ranges.push((begin + k, end));
            end = begin + k;
        } else {
            ranges.push((begin, begin + k));
            begin += k;
        }
    }
    Ok(ProofPlan::from_ranges(&ranges))
}

/// Plan for the consistency proof between tree sizes `size1` and `size2`
/// (RFC 9162 §2.1.4.1, `PROOF(m, D[n])`). Equal sizes give an empty proof; `size1` must be > 0.
pub fn consistency_plan(size1: u64, size2: u64) -> Result<ProofPlan, ProofError> {
    check_size(size2)?;
    if size1 == 0 || size1 > size2 {
        return Err(ProofError::BadSizes { size1, size2 });
    }
    let mut ranges = Vec::with_capacity(64);
    let (mut begin, end_all) = (0u64, size2);
    let mut end = end_all;
    let mut m = size1;
    let mut complete = true;
    loop {
        let n = end - begin;
        if m == n {
            if !complete {
                ranges.push((begin, end));
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            ranges.push((begin + k, end));
            end = begin + k;
        } else {
            ranges.push((begin, begin + k));
            begin += k;
            m -= k;
            complete = false;
        }
    }
    Ok(ProofPlan::from_ranges(&ranges))
}

/// Inclusion proof of leaf `index` in the tree of `size` leaves, read from `store`.
pub fn inclusion_proof<S: HashStore + ?Sized>(
    store: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    inclusion_plan(index, size)?.fetch(store)
}

/// Consistency proof from tree size `size1` to `size2`, read from `store`.
pub fn consistency_proof<S: HashStore + ?Sized>(
    store: &S,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, ProofError> {
    consistency_plan(size1, size2)?.fetch(store)
}

/// Root hash of the tree of `size` leaves, from the right-edge hashes in `store`.
pub fn root_at<S: HashStore + ?Sized>(store: &S, size: u64) -> Result<Hash, ProofError> {
    check_size(size)?;
    let ids = right_edge_ids(size);
    let hashes = store.node_hashes(&ids)?;
    Ok(fold_right(&hashes))
}

/// Root hash of a list of leaf hashes (RFC 9162 MTH).
pub fn root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    let mut state = TreeState::new();
    for l in leaves {
        state.push(*l, |_, _| {});
    }
    state.root()
}

/// Incremental tree state: the size and the hashes of the perfect subtrees on the right edge
/// (largest first). Appending is O(log n) worst case, O(1) amortised, and allocation-free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeState {
    size: u64,
    edge: Vec<Hash>,
}

impl Default for TreeState {
    fn default() -> Self {
        Self::new()
    }
}

impl TreeState {
    /// The empty tree.
    pub fn new() -> Self {
        TreeState {
            size: 0,
            edge: Vec::with_capacity(64),
        }
    }

    /// A tree of `size` leaves from its right-edge hashes, as ordered by [`right_edge_ids`].
    pub fn from_right_edge(size: u64, edge: &[Hash]) -> Result<Self, ProofError> {
        check_size(size)?;
        let want = size.count_ones() as usize;
        if edge.len() != want {
            return Err(ProofError::BadRightEdge {
                size,
                want,
                got: edge.len(),
            });
        }
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(edge);
        Ok(TreeState { size, edge: v })
    }

    /// Loads the right edge of the tree of `size` leaves from `store`.
    pub fn from_store<S: HashStore + ?Sized>(store: &S, size: u64) -> Result<Self, ProofError> {
        check_size(size)?;
        let hashes = store.node_hashes(&right_edge_ids(size))?;
        Self::from_right_edge(size, &hashes)
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Right-edge hashes, largest subtree first (matches [`right_edge_ids`]).
    pub fn right_edge(&self) -> &[Hash] {
        &self.edge
    }

    /// Root hash of the current tree.
    pub fn root(&self) -> Hash {
        fold_right(&self.edge)
    }

    /// Appends a leaf hash. `new_node` is called for every perfect subtree completed by this
    /// append (the leaf itself first, then each new parent), which is exactly the rows a store
    /// keeping all levels must insert.
    pub fn push(&mut self, leaf: Hash, mut new_node: impl FnMut(NodeId, &Hash)) {
        let mut index = self.size;
        let mut level = 0u8;
        let mut h = leaf;
        new_node(NodeId { level, index }, &h);
        while index & 1 == 1 {
            let Some(left) = self.edge.pop() else {
                break;
            };
            h = node_hash(&left, &h);
            index >>= 1;
            level += 1;
            new_node(NodeId { level, index }, &h);
        }
        self.edge.push(h);
        self.size += 1;
    }
}

/// Result of [`plan_append`]: the node rows to insert and the new tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendPlan {
    /// Every perfect subtree completed by the append (level 0 rows are the leaf hashes).
    pub nodes: Vec<(NodeId, Hash)>,
    /// Tree size after the append.
    pub new_size: u64,
    /// Root hash after the append.
    pub root: Hash,
    /// Right edge after the append (ids from [`right_edge_ids`]`(new_size)`).
    pub right_edge: Vec<Hash>,
}

/// Pure append step for a SQL store: given the current `size`, the hashes at
/// [`right_edge_ids`]`(size)` and the new leaf hashes, returns the node rows to insert in the same
/// transaction as the leaves.
pub fn plan_append(
    size: u64,
    right_edge: &[Hash],
    new_leaves: &[Hash],
) -> Result<AppendPlan, ProofError> {
    let mut state = TreeState::from_right_edge(size, right_edge)?;
    let new_size = size.saturating_add(new_leaves.len() as u64);
    check_size(new_size)?;
    let mut nodes = Vec::with_capacity(new_leaves.len() * 2 + 64);
    for l in new_leaves {
        state.push(*l, |id, h| nodes.push((id, *h)));
    }
    Ok(AppendPlan {
        nodes,
        new_size: state.size(),
        root: state.root(),
        right_edge: state.edge,
    })
}

/// In-memory [`HashStore`] keeping every level.
#[derive(Debug, Clone, Default)]
pub struct MemoryHashStore {
    levels: Vec<Vec<Hash>>,
    state: TreeState,
}

impl MemoryHashStore {
    /// Empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.state.size()
    }

    /// Current root.
    pub fn root(&self) -> Hash {
        self.state.root()
    }

    /// Appends one leaf hash, storing all completed subtrees.
    pub fn push(&mut self, leaf: Hash) {
        let levels = &mut self.levels;
        self.state.push(leaf, |id, h| {
            let l = usize::from(id.level);
            if levels.len() <= l {
                levels.resize_with(l + 1, Vec::new);
            }
            levels[l].push(*h);
        });
    }

    /// Stores node rows computed elsewhere (e.g. by [`plan_append`]). The rows must be exactly
    /// those the append of their level-0 rows completes, in the order `plan_append` returns
    /// them; otherwise nothing is stored.
    pub fn insert_nodes(&mut self, nodes: &[(NodeId, Hash)]) -> Result<(), StoreError> {
        let mut state = self.state.clone();
        let mut expected = Vec::with_capacity(nodes.len());
        for (_, h) in nodes.iter().filter(|(id, _)| id.level == 0) {
            state.push(*h, |i, hh| expected.push((i, *hh)));
        }
        if expected.as_slice() != nodes {
            return Err(StoreError::Backend(
                "node rows are not the ones appending their leaf hashes completes".to_owned(),
            ));
        }
        for (id, h) in nodes {
            let l = usize::from(id.level);
            if self.levels.len() <= l {
                self.levels.resize_with(l + 1, Vec::new);
            }
            self.levels[l].push(*h);
        }
        self.state = state;
        Ok(())
    }
}

impl HashStore for MemoryHashStore {
    fn node_hash(&self, id: NodeId) -> Result<Hash, StoreError> {
        self.levels
            .get(usize::from(id.level))
            .and_then(|l| usize::try_from(id.index).ok().and_then(|i| l.get(i)))
            .copied()
            .ok_or(StoreError::MissingNode {
                level: id.level,
                index: id.index,
            })
    }
}

/// Root hash reached by an inclusion proof (RFC 9162 §2.1.3.2 steps 1–5).
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongProofLength {
                got: proof.len(),
                want: inclusion_len(index, size),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongProofLength {
            got: proof.len(),
            want: inclusion_len(index, size),
        });
    }
    Ok(r)
}

/// Length of the inclusion proof for `index` in a tree of `size` leaves.
fn inclusion_len(index: u64, size: u64) -> usize {
    // Inner part: bits where index and size-1 differ; border part: ones above them.
    let last = size.saturating_sub(1);
    let inner = 64 - (index ^ last).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let r = root_from_inclusion_proof(index, size, leaf, proof)?;
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof between `(size1, root1)` and `(size2, root2)`
/// (RFC 9162 §2.1.4.2). Equal sizes need an empty proof and equal roots; the empty tree is only
/// consistent with itself and must carry [`EMPTY_ROOT`].
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::BadSizes { size1, size2 });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                got: proof.len(),
                want: 0,
            });
        }
        if size1 == 0 && (root1 != &EMPTY_ROOT || root2 != &EMPTY_ROOT) {
            return Err(ProofError::BadEmptyRoot);
        }
        if root1 != root2 {
            return Err(ProofError::EqualSizesDifferentRoots);
        }
        return Ok(());
    }
    if size1 == 0 {
        return Err(ProofError::BadSizes { size1, size2 });
    }
    // Step 1.
    let Some((first, rest)) = proof.split_first() else {
        return Err(consistency_len_error(size1, size2, 0));
    };
    // Step 2: if size1 is a power of two, the proof implicitly starts with root1.
    let (start, rest): (&Hash, &[Hash]) = if size1.is_power_of_two() {
        (root1, proof)
    } else {
        (first, rest)
    };
    // Steps 3–4.
    let mut f_n = size1 - 1;
    let mut s_n = size2 - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5.
    let mut fr = *start;
    let mut sr = *start;
    // Step 6.
    for c in rest {
        if s_n == 0 {
            return Err(consistency_len_error(size1, size2, proof.len()));
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 7.
    if s_n != 0 {
        return Err(consistency_len_error(size1, size2, proof.len()));
    }
    if &fr != root1 || &sr != root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

fn consistency_len_error(size1: u64, size2: u64, got: usize) -> ProofError {
    match consistency_plan(size1, size2) {
        Ok(plan) => ProofError::WrongProofLength {
            got,
            want: plan.proof_len(),
        },
        Err(e) => e,
    }
}

/// Converts a byte slice to a [`Hash`](type@Hash), naming `what` in the error.
pub fn hash_from_slice(what: &'static str, bytes: &[u8]) -> Result<Hash, ProofError> {
    Hash::try_from(bytes).map_err(|_| ProofError::BadHashLength {
        what,
        len: bytes.len(),
    })
}

fn proof_from_slices<P: AsRef<[u8]>>(proof: &[P]) -> Result<Vec<Hash>, ProofError> {
    proof
        .iter()
        .map(|p| hash_from_slice("proof hash", p.as_ref()))
        .collect()
}

/// [`verify_inclusion`] over untrusted byte slices (wrong lengths are rejected, never panic).
pub fn verify_inclusion_bytes<P: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[P],
    root: &[u8],
) -> Result<(), ProofError> {
    let leaf = hash_from_slice("leaf hash", leaf)?;
    let root = hash_from_slice("root hash", root)?;
    let proof = proof_from_slices(proof)?;
    verify_inclusion(index, size, &leaf, &proof, &root)
}

/// [`verify_consistency`] over untrusted byte slices. For equal non-zero sizes the roots are
/// compared as opaque bytes (as transparency-dev/merkle does), otherwise they must be 32 bytes.
pub fn verify_consistency_bytes<P: AsRef<[u8]>>(
    size1: u64,
    size2: u64,
    root1: &[u8],
    root2: &[u8],
    proof: &[P],
) -> Result<(), ProofError> {
    if size1 == size2 && size1 != 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                got: proof.len(),
                want: 0,
            });
        }
        if root1 != root2 {
            return Err(ProofError::EqualSizesDifferentRoots);
        }
        return Ok(());
    }
    let r1 = hash_from_slice("first root hash", root1)?;
    let r2 = hash_from_slice("second root hash", root2)?;
    let proof = proof_from_slices(proof)?;
    verify_consistency(size1, size2, &r1, &r2, &proof)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn naive_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => EMPTY_ROOT,
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        let h: Hash = Sha256::digest(b"").into();
        assert_eq!(h, EMPTY_ROOT);
    }

    #[test]
    fn roots_match_naive_definition() {
        let leaves: Vec<Hash> = (0..70u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut store = MemoryHashStore::new();
        for n in 0..=leaves.len() {
            assert_eq!(
                root_from_leaf_hashes(&leaves[..n]),
                naive_root(&leaves[..n])
            );
            if n > 0 {
                store.push(leaves[n - 1]);
            }
            assert_eq!(root_at(&store, n as u64).unwrap(), naive_root(&leaves[..n]));
        }
    }

    #[test]
    fn plan_append_matches_store() {
        let leaves: Vec<Hash> = (0..37u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut a = MemoryHashStore::new();
        let mut b = MemoryHashStore::new();
        let mut size = 0u64;
        for chunk in leaves.chunks(5) {
            for l in chunk {
                a.push(*l);
            }
            let edge = b.node_hashes(&right_edge_ids(size)).unwrap();
            let plan = plan_append(size, &edge, chunk).unwrap();
            b.insert_nodes(&plan.nodes).unwrap();
            size = plan.new_size;
            assert_eq!(plan.root, a.root());
            assert_eq!(b.root(), a.root());
        }
    }

    #[test]
    fn inclusion_len_matches_plan() {
        for size in 1..200u64 {
            for index in 0..size {
                let plan = inclusion_plan(index, size).unwrap();
                assert_eq!(
                    plan.proof_len(),
                    inclusion_len(index, size),
                    "{index}/{size}"
                );
            }
        }
    }
}
