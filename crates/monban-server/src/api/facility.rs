//! Sites, zones and doors over the API.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use monban_core::text::Code;
use monban_core::{Door, ReaderMode, Site, Zone, ZoneClass};
use monban_store::facility::{self, DoorInput, SiteInput, ZoneInput};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{created, parse_code, ApiJson};
use crate::audit;
use crate::auth::Authed;
use crate::error::{ApiResult, Problem};
use crate::state::AppState;
use monban_core::operator::Permission;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sites, create_site))
        .routes(routes!(get_site))
        .routes(routes!(list_zones, create_zone))
        .routes(routes!(get_zone, update_zone, delete_zone))
        .routes(routes!(list_doors, create_door))
        .routes(routes!(get_door, delete_door))
}

/// A new site.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteIn {
    pub name: String,
    /// IANA time zone; Asia/Tokyo when omitted.
    pub time_zone: Option<String>,
}

/// A site.
#[derive(Serialize, ToSchema)]
pub struct SiteOut {
    pub id: i64,
    pub name: String,
    pub time_zone: String,
}

impl From<Site> for SiteOut {
    fn from(s: Site) -> Self {
        Self {
            id: s.id,
            name: s.name,
            time_zone: s.time_zone,
        }
    }
}

/// Lists sites.
#[utoipa::path(get, path = "/api/sites", tag = "facility", security(("session" = [])), responses((status = 200, body = [SiteOut]), (status = 401, body = Problem)))]
async fn list_sites(State(st): State<AppState>, a: Authed) -> ApiResult<Json<Vec<SiteOut>>> {
    a.require(Permission::ViewMonitoring)?;
    Ok(Json(
        facility::list_sites(&st.store)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Creates a site.
#[utoipa::path(post, path = "/api/sites", tag = "facility", request_body = SiteIn, security(("session" = []), ("csrf" = [])), responses((status = 201, body = SiteOut), (status = 422, body = Problem), (status = 409, body = Problem)))]
async fn create_site(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<SiteIn>,
) -> ApiResult<impl IntoResponse> {
    a.require(Permission::ManageFacility)?;
    let mut w = st.store.begin_write().await?;
    let s = facility::create_site(
        &mut w,
        &SiteInput {
            name: b.name,
            time_zone: b.time_zone,
        },
    )
    .await?;
    audit::record(
        &mut w,
        &a.actor(),
        "site.create",
        &format!("site:{}", s.id),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(created(SiteOut::from(s)))
}

/// One site.
#[utoipa::path(get, path = "/api/sites/{id}", tag = "facility", params(("id" = i64, Path)), security(("session" = [])), responses((status = 200, body = SiteOut), (status = 404, body = Problem)))]
async fn get_site(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<SiteOut>> {
    a.require(Permission::ViewMonitoring)?;
    Ok(Json(facility::get_site(&st.store, id).await?.into()))
}

/// A zone as sent by a client.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneIn {
    pub site_id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    /// general (一般区域), handling (取扱区域) or management (管理区域).
    #[schema(example = "handling")]
    pub class: String,
    pub occupancy_limit: Option<u32>,
}

/// A zone.
#[derive(Serialize, ToSchema)]
pub struct ZoneOut {
    pub id: i64,
    pub site_id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    pub class: String,
    pub class_ja: String,
    pub class_en: String,
    pub occupancy_limit: Option<u32>,
}

impl From<Zone> for ZoneOut {
    fn from(z: Zone) -> Self {
        Self {
            id: z.id,
            site_id: z.site_id,
            parent_id: z.parent_id,
            name: z.name,
            class: z.class.code().into(),
            class_ja: z.class.label_ja().into(),
            class_en: z.class.label_en().into(),
            occupancy_limit: z.occupancy_limit,
        }
    }
}

impl ZoneIn {
    fn input(self) -> ApiResult<ZoneInput> {
        Ok(ZoneInput {
            site_id: self.site_id,
            parent_id: self.parent_id,
            name: self.name,
            class: parse_code::<ZoneClass>("class", &self.class)?,
            occupancy_limit: self.occupancy_limit,
        })
    }
}

/// Filter by site.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SiteFilter {
    pub site_id: Option<i64>,
}

/// Lists zones.
#[utoipa::path(get, path = "/api/zones", tag = "facility", params(SiteFilter), security(("session" = [])), responses((status = 200, body = [ZoneOut])))]
async fn list_zones(
    State(st): State<AppState>,
    a: Authed,
    Query(f): Query<SiteFilter>,
) -> ApiResult<Json<Vec<ZoneOut>>> {
    a.require(Permission::ViewMonitoring)?;
    Ok(Json(
        facility::list_zones(&st.store, f.site_id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Creates a zone.
#[utoipa::path(post, path = "/api/zones", tag = "facility", request_body = ZoneIn, security(("session" = []), ("csrf" = [])), responses((status = 201, body = ZoneOut), (status = 422, body = Problem), (status = 409, body = Problem)))]
async fn create_zone(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<ZoneIn>,
) -> ApiResult<impl IntoResponse> {
    a.require(Permission::ManageFacility)?;
    let input = b.input()?;
    let mut w = st.store.begin_write().await?;
    let z = facility::create_zone(&mut w, &input).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "zone.create",
        &format!("zone:{}", z.id),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(created(ZoneOut::from(z)))
}

/// One zone.
#[utoipa::path(get, path = "/api/zones/{id}", tag = "facility", params(("id" = i64, Path)), security(("session" = [])), responses((status = 200, body = ZoneOut), (status = 404, body = Problem)))]
async fn get_zone(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<ZoneOut>> {
    a.require(Permission::ViewMonitoring)?;
    Ok(Json(facility::get_zone(&st.store, id).await?.into()))
}

/// Changes a zone. A parent that would make a cycle is refused.
#[utoipa::path(put, path = "/api/zones/{id}", tag = "facility", params(("id" = i64, Path)), request_body = ZoneIn, security(("session" = []), ("csrf" = [])), responses((status = 200, body = ZoneOut), (status = 422, body = Problem), (status = 404, body = Problem)))]
async fn update_zone(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ZoneIn>,
) -> ApiResult<Json<ZoneOut>> {
    a.require(Permission::ManageFacility)?;
    let input = b.input()?;
    let mut w = st.store.begin_write().await?;
    let z = facility::update_zone(&mut w, id, &input).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "zone.update",
        &format!("zone:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(Json(z.into()))
}

/// Deletes a zone that no door or child zone uses.
#[utoipa::path(delete, path = "/api/zones/{id}", tag = "facility", params(("id" = i64, Path)), security(("session" = []), ("csrf" = [])), responses((status = 204), (status = 409, body = Problem), (status = 404, body = Problem)))]
async fn delete_zone(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    a.require(Permission::ManageFacility)?;
    let mut w = st.store.begin_write().await?;
    facility::delete_zone(&mut w, id).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "zone.delete",
        &format!("zone:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A door as sent by a client.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DoorIn {
    pub site_id: i64,
    pub name: String,
    /// Zone on the near side; omit for a door from outside the site.
    pub from_zone_id: Option<i64>,
    pub to_zone_id: i64,
    /// card, pin, card_and_pin, face or face_and_card.
    #[schema(example = "card")]
    pub reader_mode: String,
    /// Seconds before a held-open alarm (default 30).
    pub held_open_limit_secs: Option<u32>,
}

/// A door.
#[derive(Serialize, ToSchema)]
pub struct DoorOut {
    pub id: i64,
    pub site_id: i64,
    pub name: String,
    pub from_zone_id: Option<i64>,
    pub to_zone_id: i64,
    pub reader_mode: String,
    pub held_open_limit_secs: u32,
}

impl From<Door> for DoorOut {
    fn from(d: Door) -> Self {
        Self {
            id: d.id,
            site_id: d.site_id,
            name: d.name,
            from_zone_id: d.from_zone_id,
            to_zone_id: d.to_zone_id,
            reader_mode: d.reader_mode.code().into(),
            held_open_limit_secs: d.held_open_limit_secs,
        }
    }
}

/// Lists doors.
#[utoipa::path(get, path = "/api/doors", tag = "facility", params(SiteFilter), security(("session" = [])), responses((status = 200, body = [DoorOut])))]
async fn list_doors(
    State(st): State<AppState>,
    a: Authed,
    Query(f): Query<SiteFilter>,
) -> ApiResult<Json<Vec<DoorOut>>> {
    a.require(Permission::ViewMonitoring)?;
    Ok(Json(
        facility::list_doors(&st.store, f.site_id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Creates a door.
#[utoipa::path(post, path = "/api/doors", tag = "facility", request_body = DoorIn, security(("session" = []), ("csrf" = [])), responses((status = 201, body = DoorOut), (status = 422, body = Problem)))]
async fn create_door(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<DoorIn>,
) -> ApiResult<impl IntoResponse> {
    a.require(Permission::ManageFacility)?;
    let input = DoorInput {
        site_id: b.site_id,
        name: b.name,
        from_zone_id: b.from_zone_id,
        to_zone_id: b.to_zone_id,
        reader_mode: parse_code::<ReaderMode>("reader_mode", &b.reader_mode)?,
        held_open_limit_secs: b.held_open_limit_secs,
    };
    let mut w = st.store.begin_write().await?;
    let d = facility::create_door(&mut w, &input).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "door.create",
        &format!("door:{}", d.id),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(created(DoorOut::from(d)))
}

/// One door.
#[utoipa::path(get, path = "/api/doors/{id}", tag = "facility", params(("id" = i64, Path)), security(("session" = [])), responses((status = 200, body = DoorOut), (status = 404, body = Problem)))]
async fn get_door(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<DoorOut>> {
    a.require(Permission::ViewMonitoring)?;
    Ok(Json(facility::get_door(&st.store, id).await?.into()))
}

/// Deletes a door that has no recorded events.
#[utoipa::path(delete, path = "/api/doors/{id}", tag = "facility", params(("id" = i64, Path)), security(("session" = []), ("csrf" = [])), responses((status = 204), (status = 409, body = Problem), (status = 404, body = Problem)))]
async fn delete_door(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    a.require(Permission::ManageFacility)?;
    let mut w = st.store.begin_write().await?;
    facility::delete_door(&mut w, id).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "door.delete",
        &format!("door:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
