//! Opening fresh, isolated databases for tests: a SQLite file in a temporary directory, and a
//! new schema on a real PostgreSQL server (`MONBAN_TEST_PG_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`). There is no mock: a missing PostgreSQL server
//! fails the test with a message saying how to start one.

use rand::Rng;

use crate::{sqlite_url, Store, StoreError};

/// The PostgreSQL server tests use.
pub fn pg_url() -> String {
    std::env::var("MONBAN_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh SQLite store in `dir`.
pub async fn sqlite(dir: &std::path::Path) -> Result<Store, StoreError> {
    Store::open(&sqlite_url(&dir.join("monban.sqlite3"))).await
}

/// The URL of a fresh, empty schema on the test PostgreSQL server.
pub async fn fresh_pg_url() -> Result<String, StoreError> {
    sqlx::any::install_default_drivers();
    let base = pg_url();
    let schema = format!("t_{:016x}", rand::thread_rng().gen::<u64>());
    let pool = sqlx::AnyPool::connect(&base).await.map_err(|e| StoreError::Open {
        url: crate::redact_url(&base),
        reason: format!("{e}. PostgreSQL のテストには起動中のサーバーが必要です（scripts/test.sh が起動します） / PostgreSQL tests need a running server (scripts/test.sh starts one)"),
    })?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

/// A fresh PostgreSQL store in its own schema.
pub async fn postgres() -> Result<Store, StoreError> {
    Store::open(&fresh_pg_url().await?).await
}
