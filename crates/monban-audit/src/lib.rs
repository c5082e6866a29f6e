//! Monban's tamper-evident audit log core. Pure logic; storage comes in through traits.
//!
//! - [`merkle`]: RFC 6962 / RFC 9162 Merkle tree, O(log n) appends and proofs over a
//!   [`merkle::HashStore`] of perfect-subtree hashes.
//! - [`leaf`]: canonical, versioned leaf encoding of an [`leaf::AuditEntry`], and
//!   [`leaf::keyed_hmac`] for pseudonyms.
//! - [`note`] and [`checkpoint`]: C2SP signed notes and tlog checkpoints with Ed25519.
//! - [`store`] and [`log`]: the [`store::LogStore`] a database implements, an in-memory one,
//!   and the [`log::AuditLog`] over it.
//! - [`verify`]: offline verification of a JSON Lines export against signed checkpoints.
//!
//! The formats are documented in `docs/audit-log.md`.

pub mod checkpoint;
pub mod leaf;
pub mod log;
pub mod merkle;
pub mod note;
pub mod store;
pub mod verify;

pub use checkpoint::{Checkpoint, CheckpointError, CheckpointIssuer, SignedCheckpoint};
pub use leaf::{keyed_hmac, AuditEntry, DeviceTime, LeafError, Outcome};
pub use log::{AuditLog, LogError};
pub use merkle::{Hash, HashStore, MemoryHashStore, NodeId, ProofError, StoreError, TreeState};
pub use note::{Note, NoteError, Signer, VerifierKey};
pub use store::{AppendBatch, LeafSource, LogStore, MemoryLogStore};
pub use verify::{verify_export, write_export, VerifyError, VerifyOptions, VerifyReport};
