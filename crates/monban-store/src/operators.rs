//! Operator accounts, login failure counting and lockout, and console sessions.
//!
//! Passwords arrive here already hashed (Argon2id, PHC string); session tokens are stored only
//! as SHA-256 hashes chosen by the caller, so a copy of the database cannot be used to log in.

use monban_core::model::Id;
use monban_core::text::{self, Code, FieldError};
use monban_core::{Operator, OperatorRole};
use sqlx::any::AnyRow;

use crate::row::*;
use crate::{now_micros, Store, StoreError, WriteTx};

/// An operator together with what login needs to check.
#[derive(Debug, Clone)]
pub struct OperatorAuth {
    pub operator: Operator,
    pub password_hash: String,
    pub failed_logins: i64,
    /// Microseconds since the epoch until which login is refused.
    pub locked_until: Option<i64>,
}

const OP_COLS: &str = "id, username, display_name, role, disabled, must_change_password, password_hash, failed_logins, locked_until";

fn op_from(r: &AnyRow) -> Result<OperatorAuth, StoreError> {
    Ok(OperatorAuth {
        operator: Operator {
            id: i64_(r, "id")?,
            username: text(r, "username")?,
            display_name: text(r, "display_name")?,
            role: code(r, "role")?,
            disabled: bool_(r, "disabled")?,
            must_change_password: bool_(r, "must_change_password")?,
        },
        password_hash: text(r, "password_hash")?,
        failed_logins: i64_(r, "failed_logins")?,
        locked_until: opt_i64(r, "locked_until")?,
    })
}

/// Checks a username: 3–64 characters of letters, digits, '.', '-', '_'.
pub fn check_username(u: &str) -> Result<String, FieldError> {
    let u = text::required("username", u, 64)?;
    if u.len() < 3
        || !u
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(FieldError::new(
            "username",
            "ユーザー名は3〜64文字の英数字と . - _ にしてください / a username must be 3 to 64 letters, digits, '.', '-' or '_'",
        ));
    }
    Ok(u)
}

/// Creates an operator account.
pub async fn create_operator(
    w: &mut WriteTx,
    username: &str,
    display_name: &str,
    role: OperatorRole,
    password_hash: &str,
    must_change_password: bool,
) -> Result<Operator, StoreError> {
    let username = check_username(username).map_err(StoreError::Invalid)?;
    let display_name =
        text::required("display_name", display_name, 100).map_err(StoreError::Invalid)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO operators (username, display_name, role, password_hash, disabled, must_change_password, failed_logins, created_at) VALUES ($1, $2, $3, $4, 0, $5, 0, $6) RETURNING id",
    )
    .bind(&username)
    .bind(&display_name)
    .bind(role.code())
    .bind(password_hash)
    .bind(i64::from(must_change_password))
    .bind(now_micros())
    .fetch_one(w.conn())
    .await
    .map_err(|e| StoreError::unique(e, "username", "このユーザー名は使われています / this username is taken"))?;
    Ok(Operator {
        id,
        username,
        display_name,
        role,
        disabled: false,
        must_change_password,
    })
}

/// Finds an operator by username, with login state.
pub async fn operator_by_username(
    s: &Store,
    username: &str,
) -> Result<Option<OperatorAuth>, StoreError> {
    let q = format!("SELECT {OP_COLS} FROM operators WHERE username = $1");
    s.fetch_optional(sqlx::query(&q).bind(username))
        .await?
        .as_ref()
        .map(op_from)
        .transpose()
}

/// One operator.
pub async fn get_operator(s: &Store, id: Id) -> Result<Operator, StoreError> {
    let q = format!("SELECT {OP_COLS} FROM operators WHERE id = $1");
    let r = s
        .fetch_optional(sqlx::query(&q).bind(id))
        .await?
        .ok_or_else(|| StoreError::not_found("operator", id))?;
    Ok(op_from(&r)?.operator)
}

