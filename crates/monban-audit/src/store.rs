//! What a database must provide to hold the audit log ([`LogStore`]), plus an in-memory
//! implementation for tests and tools. A SQL store computes the node rows to write with
//! [`crate::merkle::plan_append`] and inserts them with the leaves in one transaction.

use crate::merkle::{leaf_hash, Hash, HashStore, MemoryHashStore, NodeId, StoreError};

/// Callback receiving `(seq, encoded leaf)`; returning an error stops the walk.
pub type LeafVisitor<'a> = dyn FnMut(u64, &[u8]) -> Result<(), StoreError> + 'a;

/// Sequential read access to encoded leaves (what an export needs).
pub trait LeafSource {
    /// Encoded leaf with sequence number `seq`.
    fn read_leaf(&self, seq: u64) -> Result<Vec<u8>, StoreError>;

    /// Calls `f` for each leaf in `[start, end)` in order. Override to stream in pages.
    fn for_each_leaf(
        &self,
        start: u64,
        end: u64,
        f: &mut LeafVisitor<'_>,
    ) -> Result<(), StoreError> {
        for seq in start..end {
            let leaf = self.read_leaf(seq)?;
            f(seq, &leaf)?;
        }
        Ok(())
    }
}

/// One atomic append: leaves with sequence numbers `first_seq..first_seq + leaves.len()` and
/// every perfect-subtree hash they complete (from [`crate::merkle::plan_append`]).
#[derive(Debug, Clone, Copy)]
pub struct AppendBatch<'a> {
    /// Sequence number of the first leaf; must equal the store's current tree size.
    pub first_seq: u64,
    /// Encoded leaves.
    pub leaves: &'a [Vec<u8>],
    /// Node rows `(level, index) -> hash`, level 0 being the leaf hashes.
    pub nodes: &'a [(NodeId, Hash)],
}

/// Storage for the audit log. Implementations must make [`LogStore::append`] atomic (all
/// leaves and nodes or nothing) and must reject a batch whose `first_seq` is not the current
/// size with [`StoreError::Conflict`], so concurrent writers cannot fork the log.
pub trait LogStore: HashStore + LeafSource {
    /// Number of leaves stored.
    fn tree_size(&self) -> Result<u64, StoreError>;

    /// Stores a batch atomically.
    fn append(&mut self, batch: AppendBatch<'_>) -> Result<(), StoreError>;

    /// The latest stored checkpoint note, if any.
    fn latest_checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores a signed checkpoint note for tree size `size`.
    fn store_checkpoint(&mut self, size: u64, note: &[u8]) -> Result<(), StoreError>;
}

/// In-memory [`LogStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryLogStore {
    leaves: Vec<Vec<u8>>,
    hashes: MemoryHashStore,
    checkpoints: Vec<(u64, Vec<u8>)>,
}

impl MemoryLogStore {
    /// Empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// All stored checkpoints `(size, note)`, oldest first.
    pub fn checkpoints(&self) -> &[(u64, Vec<u8>)] {
        &self.checkpoints
    }

    /// Test hook: overwrites a stored leaf without touching the hashes (simulates tampering
    /// with the database).
    pub fn tamper_leaf(&mut self, seq: u64, bytes: Vec<u8>) -> Result<(), StoreError> {
        let size = self.leaves.len() as u64;
        let slot = usize::try_from(seq)
            .ok()
            .and_then(|i| self.leaves.get_mut(i))
            .ok_or(StoreError::MissingLeaf { seq, size })?;
        *slot = bytes;
        Ok(())
    }
}

impl HashStore for MemoryLogStore {
    fn node_hash(&self, id: NodeId) -> Result<Hash, StoreError> {
        self.hashes.node_hash(id)
    }
}

impl LeafSource for MemoryLogStore {
    fn read_leaf(&self, seq: u64) -> Result<Vec<u8>, StoreError> {
        usize::try_from(seq)
            .ok()
            .and_then(|i| self.leaves.get(i))
            .cloned()
            .ok_or(StoreError::MissingLeaf {
                seq,
                size: self.leaves.len() as u64,
            })
    }

    fn for_each_leaf(
        &self,
        start: u64,
        end: u64,
        f: &mut LeafVisitor<'_>,
    ) -> Result<(), StoreError> {
        for seq in start..end {
            let leaf = usize::try_from(seq)
                .ok()
                .and_then(|i| self.leaves.get(i))
                .ok_or(StoreError::MissingLeaf {
                    seq,
                    size: self.leaves.len() as u64,
                })?;
            f(seq, leaf)?;
        }
        Ok(())
    }
}

impl LogStore for MemoryLogStore {
    fn tree_size(&self) -> Result<u64, StoreError> {
        Ok(self.leaves.len() as u64)
    }

    fn append(&mut self, batch: AppendBatch<'_>) -> Result<(), StoreError> {
        let size = self.leaves.len() as u64;
        if batch.first_seq != size {
            return Err(StoreError::Conflict {
                first_seq: batch.first_seq,
                size,
            });
        }
        // Check the batch before changing anything, so a bad batch leaves no trace.
        let mut leaf_rows = batch.nodes.iter().filter(|(id, _)| id.level == 0);
        for (i, leaf) in batch.leaves.iter().enumerate() {
            let want = NodeId::leaf(size + i as u64);
            match leaf_rows.next() {
                Some((id, h)) if *id == want && *h == leaf_hash(leaf) => {}
                _ => {
                    return Err(StoreError::Backend(format!(
                        "batch node rows do not match leaf {}",
                        want.index
                    )))
                }
            }
        }
        if leaf_rows.next().is_some() {
            return Err(StoreError::Backend(
                "batch has more leaf-hash rows than leaves".to_owned(),
            ));
        }
        self.hashes.insert_nodes(batch.nodes)?;
        self.leaves.extend(batch.leaves.iter().cloned());
        Ok(())
    }

    fn latest_checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.checkpoints.last().map(|(_, n)| n.clone()))
    }

    fn store_checkpoint(&mut self, size: u64, note: &[u8]) -> Result<(), StoreError> {
        self.checkpoints.push((size, note.to_vec()));
        Ok(())
    }
}
