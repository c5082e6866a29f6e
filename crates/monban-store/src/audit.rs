//! The audit log's tables: every operator action and door event is appended here as a leaf of
//! an RFC 9162 Merkle tree, in the same transaction as the change it records.
//!
//! Tables: `audit_leaves` (canonical leaf bytes by sequence number), `audit_nodes` (the hash of
//! every perfect subtree, level 0 being the leaf hashes, so any root or proof needs O(log n)
//! reads), `audit_state` (one row: tree size and root; on PostgreSQL it is locked `FOR UPDATE`,
//! so appends from every replica are serialised and sequence numbers have no gaps), and
//! `audit_checkpoints` (signed checkpoint notes). The pure tree logic is `monban-audit`'s.

use std::ops::Range;

use monban_audit::leaf::{truncate_to_micros, LeafView};
use monban_audit::merkle::{self, right_edge_ids, Hash, NodeId};
use monban_audit::{AuditEntry, DeviceTime, Outcome};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::migrate::Migration;
use crate::{Backend, Store, StoreError, WriteTx};

/// The audit log's migrations (component `audit`).
pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "merkle log",
    sql: r#"
CREATE TABLE audit_leaves (
    seq BIGINT PRIMARY KEY,
    leaf {blob} NOT NULL,
    server_time BIGINT NOT NULL
);
CREATE TABLE audit_nodes (
    level BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    hash {blob} NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE audit_state (
    id BIGINT PRIMARY KEY,
    size BIGINT NOT NULL,
    root {blob} NOT NULL
);
INSERT INTO audit_state (id, size, root) VALUES (1, 0, {empty_root});
CREATE TABLE audit_checkpoints (
    size BIGINT PRIMARY KEY,
    note TEXT NOT NULL,
    created_at BIGINT NOT NULL
)
"#,
}];

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
    /// The device's own clock, for door events.
    pub device_time: Option<jiff::Timestamp>,
    /// Further facts as key/value pairs (no personal numbers).
    pub details: Vec<(String, String)>,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("audit log: {what}"))
}

fn to_hash(v: Vec<u8>) -> Result<Hash, StoreError> {
    v.try_into()
        .map_err(|_| corrupt("a stored hash is not 32 bytes"))
}

fn entry_of(seq: u64, now: jiff::Timestamp, r: &AuditRecord) -> Result<AuditEntry, StoreError> {
    let outcome = Outcome::parse(&r.outcome).map_err(|e| {
        StoreError::Invalid(monban_core::text::FieldError::new("outcome", e.to_string()))
    })?;
    Ok(AuditEntry {
        seq,
        server_time: now,
        device_time: r.device_time.map(|at| DeviceTime {
            at: truncate_to_micros(at),
            offset: jiff::tz::Offset::UTC,
        }),
        source: r.source.clone(),
        actor: r.actor.clone(),
        action: r.action.clone(),
        target: r.target.clone(),
        outcome,
        request_id: r.request_id.clone().unwrap_or_default(),
        details: r.details.iter().cloned().collect(),
    })
}

/// Locks the log for this transaction and returns its size.
async fn lock_size(w: &mut WriteTx, backend: Backend) -> Result<u64, StoreError> {
    let sql = match backend {
        Backend::Postgres => "SELECT size FROM audit_state WHERE id = 1 FOR UPDATE",
        Backend::Sqlite => "SELECT size FROM audit_state WHERE id = 1",
    };
    let size: i64 = sqlx::query_scalar(sql).fetch_one(w.conn()).await?;
    u64::try_from(size).map_err(|_| corrupt("negative tree size"))
}

/// Builds `WHERE (level = $a AND idx = $b) OR …` for a list of node ids.
fn node_query(ids: &[NodeId]) -> String {
    let mut q = String::from("SELECT level, idx, hash FROM audit_nodes WHERE ");
    for i in 0..ids.len() {
        if i > 0 {
            q.push_str(" OR ");
        }
        q.push_str(&format!(
            "(level = ${} AND idx = ${})",
            2 * i + 1,
            2 * i + 2
        ));
    }
    q
}

fn nodes_in_order(ids: &[NodeId], rows: &[AnyRow]) -> Result<Vec<Hash>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let row = rows
            .iter()
            .find(|r| {
                r.try_get::<i64, _>("level").ok() == Some(i64::from(id.level))
                    && r.try_get::<i64, _>("idx").ok() == i64::try_from(id.index).ok()
            })
            .ok_or_else(|| corrupt(format!("node ({}, {}) is missing", id.level, id.index)))?;
        out.push(to_hash(row.try_get::<Vec<u8>, _>("hash")?)?);
    }
    Ok(out)
}

