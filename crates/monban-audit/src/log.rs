//! [`AuditLog`]: the append-only audit log over any [`LogStore`]. It assigns sequence numbers,
//! encodes and hashes leaves, writes leaves and node rows in one atomic batch, and serves tree
//! heads, proofs, checkpoints and exports.

use std::io::Write;
use std::ops::Range;

use crate::checkpoint::{self, CheckpointError, CheckpointIssuer, SignedCheckpoint};
use crate::leaf::{AuditEntry, LeafError};
use crate::merkle::{self, leaf_hash, Hash, ProofError, StoreError, TreeState};
use crate::note::VerifierKey;
use crate::store::{AppendBatch, LogStore};
use crate::verify::{self, ExportError};

/// Errors from [`AuditLog`].
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("audit log storage: {0}")]
    Store(#[from] StoreError),
    #[error("audit log proof: {0}")]
    Proof(#[from] ProofError),
    #[error("audit entry: {0}")]
    Leaf(#[from] LeafError),
    #[error("audit checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("audit export: {0}")]
    Export(#[from] ExportError),
    #[error("tree size {size} is beyond the log's current size {current}")]
    SizeBeyondLog { size: u64, current: u64 },
    #[error("audit log self-check failed: {0}")]
    SelfCheck(String),
}

/// The audit log.
#[derive(Debug)]
pub struct AuditLog<S: LogStore> {
    store: S,
    state: TreeState,
}

impl<S: LogStore> AuditLog<S> {
    /// Opens the log kept in `store`, loading the right edge of its tree.
    pub fn open(store: S) -> Result<Self, LogError> {
        let size = store.tree_size()?;
        let state = TreeState::from_store(&store, size)?;
        Ok(AuditLog { store, state })
    }

    /// Re-reads the tree head from the store (after another writer appended).
    pub fn reload(&mut self) -> Result<(), LogError> {
        let size = self.store.tree_size()?;
        self.state = TreeState::from_store(&self.store, size)?;
        Ok(())
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.state.size()
    }

    /// Current root hash.
    pub fn root(&self) -> Hash {
        self.state.root()
    }

    /// Root hash at an earlier `size`.
    pub fn root_at(&self, size: u64) -> Result<Hash, LogError> {
        self.check_size(size)?;
        Ok(merkle::root_at(&self.store, size)?)
    }

    fn check_size(&self, size: u64) -> Result<(), LogError> {
        if size > self.size() {
            return Err(LogError::SizeBeyondLog {
                size,
                current: self.size(),
            });
        }
        Ok(())
    }

    /// Appends a batch of entries atomically, assigning their sequence numbers (each entry's
    /// `seq` is overwritten). Returns the range of sequence numbers used. On a store conflict
    /// the tree head is reloaded and the error returned; the caller may retry.
    pub fn append(&mut self, entries: &mut [AuditEntry]) -> Result<Range<u64>, LogError> {
        let first = self.size();
        let mut leaves = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter_mut().enumerate() {
            e.seq = first + i as u64;
            leaves.push(e.encode()?);
        }
        let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
        let plan = merkle::plan_append(first, self.state.right_edge(), &hashes)?;
        let res = self.store.append(AppendBatch {
            first_seq: first,
            leaves: &leaves,
            nodes: &plan.nodes,
        });
        if let Err(e) = res {
            // The store may have moved on; resynchronise so the next call sees the truth.
            let _ = self.reload();
            return Err(e.into());
        }
        self.state = TreeState::from_right_edge(plan.new_size, &plan.right_edge)?;
        Ok(first..plan.new_size)
    }

    /// Appends one entry, returning its sequence number.
    pub fn append_one(&mut self, mut entry: AuditEntry) -> Result<u64, LogError> {
        let r = self.append(std::slice::from_mut(&mut entry))?;
        Ok(r.start)
    }

    /// Reads and decodes entry `seq`.
    pub fn entry(&self, seq: u64) -> Result<AuditEntry, LogError> {
        Ok(AuditEntry::decode(&self.store.read_leaf(seq)?)?)
    }

    /// Inclusion proof of entry `seq` in the tree of `size` entries.
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>, LogError> {
        self.check_size(size)?;
        Ok(merkle::inclusion_proof(&self.store, seq, size)?)
    }

    /// Consistency proof from `size1` to `size2` entries.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, LogError> {
        self.check_size(size2)?;
        Ok(merkle::consistency_proof(&self.store, size1, size2)?)
    }

    /// Signs and stores a checkpoint of the current tree. The issuer checks consistency with
    /// the last checkpoint it signed, using a proof read from the store.
    pub fn issue_checkpoint(&mut self, issuer: &mut CheckpointIssuer) -> Result<String, LogError> {
        let size = self.size();
        let root = self.root();
        let proof = match issuer.last() {
            Some(last) if last.size > 0 && last.size < size => {
                merkle::consistency_proof(&self.store, last.size, size)?
            }
            _ => Vec::new(),
        };
        let note = issuer.issue(size, root, &proof)?;
        self.store.store_checkpoint(size, note.as_bytes())?;
        Ok(note)
    }

    /// The latest stored checkpoint, verified against `trusted` keys and `origin`.
    pub fn latest_checkpoint(
        &self,
        origin: &str,
        trusted: &[VerifierKey],
    ) -> Result<Option<SignedCheckpoint>, LogError> {
        match self.store.latest_checkpoint()? {
            None => Ok(None),
            Some(n) => Ok(Some(checkpoint::open(&n, Some(origin), trusted)?)),
        }
    }

    /// Full self-check against the latest stored checkpoint (e.g. at start-up): the checkpoint
    /// verifies under `trusted` keys for `origin`, the stored node hashes give its root, and
    /// rehashing every stored leaf gives it too (so edited leaf rows are caught). Returns the
    /// checkpoint size checked, or `None` if no checkpoint is stored yet.
    pub fn self_check(
        &self,
        origin: &str,
        trusted: &[VerifierKey],
    ) -> Result<Option<u64>, LogError> {
        let Some(cp) = self.latest_checkpoint(origin, trusted)? else {
            return Ok(None);
        };
        let size = cp.checkpoint.size;
        self.check_size(size)?;
        if merkle::root_at(&self.store, size)? != cp.checkpoint.root {
            return Err(LogError::SelfCheck(format!(
                "stored node hashes do not match the signed checkpoint at size {size}"
            )));
        }
        let mut state = TreeState::new();
        let mut first_bad: Option<u64> = None;
        self.store.for_each_leaf(0, size, &mut |seq, leaf| {
            let h = leaf_hash(leaf);
            if first_bad.is_none() && self.store.leaf_hash(seq)? != h {
                first_bad = Some(seq);
            }
            state.push(h, |_, _| {});
            Ok(())
        })?;
        if let Some(seq) = first_bad {
            return Err(LogError::SelfCheck(format!(
                "stored leaf {seq} does not match its stored hash: the leaf row was modified"
            )));
        }
        if state.root() != cp.checkpoint.root {
            return Err(LogError::SelfCheck(format!(
                "stored leaves do not hash to the signed checkpoint at size {size}"
            )));
        }
        Ok(Some(size))
    }

    /// Writes the export (JSON Lines) of the first `size` entries; returns the root it covers.
    pub fn export<W: Write>(&self, size: u64, out: W) -> Result<Hash, LogError> {
        self.check_size(size)?;
        Ok(verify::write_export(&self.store, size, out)?)
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Mutable access to the store (for tests and maintenance; appending through it bypasses
    /// the log, so call [`AuditLog::reload`] afterwards).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }
}
