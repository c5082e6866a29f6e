//! Persons, credentials and access groups over the API.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use monban_core::operator::Permission;
use monban_core::schedule::Schedule;
use monban_core::text::Code;
use monban_core::{
    AccessGroup, CardId, Credential, CredentialKind, CredentialStatus, Person, PersonKind,
    PersonStatus, Pin,
};
use monban_store::people::{self, AccessGroupInput, CredentialInput, PersonInput};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{created, parse_code, parse_date, ApiJson};
use crate::audit;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, Problem};
use crate::password;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_persons, create_person))
        .routes(routes!(get_person, update_person, delete_person))
        .routes(routes!(list_credentials, create_credential))
        .routes(routes!(delete_credential))
        .routes(routes!(set_credential_status))
        .routes(routes!(list_groups, create_group))
        .routes(routes!(get_group, update_group, delete_group))
}

/// A person as sent by a client.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonIn {
    /// employee (従業員) or visitor (来訪者).
    #[schema(example = "employee")]
    pub kind: String,
    pub employee_number: Option<String>,
    #[schema(example = "山田 太郎")]
    pub name_kanji: String,
    #[schema(example = "ヤマダ タロウ")]
    pub name_kana: String,
    pub department: Option<String>,
    /// YYYY-MM-DD
    pub valid_from: Option<String>,
    /// YYYY-MM-DD
    pub valid_until: Option<String>,
    /// active (default), suspended or left.
    pub status: Option<String>,
}

impl PersonIn {
    fn input(self) -> ApiResult<PersonInput> {
        Ok(PersonInput {
            kind: parse_code::<PersonKind>("kind", &self.kind)?,
            employee_number: self.employee_number,
            name_kanji: self.name_kanji,
            name_kana: self.name_kana,
            department: self.department,
            valid_from: parse_date("valid_from", &self.valid_from)?,
            valid_until: parse_date("valid_until", &self.valid_until)?,
            status: match &self.status {
                Some(s) => parse_code::<PersonStatus>("status", s)?,
                None => PersonStatus::Active,
            },
        })
    }
}

/// A person.
#[derive(Serialize, ToSchema)]
pub struct PersonOut {
    pub id: i64,
    pub kind: String,
    pub employee_number: Option<String>,
    pub name_kanji: String,
    pub name_kana: String,
    pub department: Option<String>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub status: String,
}

impl From<Person> for PersonOut {
    fn from(p: Person) -> Self {
        Self {
            id: p.id,
            kind: p.kind.code().into(),
            employee_number: p.employee_number,
            name_kanji: p.name_kanji,
            name_kana: p.name_kana,
            department: p.department,
            valid_from: p.valid_from.map(|d| d.to_string()),
            valid_until: p.valid_until.map(|d| d.to_string()),
            status: p.status.code().into(),
        }
    }
}

/// Search and paging.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PersonQuery {
    /// Part of a name, kana, employee number or department.
    pub q: Option<String>,
    /// At most 500; default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Lists persons.
