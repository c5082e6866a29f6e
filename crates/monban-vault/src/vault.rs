//! The vault itself: opening and unlocking with the master key (or staying locked with a clear
//! reason), registering numbers, the gates every access passes (role, lawful purpose, fresh
//! TOTP, presence in a 取扱区域/管理区域), reveal, TOTP enrolment, operator–person links,
//! settings, and master-key rotation. Every access, and every refusal, is written to the audit
//! log and to the vault's own access log, without the number.

use std::sync::{Arc, RwLock};

use jiff::civil::Date;
use jiff::Timestamp;
use monban_core::text::{self, Code, FieldError};
use monban_core::{Operator, OperatorRole, ZoneClass};
use monban_store::audit::{self, AuditRecord};
use monban_store::{events, facility, people, Backend, Store, WriteTx};
use rand::RngCore;
use sqlx::any::AnyRow;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::crypto::{self, Key32};
use crate::error::{Refusal, VaultError, VaultResult};
use crate::keys::{KeyContext, KeyProvider};
use crate::number::MyNumber;
use crate::policy::{self, DocType, IdentityCheckDoc, NumberCheckDoc, Purpose, Relation};
use crate::schema::MIGRATIONS;
use crate::totp;

/// A source of the current time (a fixed one in tests).
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told (tests).
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// A clock showing `t`.
    pub fn new(t: Timestamp) -> Self {
        Self(std::sync::atomic::AtomicI64::new(t.as_microsecond()))
    }

    /// Moves the clock forward by `secs` seconds.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(
            secs.saturating_mul(1_000_000),
            std::sync::atomic::Ordering::SeqCst,
        );
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_microsecond(self.0.load(std::sync::atomic::Ordering::SeqCst))
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// Who acts on the vault.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The operator, for console and API users; `None` for the command line.
    pub operator_id: Option<i64>,
    /// The operator's role.
    pub role: Option<OperatorRole>,
    /// `api` or `cli`.
    pub source: &'static str,
    /// The request that caused it, if any.
    pub request_id: Option<String>,
}

impl Actor {
    /// An operator acting through the API.
    pub fn operator(op: &Operator) -> Self {
        Self {
            operator_id: Some(op.id),
            role: Some(op.role),
            source: "api",
            request_id: None,
        }
    }

    /// The command line on the server machine (administrative tasks; it can never reveal).
    pub fn cli() -> Self {
        Self {
            operator_id: None,
            role: None,
            source: "cli",
            request_id: None,
        }
    }

    /// The audit actor string.
    pub fn label(&self) -> String {
        match self.operator_id {
            Some(id) => format!("operator:{id}"),
            None => "cli".into(),
        }
    }
}

pub(crate) struct Keys {
    pub(crate) master: Key32,
    pub(crate) version: i64,
    pub(crate) index: Key32,
    pub(crate) totp: Key32,
}

enum KeyState {
    Unlocked(Arc<Keys>),
    Locked(String),
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    keys: RwLock<KeyState>,
    pub(crate) clock: Arc<dyn Clock>,
    provider_kind: RwLock<Option<String>>,
}

/// A handle to the vault. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("unlocked", &self.is_unlocked())
            .finish()
    }
}

/// The vault's state, for the status endpoint and `monban vault status`.
#[derive(Debug, Clone)]
pub struct VaultStatus {
    pub unlocked: bool,
    /// Why the vault is locked.
    pub locked_reason: Option<String>,
    pub key_version: Option<i64>,
    pub key_fingerprint: Option<String>,
    pub provider: Option<String>,
}

/// A stored record's metadata. The number itself is never part of it.
#[derive(Debug, Clone)]
pub struct RecordMeta {
    pub id: i64,
    pub person_id: i64,
    pub relation: Relation,
    pub dependent_label: Option<String>,
    pub doc_type: DocType,
    pub purposes: Vec<Purpose>,
    pub basis_date: Option<Date>,
    pub due_date: Option<Date>,
    pub deleted: bool,
    pub number_check_doc: NumberCheckDoc,
    pub identity_check_doc: IdentityCheckDoc,
    pub checked_by: Option<i64>,
    pub checked_on: Date,
    pub created_by: String,
    pub created_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

impl RecordMeta {
    /// What screens show instead of the number.
    pub fn number_display(&self) -> &'static str {
        if self.deleted {
            "削除済み / deleted"
        } else {
            "登録済み / registered"
        }
    }
}

/// A number to register, with its 本人確認.
#[derive(Debug)]
pub struct NewRecord {
    pub person_id: i64,
    pub relation: Relation,
    /// Who the dependent is (e.g. 「配偶者」「長男」); required for dependents. No numbers.
    pub dependent_label: Option<String>,
    pub doc_type: DocType,
    /// Empty for the document type's purposes.
    pub purposes: Vec<Purpose>,
    /// The date retention counts from (see [`DocType::basis_meaning`]); `None` while unknown
    /// (e.g. still employed).
    pub basis_date: Option<Date>,
    pub number: MyNumber,
    pub number_check_doc: NumberCheckDoc,
    pub identity_check_doc: IdentityCheckDoc,
    /// When 本人確認 was done.
    pub checked_on: Date,
}

/// A revealed number: the only place it exists in clear outside the decrypt path.
#[derive(Debug)]
pub struct Revealed {
    pub record_id: i64,
    pub number: MyNumber,
    pub purpose: Purpose,
    pub at: Timestamp,
}

/// A TOTP enrolment to show the operator once.
pub struct TotpEnrollment {
    pub secret_base32: Zeroizing<String>,
    pub otpauth_uri: Zeroizing<String>,
}

impl std::fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrollment(<redacted>)")
    }
}

/// An operator ↔ person link, so presence applies to the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorLink {
    pub operator_id: i64,
    pub person_id: i64,
    /// The site whose presence setting applies; `None` for the vault-wide setting.
    pub site_id: Option<i64>,
}

/// The vault's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultSettings {
    /// 中小規模事業者 profile: relaxes only what the guidelines relax (see docs/vault.md).
    pub sme_profile: bool,
    /// Whether a reveal needs presence in a 取扱区域/管理区域 (vault-wide default: on).
    pub presence_required: bool,
    /// Per-site overrides of `presence_required`.
    pub site_presence: Vec<(i64, bool)>,
    /// Department responsible for the files (for the ledger).
    pub responsible_department: Option<String>,
}

/// A change of settings; `None` leaves a value as it is.
#[derive(Debug, Clone, Default)]
pub struct SettingsChange {
    pub sme_profile: Option<bool>,
    pub presence_required: Option<bool>,
    /// `(site, Some(on))` sets an override, `(site, None)` removes it.
    pub site_presence: Vec<(i64, Option<bool>)>,
    pub responsible_department: Option<String>,
}

/// Outcome of a master-key rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationReport {
    pub records: u64,
    pub new_version: i64,
}

