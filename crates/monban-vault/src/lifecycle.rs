//! The end of a number's life and its journeys out: deletion by crypto-shredding (the data key
//! and ciphertext are erased, so nothing can decrypt the number again, not even with the master
//! key) with a deletion record the security officer confirms, and export (持出し) only after the
//! security officer's approval, as an `age`-encrypted CSV, recorded with who, what, when, how
//! many records and where to.

use std::io::Write;
use std::str::FromStr;

use jiff::Timestamp;
use monban_core::text::Code;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::error::{Refusal, VaultError, VaultResult};
use crate::policy::Purpose;
use crate::report::Csv;
use crate::vault::{checked_text, ts_col, Actor, Vault};

/// How deleted numbers are erased.
pub const DELETION_METHOD: &str = "crypto_shred";
/// The method in words for the deletion record.
pub const DELETION_METHOD_JA: &str =
    "暗号鍵消去（データ鍵と暗号文を消去し復元不能化） / crypto-shredding (data key and ciphertext erased)";

/// A deletion request and, once confirmed, the deletion record.
#[derive(Debug, Clone)]
pub struct DeletionRecord {
    pub id: i64,
    pub record_id: i64,
    pub doc_type: String,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: Timestamp,
    /// `requested` or `done`.
    pub status: String,
    pub method: Option<String>,
    /// The security officer who confirmed.
    pub confirmed_by: Option<String>,
    pub confirmed_at: Option<Timestamp>,
}

fn deletion_from(r: &AnyRow) -> VaultResult<DeletionRecord> {
    Ok(DeletionRecord {
        id: r.try_get("id")?,
        record_id: r.try_get("record_id")?,
        doc_type: r.try_get("doc_type")?,
        reason: r.try_get("reason")?,
        requested_by: r.try_get("requested_by")?,
        requested_at: ts_col(r.try_get("requested_at")?)?,
        status: r.try_get("status")?,
        method: r.try_get("method")?,
        confirmed_by: r.try_get("confirmed_by")?,
        confirmed_at: r
            .try_get::<Option<i64>, _>("confirmed_at")?
            .map(ts_col)
            .transpose()?,
    })
}

/// Where an export file is encrypted to.
#[derive(Debug, Clone)]
pub enum ExportRecipient {
    /// An `age` X25519 public key (`age1…`): only the holder of the matching identity decrypts.
    AgePublicKey(String),
    /// A passphrase given when the file is made (never stored); small-business profile only.
    Passphrase,
}

/// An export request, as the requester gives it.
#[derive(Debug, Clone)]
pub struct ExportInput {
    pub record_ids: Vec<i64>,
    pub purpose: String,
    /// Where the file goes (e.g. 「○○税理士事務所」「年金事務所」). No numbers.
    pub destination: String,
    pub recipient: ExportRecipient,
}

/// An export's record: request, approval, production.
#[derive(Debug, Clone)]
pub struct ExportRecord {
    pub id: i64,
    pub requested_by: String,
    pub requested_by_operator: Option<i64>,
    pub requested_at: Timestamp,
    pub purpose: Purpose,
    pub destination: String,
    pub record_ids: Vec<i64>,
    /// `age_x25519` or `passphrase`.
    pub recipient_kind: String,
    pub recipient: Option<String>,
    /// `requested`, `approved` or `produced`.
    pub status: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<Timestamp>,
    pub produced_at: Option<Timestamp>,
    pub record_count: Option<i64>,
    pub file_sha256: Option<String>,
}

fn export_from(r: &AnyRow) -> VaultResult<ExportRecord> {
    let purpose: String = r.try_get("purpose")?;
    Ok(ExportRecord {
        id: r.try_get("id")?,
        requested_by: r.try_get("requested_by")?,
        requested_by_operator: r.try_get("requested_by_operator")?,
        requested_at: ts_col(r.try_get("requested_at")?)?,
        purpose: Purpose::parse_code("purpose", &purpose).map_err(crate::vault::corrupt)?,
        destination: r.try_get("destination")?,
        record_ids: r
            .try_get::<String, _>("record_ids")?
            .split(',')
            .filter_map(|s| s.parse().ok())
            .collect(),
        recipient_kind: r.try_get("recipient_kind")?,
        recipient: r.try_get("recipient")?,
        status: r.try_get("status")?,
        approved_by: r.try_get("approved_by")?,
        approved_at: r
            .try_get::<Option<i64>, _>("approved_at")?
            .map(ts_col)
            .transpose()?,
        produced_at: r
            .try_get::<Option<i64>, _>("produced_at")?
            .map(ts_col)
            .transpose()?,
        record_count: r.try_get("record_count")?,
        file_sha256: r.try_get("file_sha256")?,
    })
}