async fn fetch_nodes_tx(w: &mut WriteTx, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = node_query(ids);
    let mut query = sqlx::query(&q);
    for id in ids {
        query = query.bind(i64::from(id.level)).bind(id.index as i64);
    }
    let rows = query.fetch_all(w.conn()).await?;
    nodes_in_order(ids, &rows)
}

/// `prefix` followed by `rows` groups of `cols` placeholders each, for a multi-row insert:
/// `prefix ($1, $2), ($3, $4)`. The caller binds `rows * cols` values in that order, and
/// takes the number of rows from [`rows_per_statement`].
///
/// On SQLite the placeholders are plain `?` (numbered in order of appearance, so the binds are
/// the same): sqlx binds a statement by asking SQLite for each parameter's name, which for
/// `$n` parameters is a linear scan of the statement's parameter names, so binding n of them
/// costs O(n²). That made a 1,000-row event insert take over a second; with `?` it takes a few
/// milliseconds.
pub(crate) fn multi_insert(backend: Backend, prefix: &str, cols: usize, rows: usize) -> String {
    use std::fmt::Write;
    let mut sql = String::with_capacity(prefix.len() + rows * cols * 7);
    sql.push_str(prefix);
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                // Writing to a String cannot fail.
                Backend::Postgres => {
                    let _ = write!(sql, "${}", r * cols + c + 1);
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// Most bind parameters one statement may carry: below SQLite's 32,766 (and PostgreSQL's
/// 65,535).
pub(crate) const MAX_BINDS: usize = 30_000;

/// How many rows of `cols` values one multi-row statement carries on `backend`: on SQLite about
/// 1,000 values (larger statements measured no faster), on PostgreSQL as many as fit up to
/// 1,000 rows (each statement is a round trip).
pub(crate) fn rows_per_statement(backend: Backend, cols: usize) -> usize {
    let cols = cols.max(1);
    match backend {
        Backend::Sqlite => (1_000 / cols).max(1),
        Backend::Postgres => (MAX_BINDS / cols).clamp(1, 1_000),
    }
}

/// Reads stored node hashes (in the order asked).
pub async fn fetch_nodes(s: &Store, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(200) {
        let q = node_query(chunk);
        let mut query = sqlx::query(&q);
        for id in chunk {
            query = query.bind(i64::from(id.level)).bind(id.index as i64);
        }
        let rows = s.fetch_all(query).await?;
        out.extend(nodes_in_order(chunk, &rows)?);
    }
    Ok(out)
}

/// Appends `r` to the audit log inside `w`; returns its sequence number. If this fails the
/// caller must not commit: the change it records is rolled back with it.
pub async fn append(w: &mut WriteTx, r: &AuditRecord) -> Result<u64, StoreError> {
    append_batch(w, std::slice::from_ref(r))
        .await
        .map(|range| range.start)
}

/// Appends several records in one go (one lock, one right-edge read); returns their sequence
/// numbers.
pub async fn append_batch(
    w: &mut WriteTx,
    records: &[AuditRecord],
) -> Result<Range<u64>, StoreError> {
    let backend = w.backend;
    let size = lock_size(w, backend).await?;
    if records.is_empty() {
        return Ok(size..size);
    }
    let edge = fetch_nodes_tx(w, &right_edge_ids(size)).await?;
    let now = truncate_to_micros(jiff::Timestamp::now());
    let mut leaves = Vec::with_capacity(records.len());
    let mut hashes = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let bytes = entry_of(size + i as u64, now, r)?.encode().map_err(|e| {
            StoreError::Invalid(monban_core::text::FieldError::new("audit", e.to_string()))
        })?;
        hashes.push(merkle::leaf_hash(&bytes));
        leaves.push(bytes);
    }
    let plan = merkle::plan_append(size, &edge, &hashes).map_err(corrupt)?;
    // Multi-row inserts: far fewer statements per batch than one per row.
    let rows = rows_per_statement(backend, 3);
    let server_time = now.as_microsecond();
    let mut seq = size as i64;
    for chunk in leaves.chunks(rows) {
        let sql = multi_insert(
            backend,
            "INSERT INTO audit_leaves (seq, leaf, server_time) VALUES ",
            3,
            chunk.len(),
        );
        let mut q = sqlx::query(&sql);
        for leaf in chunk {
            q = q.bind(seq).bind(leaf.clone()).bind(server_time);
            seq += 1;
        }
        q.execute(w.conn()).await?;
    }
    for chunk in plan.nodes.chunks(rows) {
        let sql = multi_insert(
            backend,
            "INSERT INTO audit_nodes (level, idx, hash) VALUES ",
            3,
            chunk.len(),
        );
        let mut q = sqlx::query(&sql);
        for (id, hash) in chunk {
            q = q
                .bind(i64::from(id.level))
                .bind(id.index as i64)
                .bind(hash.to_vec());
        }
        q.execute(w.conn()).await?;
    }
    sqlx::query("UPDATE audit_state SET size = $1, root = $2 WHERE id = 1")
        .bind(plan.new_size as i64)
        .bind(plan.root.to_vec())
        .execute(w.conn())
        .await?;
    Ok(size..plan.new_size)
}

/// The tree size and root as last committed.
pub async fn head(s: &Store) -> Result<(u64, Hash), StoreError> {
    let row = s
        .fetch_optional(sqlx::query(
            "SELECT size, root FROM audit_state WHERE id = 1",
        ))
        .await?
        .ok_or_else(|| corrupt("the state row is missing"))?;
    let size: i64 = row.try_get("size")?;
    Ok((size as u64, to_hash(row.try_get::<Vec<u8>, _>("root")?)?))
}

/// The root of the first `size` leaves, from stored nodes.
pub async fn root_at(s: &Store, size: u64) -> Result<Hash, StoreError> {
    if size == 0 {
        return Ok(monban_audit::merkle::EMPTY_ROOT);
    }
    let ids = right_edge_ids(size);
    let edge = fetch_nodes(s, &ids).await?;
    Ok(monban_audit::TreeState::from_right_edge(size, &edge)
        .map_err(corrupt)?
        .root())
}

/// Inclusion proof for leaf `seq` in the tree of `size` leaves.
pub async fn inclusion_proof(s: &Store, seq: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
    let plan = merkle::inclusion_plan(seq, size).map_err(|e| {
        StoreError::Invalid(monban_core::text::FieldError::new("seq", e.to_string()))
    })?;
    let hashes = fetch_nodes(s, &plan.ids).await?;
    plan.assemble(&hashes).map_err(corrupt)
}

/// Consistency proof between tree sizes `size1` ≤ `size2`.
pub async fn consistency_proof(s: &Store, size1: u64, size2: u64) -> Result<Vec<Hash>, StoreError> {
    let plan = merkle::consistency_plan(size1, size2).map_err(|e| {
        StoreError::Invalid(monban_core::text::FieldError::new("from", e.to_string()))
    })?;
    let hashes = fetch_nodes(s, &plan.ids).await?;
    plan.assemble(&hashes).map_err(corrupt)
}

/// Leaves `from..to` as (seq, canonical bytes), in order.
pub async fn leaves(s: &Store, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let rows = s
        .fetch_all(
            sqlx::query(
                "SELECT seq, leaf FROM audit_leaves WHERE seq >= $1 AND seq < $2 ORDER BY seq",
            )
            .bind(from as i64)
            .bind(to as i64),
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<i64, _>("seq")? as u64,
                r.try_get::<Vec<u8>, _>("leaf")?,
            ))
        })
        .collect()
}