#[utoipa::path(get, path = "/api/persons", tag = "people", params(PersonQuery), security(("session" = [])), responses((status = 200, body = [PersonOut])))]
async fn list_persons(
    State(st): State<AppState>,
    a: Authed,
    Query(q): Query<PersonQuery>,
) -> ApiResult<Json<Vec<PersonOut>>> {
    a.require(Permission::ViewPeople)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let offset = q.offset.unwrap_or(0).max(0);
    Ok(Json(
        people::list_persons(&st.store, q.q.as_deref(), limit, offset)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Registers a person.
#[utoipa::path(post, path = "/api/persons", tag = "people", request_body = PersonIn, security(("session" = []), ("csrf" = [])), responses((status = 201, body = PersonOut), (status = 422, body = Problem), (status = 409, body = Problem)))]
async fn create_person(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<PersonIn>,
) -> ApiResult<impl IntoResponse> {
    a.require(Permission::ManagePeople)?;
    let input = b.input()?;
    let mut w = st.store.begin_write().await?;
    let p = people::create_person(&mut w, &input).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "person.create",
        &format!("person:{}", p.id),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(created(PersonOut::from(p)))
}

/// One person.
#[utoipa::path(get, path = "/api/persons/{id}", tag = "people", params(("id" = i64, Path)), security(("session" = [])), responses((status = 200, body = PersonOut), (status = 404, body = Problem)))]
async fn get_person(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<PersonOut>> {
    a.require(Permission::ViewPeople)?;
    Ok(Json(people::get_person(&st.store, id).await?.into()))
}

/// Changes a person.
#[utoipa::path(put, path = "/api/persons/{id}", tag = "people", params(("id" = i64, Path)), request_body = PersonIn, security(("session" = []), ("csrf" = [])), responses((status = 200, body = PersonOut), (status = 422, body = Problem), (status = 404, body = Problem)))]
async fn update_person(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<PersonIn>,
) -> ApiResult<Json<PersonOut>> {
    a.require(Permission::ManagePeople)?;
    let input = b.input()?;
    let mut w = st.store.begin_write().await?;
    let p = people::update_person(&mut w, id, &input).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "person.update",
        &format!("person:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(Json(p.into()))
}

/// Deletes a person and their credentials.
#[utoipa::path(delete, path = "/api/persons/{id}", tag = "people", params(("id" = i64, Path)), security(("session" = []), ("csrf" = [])), responses((status = 204), (status = 404, body = Problem)))]
async fn delete_person(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    a.require(Permission::ManagePeople)?;
    let mut w = st.store.begin_write().await?;
    people::delete_person(&mut w, id).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "person.delete",
        &format!("person:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A credential as sent by a client. Give `card_id` for a card, `pin` for a PIN (kept only as
/// an Argon2id hash), `face_template_ref` for a face.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialIn {
    pub person_id: i64,
    /// card, pin or face.
    #[schema(example = "card")]
    pub kind: String,
    /// FeliCa IDm (16 hex digits) or MIFARE UID (8, 14 or 20 hex digits).
    #[schema(example = "012E4CAABBCCDDEE")]
    pub card_id: Option<String>,
    /// 4 to 8 digits.
    pub pin: Option<String>,
    pub face_template_ref: Option<String>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
}

/// A credential. PINs are never returned, only whether one is set.
#[derive(Serialize, ToSchema)]
pub struct CredentialOut {
    pub id: i64,
    pub person_id: i64,
    pub kind: String,
    pub card_id: Option<String>,
    pub has_pin: bool,
    pub face_template_ref: Option<String>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub status: String,
}

impl From<Credential> for CredentialOut {
    fn from(c: Credential) -> Self {
        Self {
            id: c.id,
            person_id: c.person_id,
            kind: c.kind.code().into(),
            card_id: c.card_id.map(|c| c.to_string()),
            has_pin: c.pin_hash.is_some(),
            face_template_ref: c.face_template_ref,
            valid_from: c.valid_from.map(|d| d.to_string()),
            valid_until: c.valid_until.map(|d| d.to_string()),
            status: c.status.code().into(),
        }
    }
}

/// Filter by person.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CredentialQuery {
    pub person_id: Option<i64>,
}

/// Lists credentials.
#[utoipa::path(get, path = "/api/credentials", tag = "people", params(CredentialQuery), security(("session" = [])), responses((status = 200, body = [CredentialOut])))]
async fn list_credentials(
    State(st): State<AppState>,
    a: Authed,
    Query(q): Query<CredentialQuery>,
) -> ApiResult<Json<Vec<CredentialOut>>> {
    a.require(Permission::ViewPeople)?;
    Ok(Json(
        people::list_credentials(&st.store, q.person_id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Issues a credential. A card already registered is refused.
#[utoipa::path(post, path = "/api/credentials", tag = "people", request_body = CredentialIn, security(("session" = []), ("csrf" = [])), responses((status = 201, body = CredentialOut), (status = 422, body = Problem), (status = 409, body = Problem)))]
async fn create_credential(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<CredentialIn>,
) -> ApiResult<impl IntoResponse> {
    a.require(Permission::ManagePeople)?;
    let kind = parse_code::<CredentialKind>("kind", &b.kind)?;
    let card_id = match (&b.card_id, kind) {
        (Some(c), CredentialKind::Card) => Some(CardId::parse("card_id", c)?),
        _ => None,
    };
    let pin_hash = match (&b.pin, kind) {
        (Some(p), CredentialKind::Pin) => {
            let pin = Pin::parse("pin", p)?;
            Some(password::hash(pin.digits()).map_err(|e| ApiError::Internal(e.to_string()))?)
        }
        _ => None,
    };
    let input = CredentialInput {
        person_id: b.person_id,
        kind,
        card_id,
        pin_hash,
        face_template_ref: b.face_template_ref,
        valid_from: parse_date("valid_from", &b.valid_from)?,
        valid_until: parse_date("valid_until", &b.valid_until)?,
        status: CredentialStatus::Active,
    };
    let mut w = st.store.begin_write().await?;
    let c = people::create_credential(&mut w, &input).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "credential.create",
        &format!("credential:{}", c.id),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(created(CredentialOut::from(c)))
}

/// Deletes a credential.
#[utoipa::path(delete, path = "/api/credentials/{id}", tag = "people", params(("id" = i64, Path)), security(("session" = []), ("csrf" = [])), responses((status = 204), (status = 404, body = Problem)))]
async fn delete_credential(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    a.require(Permission::ManagePeople)?;
    let mut w = st.store.begin_write().await?;
    people::delete_credential(&mut w, id).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "credential.delete",
        &format!("credential:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// New status for a credential.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialStatusIn {
    /// active, suspended, lost or revoked.
    pub status: String,
}

/// Suspends, reports lost, revokes or reactivates a credential.
#[utoipa::path(put, path = "/api/credentials/{id}/status", tag = "people", params(("id" = i64, Path)), request_body = CredentialStatusIn, security(("session" = []), ("csrf" = [])), responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn set_credential_status(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<CredentialStatusIn>,
) -> ApiResult<StatusCode> {
    a.require(Permission::ManagePeople)?;
    let status = parse_code::<CredentialStatus>("status", &b.status)?;
    let mut w = st.store.begin_write().await?;
    people::set_credential_status(&mut w, id, status).await?;
    audit::record_details(
        &mut w,
        &a.actor(),
        "credential.status",
        &format!("credential:{id}"),
        "ok",
        vec![("status".into(), status.code().into())],
    )
    .await?;
    w.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An access group as sent by a client.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessGroupIn {
    pub name: String,
    /// Weekly windows, holidays and company exception days.
    #[schema(value_type = Object)]
    pub schedule: Schedule,
    #[serde(default)]
    pub zone_ids: Vec<i64>,
    #[serde(default)]
    pub person_ids: Vec<i64>,
}

/// An access group.
#[derive(Serialize, ToSchema)]
pub struct AccessGroupOut {
    pub id: i64,
    pub name: String,
    #[schema(value_type = Object)]
    pub schedule: Schedule,
    pub zone_ids: Vec<i64>,
    pub person_ids: Vec<i64>,
}

impl From<AccessGroup> for AccessGroupOut {
    fn from(g: AccessGroup) -> Self {
        Self {
            id: g.id,
            name: g.name,
            schedule: g.schedule,
            zone_ids: g.zone_ids,
            person_ids: g.person_ids,
        }
    }
}

impl From<AccessGroupIn> for AccessGroupInput {
    fn from(b: AccessGroupIn) -> Self {
        Self {
            name: b.name,
            schedule: b.schedule,
            zone_ids: b.zone_ids,
            person_ids: b.person_ids,
        }
    }
}

/// Lists access groups.
#[utoipa::path(get, path = "/api/access-groups", tag = "people", security(("session" = [])), responses((status = 200, body = [AccessGroupOut])))]
async fn list_groups(
    State(st): State<AppState>,
    a: Authed,
) -> ApiResult<Json<Vec<AccessGroupOut>>> {
    a.require(Permission::ViewPeople)?;
    Ok(Json(
        people::list_access_groups(&st.store)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Creates an access group.
#[utoipa::path(post, path = "/api/access-groups", tag = "people", request_body = AccessGroupIn, security(("session" = []), ("csrf" = [])), responses((status = 201, body = AccessGroupOut), (status = 422, body = Problem), (status = 409, body = Problem)))]
async fn create_group(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<AccessGroupIn>,
) -> ApiResult<impl IntoResponse> {
    a.require(Permission::ManagePeople)?;
    let mut w = st.store.begin_write().await?;
    let id = people::create_access_group(&mut w, &b.into()).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "access_group.create",
        &format!("access_group:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(created(AccessGroupOut::from(
        people::get_access_group(&st.store, id).await?,
    )))
}

/// One access group.
#[utoipa::path(get, path = "/api/access-groups/{id}", tag = "people", params(("id" = i64, Path)), security(("session" = [])), responses((status = 200, body = AccessGroupOut), (status = 404, body = Problem)))]
async fn get_group(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<AccessGroupOut>> {
    a.require(Permission::ViewPeople)?;
    Ok(Json(people::get_access_group(&st.store, id).await?.into()))
}

/// Replaces an access group.
#[utoipa::path(put, path = "/api/access-groups/{id}", tag = "people", params(("id" = i64, Path)), request_body = AccessGroupIn, security(("session" = []), ("csrf" = [])), responses((status = 200, body = AccessGroupOut), (status = 422, body = Problem), (status = 404, body = Problem)))]
async fn update_group(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<AccessGroupIn>,
) -> ApiResult<Json<AccessGroupOut>> {
    a.require(Permission::ManagePeople)?;
    let mut w = st.store.begin_write().await?;
    people::update_access_group(&mut w, id, &b.into()).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "access_group.update",
        &format!("access_group:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(Json(people::get_access_group(&st.store, id).await?.into()))
}

/// Deletes an access group.
#[utoipa::path(delete, path = "/api/access-groups/{id}", tag = "people", params(("id" = i64, Path)), security(("session" = []), ("csrf" = [])), responses((status = 204), (status = 404, body = Problem)))]
async fn delete_group(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    a.require(Permission::ManagePeople)?;
    let mut w = st.store.begin_write().await?;
    people::delete_access_group(&mut w, id).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "access_group.delete",
        &format!("access_group:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