/// An encrypted export file.
pub struct ExportFile {
    /// The `age` file.
    pub bytes: Vec<u8>,
    pub file_name: String,
    pub record_count: usize,
    pub sha256: String,
}

impl std::fmt::Debug for ExportFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportFile")
            .field("file_name", &self.file_name)
            .field("record_count", &self.record_count)
            .finish()
    }
}

/// Most records one export may hold.
pub const MAX_EXPORT_RECORDS: usize = 10_000;

impl Vault {
    /// Deletion requests and records, newest first.
    pub async fn list_deletions(&self) -> VaultResult<Vec<DeletionRecord>> {
        let rows = sqlx::query("SELECT * FROM vault_deletions ORDER BY id DESC")
            .fetch_all(self.store().pool())
            .await?;
        rows.iter().map(deletion_from).collect()
    }

    async fn get_deletion(&self, id: i64) -> VaultResult<DeletionRecord> {
        let r = sqlx::query("SELECT * FROM vault_deletions WHERE id = $1")
            .bind(id)
            .fetch_optional(self.store().pool())
            .await?
            .ok_or_else(|| VaultError::not_found("vault_deletion", id))?;
        deletion_from(&r)
    }

    /// Asks for a record to be deleted (handler, security officer, or the command line for a
    /// year-end batch). The security officer confirms with [`Vault::confirm_deletion`].
    pub async fn request_deletion(
        &self,
        actor: &Actor,
        record_id: i64,
        reason: &str,
    ) -> VaultResult<DeletionRecord> {
        let target = format!("vault_record:{record_id}");
        if let Some(r) = Self::role_refusal(actor, true) {
            return Err(self
                .refuse(actor, "deletion_request", Some(record_id), &target, None, r)
                .await);
        }
        let reason = checked_text("reason", reason, 200)?;
        let rec = self.get_record(record_id).await?;
        if rec.deleted {
            return Err(self
                .refuse(
                    actor,
                    "deletion_request",
                    Some(record_id),
                    &target,
                    None,
                    Refusal::RecordDeleted,
                )
                .await);
        }
        let pending: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM vault_deletions WHERE record_id = $1 AND status = 'requested'",
        )
        .bind(record_id)
        .fetch_optional(self.store().pool())
        .await?;
        if let Some(p) = pending {
            return Err(VaultError::Conflict(monban_core::text::FieldError::new(
                "record_id",
                format!("この記録には削除申請 {p} が既にあります / deletion request {p} already exists for this record"),
            )));
        }
        let mut w = self.store().begin_write().await?;
        let id: i64 = sqlx::query_scalar("INSERT INTO vault_deletions (record_id, doc_type, reason, requested_by, requested_by_operator, requested_at, status) VALUES ($1, $2, $3, $4, $5, $6, 'requested') RETURNING id")
            .bind(record_id)
            .bind(rec.doc_type.code())
            .bind(&reason)
            .bind(actor.label())
            .bind(actor.operator_id)
            .bind(self.now().as_microsecond())
            .fetch_one(w.conn())
            .await?;
        self.record(
            &mut w,
            actor,
            "deletion_request",
            Some(record_id),
            &target,
            None,
            Ok(()),
            vec![("deletion".into(), id.to_string())],
        )
        .await?;
        w.commit().await?;
        self.get_deletion(id).await
    }

    /// The security officer confirms a deletion: the record's data key and ciphertext are
    /// erased (crypto-shredding) and the deletion record completed, in one transaction. Under
    /// the standard profile the officer must not be the requester; the small-business profile
    /// lets the officer confirm their own request.
    pub async fn confirm_deletion(
        &self,
        actor: &Actor,
        deletion_id: i64,
    ) -> VaultResult<DeletionRecord> {
        let d = self.get_deletion(deletion_id).await?;
        let target = format!("vault_record:{}", d.record_id);
        let act = "deletion_confirm";
        if let Some(r) = Self::officer_refusal(actor, false) {
            return Err(self
                .refuse(actor, act, Some(d.record_id), &target, None, r)
                .await);
        }
        if d.status != "requested" {
            return Err(self
                .refuse(
                    actor,
                    act,
                    Some(d.record_id),
                    &target,
                    None,
                    Refusal::AlreadyDone,
                )
                .await);
        }
        if d.requested_by == actor.label() && !self.sme_profile().await? {
            return Err(self
                .refuse(
                    actor,
                    act,
                    Some(d.record_id),
                    &target,
                    None,
                    Refusal::SamePerson,
                )
                .await);
        }
        let now = self.now().as_microsecond();
        let mut w = self.store().begin_write().await?;
        if self.store().backend() == monban_store::Backend::Sqlite {
            // Zero freed bytes so the erased key does not linger in the file's free space.
            sqlx::query("PRAGMA secure_delete = ON")
                .execute(w.conn())
                .await?;
        }
        sqlx::query("UPDATE vault_records SET wrapped_dek = NULL, number_ct = NULL, blind_index = NULL, kek_version = NULL, status = 'deleted', deleted_at = $1 WHERE id = $2 AND status = 'active'")
            .bind(now)
            .bind(d.record_id)
            .execute(w.conn())
            .await?;
        sqlx::query("UPDATE vault_deletions SET status = 'done', method = $1, confirmed_by = $2, confirmed_by_operator = $3, confirmed_at = $4 WHERE id = $5")
            .bind(DELETION_METHOD)
            .bind(actor.label())
            .bind(actor.operator_id)
            .bind(now)
            .bind(deletion_id)
            .execute(w.conn())
            .await?;
        self.record(
            &mut w,
            actor,
            act,
            Some(d.record_id),
            &target,
            None,
            Ok(()),
            vec![
                ("deletion".into(), deletion_id.to_string()),
                ("doc_type".into(), d.doc_type.clone()),
                ("method".into(), DELETION_METHOD.into()),
            ],
        )
        .await?;
        w.commit().await?;
        self.compact().await;
        self.get_deletion(deletion_id).await
    }

    // ----- export --------------------------------------------------------------------------

    /// Exports, newest first.
    pub async fn list_exports(&self) -> VaultResult<Vec<ExportRecord>> {
        let rows = sqlx::query("SELECT * FROM vault_exports ORDER BY id DESC")
            .fetch_all(self.store().pool())
            .await?;
        rows.iter().map(export_from).collect()
    }

    async fn get_export(&self, id: i64) -> VaultResult<ExportRecord> {
        let r = sqlx::query("SELECT * FROM vault_exports WHERE id = $1")
            .bind(id)
            .fetch_optional(self.store().pool())
            .await?
            .ok_or_else(|| VaultError::not_found("vault_export", id))?;
        export_from(&r)
    }

    /// Requests an export (handler or security officer). Each record must be registered for
    /// the purpose. The file can be made only after the security officer approves.
    pub async fn request_export(
        &self,
        actor: &Actor,
        input: &ExportInput,
    ) -> VaultResult<ExportRecord> {
        let act = "export_request";
        let purpose = Purpose::parse_code("purpose", input.purpose.trim()).ok();
        if let Some(r) = Self::role_refusal(actor, false) {
            return Err(self
                .refuse(actor, act, None, "vault_export", purpose, r)
                .await);
        }
        let Some(purpose) = purpose else {
            return Err(self
                .refuse(
                    actor,
                    act,
                    None,
                    "vault_export",
                    None,
                    Refusal::PurposeUnknown,
                )
                .await);
        };
        let destination = checked_text("destination", &input.destination, 200)?;
        let mut ids = input.record_ids.clone();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() || ids.len() > MAX_EXPORT_RECORDS {
            return Err(VaultError::Invalid(monban_core::text::FieldError::new(
                "record_ids",
                format!("記録を1〜{MAX_EXPORT_RECORDS}件指定してください / give 1 to {MAX_EXPORT_RECORDS} records"),
            )));
        }
        for id in &ids {
            let rec = self.get_record(*id).await?;
            if rec.deleted {
                return Err(self
                    .refuse(
                        actor,
                        act,
                        Some(*id),
                        &format!("vault_record:{id}"),
                        Some(purpose),
                        Refusal::RecordDeleted,
                    )
                    .await);
            }
            if !rec.purposes.contains(&purpose) {
                return Err(self
                    .refuse(
                        actor,
                        act,
                        Some(*id),
                        &format!("vault_record:{id}"),
                        Some(purpose),
                        Refusal::PurposeNotAllowed,
                    )
                    .await);
            }
        }
        let (kind, recipient) = match &input.recipient {
            ExportRecipient::AgePublicKey(k) => {
                let k = k.trim();
                age::x25519::Recipient::from_str(k).map_err(|_| {
                    VaultError::Invalid(monban_core::text::FieldError::new(
                        "recipient",
                        "age の公開鍵（age1… で始まる文字列）を指定してください / give an age public key (starting with age1)",
                    ))
                })?;
                ("age_x25519", Some(k.to_string()))
            }
            ExportRecipient::Passphrase => {
                if !self.sme_profile().await? {
                    return Err(self
                        .refuse(
                            actor,
                            act,
                            None,
                            "vault_export",
                            Some(purpose),
                            Refusal::PassphraseNotAllowed,
                        )
                        .await);
                }
                ("passphrase", None)
            }
        };
        let ids_text = ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut w = self.store().begin_write().await?;
        let id: i64 = sqlx::query_scalar("INSERT INTO vault_exports (requested_by, requested_by_operator, requested_at, purpose, destination, record_ids, recipient_kind, recipient, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'requested') RETURNING id")
            .bind(actor.label())
            .bind(actor.operator_id)
            .bind(self.now().as_microsecond())
            .bind(purpose.code())
            .bind(&destination)
            .bind(&ids_text)
            .bind(kind)
            .bind(&recipient)
            .fetch_one(w.conn())
            .await?;
        self.record(
            &mut w,
            actor,
            act,
            None,
            &format!("vault_export:{id}"),
            Some(purpose),
            Ok(()),
            vec![
                ("records".into(), ids.len().to_string()),
                ("destination".into(), destination.clone()),
            ],
        )
        .await?;
        w.commit().await?;
        self.get_export(id).await
    }

    /// The security officer approves an export (not their own, unless the small-business
    /// profile is on).
    pub async fn approve_export(&self, actor: &Actor, id: i64) -> VaultResult<ExportRecord> {
        let e = self.get_export(id).await?;
        let target = format!("vault_export:{id}");
        let act = "export_approve";
        if let Some(r) = Self::officer_refusal(actor, false) {
            return Err(self
                .refuse(actor, act, None, &target, Some(e.purpose), r)
                .await);
        }
        if e.status != "requested" {
            return Err(self
                .refuse(
                    actor,
                    act,
                    None,
                    &target,
                    Some(e.purpose),
                    Refusal::AlreadyDone,
                )
                .await);
        }
        if e.requested_by == actor.label() && !self.sme_profile().await? {
            return Err(self
                .refuse(
                    actor,
                    act,
                    None,
                    &target,
                    Some(e.purpose),
                    Refusal::SamePerson,
                )
                .await);
        }
        let mut w = self.store().begin_write().await?;
        sqlx::query("UPDATE vault_exports SET status = 'approved', approved_by = $1, approved_by_operator = $2, approved_at = $3 WHERE id = $4 AND status = 'requested'")
            .bind(actor.label())
            .bind(actor.operator_id)
            .bind(self.now().as_microsecond())
            .bind(id)
            .execute(w.conn())
            .await?;
        self.record(
            &mut w,
            actor,
            act,
            None,
            &target,
            Some(e.purpose),
            Ok(()),
            vec![],
        )
        .await?;
        w.commit().await?;
        self.get_export(id).await
    }

    /// The requester makes the approved export file, once. Passes the same gates as a reveal
    /// (role, purpose, fresh TOTP, presence); the file is an `age`-encrypted CSV (UTF-8 with
    /// BOM) of record id, person, relation, document type and number.
    pub async fn produce_export(
        &self,
        actor: &Actor,
        id: i64,
        totp_code: &str,
        passphrase: Option<Zeroizing<String>>,
    ) -> VaultResult<ExportFile> {
        let e = self.get_export(id).await?;
        let target = format!("vault_export:{id}");
        let act = "export_produce";
        let p = Some(e.purpose);
        let keys = match self.keys() {
            Ok(k) => k,
            Err(err) => {
                let _ = self
                    .refuse(actor, act, None, &target, p, Refusal::Locked)
                    .await;
                return Err(err);
            }
        };
        let Some(op) = actor.operator_id else {
            return Err(self
                .refuse(actor, act, None, &target, p, Refusal::Role)
                .await);
        };
        if let Some(r) = Self::role_refusal(actor, false) {
            return Err(self.refuse(actor, act, None, &target, p, r).await);
        }
        if e.requested_by_operator != Some(op) {
            return Err(self
                .refuse(actor, act, None, &target, p, Refusal::NotRequester)
                .await);
        }
        match e.status.as_str() {
            "approved" => {}
            "requested" => {
                return Err(self
                    .refuse(actor, act, None, &target, p, Refusal::NotApproved)
                    .await)
            }
            _ => {
                return Err(self
                    .refuse(actor, act, None, &target, p, Refusal::AlreadyDone)
                    .await)
            }
        }
        if let Some(r) = self.totp_refusal(op, totp_code).await? {
            return Err(self.refuse(actor, act, None, &target, p, r).await);
        }
        if let Some(r) = self.presence_refusal(op).await? {
            return Err(self.refuse(actor, act, None, &target, p, r).await);
        }
        let pass = match e.recipient_kind.as_str() {
            "passphrase" => {
                let Some(pp) = passphrase else {
                    return Err(VaultError::Invalid(monban_core::text::FieldError::new(
                        "passphrase",
                        "この持出しにはパスフレーズが必要です / this export needs a passphrase",
                    )));
                };
                if pp.chars().count() < crate::keys::MIN_PASSPHRASE_CHARS {
                    return Err(VaultError::Invalid(monban_core::text::FieldError::new(
                        "passphrase",
                        format!("パスフレーズは{}文字以上にしてください / the passphrase must have at least {} characters", crate::keys::MIN_PASSPHRASE_CHARS, crate::keys::MIN_PASSPHRASE_CHARS),
                    )));
                }
                Some(pp)
            }
            _ => None,
        };
        let mut csv = Csv::new(&[
            "記録ID / record",
            "人物ID / person",
            "続柄 / relation",
            "扶養親族 / dependent",
            "書類種別 / document type",
            "個人番号 / personal number",
        ]);
        for rid in &e.record_ids {
            let rec = self.get_record(*rid).await?;
            if rec.deleted || !rec.purposes.contains(&e.purpose) {
                return Err(self
                    .refuse(actor, act, Some(*rid), &target, p, Refusal::RecordDeleted)
                    .await);
            }
            let n = self.decrypt_record(&keys, *rid).await?;
            let digits = n.expose();
            csv.row_secret(&[
                &rec.id.to_string(),
                &rec.person_id.to_string(),
                rec.relation.label_ja(),
                rec.dependent_label.as_deref().unwrap_or(""),
                rec.doc_type.label_ja(),
                &digits,
            ]);
        }
        let plain = csv.into_secret_bytes();
        let bytes = encrypt_age(&plain, e.recipient.as_deref(), pass)?;
        drop(plain);
        let sha = hex::encode(Sha256::digest(&bytes));
        let count = e.record_ids.len();
        let mut w = self.store().begin_write().await?;
        let updated = sqlx::query("UPDATE vault_exports SET status = 'produced', produced_at = $1, record_count = $2, file_sha256 = $3 WHERE id = $4 AND status = 'approved'")
            .bind(self.now().as_microsecond())
            .bind(count as i64)
            .bind(&sha)
            .bind(id)
            .execute(w.conn())
            .await?;
        if updated.rows_affected() != 1 {
            drop(w);
            return Err(self
                .refuse(actor, act, None, &target, p, Refusal::AlreadyDone)
                .await);
        }
        self.record(
            &mut w,
            actor,
            act,
            None,
            &target,
            p,
            Ok(()),
            vec![
                ("records".into(), count.to_string()),
                ("destination".into(), e.destination.clone()),
                ("sha256".into(), sha.clone()),
            ],
        )
        .await?;
        w.commit().await?;
        Ok(ExportFile {
            bytes,
            file_name: format!("monban-vault-export-{id}.csv.age"),
            record_count: count,
            sha256: sha,
        })
    }
}

fn export_err(e: impl std::fmt::Display) -> VaultError {
    VaultError::Export(e.to_string())
}

/// Encrypts `plain` with `age`, to an X25519 recipient or a passphrase (scrypt).
fn encrypt_age(
    plain: &[u8],
    recipient: Option<&str>,
    passphrase: Option<Zeroizing<String>>,
) -> VaultResult<Vec<u8>> {
    let encryptor = match (recipient, passphrase) {
        (Some(r), _) => {
            let r = age::x25519::Recipient::from_str(r).map_err(export_err)?;
            age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
                .map_err(export_err)?
        }
        (None, Some(p)) => {
            age::Encryptor::with_user_passphrase(age::secrecy::SecretString::from(p.to_string()))
        }
        (None, None) => return Err(export_err("no recipient")),
    };
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).map_err(export_err)?;
    writer.write_all(plain).map_err(export_err)?;
    writer.finish().map_err(export_err)?;
    Ok(out)
}