/// All operators.
pub async fn list_operators(s: &Store) -> Result<Vec<Operator>, StoreError> {
    let q = format!("SELECT {OP_COLS} FROM operators ORDER BY id");
    s.fetch_all(sqlx::query(&q))
        .await?
        .iter()
        .map(|r| op_from(r).map(|o| o.operator))
        .collect()
}

/// How many operators exist (to know whether this is the first start).
pub async fn count_operators(s: &Store) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM operators")
        .fetch_one(s.pool())
        .await?)
}

/// Records a failed login; locks the account until `lock_until` once `failed` reaches the limit.
pub async fn record_login_failure(
    w: &mut WriteTx,
    id: Id,
    lock_until: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE operators SET failed_logins = failed_logins + 1, locked_until = $1 WHERE id = $2",
    )
    .bind(lock_until)
    .bind(id)
    .execute(w.conn())
    .await?;
    Ok(())
}

/// Clears failure counts after a successful login.
pub async fn record_login_success(w: &mut WriteTx, id: Id) -> Result<(), StoreError> {
    sqlx::query("UPDATE operators SET failed_logins = 0, locked_until = NULL WHERE id = $1")
        .bind(id)
        .execute(w.conn())
        .await?;
    Ok(())
}

/// Sets a new password hash.
pub async fn set_password(
    w: &mut WriteTx,
    id: Id,
    password_hash: &str,
    must_change: bool,
) -> Result<(), StoreError> {
    let r = sqlx::query("UPDATE operators SET password_hash = $1, must_change_password = $2, failed_logins = 0, locked_until = NULL WHERE id = $3")
        .bind(password_hash)
        .bind(i64::from(must_change))
        .bind(id)
        .execute(w.conn())
        .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("operator", id));
    }
    Ok(())
}

/// Changes role, display name or disabled state.
pub async fn update_operator(
    w: &mut WriteTx,
    id: Id,
    display_name: &str,
    role: OperatorRole,
    disabled: bool,
) -> Result<(), StoreError> {
    let display_name =
        text::required("display_name", display_name, 100).map_err(StoreError::Invalid)?;
    let r = sqlx::query(
        "UPDATE operators SET display_name = $1, role = $2, disabled = $3 WHERE id = $4",
    )
    .bind(display_name)
    .bind(role.code())
    .bind(i64::from(disabled))
    .bind(id)
    .execute(w.conn())
    .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("operator", id));
    }
    if disabled {
        sqlx::query("DELETE FROM sessions WHERE operator_id = $1")
            .bind(id)
            .execute(w.conn())
            .await?;
    }
    Ok(())
}

/// A console session as stored.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub operator_id: Id,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// Stores a new session under the hash of its token.
pub async fn create_session(
    w: &mut WriteTx,
    token_hash: &str,
    operator_id: Id,
    csrf_token: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO sessions (token_hash, operator_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(token_hash)
        .bind(operator_id)
        .bind(csrf_token)
        .bind(now_micros())
        .bind(expires_at)
        .execute(w.conn())
        .await?;
    Ok(())
}

/// Looks up a live session by the hash of its token.
pub async fn session(s: &Store, token_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
    let r = s
        .fetch_optional(
            sqlx::query("SELECT operator_id, csrf_token, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(now_micros()),
        )
        .await?;
    r.map(|r| {
        Ok(SessionRecord {
            operator_id: i64_(&r, "operator_id")?,
            csrf_token: text(&r, "csrf_token")?,
            expires_at: i64_(&r, "expires_at")?,
        })
    })
    .transpose()
}

/// Ends a session.
pub async fn delete_session(w: &mut WriteTx, token_hash: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(w.conn())
        .await?;
    Ok(())
}

/// Removes expired sessions.
pub async fn purge_sessions(w: &mut WriteTx) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now_micros())
        .execute(w.conn())
        .await?
        .rows_affected())
}