/// One decoded entry.
pub async fn entry(s: &Store, seq: u64) -> Result<AuditEntry, StoreError> {
    let mut v = leaves(s, seq, seq + 1).await?;
    let (_, bytes) = v
        .pop()
        .ok_or_else(|| StoreError::not_found("audit entry", seq))?;
    AuditEntry::decode(&bytes).map_err(corrupt)
}

/// Stores a signed checkpoint note for `size`.
pub async fn store_checkpoint(w: &mut WriteTx, size: u64, note: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM audit_checkpoints WHERE size = $1")
        .bind(size as i64)
        .execute(w.conn())
        .await?;
    sqlx::query("INSERT INTO audit_checkpoints (size, note, created_at) VALUES ($1, $2, $3)")
        .bind(size as i64)
        .bind(note)
        .bind(crate::now_micros())
        .execute(w.conn())
        .await?;
    Ok(())
}

/// All stored checkpoint notes, smallest size first.
pub async fn checkpoints(s: &Store) -> Result<Vec<(u64, String)>, StoreError> {
    let rows = s
        .fetch_all(sqlx::query(
            "SELECT size, note FROM audit_checkpoints ORDER BY size",
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<i64, _>("size")? as u64,
                r.try_get::<String, _>("note")?,
            ))
        })
        .collect()
}

