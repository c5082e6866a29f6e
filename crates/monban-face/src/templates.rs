//! Encrypted face templates and enrollment.
//!
//! A template is the normalised mean of the embeddings of one enrollment's photos. It is stored
//! only encrypted with AES-256-GCM under a key kept in a file of the data directory (mode 0600),
//! never in the database; the row id and person are bound in as associated data, so a
//! ciphertext moved to another row does not decrypt. The photos themselves are discarded unless
//! the operator opts in, and then are stored encrypted the same way. Every enrollment writes the
//! template, the `face` credential pointing at it and an audit record in one transaction.

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use monban_core::model::Credential;
use monban_core::text::Code;
use monban_core::{CredentialKind, CredentialStatus};
use monban_store::audit::{self, AuditRecord};
use monban_store::migrate::{apply_component, Migration};
use monban_store::people::{create_credential, CredentialInput};
use monban_store::{now_micros, Store};
use rand::RngCore;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::gallery::{Gallery, TemplateOwner};
use crate::model::MODEL_ID;
use crate::recognize::Embedding;
use crate::FaceError;

/// This crate's tables (component `face`).
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "encrypted face templates",
    sql: r#"
CREATE TABLE face_templates (
    id {id},
    template_ref TEXT NOT NULL UNIQUE,
    person_id BIGINT NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    photo_count BIGINT NOT NULL,
    nonce {blob} NOT NULL,
    ciphertext {blob} NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX face_templates_person ON face_templates(person_id);
CREATE TABLE face_images (
    template_ref TEXT NOT NULL REFERENCES face_templates(template_ref) ON DELETE CASCADE,
    idx BIGINT NOT NULL,
    nonce {blob} NOT NULL,
    ciphertext {blob} NOT NULL,
    PRIMARY KEY (template_ref, idx)
)
"#,
}];

/// Creates or updates this crate's tables.
pub async fn migrate(store: &Store) -> Result<(), FaceError> {
    apply_component(store, "face", MIGRATIONS).await?;
    Ok(())
}

/// File name of the key in the data directory.
pub const KEY_FILE: &str = "face-template.key";

/// The AES-256 key that encrypts templates.
pub struct TemplateKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for TemplateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TemplateKey(…)")
    }
}

impl TemplateKey {
    /// A random key (tests).
    pub fn random() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(k.as_mut());
        TemplateKey(k)
    }

    /// `<data_dir>/face-template.key`.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join(KEY_FILE)
    }

    /// Reads the key file, creating it (random, mode 0600) when absent. Refuses a file that
    /// others may read.
    pub fn load_or_create(path: &Path) -> Result<Self, FaceError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                check_mode(path)?;
                let text = Zeroizing::new(text);
                let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| {
                    FaceError::Key(format!(
                        "{} は16進64桁の鍵ではありません / {} is not a 64-hex-digit key",
                        path.display(),
                        path.display()
                    ))
                })?);
                let mut k = Zeroizing::new([0u8; 32]);
                if bytes.len() != 32 {
                    return Err(FaceError::Key(format!(
                        "{} の鍵の長さが違います（32バイト必要）/ key in {} must be 32 bytes",
                        path.display(),
                        path.display()
                    )));
                }
                k.copy_from_slice(&bytes);
                Ok(TemplateKey(k))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::random();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| FaceError::io(dir, e))?;
                }
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let mut f = opts.open(path).map_err(|e| FaceError::io(path, e))?;
                let text = Zeroizing::new(format!("{}\n", hex::encode(key.0.as_ref())));
                f.write_all(text.as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| FaceError::io(path, e))?;
                tracing::info!(path = %path.display(), "created the face template key");
                Ok(key)
            }
            Err(e) => Err(FaceError::io(path, e)),
        }
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.as_ref().into())
    }

    /// Encrypts with a fresh random nonce; returns (nonce, ciphertext).
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<(Vec<u8>, Vec<u8>), FaceError> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
            .map_err(|_| FaceError::Template("encryption failed".into()))?;
        Ok((nonce.to_vec(), ct))
    }

    /// Decrypts what [`TemplateKey::seal`] produced.
    pub fn open(
        &self,
        nonce: &[u8],
        ct: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, FaceError> {
        if nonce.len() != 12 {
            return Err(FaceError::Template("nonce is not 12 bytes".into()));
        }
        self.cipher()
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| FaceError::Template("authentication failed".into()))
    }
}

