//! The store's error type: what went wrong, in words an operator can act on.

use monban_core::text::FieldError;

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("データベース {url} を開けません: {reason}。URLとサーバーの状態を確認してください / cannot open database {url}: {reason}; check the URL and that the server is running")]
    Open { url: String, reason: String },
    /// A migration failed.
    #[error("データベースの移行（マイグレーション {version}）に失敗しました: {reason} / migration {version} failed: {reason}")]
    Migrate { version: i64, reason: String },
    /// The database was written by a newer Monban.
    #[error("データベースは新しい版のMonban（スキーマ {found}）で作成されています。Monbanを更新してください / the database has schema version {found}, newer than this Monban supports ({supported}); upgrade Monban")]
    TooNew { found: i64, supported: i64 },
    /// No such thing.
    #[error("{entity} {id} が見つかりません / {entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    /// A value clashes with an existing one (a duplicate card, username, ...).
    #[error("{0}")]
    Conflict(FieldError),
    /// A value is not acceptable.
    #[error("{0}")]
    Invalid(FieldError),
    /// A thing cannot be deleted while others refer to it.
    #[error("{0}")]
    InUse(FieldError),
    /// Stored data could not be read back (corrupted or edited by hand).
    #[error("保存データが壊れています（{0}）。バックアップから復元してください / stored data is corrupt ({0}); restore from a backup")]
    Corrupt(String),
    /// Any other database failure.
    #[error("データベースエラー: {0} / database error")]
    Db(#[from] sqlx::Error),
}

impl StoreError {
    pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// Turns a unique-constraint violation into a [`StoreError::Conflict`] on `field`.
    pub(crate) fn unique(e: sqlx::Error, field: &str, message: &str) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                Self::Conflict(FieldError::new(field, message))
            }
            _ => Self::Db(e),
        }
    }
}
