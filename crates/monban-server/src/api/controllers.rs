//! Door controllers over the API: enrolment (issuing an enrolment code), revocation and the
//! list with link status; zone rules, interlocks and lockdowns (each pushed to controllers as a
//! new signed snapshot); door alarms; forgiving a person's anti-passback violation; and the
//! what-if API: would person P pass door D at time T, and if not, why.

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::Json;
use monban_core::operator::Permission;
use monban_core::text::{Code, FieldError};
use monban_core::{
    decide_with_face, AccessRequest, CredentialKind, CredentialStatus, Direction, FaceEvidence,
    PresenceState, ZoneRules,
};
use monban_store::controllers::{self, LockdownScope};
use monban_store::{events, facility, people};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{created, parse_code, ApiJson};
use crate::audit;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_controllers, create_controller))
        .routes(routes!(revoke_controller))
        .routes(routes!(reissue_code))
        .routes(routes!(get_rules, put_rules))
        .routes(routes!(create_interlock))
        .routes(routes!(lockdown))
        .routes(routes!(list_alarms))
        .routes(routes!(forgive))
        .routes(routes!(whatif))
}

fn gw(e: crate::gateway::GatewayError) -> ApiError {
    match e {
        crate::gateway::GatewayError::Store(s) => s.into(),
        other => {
            tracing::error!(error = %other, "gateway");
            ApiError::Internal("gateway".into())
        }
    }
}

async fn refresh(st: &AppState) {
    if let Err(e) = st.controllers.refresh(&st.store).await {
        tracing::error!(error = %e, "snapshot refresh failed");
    }
}

/// A controller.
#[derive(Serialize, ToSchema)]
pub struct ControllerOut {
    pub id: i64,
    pub name: String,
    pub door_ids: Vec<i64>,
    pub revoked: bool,
    pub connected: bool,
    /// Highest sequence number stored from it.
    pub stored_seq: i64,
    pub last_seen: Option<String>,
}

/// Lists controllers with their link status.
#[utoipa::path(get, path = "/api/controllers", tag = "controllers", security(("session" = [])), responses((status = 200, body = [ControllerOut]), (status = 401, body = Problem)))]
async fn list_controllers(
    State(st): State<AppState>,
    a: Authed,
) -> ApiResult<Json<Vec<ControllerOut>>> {
    a.require(Permission::ViewMonitoring)?;
    st.controllers.ready(&st.store).await?;
    let connected = st.controllers.connected();
    Ok(Json(
        controllers::list_controllers(&st.store)
            .await?
            .into_iter()
            .map(|c| ControllerOut {
                connected: connected.contains_key(&c.id),
                id: c.id,
                name: c.name,
                door_ids: c.door_ids,
                revoked: c.revoked,
                stored_seq: c.stored_seq,
                last_seen: c.last_seen.map(|t| t.to_string()),
            })
            .collect(),
    ))
}

/// A controller to enrol.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ControllerIn {
    pub name: String,
    /// The doors it runs.
    pub door_ids: Vec<i64>,
    /// Gateway address controllers should dial (`host:port`); the listening address if omitted.
    pub gateway: Option<String>,
}

/// An enrolled controller and its one-time enrolment code.
#[derive(Serialize, ToSchema)]
pub struct Enrolled {
    pub id: i64,
    pub name: String,
    pub door_ids: Vec<i64>,
    /// Give this to `monban controller enrol --code`. Shown once.
    pub enrolment_code: String,
}

/// Enrols a controller and issues its enrolment code.
#[utoipa::path(post, path = "/api/controllers", tag = "controllers", request_body = ControllerIn, security(("session" = []), ("csrf" = [])), responses((status = 201, body = Enrolled), (status = 422, body = Problem), (status = 409, body = Problem)))]
async fn create_controller(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<ControllerIn>,
) -> ApiResult<impl IntoResponse> {
    a.require(Permission::ManageFacility)?;
    st.controllers.ready(&st.store).await?;
    let mut w = st.store.begin_write().await?;
    let (c, token) =
        controllers::create_controller(&mut w, &b.name, &b.door_ids, monban_proto::token_hash)
            .await?;
    audit::record(
        &mut w,
        &a.actor(),
        "controller.enrol",
        &format!("controller:{}", c.id),
        "ok",
    )
    .await?;
    w.commit().await?;
    let e = st
        .controllers
        .enrolment(&st.store, &st.config.data_dir, c.id, token, b.gateway)
        .await
        .map_err(gw)?;
    Ok(created(Enrolled {
        id: c.id,
        name: c.name,
        door_ids: c.door_ids,
        enrolment_code: e.to_code(),
    }))
}

