//! Operator authentication for the API: session cookies, CSRF tokens, and role checks.
//!
//! A session is a random token in an `HttpOnly`, `SameSite=Strict` cookie (and `Secure` when
//! served over HTTPS); the database keeps only its SHA-256. Every request that changes state
//! must also carry the session's CSRF token in the `X-CSRF-Token` header.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use monban_core::operator::Permission;
use monban_core::text::Code;
use monban_core::Operator;
use monban_store::operators;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "monban_session";
/// Header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A fresh random token, hex encoded.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The stored form of a session token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The `Set-Cookie` value for a new session.
pub fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    session_cookie("", 0, secure)
}

/// Reads the session token from the Cookie header.
pub fn cookie_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// A logged-in operator, extracted from the session cookie. Extraction fails with 401 when
/// there is no live session, and with 403 when a state-changing request lacks the CSRF token.
#[derive(Debug, Clone)]
pub struct Authed {
    pub operator: Operator,
    pub csrf_token: String,
    pub token_hash: String,
}

impl Authed {
    /// Fails with 403 unless the operator's role grants `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.operator.role.allows(p) {
            Ok(())
        } else {
            let (ja, en) = permission_label(p);
            Err(ApiError::Forbidden {
                needed: ja.into(),
                needed_en: en.into(),
            })
        }
    }

    /// The audit actor string for this operator.
    pub fn actor(&self) -> String {
        format!("operator:{}", self.operator.id)
    }
}

fn permission_label(p: Permission) -> (&'static str, &'static str) {
    match p {
        Permission::ViewMonitoring => ("監視の閲覧", "view monitoring"),
        Permission::ViewPeople => ("人物の閲覧", "view people"),
        Permission::ManagePeople => (
            "人物・認証情報の管理（管理者・責任者）",
            "manage people (administrator or security officer)",
        ),
        Permission::ManageFacility => (
            "拠点・区域・扉の管理（システム管理者）",
            "manage facility (system administrator)",
        ),
        Permission::ManageOperators => (
            "オペレーターの管理（システム管理者）",
            "manage operators (system administrator)",
        ),
        Permission::ManageVisitors => ("来訪者の管理", "manage visitors"),
        Permission::ViewAudit => (
            "監査ログの閲覧（管理者・責任者・監査）",
            "view the audit log (administrator, security officer or auditor)",
        ),
    }
}

/// Paths an operator who must change the one-time password may still use.
const PASSWORD_CHANGE_PATHS: &[&str] = &["/api/auth/me", "/api/auth/password", "/api/auth/logout"];

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = cookie_token(parts).ok_or(ApiError::Unauthenticated)?;
        let th = token_hash(&token);
        let session = operators::session(&state.store, &th)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        let operator = operators::get_operator(&state.store, session.operator_id).await?;
        if operator.disabled {
            return Err(ApiError::Unauthenticated);
        }
        let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if unsafe_method {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(sent.as_bytes(), session.csrf_token.as_bytes()) {
                return Err(ApiError::Csrf);
            }
        }
        if operator.must_change_password && !PASSWORD_CHANGE_PATHS.contains(&parts.uri.path()) {
            return Err(ApiError::PasswordChangeRequired);
        }
        Ok(Authed {
            operator,
            csrf_token: session.csrf_token,
            token_hash: th,
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Role label pair, for responses.
pub fn role_labels(op: &Operator) -> (&'static str, &'static str) {
    (op.role.label_ja(), op.role.label_en())
}