#[cfg(unix)]
fn check_mode(path: &Path) -> Result<(), FaceError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| FaceError::io(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(FaceError::Key(format!(
            "{} は他のユーザーが読めます。chmod 600 {} を実行してください / {} is readable by others; run chmod 600 {}",
            path.display(),
            path.display(),
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_: &Path) -> Result<(), FaceError> {
    Ok(())
}

fn aad(template_ref: &str, person_id: i64, what: &str) -> Vec<u8> {
    format!("monban-face/{what}/{template_ref}/{person_id}").into_bytes()
}

/// One enrollment.
#[derive(Debug)]
pub struct Enrollment<'a> {
    pub person_id: i64,
    /// One embedding per photo (at least one).
    pub embeddings: &'a [Embedding],
    /// The photos, kept (encrypted) only when the operator opted in.
    pub keep_photos: Option<&'a [Vec<u8>]>,
    /// Audit fields: `api`/`cli`, `operator:<id>`, request id.
    pub source: String,
    pub actor: String,
    pub request_id: Option<String>,
}

/// What an enrollment created.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub template_ref: String,
    pub credential: Credential,
    pub photo_count: usize,
    pub photos_kept: usize,
}

/// Stores the template, creates the `face` credential and appends the audit record, all in
/// one transaction.
pub async fn enroll(
    store: &Store,
    key: &TemplateKey,
    e: &Enrollment<'_>,
) -> Result<Enrolled, FaceError> {
    let template = Embedding::centroid(e.embeddings).ok_or_else(|| {
        FaceError::Invalid("写真を1枚以上指定してください / give at least one photo".into())
    })?;
    let mut r = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut r);
    let template_ref = format!("ft_{}", hex::encode(r));
    let plain = Zeroizing::new(template.to_bytes());
    let (nonce, ct) = key.seal(&plain, &aad(&template_ref, e.person_id, "template"))?;
    let mut w = store.begin_write().await?;
    sqlx::query(
        "INSERT INTO face_templates (template_ref, person_id, model, photo_count, nonce, ciphertext, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&template_ref)
    .bind(e.person_id)
    .bind(MODEL_ID)
    .bind(e.embeddings.len() as i64)
    .bind(nonce)
    .bind(ct)
    .bind(now_micros())
    .execute(w.conn())
    .await
    .map_err(|err| match &err {
        sqlx::Error::Database(d) if d.message().to_ascii_lowercase().contains("foreign") => {
            FaceError::Invalid(format!(
                "人物 {} が見つかりません / person {} not found",
                e.person_id, e.person_id
            ))
        }
        _ => FaceError::from(err),
    })?;
    let credential = create_credential(
        &mut w,
        &CredentialInput {
            person_id: e.person_id,
            kind: CredentialKind::Face,
            card_id: None,
            pin_hash: None,
            face_template_ref: Some(template_ref.clone()),
            valid_from: None,
            valid_until: None,
            status: CredentialStatus::Active,
        },
    )
    .await?;
    let mut kept = 0;
    if let Some(photos) = e.keep_photos {
        for (i, p) in photos.iter().enumerate() {
            let (n, c) = key.seal(p, &aad(&template_ref, e.person_id, &format!("image/{i}")))?;
            sqlx::query(
                "INSERT INTO face_images (template_ref, idx, nonce, ciphertext) VALUES ($1, $2, $3, $4)",
            )
            .bind(&template_ref)
            .bind(i as i64)
            .bind(n)
            .bind(c)
            .execute(w.conn())
            .await?;
            kept += 1;
        }
    }
    audit::append(
        &mut w,
        &AuditRecord {
            source: e.source.clone(),
            actor: e.actor.clone(),
            action: "face.enroll".into(),
            target: format!("person:{}", e.person_id),
            outcome: "ok".into(),
            request_id: e.request_id.clone(),
            device_time: None,
            details: vec![
                ("credential_id".into(), credential.id.to_string()),
                ("template_ref".into(), template_ref.clone()),
                ("model".into(), MODEL_ID.into()),
                ("photos".into(), e.embeddings.len().to_string()),
                ("photos_kept".into(), kept.to_string()),
            ],
        },
    )
    .await?;
    w.commit().await?;
    Ok(Enrolled {
        template_ref,
        credential,
        photo_count: e.embeddings.len(),
        photos_kept: kept,
    })
}

/// Decrypts every template of an active face credential into a gallery.
pub async fn load_gallery(store: &Store, key: &TemplateKey) -> Result<Gallery, FaceError> {
    let rows = sqlx::query(
        "SELECT t.template_ref, t.person_id, t.nonce, t.ciphertext, c.id AS credential_id FROM face_templates t JOIN credentials c ON c.face_template_ref = t.template_ref WHERE c.kind = $1 AND c.status = $2 ORDER BY t.id",
    )
    .bind(CredentialKind::Face.code())
    .bind(CredentialStatus::Active.code())
    .fetch_all(store.pool())
    .await?;
    let mut g = Gallery::with_capacity(rows.len());
    for r in rows {
        let template_ref: String = r.try_get("template_ref")?;
        let person_id: i64 = r.try_get("person_id")?;
        let nonce: Vec<u8> = r.try_get("nonce")?;
        let ct: Vec<u8> = r.try_get("ciphertext")?;
        let credential_id: i64 = r.try_get("credential_id")?;
        let plain = key.open(&nonce, &ct, &aad(&template_ref, person_id, "template"))?;
        let e = Embedding::from_bytes(&plain)
            .ok_or_else(|| FaceError::Template(format!("{template_ref}: not 128 floats")))?;
        g.push(
            TemplateOwner {
                template_ref,
                person_id,
                credential_id: Some(credential_id),
            },
            &e,
        );
    }
    Ok(g)
}

/// The photos kept (decrypted) for a template; empty unless the operator opted in.
pub async fn kept_photos(
    store: &Store,
    key: &TemplateKey,
    template_ref: &str,
) -> Result<Vec<Zeroizing<Vec<u8>>>, FaceError> {
    let person_id: Option<i64> =
        sqlx::query_scalar("SELECT person_id FROM face_templates WHERE template_ref = $1")
            .bind(template_ref)
            .fetch_optional(store.pool())
            .await?;
    let Some(person_id) = person_id else {
        return Ok(Vec::new());
    };
    let rows = sqlx::query(
        "SELECT idx, nonce, ciphertext FROM face_images WHERE template_ref = $1 ORDER BY idx",
    )
    .bind(template_ref)
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let idx: i64 = r.try_get("idx")?;
        let nonce: Vec<u8> = r.try_get("nonce")?;
        let ct: Vec<u8> = r.try_get("ciphertext")?;
        out.push(key.open(
            &nonce,
            &ct,
            &aad(template_ref, person_id, &format!("image/{idx}")),
        )?);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_0600_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let p = TemplateKey::path_in(dir.path());
        let k1 = TemplateKey::load_or_create(&p).unwrap();
        let k2 = TemplateKey::load_or_create(&p).unwrap();
        let (n, c) = k1.seal(b"hello", b"aad").unwrap();
        assert_eq!(&**k2.open(&n, &c, b"aad").unwrap(), b"hello");
        assert!(k2.open(&n, &c, b"other").is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                TemplateKey::load_or_create(&p),
                Err(FaceError::Key(_))
            ));
        }
    }
}
