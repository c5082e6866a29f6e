//! The audit log over the API: the latest signed checkpoint, inclusion and consistency proofs,
//! entries for auditors, and issuing a checkpoint on demand.

use axum::extract::{Query, State};
use axum::Json;
use base64::Engine as _;
use monban_core::operator::Permission;
use monban_core::text::FieldError;
use monban_store::audit;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(latest_checkpoint, issue_checkpoint))
        .routes(routes!(inclusion))
        .routes(routes!(consistency))
        .routes(routes!(entries))
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A signed checkpoint (C2SP tlog-checkpoint as a signed note).
#[derive(Serialize, ToSchema)]
pub struct CheckpointOut {
    pub size: u64,
    /// The note text, verbatim.
    pub note: String,
    /// The verifier key to check it with (`name+id+key`).
    pub verifier_key: Option<String>,
}

fn checkpointer(st: &AppState) -> ApiResult<&crate::audit::Checkpointer> {
    st.checkpointer
        .as_deref()
        .ok_or_else(|| ApiError::Internal("audit signing key not configured".into()))
}

/// The latest signed checkpoint.
#[utoipa::path(get, path = "/api/audit/checkpoint", tag = "audit", security(("session" = [])), responses((status = 200, body = CheckpointOut), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn latest_checkpoint(
    State(st): State<AppState>,
    a: Authed,
) -> ApiResult<Json<CheckpointOut>> {
    a.require(Permission::ViewAudit)?;
    let (size, note) =
        audit::latest_checkpoint(&st.store)
            .await?
            .ok_or_else(|| ApiError::NotFound {
                entity: "checkpoint".into(),
                id: "latest".into(),
            })?;
    Ok(Json(CheckpointOut {
        size,
        note,
        verifier_key: st.checkpointer.as_ref().map(|c| c.verifier_key()),
    }))
}

/// Issues a checkpoint for the current tree now (or returns the latest if nothing changed).
#[utoipa::path(post, path = "/api/audit/checkpoint", tag = "audit", security(("session" = []), ("csrf" = [])), responses((status = 200, body = CheckpointOut), (status = 403, body = Problem)))]
async fn issue_checkpoint(State(st): State<AppState>, a: Authed) -> ApiResult<Json<CheckpointOut>> {
    a.require(Permission::ViewAudit)?;
    let c = checkpointer(&st)?;
    let (size, note) = c.issue(&st.store).await?;
    Ok(Json(CheckpointOut {
        size,
        note,
        verifier_key: Some(c.verifier_key()),
    }))
}

/// Which entry, in which tree.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    pub seq: u64,
    /// Tree size; the current size when omitted.
    pub size: Option<u64>,
}

/// A proof with what it proves.
#[derive(Serialize, ToSchema)]
pub struct ProofOut {
    pub size: u64,
    /// Root hash (base64) of the tree of `size` leaves.
    pub root: String,
    /// Leaf hash (base64), for inclusion proofs.
    pub leaf_hash: Option<String>,
    /// Proof hashes (base64), in RFC 9162 order.
    pub proof: Vec<String>,
}

fn check_size(size: u64, current: u64, field: &str) -> ApiResult<()> {
    if size > current {
        return Err(ApiError::Invalid(FieldError::new(field, format!("木の大きさは現在の {current} 以下にしてください / must not exceed the current tree size {current}"))));
    }
    Ok(())
}

/// Inclusion proof for one entry.
#[utoipa::path(get, path = "/api/audit/proof/inclusion", tag = "audit", params(InclusionQuery), security(("session" = [])), responses((status = 200, body = ProofOut), (status = 422, body = Problem)))]
async fn inclusion(
    State(st): State<AppState>,
    a: Authed,
    Query(q): Query<InclusionQuery>,
) -> ApiResult<Json<ProofOut>> {
    a.require(Permission::ViewAudit)?;
    let (current, _) = audit::head(&st.store).await?;
    let size = q.size.unwrap_or(current);
    check_size(size, current, "size")?;
    if q.seq >= size {
        return Err(ApiError::Invalid(FieldError::new(
            "seq",
            format!("seq は {size} 未満にしてください / seq must be below {size}"),
        )));
    }
    let proof = audit::inclusion_proof(&st.store, q.seq, size).await?;
    let root = audit::root_at(&st.store, size).await?;
    let leaf = audit::leaves(&st.store, q.seq, q.seq + 1).await?;
    let leaf_hash = leaf
        .first()
        .map(|(_, b)| B64.encode(monban_audit::merkle::leaf_hash(b)));
    Ok(Json(ProofOut {
        size,
        root: B64.encode(root),
        leaf_hash,
        proof: proof.iter().map(|h| B64.encode(h)).collect(),
    }))
}

/// Two tree sizes.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    pub from: u64,
    pub to: Option<u64>,
}

/// Consistency proof between two tree sizes.
#[utoipa::path(get, path = "/api/audit/proof/consistency", tag = "audit", params(ConsistencyQuery), security(("session" = [])), responses((status = 200, body = ProofOut), (status = 422, body = Problem)))]
async fn consistency(
    State(st): State<AppState>,
    a: Authed,
    Query(q): Query<ConsistencyQuery>,
) -> ApiResult<Json<ProofOut>> {
    a.require(Permission::ViewAudit)?;
    let (current, _) = audit::head(&st.store).await?;
    let to = q.to.unwrap_or(current);
    check_size(to, current, "to")?;
    if q.from > to {
        return Err(ApiError::Invalid(FieldError::new(
            "from",
            "from は to 以下にしてください / from must not exceed to",
        )));
    }
    let proof = audit::consistency_proof(&st.store, q.from, to).await?;
    let root = audit::root_at(&st.store, to).await?;
    Ok(Json(ProofOut {
        size: to,
        root: B64.encode(root),
        leaf_hash: None,
        proof: proof.iter().map(|h| B64.encode(h)).collect(),
    }))
}

/// Paging for entries.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    /// First sequence number (default 0).
    pub from: Option<u64>,
    /// At most 500 (default 100).
    pub limit: Option<u64>,
}

/// One audit entry, decoded.
#[derive(Serialize, ToSchema)]
pub struct EntryOut {
    pub seq: u64,
    pub server_time: String,
    pub device_time: Option<String>,
    pub source: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub request_id: String,
    pub details: std::collections::BTreeMap<String, String>,
}

/// Audit entries in sequence order.
#[utoipa::path(get, path = "/api/audit/entries", tag = "audit", params(EntriesQuery), security(("session" = [])), responses((status = 200, body = [EntryOut]), (status = 403, body = Problem)))]
async fn entries(
    State(st): State<AppState>,
    a: Authed,
    Query(q): Query<EntriesQuery>,
) -> ApiResult<Json<Vec<EntryOut>>> {
    a.require(Permission::ViewAudit)?;
    let from = q.from.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let mut out = Vec::new();
    for (_, bytes) in audit::leaves(&st.store, from, from.saturating_add(limit)).await? {
        let e = monban_audit::AuditEntry::decode(&bytes)
            .map_err(|e| ApiError::Internal(format!("audit entry does not decode: {e}")))?;
        out.push(EntryOut {
            seq: e.seq,
            server_time: e.server_time.to_string(),
            device_time: e.device_time.map(|d| d.at.to_string()),
            source: e.source,
            actor: e.actor,
            action: e.action,
            target: e.target,
            outcome: e.outcome.to_string(),
            request_id: e.request_id,
            details: e.details,
        });
    }
    Ok(Json(out))
}
