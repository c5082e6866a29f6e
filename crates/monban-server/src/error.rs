//! API errors as RFC 9457 problem documents (`application/problem+json`), each naming the
//! offending field where there is one, in Japanese first and then English.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use monban_core::text::FieldError;
use monban_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong in this case and what to do.
    pub detail: String,
    /// The field at fault, as a path such as `windows[2].end`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Everything an API handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(FieldError),
    #[error("{0}")]
    Conflict(FieldError),
    #[error("{0}")]
    InUse(FieldError),
    #[error("{entity} {id} が見つかりません / {entity} {id} not found")]
    NotFound { entity: String, id: String },
    #[error("ログインしてください / log in first")]
    Unauthenticated,
    #[error("ユーザー名またはパスワードが違います / wrong username or password")]
    BadLogin,
    #[error("ログイン失敗が続いたためアカウントを{minutes}分間ロックしました。時間をおくか管理者に解除を依頼してください / too many failed logins: the account is locked for {minutes} minutes; wait or ask an administrator")]
    Locked { minutes: i64 },
    #[error("試行が多すぎます。{retry_after_secs}秒後にもう一度お試しください / too many attempts; try again in {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: u64 },
    #[error(
        "この操作には「{needed}」の権限が必要です / this needs the {needed_en} role or permission"
    )]
    Forbidden { needed: String, needed_en: String },
    #[error("パスワードを変更してから操作してください / change your one-time password first")]
    PasswordChangeRequired,
    #[error("CSRFトークンがありません、または一致しません。ページを再読み込みしてください / missing or wrong CSRF token; reload the page")]
    Csrf,
    #[error("{0}")]
    Audit(String),
    #[error("サーバー内部エラーが発生しました（{0}）。管理者はサーバーのログを確認してください / internal server error ({0}); an administrator should check the server log")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str, Option<String>) {
        match self {
            ApiError::Invalid(f) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
                "入力内容に誤りがあります / invalid input",
                Some(f.field.clone()),
            ),
            ApiError::Conflict(f) => (
                StatusCode::CONFLICT,
                "conflict",
                "既存のデータと重複しています / conflict",
                Some(f.field.clone()),
            ),
            ApiError::InUse(f) => (
                StatusCode::CONFLICT,
                "in-use",
                "使用中のため削除できません / in use",
                Some(f.field.clone()),
            ),
            ApiError::NotFound { .. } => (
                StatusCode::NOT_FOUND,
                "not-found",
                "見つかりません / not found",
                None,
            ),
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "ログインが必要です / authentication required",
                None,
            ),
            ApiError::BadLogin => (
                StatusCode::UNAUTHORIZED,
                "bad-login",
                "ログインできません / login failed",
                None,
            ),
            ApiError::Locked { .. } => (
                StatusCode::LOCKED,
                "locked",
                "アカウントがロックされています / account locked",
                None,
            ),
            ApiError::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "試行回数の上限 / too many requests",
                None,
            ),
            ApiError::Forbidden { .. } => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "権限がありません / forbidden",
                None,
            ),
            ApiError::PasswordChangeRequired => (
                StatusCode::FORBIDDEN,
                "password-change-required",
                "パスワード変更が必要です / password change required",
                None,
            ),
            ApiError::Csrf => (
                StatusCode::FORBIDDEN,
                "csrf",
                "CSRF検証に失敗しました / CSRF check failed",
                None,
            ),
            ApiError::Audit(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "audit-failed",
                "監査ログに記録できません / audit log unavailable",
                None,
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "内部エラー / internal error",
                None,
            ),
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let (status, slug, title, field) = self.parts();
        Problem {
            kind: format!("/problems/{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: self.to_string(),
            field,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(f) => ApiError::Invalid(f),
            StoreError::Conflict(f) => ApiError::Conflict(f),
            StoreError::InUse(f) => ApiError::InUse(f),
            StoreError::NotFound { entity, id } => ApiError::NotFound {
                entity: entity.to_string(),
                id,
            },
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::Internal("database".into())
            }
        }
    }
}

impl From<crate::audit::AuditError> for ApiError {
    fn from(e: crate::audit::AuditError) -> Self {
        tracing::error!(error = %e, "audit log failure");
        ApiError::Audit(e.to_string())
    }
}

impl From<FieldError> for ApiError {
    fn from(f: FieldError) -> Self {
        ApiError::Invalid(f)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::TooManyRequests { retry_after_secs } = self {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

/// Result type of API handlers.
pub type ApiResult<T> = Result<T, ApiError>;
