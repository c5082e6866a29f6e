//! The server's side of the audit log: recording operator actions in the same transaction as
//! the change (failing closed), and issuing signed checkpoints with the log's Ed25519 key.
//!
//! The signing key lives in a file (by default `audit-signing.key` in the data directory), not in
//! the database, so whoever controls the database cannot re-sign a rewritten history. Each
//! checkpoint can also be copied to a second place (a directory on another volume), one file per
//! checkpoint.

use std::path::{Path, PathBuf};

use monban_audit::{CheckpointIssuer, Signer};
use monban_store::audit::{self, append, AuditRecord};
use monban_store::{Store, StoreError, WriteTx};

tokio::task_local! {
    /// The id of the HTTP request being served, recorded with each audit entry it causes.
    pub static REQUEST_ID: String;
}

/// The audit log could not record something, or a checkpoint could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Appending failed: the change it would have recorded is rolled back.
    #[error("監査ログに記録できなかったため、変更を取り消しました（{0}）。管理者に連絡してください / the audit log could not record this, so the change was rolled back ({0}); contact an administrator")]
    Append(StoreError),
    /// The signing key file is unusable.
    #[error("監査ログの署名鍵 {path} を使えません: {reason}。ファイルの権限と内容を確認してください / cannot use the audit signing key {path}: {reason}; check the file")]
    Key { path: String, reason: String },
    /// A checkpoint could not be issued.
    #[error("チェックポイントを発行できません: {0} / cannot issue a checkpoint: {0}")]
    Checkpoint(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Appends an operator action to the audit log within `w`. The source is taken from the actor
/// (`cli` and `system` act from the command line and the server itself; anyone else via the API).
/// On error the caller must not commit, so the change is rolled back (fail closed).
pub async fn record(
    w: &mut WriteTx,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
) -> Result<(), AuditError> {
    record_details(w, actor, action, target, outcome, Vec::new()).await
}

/// [`record`] with further facts as key/value pairs (never a personal number).
pub async fn record_details(
    w: &mut WriteTx,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    details: Vec<(String, String)>,
) -> Result<(), AuditError> {
    let source = match actor {
        "cli" => "cli",
        "system" => "system",
        _ => "api",
    };
    append(
        w,
        &AuditRecord {
            source: source.into(),
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            outcome: outcome.into(),
            details,
            request_id: REQUEST_ID.try_with(Clone::clone).ok(),
            ..AuditRecord::default()
        },
    )
    .await
    .map_err(AuditError::Append)?;
    Ok(())
}

/// File name of the signing key in the data directory.
pub const KEY_FILE: &str = "audit-signing.key";

/// Signs checkpoints of this installation's audit log.
pub struct Checkpointer {
    signer: Signer,
    sink_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("origin", &self.origin())
            .finish()
    }
}

impl Checkpointer {
    /// Loads the signing key from `key_file`, creating it (mode 0600) if it does not exist.
    pub fn load_or_create(key_file: &Path, sink_dir: Option<PathBuf>) -> Result<Self, AuditError> {
        let err = |reason: String| AuditError::Key {
            path: key_file.display().to_string(),
            reason,
        };
        let signer = if key_file.exists() {
            let text = std::fs::read_to_string(key_file).map_err(|e| err(e.to_string()))?;
            Signer::parse(text.trim()).map_err(|e| err(e.to_string()))?
        } else {
            let mut id = [0u8; 6];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
            let name = format!("monban.local/audit/{}", hex::encode(id));
            let signer =
                Signer::generate(&name, &mut rand::rngs::OsRng).map_err(|e| err(e.to_string()))?;
            if let Some(dir) = key_file.parent() {
                std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            }
            write_private(key_file, &signer.to_signer_key_string())
                .map_err(|e| err(e.to_string()))?;
            signer
        };
        if let Some(dir) = &sink_dir {
            std::fs::create_dir_all(dir).map_err(|e| AuditError::Key {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        Ok(Self { signer, sink_dir })
    }

    /// The log's origin line (also the key name).
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The verifier key, for `monban audit verify --key`.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key().to_string()
    }

    /// Issues a checkpoint for the current tree unless the latest one already covers it;
    /// returns its size and note. Refuses to sign a tree inconsistent with the last checkpoint.
    pub async fn issue(&self, store: &Store) -> Result<(u64, String), AuditError> {
        let (size, root) = audit::head(store).await?;
        let last = audit::latest_checkpoint(store).await?;
        let last_cp = match &last {
            Some((_, note)) => {
                let keys = [self.signer.verifier_key()];
                let cp =
                    monban_audit::checkpoint::open(note.as_bytes(), Some(self.origin()), &keys)
                        .map_err(|e| {
                            AuditError::Checkpoint(format!(
                                "the stored latest checkpoint does not verify: {e}"
                            ))
                        })?;
                Some(cp.checkpoint)
            }
            None => None,
        };
        if let (Some((last_size, note)), Some(cp)) = (&last, &last_cp) {
            if *last_size == size && cp.root == root {
                return Ok((size, note.clone()));
            }
        }
        let proof = match &last_cp {
            Some(cp) if cp.size > 0 && cp.size <= size => {
                audit::consistency_proof(store, cp.size, size).await?
            }
            _ => Vec::new(),
        };
        let mut issuer = CheckpointIssuer::new(self.signer.clone(), self.origin(), last_cp)
            .map_err(|e| AuditError::Checkpoint(e.to_string()))?;
        let note = issuer
            .issue(size, root, &proof)
            .map_err(|e| AuditError::Checkpoint(e.to_string()))?;
        let mut w = store.begin_write().await?;
        audit::store_checkpoint(&mut w, size, &note).await?;
        w.commit().await?;
        if let Some(dir) = &self.sink_dir {
            let path = dir.join(format!("{size:012}.checkpoint"));
            if let Err(e) = std::fs::write(&path, &note) {
                tracing::error!(path = %path.display(), error = %e, "could not copy the checkpoint to the second sink");
            }
        }
        Ok((size, note))
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}
