//! Operator accounts over the API (system administrators only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use monban_core::operator::Permission;
use monban_core::OperatorRole;
use monban_store::operators;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth_routes::OperatorOut;
use super::{created, parse_code, ApiJson};
use crate::audit;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, Problem};
use crate::password;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_operators, create_operator))
        .routes(routes!(update_operator))
}

/// A new operator account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorIn {
    pub username: String,
    pub display_name: String,
    /// administrator, security_officer, handler, reception or auditor.
    #[schema(example = "handler")]
    pub role: String,
    /// At least 12 characters.
    pub password: String,
}

/// Changes to an operator account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorUpdateIn {
    pub display_name: String,
    pub role: String,
    pub disabled: bool,
}

/// Lists operator accounts.
#[utoipa::path(get, path = "/api/operators", tag = "operators", security(("session" = [])), responses((status = 200, body = [OperatorOut]), (status = 403, body = Problem)))]
async fn list_operators(
    State(st): State<AppState>,
    a: Authed,
) -> ApiResult<Json<Vec<OperatorOut>>> {
    a.require(Permission::ManageOperators)?;
    Ok(Json(
        operators::list_operators(&st.store)
            .await?
            .iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Creates an operator account.
#[utoipa::path(post, path = "/api/operators", tag = "operators", request_body = OperatorIn, security(("session" = []), ("csrf" = [])), responses((status = 201, body = OperatorOut), (status = 422, body = Problem), (status = 409, body = Problem)))]
async fn create_operator(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<OperatorIn>,
) -> ApiResult<impl IntoResponse> {
    a.require(Permission::ManageOperators)?;
    let role = parse_code::<OperatorRole>("role", &b.role)?;
    password::check_strength(&b.password)?;
    let hash = password::hash(&b.password).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut w = st.store.begin_write().await?;
    let op = operators::create_operator(&mut w, &b.username, &b.display_name, role, &hash, false)
        .await?;
    audit::record(
        &mut w,
        &a.actor(),
        "operator.create",
        &format!("operator:{}", op.id),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(created(OperatorOut::from(&op)))
}

/// Changes an operator's name, role or disabled state. Disabling ends their sessions.
#[utoipa::path(put, path = "/api/operators/{id}", tag = "operators", params(("id" = i64, Path)), request_body = OperatorUpdateIn, security(("session" = []), ("csrf" = [])), responses((status = 204), (status = 422, body = Problem), (status = 404, body = Problem)))]
async fn update_operator(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<OperatorUpdateIn>,
) -> ApiResult<StatusCode> {
    a.require(Permission::ManageOperators)?;
    let role = parse_code::<OperatorRole>("role", &b.role)?;
    if id == a.operator.id && (b.disabled || role != OperatorRole::Administrator) {
        return Err(ApiError::Invalid(monban_core::text::FieldError::new(
            "role",
            "自分自身を無効化・降格することはできません / you cannot disable or demote your own account",
        )));
    }
    let mut w = st.store.begin_write().await?;
    operators::update_operator(&mut w, id, &b.display_name, role, b.disabled).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "operator.update",
        &format!("operator:{id}"),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