/// Failed TOTP attempts tolerated per window before reveals are blocked.
pub const TOTP_MAX_FAILURES: i64 = 5;
/// The window for counting failed TOTP attempts, in seconds.
pub const TOTP_FAILURE_WINDOW_SECS: i64 = 15 * 60;

const RECORD_COLS: &str = "id, person_id, relation, dependent_label, doc_type, purposes, basis_date, due_date, status, number_check_doc, identity_check_doc, checked_by, checked_on, created_by, created_at, deleted_at";

pub(crate) fn corrupt(e: impl std::fmt::Display) -> VaultError {
    VaultError::Store(monban_store::StoreError::Corrupt(e.to_string()))
}

pub(crate) fn parse_date_col(s: Option<String>) -> VaultResult<Option<Date>> {
    s.map(|s| s.parse::<Date>().map_err(corrupt)).transpose()
}

pub(crate) fn ts_col(v: i64) -> VaultResult<Timestamp> {
    Timestamp::from_microsecond(v).map_err(corrupt)
}

fn code_col<T: Code>(r: &AnyRow, col: &str) -> VaultResult<T> {
    let s: String = r.try_get(col)?;
    T::parse_code(col, &s).map_err(corrupt)
}

pub(crate) fn record_from(r: &AnyRow) -> VaultResult<RecordMeta> {
    let status: String = r.try_get("status")?;
    Ok(RecordMeta {
        id: r.try_get("id")?,
        person_id: r.try_get("person_id")?,
        relation: code_col(r, "relation")?,
        dependent_label: r.try_get("dependent_label")?,
        doc_type: code_col(r, "doc_type")?,
        purposes: policy::parse_purposes(&r.try_get::<String, _>("purposes")?),
        basis_date: parse_date_col(r.try_get("basis_date")?)?,
        due_date: parse_date_col(r.try_get("due_date")?)?,
        deleted: status == "deleted",
        number_check_doc: code_col(r, "number_check_doc")?,
        identity_check_doc: code_col(r, "identity_check_doc")?,
        checked_by: r.try_get("checked_by")?,
        checked_on: parse_date_col(Some(r.try_get("checked_on")?))?
            .ok_or_else(|| corrupt("checked_on"))?,
        created_by: r.try_get("created_by")?,
        created_at: ts_col(r.try_get("created_at")?)?,
        deleted_at: r
            .try_get::<Option<i64>, _>("deleted_at")?
            .map(ts_col)
            .transpose()?,
    })
}

/// Refuses free text that looks like it holds a personal number (12 or more digits in a row,
/// full-width included), so numbers cannot leak through comments into logs and reports.
pub fn no_number_in_text(field: &str, value: &str) -> Result<(), FieldError> {
    let mut run = 0usize;
    for c in value.chars() {
        if c.is_ascii_digit() || ('０'..='９').contains(&c) {
            run += 1;
            if run >= 12 {
                return Err(FieldError::new(
                    field,
                    "個人番号のような数字列は書かないでください / do not write anything that looks like a personal number here",
                ));
            }
        } else if !matches!(c, ' ' | '-' | '\u{3000}' | '－') {
            run = 0;
        }
    }
    Ok(())
}

pub(crate) fn checked_text(field: &str, value: &str, max: usize) -> VaultResult<String> {
    let v = text::required(field, value, max)?;
    no_number_in_text(field, &v)?;
    Ok(v)
}

