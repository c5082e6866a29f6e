//! Persistence for Monban on SQLite (the default: one file, WAL) or PostgreSQL (for many
//! replicas and sites), chosen by the database URL.
//!
//! One code path serves both: queries are written once with `$n` placeholders, which both
//! engines accept, through sqlx's `Any` driver, and values are kept to types both share
//! (64-bit integers, text, bytes). Timestamps are microseconds since the Unix epoch; calendar
//! dates are ISO `YYYY-MM-DD` text. Migrations are applied at start ([`migrate`]).
//!
//! Every change goes through a [`WriteTx`], which serialises writers on SQLite and is where the
//! audit log's entries are appended in the same transaction as the change they record.

pub mod audit;
pub mod controllers;
mod error;
pub mod events;
pub mod facility;
pub mod migrate;
pub mod operators;
pub mod people;
mod row;
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use error::StoreError;

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Serialises writers on SQLite so a write transaction never fails on a lock upgrade.
    write_lock: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

/// The database URL for a SQLite file at `path`.
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Hides any password in a database URL so it can be shown in messages and logs.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((cred, host)) = rest.split_once('@') {
            let user = cred.split(':').next().unwrap_or("");
            return format!("{scheme}://{user}:***@{host}");
        }
    }
    url.to_string()
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    ///
    /// `url` is `postgres://…` / `postgresql://…` for PostgreSQL, or `sqlite://PATH?mode=rwc`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Open {
                url: redact_url(url),
                reason: "URLは sqlite:// または postgres:// で始めてください / the database URL must start with sqlite:// or postgres://".into(),
            });
        };
        let mut opts = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(10))
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            });
        if backend == Backend::Sqlite {
            opts = opts.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    Ok(())
                })
            });
        }
        let pool = opts.connect(url).await.map_err(|e| StoreError::Open {
            url: redact_url(url),
            reason: e.to_string(),
        })?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_optional(&pool)
                .await
                .map_err(|e| StoreError::Open {
                    url: redact_url(url),
                    reason: e.to_string(),
                })?;
        }
        let store = Self {
            pool,
            backend,
            write_lock: Arc::new(Mutex::new(())),
        };
        migrate::apply(&store).await?;
        Ok(store)
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for crates that keep their own tables.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a write transaction. On SQLite, waits for other writers in this process first and
    /// then takes the database's write lock (`BEGIN IMMEDIATE`, waiting up to the busy timeout
    /// for writers in other processes).
    pub async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let guard = match self.backend {
            Backend::Sqlite => Some(self.write_lock.clone().lock_owned().await),
            Backend::Postgres => None,
        };
        // SQLite: take the write lock at BEGIN, so the busy timeout applies when another process
        // (the CLI beside a running server) is writing. A deferred transaction that reads first
        // would fail at once with "database is locked" if the other writer commits in between.
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx {
            tx,
            backend: self.backend,
            _guard: guard,
        })
    }

    /// Closes all connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) async fn fetch_all<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Vec<AnyRow>, StoreError> {
        Ok(q.fetch_all(&self.pool).await?)
    }

    pub(crate) async fn fetch_optional<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Option<AnyRow>, StoreError> {
        Ok(q.fetch_optional(&self.pool).await?)
    }
}

/// An open write transaction. Dropping it without [`WriteTx::commit`] rolls everything back.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Makes the changes durable.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// The transaction's connection, for crates that keep their own tables.
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    /// The engine this transaction runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// Current time in microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}