/// Revokes a controller: its link is dropped and it is refused from now on.
#[utoipa::path(post, path = "/api/controllers/{id}/revoke", tag = "controllers", params(("id" = i64, Path)), security(("session" = []), ("csrf" = [])), responses((status = 204), (status = 404, body = Problem)))]
async fn revoke_controller(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> ApiResult<axum::http::StatusCode> {
    a.require(Permission::ManageFacility)?;
    st.controllers.ready(&st.store).await?;
    let mut w = st.store.begin_write().await?;
    controllers::revoke(&mut w, id).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "controller.revoke",
        &format!("controller:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    st.controllers.kick(id);
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Issues a new enrolment code for a controller (the old credential stops working).
#[utoipa::path(post, path = "/api/controllers/{id}/code", tag = "controllers", params(("id" = i64, Path)), security(("session" = []), ("csrf" = [])), responses((status = 200, body = Enrolled), (status = 404, body = Problem)))]
async fn reissue_code(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Enrolled>> {
    a.require(Permission::ManageFacility)?;
    st.controllers.ready(&st.store).await?;
    let mut w = st.store.begin_write().await?;
    let token = controllers::rotate_token(&mut w, id, monban_proto::token_hash).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "controller.reissue",
        &format!("controller:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    st.controllers.kick(id);
    let c = controllers::get_controller(&st.store, id).await?;
    let e = st
        .controllers
        .enrolment(&st.store, &st.config.data_dir, id, token, None)
        .await
        .map_err(gw)?;
    Ok(Json(Enrolled {
        id,
        name: c.name,
        door_ids: c.door_ids,
        enrolment_code: e.to_code(),
    }))
}

/// Rules of a zone (JSON: anti_passback off/soft/hard/timed, two_person, never_alone_alarm,
/// escort_required, max_temperature_dc, windows in seconds).
#[utoipa::path(get, path = "/api/zones/{id}/rules", tag = "controllers", params(("id" = i64, Path)), security(("session" = [])), responses((status = 200, body = serde_json::Value), (status = 404, body = Problem)))]
async fn get_rules(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<serde_json::Value>> {
    a.require(Permission::ViewMonitoring)?;
    st.controllers.ready(&st.store).await?;
    let z = facility::get_zone(&st.store, id).await?;
    let r = controllers::zone_rules(&st.store, id, z.class).await?;
    Ok(Json(
        serde_json::to_value(r).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

/// Sets the rules of a zone; controllers receive them in the next snapshot at once.
#[utoipa::path(put, path = "/api/zones/{id}/rules", tag = "controllers", params(("id" = i64, Path)), request_body = serde_json::Value, security(("session" = []), ("csrf" = [])), responses((status = 200, body = serde_json::Value), (status = 422, body = Problem)))]
async fn put_rules(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
    ApiJson(r): ApiJson<ZoneRules>,
) -> ApiResult<Json<serde_json::Value>> {
    a.require(Permission::ManageFacility)?;
    st.controllers.ready(&st.store).await?;
    let mut w = st.store.begin_write().await?;
    controllers::set_zone_rules(&mut w, id, &r).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "zone.rules",
        &format!("zone:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    refresh(&st).await;
    Ok(Json(
        serde_json::to_value(r).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

/// An interlock (mantrap) group.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterlockIn {
    pub name: String,
    pub door_ids: Vec<i64>,
}

/// Creates an interlock group: one of its doors opens only while the others are shut.
#[utoipa::path(post, path = "/api/interlocks", tag = "controllers", request_body = InterlockIn, security(("session" = []), ("csrf" = [])), responses((status = 201, body = i64), (status = 422, body = Problem)))]
async fn create_interlock(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<InterlockIn>,
) -> ApiResult<impl IntoResponse> {
    a.require(Permission::ManageFacility)?;
    st.controllers.ready(&st.store).await?;
    let mut w = st.store.begin_write().await?;
    let id = controllers::create_interlock(&mut w, &b.name, &b.door_ids).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "interlock.create",
        &format!("interlock:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    refresh(&st).await;
    Ok(created(id))
}

/// Lockdown of a zone or a whole site.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockdownIn {
    pub zone_id: Option<i64>,
    pub site_id: Option<i64>,
    /// `true` starts the lockdown, `false` lifts it.
    pub active: bool,
}

/// Starts or lifts a lockdown: entry refused, exit always allowed.
#[utoipa::path(post, path = "/api/lockdown", tag = "controllers", request_body = LockdownIn, security(("session" = []), ("csrf" = [])), responses((status = 204), (status = 422, body = Problem)))]
async fn lockdown(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<LockdownIn>,
) -> ApiResult<axum::http::StatusCode> {
    a.require(Permission::ManageFacility)?;
    st.controllers.ready(&st.store).await?;
    let scope = match (b.zone_id, b.site_id) {
        (Some(z), None) => LockdownScope::Zone(z),
        (None, Some(s)) => LockdownScope::Site(s),
        _ => {
            return Err(ApiError::Invalid(FieldError::new(
                "zone_id",
                "zone_id か site_id のどちらか一方を指定してください / give exactly one of zone_id and site_id",
            )))
        }
    };
    let mut w = st.store.begin_write().await?;
    controllers::set_lockdown(&mut w, scope, b.active).await?;
    let target = match scope {
        LockdownScope::Zone(z) => format!("zone:{z}"),
        LockdownScope::Site(s) => format!("site:{s}"),
    };
    let action = if b.active {
        "lockdown.start"
    } else {
        "lockdown.lift"
    };
    audit::record(&mut w, &a.actor(), action, &target, "ok").await?;
    w.commit().await?;
    refresh(&st).await;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A door alarm.
#[derive(Serialize, ToSchema)]
pub struct AlarmOut {
    pub id: i64,
    pub occurred_at: String,
    pub door_id: Option<i64>,
    pub code: String,
    pub label_ja: String,
    pub label_en: String,
    pub person_id: Option<i64>,
    pub person_name: Option<String>,
    pub detail: String,
    pub source: String,
}

/// Paging for alarms.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlarmQuery {
    /// At most 500; default 50.
    pub limit: Option<i64>,
}

/// Recent door alarms, newest first, with the person named.
#[utoipa::path(get, path = "/api/alarms", tag = "controllers", params(AlarmQuery), security(("session" = [])), responses((status = 200, body = [AlarmOut])))]
async fn list_alarms(
    State(st): State<AppState>,
    a: Authed,
    Query(q): Query<AlarmQuery>,
) -> ApiResult<Json<Vec<AlarmOut>>> {
    a.require(Permission::ViewMonitoring)?;
    st.controllers.ready(&st.store).await?;
    let mut out = Vec::new();
    for al in controllers::recent_alarms(&st.store, q.limit.unwrap_or(50).clamp(1, 500)).await? {
        let person_name = match al.person_id {
            Some(p) => people::get_person(&st.store, p)
                .await
                .ok()
                .map(|p| p.name_kanji),
            None => None,
        };
        out.push(AlarmOut {
            id: al.id,
            occurred_at: al.occurred_at.to_string(),
            door_id: al.door_id,
            code: al.code.code().into(),
            label_ja: al.code.label_ja().into(),
            label_en: al.code.label_en().into(),
            person_id: al.person_id,
            person_name,
            detail: al.detail,
            source: al.source,
        });
    }
    Ok(Json(out))
}

/// Forgives a person's anti-passback violation: their whereabouts are cleared and every
/// controller accepts their next pass wherever it starts.
#[utoipa::path(post, path = "/api/persons/{id}/forgive", tag = "controllers", params(("id" = i64, Path)), security(("session" = []), ("csrf" = [])), responses((status = 204), (status = 404, body = Problem)))]
async fn forgive(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> ApiResult<axum::http::StatusCode> {
    a.require(Permission::ManagePeople)?;
    people::get_person(&st.store, id).await?;
    let mut w = st.store.begin_write().await?;
    controllers::clear_presence(&mut w, id).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "antipassback.forgive",
        &format!("person:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    st.controllers.forgive(id);
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A what-if question.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfIn {
    pub person_id: i64,
    pub door_id: i64,
    /// `in` or `out`.
    pub direction: String,
    /// RFC 3339 time; now if omitted.
    pub at: Option<String>,
    /// Body temperature in °C, if the reader would measure one.
    pub temperature_c: Option<f64>,
}

/// The answer: the decision the door would make, with its stable reason code.
#[derive(Serialize, ToSchema)]
pub struct WhatIfOut {
    pub granted: bool,
    pub reason: String,
    pub reason_ja: String,
    pub reason_en: String,
    pub alarm: Option<String>,
    /// The snapshot version the answer is based on.
    pub snapshot_version: u64,
    /// The person's current zone, as presence knows it.
    pub current_zone_id: Option<i64>,
}

/// Would person P pass door D at time T, and if not, why. Uses the snapshot controllers have,
/// the person's first active card (or face) credential, current presence, and assumes a PIN,
/// if asked for, is typed correctly and, at a face + card door, that the person's own face is
/// shown.
#[utoipa::path(post, path = "/api/whatif", tag = "controllers", request_body = WhatIfIn, security(("session" = []), ("csrf" = [])), responses((status = 200, body = WhatIfOut), (status = 422, body = Problem)))]
async fn whatif(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<WhatIfIn>,
) -> ApiResult<Json<WhatIfOut>> {
    a.require(Permission::ViewMonitoring)?;
    let direction: Direction = parse_code("direction", &b.direction)?;
    let at = match b.at.as_deref() {
        None => jiff::Timestamp::now(),
        Some(s) => s.parse().map_err(|_| {
            ApiError::Invalid(FieldError::new("at", "時刻はRFC 3339形式にしてください（例: 2026-04-01T09:00:00+09:00） / use an RFC 3339 time such as 2026-04-01T09:00:00+09:00"))
        })?,
    };
    let temperature_dc = b.temperature_c.map(|c| (c * 10.0).round() as i16);
    people::get_person(&st.store, b.person_id).await?;
    let creds = people::list_credentials(&st.store, Some(b.person_id)).await?;
    let pick = |status: bool| {
        creds.iter().find_map(|c| {
            let active = c.status == CredentialStatus::Active;
            if status && !active {
                return None;
            }
            match c.kind {
                CredentialKind::Card => c
                    .card_id
                    .as_ref()
                    .map(|k| (CredentialKind::Card, k.as_str().to_string())),
                CredentialKind::Face => c
                    .face_template_ref
                    .clone()
                    .map(|f| (CredentialKind::Face, f)),
                CredentialKind::Pin => None,
            }
        })
    };
    let key = st.controllers.credential_key(&st.store).await?;
    let credential = pick(true)
        .or_else(|| pick(false))
        .map(|(k, v)| monban_proto::credential_hash(&key, k, &v));
    let snap = st.controllers.policy(&st.store).await.map_err(gw)?;
    let mut presence = PresenceState::new();
    for p in events::presence(&st.store).await? {
        presence.set(p.person_id, p.zone_id, p.since);
    }
    let req = AccessRequest {
        door_id: b.door_id,
        direction,
        credential,
        pin_ok: Some(true),
        temperature_dc,
    };
    // At a face + card door, assume the person's own face is shown (as a PIN is assumed typed).
    let face = creds
        .iter()
        .find(|c| c.kind == CredentialKind::Face && c.status == CredentialStatus::Active)
        .and_then(|c| c.face_template_ref.as_ref())
        .map(|r| {
            FaceEvidence::Matched(monban_proto::credential_hash(&key, CredentialKind::Face, r))
        });
    let d = decide_with_face(&snap, &presence, &req, face, at);
    Ok(Json(WhatIfOut {
        granted: d.granted,
        reason: d.reason.code().into(),
        reason_ja: d.reason.label_ja().into(),
        reason_en: d.reason.label_en().into(),
        alarm: d.alarm.map(|x| x.code().to_string()),
        snapshot_version: snap.version(),
        current_zone_id: presence.whereabouts(b.person_id).and_then(|w| w.zone_id),
    }))
}