impl Vault {
    /// A vault that stays locked with `reason` (no key provider configured). Its tables may
    /// not exist yet; every operation answers [`VaultError::Locked`] or reads nothing.
    pub fn locked(store: Store, reason: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                keys: RwLock::new(KeyState::Locked(reason.into())),
                clock: Arc::new(SystemClock),
                provider_kind: RwLock::new(None),
            }),
        }
    }

    /// Opens the vault on `store`, applying its migrations and unlocking it with the key from
    /// `provider`. A wrong or missing key does not fail: the vault stays locked with the reason
    /// (see [`Vault::status`]) and everything else keeps working. Fails only if the database
    /// cannot be migrated.
    pub async fn open(store: Store, provider: &dyn KeyProvider) -> VaultResult<Self> {
        Self::open_with_clock(store, provider, Arc::new(SystemClock)).await
    }

    /// [`Vault::open`] with a chosen clock (tests).
    pub async fn open_with_clock(
        store: Store,
        provider: &dyn KeyProvider,
        clock: Arc<dyn Clock>,
    ) -> VaultResult<Self> {
        monban_store::migrate::apply_component(&store, "vault", MIGRATIONS).await?;
        let v = Self {
            inner: Arc::new(Inner {
                store,
                keys: RwLock::new(KeyState::Locked("未開錠 / not unlocked yet".into())),
                clock,
                provider_kind: RwLock::new(Some(provider.kind().to_string())),
            }),
        };
        let state = match v.unlock(provider).await {
            Ok(keys) => {
                tracing::info!(version = keys.version, "vault unlocked");
                KeyState::Unlocked(Arc::new(keys))
            }
            Err(VaultError::Store(e)) => return Err(VaultError::Store(e)),
            Err(e) => {
                tracing::error!(error = %e, "vault stays locked");
                KeyState::Locked(e.to_string())
            }
        };
        if let Ok(mut k) = v.inner.keys.write() {
            *k = state;
        }
        Ok(v)
    }

    async fn meta(&self, key: &str) -> VaultResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM vault_meta WHERE key = $1")
                .bind(key)
                .fetch_optional(self.inner.store.pool())
                .await?,
        )
    }

    async fn set_meta(w: &mut WriteTx, key: &str, value: &str) -> VaultResult<()> {
        sqlx::query("DELETE FROM vault_meta WHERE key = $1")
            .bind(key)
            .execute(w.conn())
            .await?;
        sqlx::query("INSERT INTO vault_meta (key, value) VALUES ($1, $2)")
            .bind(key)
            .bind(value)
            .execute(w.conn())
            .await?;
        Ok(())
    }

    async fn unlock(&self, provider: &dyn KeyProvider) -> VaultResult<Keys> {
        let salt = self.meta("kdf_salt").await?;
        let Some(salt) = salt else {
            return self.initialise(provider).await;
        };
        let salt = hex::decode(salt).map_err(corrupt)?;
        let version: i64 = self
            .meta("master_version")
            .await?
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| corrupt("master_version"))?;
        let expected = self.meta("master_fingerprint").await?.unwrap_or_default();
        let ctx = KeyContext {
            salt: &salt,
            initialised: true,
        };
        let master = provider.master_key(&ctx)?;
        match self.load_keys(master.clone(), version).await {
            Ok(k) => return Ok(k),
            Err(VaultError::Store(e)) => return Err(VaultError::Store(e)),
            Err(_) => {}
        }
        if let Some(alt) = provider.alternate_key(&ctx)? {
            if let Ok(k) = self.load_keys(alt, version).await {
                provider.promote_alternate()?;
                tracing::warn!(
                    "finished an interrupted master-key rotation: the staged key is now the key"
                );
                return Ok(k);
            }
        }
        Err(VaultError::WrongMasterKey {
            expected,
            given: master.fingerprint(),
        })
    }

    async fn load_keys(&self, master: Key32, version: i64) -> VaultResult<Keys> {
        let rows = sqlx::query("SELECT name, kek_version, wrapped FROM vault_keys")
            .fetch_all(self.inner.store.pool())
            .await?;
        let mut index = None;
        let mut totp_key = None;
        for r in &rows {
            let name: String = r.try_get("name")?;
            let kv: i64 = r.try_get("kek_version")?;
            let wrapped: Vec<u8> = r.try_get("wrapped")?;
            let k = crypto::unwrap_key(&master, kv, &format!("system:{name}"), &wrapped)?;
            match name.as_str() {
                "index" => index = Some(k),
                "totp" => totp_key = Some(k),
                _ => {}
            }
        }
        match (index, totp_key) {
            (Some(index), Some(totp)) => Ok(Keys {
                master,
                version,
                index,
                totp,
            }),
            _ => Err(corrupt("vault_keys incomplete")),
        }
    }

    async fn initialise(&self, provider: &dyn KeyProvider) -> VaultResult<Keys> {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let master = provider.master_key(&KeyContext {
            salt: &salt,
            initialised: false,
        })?;
        let keys = Keys {
            version: 1,
            index: Key32::random(),
            totp: Key32::random(),
            master,
        };
        let mut w = self.inner.store.begin_write().await?;
        Self::set_meta(&mut w, "kdf_salt", &hex::encode(salt)).await?;
        Self::set_meta(&mut w, "master_version", "1").await?;
        Self::set_meta(&mut w, "master_fingerprint", &keys.master.fingerprint()).await?;
        Self::set_meta(&mut w, "provider", provider.kind()).await?;
        for (name, k) in [("index", &keys.index), ("totp", &keys.totp)] {
            sqlx::query("INSERT INTO vault_keys (name, kek_version, wrapped) VALUES ($1, $2, $3)")
                .bind(name)
                .bind(1i64)
                .bind(crypto::wrap_key(
                    &keys.master,
                    1,
                    &format!("system:{name}"),
                    k,
                )?)
                .execute(w.conn())
                .await?;
        }
        audit::append(
            &mut w,
            &AuditRecord {
                source: "system".into(),
                actor: "system".into(),
                action: "vault.initialise".into(),
                target: "vault".into(),
                outcome: "ok".into(),
                details: vec![("provider".into(), provider.kind().into())],
                ..AuditRecord::default()
            },
        )
        .await?;
        w.commit().await?;
        tracing::info!("vault initialised with a new master key");
        Ok(keys)
    }

    /// Whether the vault's tables exist (false for a vault that was never opened with a key
    /// provider on this database).
    pub async fn store_ready(&self) -> bool {
        sqlx::query("SELECT key FROM vault_settings LIMIT 1")
            .fetch_optional(self.inner.store.pool())
            .await
            .is_ok()
    }

    /// The store the vault lives in.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Whether the vault has its keys.
    pub fn is_unlocked(&self) -> bool {
        matches!(self.inner.keys.read().as_deref(), Ok(KeyState::Unlocked(_)))
    }

    pub(crate) fn keys(&self) -> VaultResult<Arc<Keys>> {
        match self.inner.keys.read().as_deref() {
            Ok(KeyState::Unlocked(k)) => Ok(k.clone()),
            Ok(KeyState::Locked(r)) => Err(VaultError::Locked(r.clone())),
            Err(_) => Err(VaultError::Locked("internal lock poisoned".into())),
        }
    }

    /// The vault's state.
    pub fn status(&self) -> VaultStatus {
        let provider = self.inner.provider_kind.read().ok().and_then(|p| p.clone());
        match self.inner.keys.read().as_deref() {
            Ok(KeyState::Unlocked(k)) => VaultStatus {
                unlocked: true,
                locked_reason: None,
                key_version: Some(k.version),
                key_fingerprint: Some(k.master.fingerprint()),
                provider,
            },
            Ok(KeyState::Locked(r)) => VaultStatus {
                unlocked: false,
                locked_reason: Some(r.clone()),
                key_version: None,
                key_fingerprint: None,
                provider,
            },
            Err(_) => VaultStatus {
                unlocked: false,
                locked_reason: Some("internal lock poisoned".into()),
                key_version: None,
                key_fingerprint: None,
                provider,
            },
        }
    }

    // ----- audit ---------------------------------------------------------------------------

    /// Appends to the audit log and the vault access log inside `w`. Never given a number.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record(
        &self,
        w: &mut WriteTx,
        actor: &Actor,
        action: &str,
        record_id: Option<i64>,
        target: &str,
        purpose: Option<Purpose>,
        outcome: Result<(), Refusal>,
        extra: Vec<(String, String)>,
    ) -> VaultResult<()> {
        let outcome_text = match outcome {
            Ok(()) => "ok".to_string(),
            Err(r) => format!("denied:{}", r.code()),
        };
        let mut details = Vec::new();
        if let Some(p) = purpose {
            details.push(("purpose".to_string(), p.code().to_string()));
            details.push(("purpose_ja".to_string(), p.label_ja().to_string()));
        }
        if let Err(r) = outcome {
            details.push(("reason".to_string(), r.code().to_string()));
            details.push(("reason_ja".to_string(), r.label_ja().to_string()));
        }
        details.extend(extra);
        audit::append(
            w,
            &AuditRecord {
                source: actor.source.into(),
                actor: actor.label(),
                action: format!("vault.{action}"),
                target: target.into(),
                outcome: outcome_text.clone(),
                request_id: actor.request_id.clone(),
                device_time: None,
                details,
            },
        )
        .await?;
        sqlx::query("INSERT INTO vault_access_log (at, actor, operator_id, action, record_id, purpose, outcome, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(self.now().as_microsecond())
            .bind(actor.label())
            .bind(actor.operator_id)
            .bind(action)
            .bind(record_id)
            .bind(purpose.map(|p| p.code()))
            .bind(if outcome.is_ok() { "ok" } else { "denied" })
            .bind(outcome.err().map(|r| r.code()))
            .execute(w.conn())
            .await?;
        Ok(())
    }

    /// Audits a refusal in its own committed transaction and returns the refusal error.
    pub(crate) async fn refuse(
        &self,
        actor: &Actor,
        action: &str,
        record_id: Option<i64>,
        target: &str,
        purpose: Option<Purpose>,
        reason: Refusal,
    ) -> VaultError {
        let res: VaultResult<()> = async {
            let mut w = self.inner.store.begin_write().await?;
            self.record(
                &mut w,
                actor,
                action,
                record_id,
                target,
                purpose,
                Err(reason),
                vec![],
            )
            .await?;
            w.commit().await?;
            Ok(())
        }
        .await;
        match res {
            Ok(()) => VaultError::Refused(reason),
            Err(e) => e,
        }
    }

    // ----- gates ---------------------------------------------------------------------------

    /// The role gate: `Ok(())` if the actor may handle numbers (the command line counts as the
    /// server's own administrator for registration and reports, never for reveals).
    pub(crate) fn role_refusal(actor: &Actor, allow_cli: bool) -> Option<Refusal> {
        match (actor.operator_id, actor.role) {
            (None, _) if allow_cli => None,
            (Some(_), Some(r)) if policy::may_handle(r) => None,
            _ => Some(Refusal::Role),
        }
    }

    pub(crate) fn officer_refusal(actor: &Actor, allow_cli: bool) -> Option<Refusal> {
        match (actor.operator_id, actor.role) {
            (None, _) if allow_cli => None,
            (Some(_), Some(OperatorRole::SecurityOfficer)) => None,
            _ => Some(Refusal::OfficerOnly),
        }
    }

    /// Checks `code` for `operator_id` and consumes its time step (committed at once, so a
    /// code works once even when a later gate refuses).
    pub(crate) async fn totp_refusal(
        &self,
        operator_id: i64,
        code: &str,
    ) -> VaultResult<Option<Refusal>> {
        let keys = self.keys()?;
        let now = self.now();
        let since = now.as_microsecond() - TOTP_FAILURE_WINDOW_SECS * 1_000_000;
        let failures: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM vault_access_log WHERE operator_id = $1 AND at > $2 AND reason IN ('totp_invalid', 'totp_replayed', 'totp_malformed')")
            .bind(operator_id)
            .bind(since)
            .fetch_one(self.inner.store.pool())
            .await?;
        if failures >= TOTP_MAX_FAILURES {
            return Ok(Some(Refusal::TotpLocked));
        }
        let row = sqlx::query(
            "SELECT secret_ct, confirmed, last_step FROM vault_totp WHERE operator_id = $1",
        )
        .bind(operator_id)
        .fetch_optional(self.inner.store.pool())
        .await?;
        let Some(row) = row else {
            return Ok(Some(Refusal::TotpNotEnrolled));
        };
        if row.try_get::<i64, _>("confirmed")? == 0 {
            return Ok(Some(Refusal::TotpNotEnrolled));
        }
        let ct: Vec<u8> = row.try_get("secret_ct")?;
        let secret = crypto::open(
            &keys.totp,
            format!("monban-vault/totp/v1|operator:{operator_id}").as_bytes(),
            &ct,
        )?;
        let step = match totp::verify(&secret, code, now.as_second()) {
            Ok(s) => s,
            Err(r) => return Ok(Some(r)),
        };
        let mut w = self.inner.store.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE vault_totp SET last_step = $1 WHERE operator_id = $2 AND last_step < $1",
        )
        .bind(step)
        .bind(operator_id)
        .execute(w.conn())
        .await?;
        w.commit().await?;
        if updated.rows_affected() == 1 {
            Ok(None)
        } else {
            Ok(Some(Refusal::TotpReplayed))
        }
    }

    /// The presence gate for an operator.
    pub(crate) async fn presence_refusal(&self, operator_id: i64) -> VaultResult<Option<Refusal>> {
        let link = self.link_of(operator_id).await?;
        let required = self
            .presence_required_for(link.as_ref().and_then(|l| l.site_id))
            .await?;
        if !required {
            return Ok(None);
        }
        let Some(link) = link else {
            return Ok(Some(Refusal::NotLinked));
        };
        let Some(p) = events::presence_of(&self.inner.store, link.person_id).await? else {
            return Ok(Some(Refusal::OutsideArea));
        };
        let Some(zone_id) = p.zone_id else {
            return Ok(Some(Refusal::OutsideArea));
        };
        let zone = facility::get_zone(&self.inner.store, zone_id).await?;
        if matches!(zone.class, ZoneClass::Handling | ZoneClass::Management) {
            Ok(None)
        } else {
            Ok(Some(Refusal::OutsideArea))
        }
    }

    // ----- records -------------------------------------------------------------------------

    /// One record's metadata.
    pub async fn get_record(&self, id: i64) -> VaultResult<RecordMeta> {
        let q = format!("SELECT {RECORD_COLS} FROM vault_records WHERE id = $1");
        let r = sqlx::query(&q)
            .bind(id)
            .fetch_optional(self.inner.store.pool())
            .await?
            .ok_or_else(|| VaultError::not_found("vault_record", id))?;
        record_from(&r)
    }

    /// Records' metadata, newest first; only one person's when `person_id` is given.
    pub async fn list_records(&self, person_id: Option<i64>) -> VaultResult<Vec<RecordMeta>> {
        let rows = match person_id {
            Some(p) => {
                let q = format!(
                    "SELECT {RECORD_COLS} FROM vault_records WHERE person_id = $1 ORDER BY id DESC"
                );
                sqlx::query(&q)
                    .bind(p)
                    .fetch_all(self.inner.store.pool())
                    .await?
            }
            None => {
                let q = format!("SELECT {RECORD_COLS} FROM vault_records ORDER BY id DESC");
                sqlx::query(&q).fetch_all(self.inner.store.pool()).await?
            }
        };
        rows.iter().map(record_from).collect()
    }

    /// Registers a number with its 本人確認. Needs the handler or security-officer role and,
    /// for operators, presence in a handling or management area. Refuses a number already
    /// registered for the same document type, or for another person (found with the blind
    /// index, without decrypting).
    pub async fn register(&self, actor: &Actor, r: NewRecord) -> VaultResult<RecordMeta> {
        let target = format!("person:{}", r.person_id);
        match self.register_inner(actor, r).await {
            Err(VaultError::Invalid(f)) => {
                self.note_invalid(actor, "register", &target, Refusal::InvalidInput, &f.field)
                    .await?;
                Err(VaultError::Invalid(f))
            }
            Err(VaultError::Conflict(f)) => {
                self.note_invalid(actor, "register", &target, Refusal::Duplicate, &f.field)
                    .await?;
                Err(VaultError::Conflict(f))
            }
            other => other,
        }
    }

    /// Audits a request refused for its input (the field is named; the value never is).
    pub async fn note_invalid(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        reason: Refusal,
        field: &str,
    ) -> VaultResult<()> {
        let mut w = self.inner.store.begin_write().await?;
        self.record(
            &mut w,
            actor,
            action,
            None,
            target,
            None,
            Err(reason),
            vec![("field".into(), field.into())],
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    async fn register_inner(&self, actor: &Actor, r: NewRecord) -> VaultResult<RecordMeta> {
        let target = format!("person:{}", r.person_id);
        if let Some(reason) = Self::role_refusal(actor, true) {
            return Err(self
                .refuse(actor, "register", None, &target, None, reason)
                .await);
        }
        let keys = match self.keys() {
            Ok(k) => k,
            Err(e) => {
                let _ = self
                    .refuse(actor, "register", None, &target, None, Refusal::Locked)
                    .await;
                return Err(e);
            }
        };
        if let Some(op) = actor.operator_id {
            if let Some(reason) = self.presence_refusal(op).await? {
                return Err(self
                    .refuse(actor, "register", None, &target, None, reason)
                    .await);
            }
        }
        let dependent_label = match (r.relation, r.dependent_label.as_deref()) {
            (Relation::Dependent, Some(l)) => Some(checked_text("dependent_label", l, 100)?),
            (Relation::Dependent, None) => {
                return Err(VaultError::Invalid(FieldError::new(
                    "dependent_label",
                    "扶養親族の続柄または氏名を入力してください（例: 配偶者） / say who the dependent is (e.g. 配偶者)",
                )))
            }
            (Relation::Employee, _) => None,
        };
        if r.relation == Relation::Employee
            && (r.number_check_doc == NumberCheckDoc::ByEmployee
                || r.identity_check_doc == IdentityCheckDoc::ByEmployee)
        {
            return Err(VaultError::Invalid(FieldError::new(
                "number_check_doc",
                "「従業員が確認」は扶養親族の番号にだけ使えます / 'confirmed by the employee' applies to dependents only",
            )));
        }
        if r.relation == Relation::Dependent
            && r.identity_check_doc == IdentityCheckDoc::KnownEmployee
        {
            return Err(VaultError::Invalid(FieldError::new(
                "identity_check_doc",
                "「雇用関係により確認」は従業員本人にだけ使えます / 'known employee' applies to the employee only",
            )));
        }
        let purposes = if r.purposes.is_empty() {
            r.doc_type.purposes().to_vec()
        } else {
            for p in &r.purposes {
                if !r.doc_type.purposes().contains(p) {
                    return Err(VaultError::Invalid(FieldError::new(
                        "purposes",
                        format!(
                            "「{}」は「{}」の利用目的ではありません / {} is not a purpose of {}",
                            p.label_ja(),
                            r.doc_type.label_ja(),
                            p.code(),
                            r.doc_type.code()
                        ),
                    )));
                }
            }
            r.purposes.clone()
        };
        if r.checked_on
            > self
                .now()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date()
                .tomorrow()
                .unwrap_or(r.checked_on)
        {
            return Err(VaultError::Invalid(FieldError::new(
                "checked_on",
                "本人確認日に未来の日付は指定できません / the 本人確認 date cannot be in the future",
            )));
        }
        people::get_person(&self.inner.store, r.person_id).await?;
        let digits = r.number.ascii();
        let bidx = crypto::blind_index(&keys.index, &digits[..]);
        let dups = sqlx::query("SELECT id, person_id, relation, dependent_label, doc_type FROM vault_records WHERE blind_index = $1 AND status = 'active'")
            .bind(&bidx)
            .fetch_all(self.inner.store.pool())
            .await?;
        for d in &dups {
            let id: i64 = d.try_get("id")?;
            let same_subject = d.try_get::<i64, _>("person_id")? == r.person_id
                && d.try_get::<String, _>("relation")? == r.relation.code()
                && d.try_get::<Option<String>, _>("dependent_label")? == dependent_label;
            if !same_subject {
                return Err(VaultError::Conflict(FieldError::new(
                    "number",
                    format!("この個人番号は別の対象者の記録 {id} に登録されています。番号と対象者を確認してください / this number is already registered for another subject (record {id}); check the number and the subject"),
                )));
            }
            if d.try_get::<String, _>("doc_type")? == r.doc_type.code() {
                return Err(VaultError::Conflict(FieldError::new(
                    "number",
                    format!("この個人番号は同じ書類種別で記録 {id} として登録済みです / this number is already registered for this document type as record {id}"),
                )));
            }
        }
        let due = r.basis_date.map(|b| r.doc_type.retention().due_date(b));
        let now = self.now().as_microsecond();
        let mut w = self.inner.store.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO vault_records (person_id, relation, dependent_label, doc_type, purposes, basis_date, due_date, status, kek_version, dek_version, number_check_doc, identity_check_doc, checked_by, checked_on, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, 1, $9, $10, $11, $12, $13, $14) RETURNING id",
        )
        .bind(r.person_id)
        .bind(r.relation.code())
        .bind(&dependent_label)
        .bind(r.doc_type.code())
        .bind(policy::purposes_text(&purposes))
        .bind(r.basis_date.map(|d| d.to_string()))
        .bind(due.map(|d| d.to_string()))
        .bind(keys.version)
        .bind(r.number_check_doc.code())
        .bind(r.identity_check_doc.code())
        .bind(actor.operator_id)
        .bind(r.checked_on.to_string())
        .bind(actor.label())
        .bind(now)
        .fetch_one(w.conn())
        .await?;
        let dek = Key32::random();
        let ct = crypto::seal(&dek, &crypto::field_aad(id, "my_number", 1), &digits[..])?;
        let wrapped = crypto::wrap_key(&keys.master, keys.version, &format!("record:{id}"), &dek)?;
        sqlx::query("UPDATE vault_records SET wrapped_dek = $1, number_ct = $2, blind_index = $3 WHERE id = $4")
            .bind(wrapped)
            .bind(ct)
            .bind(&bidx)
            .bind(id)
            .execute(w.conn())
            .await?;
        self.record(
            &mut w,
            actor,
            "register",
            Some(id),
            &format!("vault_record:{id}"),
            None,
            Ok(()),
            vec![
                ("person".into(), r.person_id.to_string()),
                ("doc_type".into(), r.doc_type.code().into()),
                ("relation".into(), r.relation.code().into()),
            ],
        )
        .await?;
        w.commit().await?;
        self.get_record(id).await
    }

    /// Changes the retention basis date (e.g. on retirement) and so the deletion due date.
    pub async fn set_basis_date(
        &self,
        actor: &Actor,
        id: i64,
        basis: Option<Date>,
    ) -> VaultResult<RecordMeta> {
        let target = format!("vault_record:{id}");
        if let Some(reason) = Self::role_refusal(actor, true) {
            return Err(self
                .refuse(actor, "retention", Some(id), &target, None, reason)
                .await);
        }
        let rec = self.get_record(id).await?;
        if rec.deleted {
            return Err(self
                .refuse(
                    actor,
                    "retention",
                    Some(id),
                    &target,
                    None,
                    Refusal::RecordDeleted,
                )
                .await);
        }
        let due = basis.map(|b| rec.doc_type.retention().due_date(b));
        let mut w = self.inner.store.begin_write().await?;
        sqlx::query("UPDATE vault_records SET basis_date = $1, due_date = $2 WHERE id = $3")
            .bind(basis.map(|d| d.to_string()))
            .bind(due.map(|d| d.to_string()))
            .bind(id)
            .execute(w.conn())
            .await?;
        self.record(
            &mut w,
            actor,
            "retention",
            Some(id),
            &target,
            None,
            Ok(()),
            vec![(
                "due_date".into(),
                due.map(|d| d.to_string()).unwrap_or_default(),
            )],
        )
        .await?;
        w.commit().await?;
        self.get_record(id).await
    }

    pub(crate) async fn decrypt_record(&self, keys: &Keys, id: i64) -> VaultResult<MyNumber> {
        let row = sqlx::query(
            "SELECT kek_version, dek_version, wrapped_dek, number_ct FROM vault_records WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.inner.store.pool())
        .await?
        .ok_or_else(|| VaultError::not_found("vault_record", id))?;
        let kv: Option<i64> = row.try_get("kek_version")?;
        let dv: i64 = row.try_get("dek_version")?;
        let wrapped: Option<Vec<u8>> = row.try_get("wrapped_dek")?;
        let ct: Option<Vec<u8>> = row.try_get("number_ct")?;
        let (Some(kv), Some(wrapped), Some(ct)) = (kv, wrapped, ct) else {
            return Err(VaultError::Crypto(format!(
                "記録 {id} の鍵は消去済み / the key of record {id} was erased"
            )));
        };
        if kv != keys.version {
            return Err(VaultError::Locked(format!(
                "マスター鍵が更新されています（版 {kv}）。サーバーを再起動してください / the master key was rotated (version {kv}); restart the server"
            )));
        }
        let dek = crypto::unwrap_key(&keys.master, kv, &format!("record:{id}"), &wrapped)?;
        let pt = crypto::open(&dek, &crypto::field_aad(id, "my_number", dv), &ct)?;
        let s = std::str::from_utf8(&pt).map_err(|_| VaultError::Crypto("utf-8".into()))?;
        MyNumber::parse(s).map_err(|_| VaultError::Crypto("stored number invalid".into()))
    }

    /// Reveals a number: needs the handler or security-officer role, a lawful purpose that the
    /// record is registered for, a fresh TOTP code, and (unless turned off for the operator's
    /// site) presence in a 取扱区域 or 管理区域. Each refusal is audited; so is the reveal,
    /// before the number is returned.
    pub async fn reveal(
        &self,
        actor: &Actor,
        record_id: i64,
        purpose: &str,
        totp_code: &str,
    ) -> VaultResult<Revealed> {
        let target = format!("vault_record:{record_id}");
        let purpose_parsed = Purpose::parse_code("purpose", purpose.trim()).ok();
        let deny = |reason| {
            self.refuse(
                actor,
                "reveal",
                Some(record_id),
                &target,
                purpose_parsed,
                reason,
            )
        };
        let keys = match self.keys() {
            Ok(k) => k,
            Err(e) => {
                let _ = deny(Refusal::Locked).await;
                return Err(e);
            }
        };
        let Some(operator_id) = actor.operator_id else {
            return Err(deny(Refusal::Role).await);
        };
        if let Some(r) = Self::role_refusal(actor, false) {
            return Err(deny(r).await);
        }
        let Some(purpose) = purpose_parsed else {
            return Err(deny(Refusal::PurposeUnknown).await);
        };
        let rec = match self.get_record(record_id).await {
            Ok(r) => r,
            Err(VaultError::NotFound { entity, id }) => {
                let _ = self
                    .refuse(
                        actor,
                        "reveal",
                        None,
                        &target,
                        Some(purpose),
                        Refusal::NotFound,
                    )
                    .await;
                return Err(VaultError::NotFound { entity, id });
            }
            Err(e) => return Err(e),
        };
        if rec.deleted {
            return Err(deny(Refusal::RecordDeleted).await);
        }
        if !rec.purposes.contains(&purpose) {
            return Err(deny(Refusal::PurposeNotAllowed).await);
        }
        if let Some(r) = self.totp_refusal(operator_id, totp_code).await? {
            return Err(deny(r).await);
        }
        if let Some(r) = self.presence_refusal(operator_id).await? {
            return Err(deny(r).await);
        }
        let number = self.decrypt_record(&keys, record_id).await?;
        let at = self.now();
        let mut w = self.inner.store.begin_write().await?;
        self.record(
            &mut w,
            actor,
            "reveal",
            Some(record_id),
            &target,
            Some(purpose),
            Ok(()),
            vec![("doc_type".into(), rec.doc_type.code().into())],
        )
        .await?;
        w.commit().await?;
        Ok(Revealed {
            record_id,
            number,
            purpose,
            at,
        })
    }

    // ----- TOTP ----------------------------------------------------------------------------

    /// Starts (or restarts) TOTP enrolment for the acting operator. Refused if a confirmed
    /// enrolment exists: the security officer resets it first.
    pub async fn totp_enroll(&self, actor: &Actor, account: &str) -> VaultResult<TotpEnrollment> {
        let keys = self.keys()?;
        let Some(op) = actor.operator_id else {
            return Err(VaultError::Refused(Refusal::Role));
        };
        let confirmed: Option<i64> =
            sqlx::query_scalar("SELECT confirmed FROM vault_totp WHERE operator_id = $1")
                .bind(op)
                .fetch_optional(self.inner.store.pool())
                .await?;
        if confirmed == Some(1) {
            return Err(VaultError::Conflict(FieldError::new(
                "totp",
                "認証アプリは登録済みです。再登録は責任者にリセットを依頼してください / an authenticator is already enrolled; ask the security officer to reset it first",
            )));
        }
        let secret = totp::generate_secret();
        let ct = crypto::seal(
            &keys.totp,
            format!("monban-vault/totp/v1|operator:{op}").as_bytes(),
            &secret,
        )?;
        let mut w = self.inner.store.begin_write().await?;
        sqlx::query("DELETE FROM vault_totp WHERE operator_id = $1")
            .bind(op)
            .execute(w.conn())
            .await?;
        sqlx::query("INSERT INTO vault_totp (operator_id, secret_ct, confirmed, last_step, created_at) VALUES ($1, $2, 0, 0, $3)")
            .bind(op)
            .bind(ct)
            .bind(self.now().as_microsecond())
            .execute(w.conn())
            .await?;
        self.record(
            &mut w,
            actor,
            "totp_enroll",
            None,
            &format!("operator:{op}"),
            None,
            Ok(()),
            vec![],
        )
        .await?;
        w.commit().await?;
        Ok(TotpEnrollment {
            secret_base32: totp::to_base32(&secret),
            otpauth_uri: totp::otpauth_uri(&secret, "Monban", account),
        })
    }

    /// Confirms a pending enrolment with a current code from the app.
    pub async fn totp_confirm(&self, actor: &Actor, code: &str) -> VaultResult<()> {
        let keys = self.keys()?;
        let Some(op) = actor.operator_id else {
            return Err(VaultError::Refused(Refusal::Role));
        };
        let row = sqlx::query("SELECT secret_ct, confirmed FROM vault_totp WHERE operator_id = $1")
            .bind(op)
            .fetch_optional(self.inner.store.pool())
            .await?;
        let target = format!("operator:{op}");
        let Some(row) = row else {
            return Err(self
                .refuse(
                    actor,
                    "totp_confirm",
                    None,
                    &target,
                    None,
                    Refusal::TotpNotEnrolled,
                )
                .await);
        };
        if row.try_get::<i64, _>("confirmed")? == 1 {
            return Err(self
                .refuse(
                    actor,
                    "totp_confirm",
                    None,
                    &target,
                    None,
                    Refusal::AlreadyDone,
                )
                .await);
        }
        let ct: Vec<u8> = row.try_get("secret_ct")?;
        let secret = crypto::open(
            &keys.totp,
            format!("monban-vault/totp/v1|operator:{op}").as_bytes(),
            &ct,
        )?;
        let step = match totp::verify(&secret, code, self.now().as_second()) {
            Ok(s) => s,
            Err(r) => {
                return Err(self
                    .refuse(actor, "totp_confirm", None, &target, None, r)
                    .await)
            }
        };
        let mut w = self.inner.store.begin_write().await?;
        sqlx::query("UPDATE vault_totp SET confirmed = 1, last_step = $1 WHERE operator_id = $2")
            .bind(step)
            .bind(op)
            .execute(w.conn())
            .await?;
        self.record(
            &mut w,
            actor,
            "totp_confirm",
            None,
            &target,
            None,
            Ok(()),
            vec![],
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// Whether an operator has a confirmed TOTP.
    pub async fn totp_enrolled(&self, operator_id: i64) -> VaultResult<bool> {
        let c: Option<i64> =
            sqlx::query_scalar("SELECT confirmed FROM vault_totp WHERE operator_id = $1")
                .bind(operator_id)
                .fetch_optional(self.inner.store.pool())
                .await?;
        Ok(c == Some(1))
    }

    /// Removes an operator's TOTP (lost phone). Security officer or the command line.
    pub async fn totp_reset(&self, actor: &Actor, operator_id: i64) -> VaultResult<()> {
        let target = format!("operator:{operator_id}");
        if let Some(r) = Self::officer_refusal(actor, true) {
            return Err(self
                .refuse(actor, "totp_reset", None, &target, None, r)
                .await);
        }
        let mut w = self.inner.store.begin_write().await?;
        sqlx::query("DELETE FROM vault_totp WHERE operator_id = $1")
            .bind(operator_id)
            .execute(w.conn())
            .await?;
        self.record(
            &mut w,
            actor,
            "totp_reset",
            None,
            &target,
            None,
            Ok(()),
            vec![],
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    // ----- links and settings --------------------------------------------------------------

    /// The person an operator is, for presence.
    pub async fn link_of(&self, operator_id: i64) -> VaultResult<Option<OperatorLink>> {
        let r = sqlx::query(
            "SELECT operator_id, person_id, site_id FROM vault_operator_links WHERE operator_id = $1",
        )
        .bind(operator_id)
        .fetch_optional(self.inner.store.pool())
        .await?;
        r.map(|r| {
            Ok(OperatorLink {
                operator_id: r.try_get("operator_id")?,
                person_id: r.try_get("person_id")?,
                site_id: r.try_get("site_id")?,
            })
        })
        .transpose()
    }

    /// All operator ↔ person links.
    pub async fn list_links(&self) -> VaultResult<Vec<OperatorLink>> {
        let rows = sqlx::query(
            "SELECT operator_id, person_id, site_id FROM vault_operator_links ORDER BY operator_id",
        )
        .fetch_all(self.inner.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OperatorLink {
                    operator_id: r.try_get("operator_id")?,
                    person_id: r.try_get("person_id")?,
                    site_id: r.try_get("site_id")?,
                })
            })
            .collect()
    }

    /// Links an operator account to a person (and optionally a site), or unlinks it with
    /// `person_id = None`. Security officer or the command line.
    pub async fn link_operator(
        &self,
        actor: &Actor,
        operator_id: i64,
        person_id: Option<i64>,
        site_id: Option<i64>,
    ) -> VaultResult<()> {
        let target = format!("operator:{operator_id}");
        if let Some(r) = Self::officer_refusal(actor, true) {
            return Err(self.refuse(actor, "link", None, &target, None, r).await);
        }
        monban_store::operators::get_operator(&self.inner.store, operator_id).await?;
        if let Some(p) = person_id {
            people::get_person(&self.inner.store, p).await?;
        }
        if let Some(s) = site_id {
            facility::get_site(&self.inner.store, s).await?;
        }
        let mut w = self.inner.store.begin_write().await?;
        sqlx::query("DELETE FROM vault_operator_links WHERE operator_id = $1")
            .bind(operator_id)
            .execute(w.conn())
            .await?;
        if let Some(p) = person_id {
            sqlx::query("INSERT INTO vault_operator_links (operator_id, person_id, site_id, created_by, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(operator_id)
                .bind(p)
                .bind(site_id)
                .bind(actor.label())
                .bind(self.now().as_microsecond())
                .execute(w.conn())
                .await?;
        }
        self.record(
            &mut w,
            actor,
            "link",
            None,
            &target,
            None,
            Ok(()),
            vec![(
                "person".into(),
                person_id
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "none".into()),
            )],
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    async fn setting(&self, key: &str) -> VaultResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM vault_settings WHERE key = $1")
                .bind(key)
                .fetch_optional(self.inner.store.pool())
                .await?,
        )
    }

    async fn put_setting(w: &mut WriteTx, key: &str, value: Option<&str>) -> VaultResult<()> {
        sqlx::query("DELETE FROM vault_settings WHERE key = $1")
            .bind(key)
            .execute(w.conn())
            .await?;
        if let Some(v) = value {
            sqlx::query("INSERT INTO vault_settings (key, value) VALUES ($1, $2)")
                .bind(key)
                .bind(v)
                .execute(w.conn())
                .await?;
        }
        Ok(())
    }

    async fn presence_required_for(&self, site: Option<i64>) -> VaultResult<bool> {
        if let Some(s) = site {
            if let Some(v) = self.setting(&format!("presence_required.site.{s}")).await? {
                return Ok(v != "0");
            }
        }
        Ok(self.setting("presence_required").await?.as_deref() != Some("0"))
    }

    /// Whether the 中小規模事業者 profile is on.
    pub async fn sme_profile(&self) -> VaultResult<bool> {
        Ok(self.setting("sme_profile").await?.as_deref() == Some("1"))
    }

    /// The vault's settings.
    pub async fn settings(&self) -> VaultResult<VaultSettings> {
        let rows = sqlx::query("SELECT key, value FROM vault_settings ORDER BY key")
            .fetch_all(self.inner.store.pool())
            .await?;
        let mut s = VaultSettings {
            sme_profile: false,
            presence_required: true,
            site_presence: vec![],
            responsible_department: None,
        };
        for r in &rows {
            let k: String = r.try_get("key")?;
            let v: String = r.try_get("value")?;
            match k.as_str() {
                "sme_profile" => s.sme_profile = v == "1",
                "presence_required" => s.presence_required = v != "0",
                "responsible_department" => s.responsible_department = Some(v),
                other => {
                    if let Some(site) = other
                        .strip_prefix("presence_required.site.")
                        .and_then(|x| x.parse::<i64>().ok())
                    {
                        s.site_presence.push((site, v != "0"));
                    }
                }
            }
        }
        Ok(s)
    }

    /// Changes settings. Security officer or the command line.
    pub async fn update_settings(
        &self,
        actor: &Actor,
        c: &SettingsChange,
    ) -> VaultResult<VaultSettings> {
        if let Some(r) = Self::officer_refusal(actor, true) {
            return Err(self.refuse(actor, "settings", None, "vault", None, r).await);
        }
        let dept = match &c.responsible_department {
            Some(d) if d.trim().is_empty() => Some(None),
            Some(d) => Some(Some(checked_text("responsible_department", d, 100)?)),
            None => None,
        };
        for (site, _) in &c.site_presence {
            facility::get_site(&self.inner.store, *site).await?;
        }
        let b = |v: bool| if v { "1" } else { "0" };
        let mut changes = Vec::new();
        let mut w = self.inner.store.begin_write().await?;
        if let Some(v) = c.sme_profile {
            Self::put_setting(&mut w, "sme_profile", Some(b(v))).await?;
            changes.push(("sme_profile".to_string(), b(v).to_string()));
        }
        if let Some(v) = c.presence_required {
            Self::put_setting(&mut w, "presence_required", Some(b(v))).await?;
            changes.push(("presence_required".to_string(), b(v).to_string()));
        }
        for (site, v) in &c.site_presence {
            let key = format!("presence_required.site.{site}");
            Self::put_setting(&mut w, &key, v.map(b)).await?;
            changes.push((key, v.map(b).unwrap_or("default").to_string()));
        }
        if let Some(d) = &dept {
            Self::put_setting(&mut w, "responsible_department", d.as_deref()).await?;
            changes.push(("responsible_department".to_string(), "changed".to_string()));
        }
        self.record(
            &mut w,
            actor,
            "settings",
            None,
            "vault",
            None,
            Ok(()),
            changes,
        )
        .await?;
        w.commit().await?;
        self.settings().await
    }

    // ----- rotation ------------------------------------------------------------------------

    /// Re-wraps every data key and system key under `new_master` in one transaction, and
    /// swaps the vault to it. `new_salt` replaces the passphrase salt (for a passphrase
    /// provider, derive `new_master` with it). The command line or a security officer.
    pub async fn rotate_master(
        &self,
        actor: &Actor,
        new_master: Key32,
        new_salt: Option<[u8; 16]>,
        provider_kind: &str,
    ) -> VaultResult<RotationReport> {
        if let Some(r) = Self::officer_refusal(actor, true) {
            return Err(self
                .refuse(actor, "rotate_key", None, "vault", None, r)
                .await);
        }
        let keys = self.keys()?;
        let new_version = keys.version + 1;
        let mut w = self.inner.store.begin_write().await?;
        let rows = sqlx::query(
            "SELECT id, kek_version, wrapped_dek FROM vault_records WHERE wrapped_dek IS NOT NULL",
        )
        .fetch_all(w.conn())
        .await?;
        let mut n = 0u64;
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let kv: i64 = r.try_get("kek_version")?;
            let wrapped: Vec<u8> = r.try_get("wrapped_dek")?;
            let owner = format!("record:{id}");
            let dek = crypto::unwrap_key(&keys.master, kv, &owner, &wrapped)?;
            let rewrapped = crypto::wrap_key(&new_master, new_version, &owner, &dek)?;
            sqlx::query(
                "UPDATE vault_records SET wrapped_dek = $1, kek_version = $2 WHERE id = $3",
            )
            .bind(rewrapped)
            .bind(new_version)
            .bind(id)
            .execute(w.conn())
            .await?;
            n += 1;
        }
        for (name, k) in [("index", &keys.index), ("totp", &keys.totp)] {
            sqlx::query("UPDATE vault_keys SET kek_version = $1, wrapped = $2 WHERE name = $3")
                .bind(new_version)
                .bind(crypto::wrap_key(
                    &new_master,
                    new_version,
                    &format!("system:{name}"),
                    k,
                )?)
                .bind(name)
                .execute(w.conn())
                .await?;
        }
        Self::set_meta(&mut w, "master_version", &new_version.to_string()).await?;
        Self::set_meta(&mut w, "master_fingerprint", &new_master.fingerprint()).await?;
        Self::set_meta(&mut w, "provider", provider_kind).await?;
        if let Some(salt) = new_salt {
            Self::set_meta(&mut w, "kdf_salt", &hex::encode(salt)).await?;
        }
        self.record(
            &mut w,
            actor,
            "rotate_key",
            None,
            "vault",
            None,
            Ok(()),
            vec![
                ("records".into(), n.to_string()),
                ("new_version".into(), new_version.to_string()),
            ],
        )
        .await?;
        w.commit().await?;
        let new_keys = Keys {
            master: new_master,
            version: new_version,
            index: keys.index.clone(),
            totp: keys.totp.clone(),
        };
        if let Ok(mut k) = self.inner.keys.write() {
            *k = KeyState::Unlocked(Arc::new(new_keys));
        }
        if let Ok(mut p) = self.inner.provider_kind.write() {
            *p = Some(provider_kind.to_string());
        }
        Ok(RotationReport {
            records: n,
            new_version,
        })
    }

    /// A fresh salt for a passphrase rotation (derive the new key with it).
    pub fn fresh_salt() -> [u8; 16] {
        let mut s = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut s);
        s
    }

    /// After a deletion, asks the database to drop old row versions so erased keys do not
    /// linger in free pages or the write-ahead log (best effort).
    pub(crate) async fn compact(&self) {
        let res = match self.inner.store.backend() {
            Backend::Sqlite => sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(self.inner.store.pool())
                .await
                .map(|_| ()),
            Backend::Postgres => sqlx::query("VACUUM vault_records")
                .execute(self.inner.store.pool())
                .await
                .map(|_| ()),
        };
        if let Err(e) = res {
            tracing::warn!(error = %e, "vault compaction after deletion failed; old pages may hold erased keys until the next checkpoint or VACUUM");
        }
    }
}