/// The latest checkpoint note, if any.
pub async fn latest_checkpoint(s: &Store) -> Result<Option<(u64, String)>, StoreError> {
    let r = s
        .fetch_optional(sqlx::query(
            "SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
        ))
        .await?;
    r.map(|r| {
        Ok((
            r.try_get::<i64, _>("size")? as u64,
            r.try_get::<String, _>("note")?,
        ))
    })
    .transpose()
}

/// What [`fsck`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckReport {
    pub size: u64,
    pub root: Hash,
}

/// Checks the live log: leaves contiguous from 0 and well formed, every stored node equal to
/// the hash of what it covers, and the stored root equal to the recomputed one. Names the
/// first bad entry. (Checkpoint signatures are checked by the caller, which holds the keys.)
pub async fn fsck(s: &Store) -> Result<FsckReport, FsckError> {
    let (size, root) = head(s).await?;
    let mut state = monban_audit::TreeState::new();
    let mut computed: Vec<(NodeId, Hash)> = Vec::new();
    const PAGE: u64 = 5_000;
    let mut from = 0u64;
    while from < size {
        let to = (from + PAGE).min(size);
        let page = leaves(s, from, to).await?;
        let stored = fetch_page_nodes(s, from, to).await?;
        for (i, (seq, bytes)) in page.iter().enumerate() {
            let expect = from + i as u64;
            if *seq != expect {
                return Err(FsckError::Bad {
                    seq: expect,
                    reason: format!("entry {expect} is missing (next stored is {seq})"),
                });
            }
            let view = LeafView::parse(bytes).map_err(|e| FsckError::Bad {
                seq: expect,
                reason: format!("entry does not decode: {e}"),
            })?;
            if view.seq != expect {
                return Err(FsckError::Bad {
                    seq: expect,
                    reason: format!("entry carries seq {}", view.seq),
                });
            }
            computed.clear();
            state.push(merkle::leaf_hash(bytes), |id, h| computed.push((id, *h)));
            for (id, h) in &computed {
                if stored.get(&(id.level, id.index)) != Some(h) {
                    return Err(FsckError::Bad {
                        seq: expect,
                        reason: format!(
                            "stored tree node ({}, {}) does not match the entries",
                            id.level, id.index
                        ),
                    });
                }
            }
        }
        if page.len() as u64 != to - from {
            return Err(FsckError::Bad {
                seq: from + page.len() as u64,
                reason: "entries are missing".into(),
            });
        }
        from = to;
    }
    let extra: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_leaves WHERE seq >= $1")
        .bind(size as i64)
        .fetch_one(s.pool())
        .await
        .map_err(StoreError::from)?;
    if extra > 0 {
        return Err(FsckError::Bad {
            seq: size,
            reason: format!("{extra} entries lie beyond the recorded tree size {size}"),
        });
    }
    if state.root() != root {
        return Err(FsckError::Bad {
            seq: size.saturating_sub(1),
            reason: "the recorded root does not match the entries".into(),
        });
    }
    Ok(FsckReport { size, root })
}

/// Every stored node that appending leaves `from..to` can complete, keyed by (level, index):
/// one query per level instead of one per node.
async fn fetch_page_nodes(
    s: &Store,
    from: u64,
    to: u64,
) -> Result<std::collections::HashMap<(u8, u64), Hash>, StoreError> {
    let mut out = std::collections::HashMap::new();
    for level in 0u8..64 {
        if (1u64 << level) > to {
            break;
        }
        let rows = s
            .fetch_all(
                sqlx::query("SELECT idx, hash FROM audit_nodes WHERE level = $1 AND idx >= $2 AND idx <= $3")
                    .bind(i64::from(level))
                    .bind((from >> level) as i64)
                    .bind((to >> level) as i64),
            )
            .await?;
        for r in rows {
            let idx: i64 = r.try_get("idx")?;
            out.insert(
                (level, idx as u64),
                to_hash(r.try_get::<Vec<u8>, _>("hash")?)?,
            );
        }
    }
    Ok(out)
}

/// A problem [`fsck`] found.
#[derive(Debug, thiserror::Error)]
pub enum FsckError {
    #[error("監査ログの項目 {seq} に問題があります: {reason}。バックアップとチェックポイントで調査してください / audit entry {seq} is bad: {reason}; investigate with backups and checkpoints")]
    Bad { seq: u64, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}
