//! The REST API: routes, the OpenAPI document generated from the handlers' annotations, and the
//! JSON body extractor that names the offending field on bad input.

mod audit_routes;
mod auth_routes;
mod controllers;
mod face;
mod facility;
mod monitor;
mod operators;
mod people;
mod vault;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Json;
use monban_core::text::{Code, FieldError};
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Monban API",
        description = "門番（Monban）入退室管理・マイナンバー保護システムのAPI / Monban entry-exit management and My Number protection API. Log in with POST /api/auth/login; send the returned csrf_token as X-CSRF-Token on every state-changing request.",
        license(name = "Apache-2.0")
    ),
    modifiers(&SecurityAddon),
    components(schemas(Problem)),
    tags(
        (name = "auth", description = "ログイン / login and sessions"),
        (name = "facility", description = "拠点・区域・扉 / sites, zones, doors"),
        (name = "people", description = "人物・認証情報・権限グループ / persons, credentials, access groups"),
        (name = "operators", description = "オペレーター / operator accounts"),
        (name = "monitor", description = "在室状況・イベント / presence and events"),
        (name = "vault", description = "マイナンバー保管庫 / My Number vault"),
        (name = "controllers", description = "扉コントローラー・区域ルール・警報・what-if / door controllers, zone rules, alarms, what-if"),
        (name = "audit", description = "監査ログ（改ざん検知） / tamper-evident audit log"),
    )
)]
struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "session",
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                    crate::auth::SESSION_COOKIE,
                ))),
            );
            c.add_security_scheme(
                "csrf",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-CSRF-Token"))),
            );
        }
    }
}

/// The API routes with their OpenAPI description.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth_routes::routes())
        .merge(facility::routes())
        .merge(people::routes())
        .merge(operators::routes())
        .merge(monitor::routes())
        .merge(controllers::routes())
        .merge(audit_routes::routes())
        .merge(vault::routes())
        .merge(face::routes())
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = api_router().split_for_parts();
    api
}

/// The whole application: API, OpenAPI document and web console.
pub fn router(state: AppState) -> axum::Router {
    let (api, doc) = api_router().split_for_parts();
    let doc = std::sync::Arc::new(doc);
    api.route(
        "/api/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
    .merge(crate::web::routes())
    .fallback(|| async {
        ApiError::NotFound {
            entity: "path".into(),
            id: String::new(),
        }
    })
    .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
    .layer(axum::middleware::from_fn(request_id))
    .with_state(state)
}

/// Gives every request an id (the client's `X-Request-Id` if it sent a sane one), returns it in
/// the response header, and makes it available to the audit log for the request's duration.
async fn request_id(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| crate::auth::random_token()[..16].to_string());
    let mut resp = crate::audit::REQUEST_ID
        .scope(id.clone(), next.run(req))
        .await;
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// A JSON request body. Unlike axum's `Json`, a failure answers with a problem document naming
/// the field at fault (e.g. `schedule.windows[0].start`).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::Invalid(FieldError::new(
                "body",
                "Content-Type: application/json で送ってください / send the body as application/json",
            )));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            ApiError::Invalid(FieldError::new(
                "body",
                format!("本文が大きすぎるか読み取れません（上限{MAX_BODY_BYTES}バイト） / body too large or unreadable (limit {MAX_BODY_BYTES} bytes)"),
            ))
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(ApiJson(v)),
            Err(e) => {
                let path = e.path().to_string();
                let field = if path == "." || path == "?" || path.is_empty() {
                    "body".to_string()
                } else {
                    path
                };
                let inner = e.into_inner();
                let msg = if inner.is_syntax() || inner.is_eof() {
                    format!("JSONの形式が正しくありません（{inner}） / malformed JSON ({inner})")
                } else {
                    format!("値が正しくありません（{inner}） / invalid value ({inner})")
                };
                Err(ApiError::Invalid(FieldError::new(field, msg)))
            }
        }
    }
}

/// Parses a coded enum field (e.g. a zone class) from its API string.
pub(crate) fn parse_code<T: Code>(field: &str, v: &str) -> Result<T, ApiError> {
    T::parse_code(field, v).map_err(ApiError::Invalid)
}

/// Parses an optional `YYYY-MM-DD` date field.
pub(crate) fn parse_date(
    field: &str,
    v: &Option<String>,
) -> Result<Option<jiff::civil::Date>, ApiError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            ApiError::Invalid(FieldError::new(
                field,
                format!("日付はYYYY-MM-DD形式の実在する日にしてください（「{s}」） / use a real date as YYYY-MM-DD (got {s:?})"),
            ))
        }),
    }
}

/// `201 Created` with a JSON body.
pub(crate) fn created<T: serde::Serialize>(v: T) -> impl IntoResponse {
    (axum::http::StatusCode::CREATED, Json(v))
}
