//! Login, logout, the current operator, and password change.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::header::SET_COOKIE;
use axum::response::{AppendHeaders, IntoResponse};
use axum::Json;
use monban_core::text::Code;
use monban_core::Operator;
use monban_store::operators;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ApiJson;
use crate::audit;
use crate::auth::{self, Authed};
use crate::error::{ApiError, ApiResult};
use crate::password;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
}

/// Login request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginIn {
    pub username: String,
    pub password: String,
}

/// An operator account as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct OperatorOut {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// Role code: administrator, security_officer, handler, reception, auditor.
    pub role: String,
    pub role_ja: String,
    pub role_en: String,
    pub disabled: bool,
    pub must_change_password: bool,
}

impl From<&Operator> for OperatorOut {
    fn from(o: &Operator) -> Self {
        Self {
            id: o.id,
            username: o.username.clone(),
            display_name: o.display_name.clone(),
            role: o.role.code().into(),
            role_ja: o.role.label_ja().into(),
            role_en: o.role.label_en().into(),
            disabled: o.disabled,
            must_change_password: o.must_change_password,
        }
    }
}

/// The logged-in operator and the CSRF token to send with changes.
#[derive(Serialize, ToSchema)]
pub struct SessionOut {
    pub operator: OperatorOut,
    pub csrf_token: String,
}

/// Logs in. Sets the session cookie. Repeated failures lock the account and throttle the address.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginIn,
    responses((status = 200, body = SessionOut), (status = 401, body = Problem), (status = 423, body = Problem), (status = 429, body = Problem)))]
async fn login(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<LoginIn>,
) -> ApiResult<impl IntoResponse> {
    let ip = peer.ip();
    if let Some(retry_after_secs) = st.throttled(ip) {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let now = monban_store::now_micros();
    let found = operators::operator_by_username(&st.store, body.username.trim()).await?;
    let Some(found) = found else {
        // Spend the same time as a real check so usernames cannot be probed by timing.
        let _ = password::verify(&body.password, DUMMY_HASH);
        st.throttle_failure(ip);
        let mut w = st.store.begin_write().await?;
        audit::record(
            &mut w,
            "anonymous",
            "auth.login_failed",
            "operator:unknown",
            "denied:unknown_user",
        )
        .await?;
        w.commit().await?;
        return Err(ApiError::BadLogin);
    };
    let op = &found.operator;
    if found.locked_until.is_some_and(|t| t > now) {
        st.throttle_failure(ip);
        return Err(ApiError::Locked {
            minutes: st.config.lockout_minutes,
        });
    }
    if op.disabled || !password::verify(&body.password, &found.password_hash) {
        st.throttle_failure(ip);
        let lock = if found.failed_logins + 1 >= st.config.lockout_after {
            Some(now + st.config.lockout_minutes * 60_000_000)
        } else {
            None
        };
        let mut w = st.store.begin_write().await?;
        operators::record_login_failure(&mut w, op.id, lock).await?;
        audit::record(
            &mut w,
            "anonymous",
            "auth.login_failed",
            &format!("operator:{}", op.id),
            if lock.is_some() {
                "denied:locked"
            } else {
                "denied:bad_password"
            },
        )
        .await?;
        w.commit().await?;
        return Err(if lock.is_some() {
            ApiError::Locked {
                minutes: st.config.lockout_minutes,
            }
        } else {
            ApiError::BadLogin
        });
    }
    let token = auth::random_token();
    let csrf = auth::random_token();
    let ttl_secs = st.config.session_minutes * 60;
    let mut w = st.store.begin_write().await?;
    operators::record_login_success(&mut w, op.id).await?;
    operators::purge_sessions(&mut w).await?;
    operators::create_session(
        &mut w,
        &auth::token_hash(&token),
        op.id,
        &csrf,
        now + ttl_secs * 1_000_000,
    )
    .await?;
    audit::record(
        &mut w,
        &format!("operator:{}", op.id),
        "auth.login",
        &format!("operator:{}", op.id),
        "ok",
    )
    .await?;
    w.commit().await?;
    let cookie = auth::session_cookie(&token, ttl_secs, st.config.cookie_secure);
    Ok((
        AppendHeaders([(SET_COOKIE, cookie)]),
        Json(SessionOut {
            operator: op.into(),
            csrf_token: csrf,
        }),
    ))
}

/// An Argon2id hash of a random string, verified against when the username is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$JkCwXJ2y0cFnBqSHI5bRm5E5cEqgmA7kq1wQ6cQ6I0E";

/// Logs out and ends the session.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("session" = []), ("csrf" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
async fn logout(State(st): State<AppState>, a: Authed) -> ApiResult<impl IntoResponse> {
    let mut w = st.store.begin_write().await?;
    operators::delete_session(&mut w, &a.token_hash).await?;
    audit::record(&mut w, &a.actor(), "auth.logout", &a.actor(), "ok").await?;
    w.commit().await?;
    Ok((
        axum::http::StatusCode::NO_CONTENT,
        AppendHeaders([(SET_COOKIE, auth::clear_cookie(st.config.cookie_secure))]),
    ))
}

/// The logged-in operator.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("session" = [])),
    responses((status = 200, body = SessionOut), (status = 401, body = Problem)))]
async fn me(a: Authed) -> Json<SessionOut> {
    Json(SessionOut {
        operator: (&a.operator).into(),
        csrf_token: a.csrf_token,
    })
}

/// Password change request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordIn {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the logged-in operator's password (required after a one-time password).
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", request_body = PasswordIn, security(("session" = []), ("csrf" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn change_password(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(body): ApiJson<PasswordIn>,
) -> ApiResult<impl IntoResponse> {
    let found = operators::operator_by_username(&st.store, &a.operator.username)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    if !password::verify(&body.current_password, &found.password_hash) {
        return Err(ApiError::Invalid(monban_core::text::FieldError::new(
            "current_password",
            "現在のパスワードが違います / the current password is wrong",
        )));
    }
    password::check_strength(&body.new_password).map_err(|mut e| {
        e.field = "new_password".into();
        ApiError::Invalid(e)
    })?;
    let hash = password::hash(&body.new_password).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut w = st.store.begin_write().await?;
    operators::set_password(&mut w, a.operator.id, &hash, false).await?;
    audit::record(
        &mut w,
        &a.actor(),
        "operator.password_change",
        &a.actor(),
        "ok",
    )
    .await?;
    w.commit().await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

use crate::error::Problem;
