//! The vault's error type and the coded reasons for refusing an operator's request.
//!
//! No message here ever contains a personal number: errors name records by internal id only.

use monban_core::coded_enum;
use monban_core::text::{Code, FieldError};
use monban_store::StoreError;

coded_enum! {
    /// Why the vault refused an operator's request. Each refusal is audited with this code.
    pub enum Refusal {
        /// The operator's role may not do this.
        Role = ("role", "権限がありません（事務取扱担当者または責任者のみ）", "role not allowed (handler or security officer only)"),
        /// Only the security officer may do this.
        OfficerOnly = ("officer_only", "責任者のみが行えます", "only the security officer may do this"),
        /// The purpose is not one of the lawful purposes.
        PurposeUnknown = ("purpose_unknown", "利用目的が法定の目的ではありません", "not a lawful purpose"),
        /// The purpose is lawful but not registered for this record.
        PurposeNotAllowed = ("purpose_not_allowed", "この記録に登録された利用目的ではありません", "purpose not registered for this record"),
        /// No confirmed second factor.
        TotpNotEnrolled = ("totp_not_enrolled", "ワンタイムパスワード（TOTP）が未登録です", "no TOTP enrolled"),
        /// The code is not six digits.
        TotpMalformed = ("totp_malformed", "ワンタイムパスワードは6桁の数字です", "a TOTP code is six digits"),
        /// The code does not match the current time.
        TotpInvalid = ("totp_invalid", "ワンタイムパスワードが違うか期限切れです", "wrong or expired TOTP code"),
        /// The code was used before.
        TotpReplayed = ("totp_replayed", "このワンタイムパスワードは使用済みです", "TOTP code already used"),
        /// Too many wrong codes lately.
        TotpLocked = ("totp_locked", "ワンタイムパスワードの誤りが続いたため一時停止中です", "too many wrong TOTP codes; temporarily blocked"),
        /// The operator account is not linked to a person, so presence cannot be checked.
        NotLinked = ("not_linked", "オペレーターが人物に紐付けられていないため在室を確認できません", "operator not linked to a person; presence cannot be checked"),
        /// The operator is not inside a handling or management area.
        OutsideArea = ("outside_area", "取扱区域または管理区域に在室していません", "not inside a handling or management area"),
        /// The input was not acceptable (bad number, bad field).
        InvalidInput = ("invalid_input", "入力内容に誤りがあります", "invalid input"),
        /// The number is already registered.
        Duplicate = ("duplicate", "既に登録されている番号です", "number already registered"),
        /// No such record.
        NotFound = ("not_found", "記録が見つかりません", "record not found"),
        /// The record was deleted.
        RecordDeleted = ("record_deleted", "この記録は削除済みです", "record deleted"),
        /// The request was already handled.
        AlreadyDone = ("already_done", "既に処理済みです", "already handled"),
        /// The request needs the security officer's approval first.
        NotApproved = ("not_approved", "責任者の承認がありません", "not approved by the security officer"),
        /// A second person must confirm (not the requester).
        SamePerson = ("same_person", "申請者本人は承認・確認できません（二者確認）", "the requester cannot approve or confirm their own request"),
        /// Only the requester may do this.
        NotRequester = ("not_requester", "申請者本人のみが行えます", "only the requester may do this"),
        /// A passphrase export is allowed only under the small-business profile.
        PassphraseNotAllowed = ("passphrase_not_allowed", "パスワード方式の持出しは中小規模事業者の設定でのみ使えます", "passphrase exports need the small-business profile"),
        /// The vault is locked.
        Locked = ("locked", "保管庫がロックされています", "vault locked"),
    }
}

impl Refusal {
    /// What the operator can do about it (Japanese / English).
    pub fn advice(self) -> &'static str {
        match self {
            Refusal::Role => "事務取扱担当者または責任者のアカウントで操作してください / use a handler or security-officer account",
            Refusal::OfficerOnly => "責任者のアカウントで操作してください / use a security-officer account",
            Refusal::PurposeUnknown => "GET /api/vault/vocabulary の利用目的から選んでください / choose a purpose from GET /api/vault/vocabulary",
            Refusal::PurposeNotAllowed => "記録の利用目的を確認してください / check the purposes registered for the record",
            Refusal::TotpNotEnrolled => "先に認証アプリを登録してください（POST /api/vault/totp/enroll） / enrol an authenticator app first",
            Refusal::TotpMalformed => "認証アプリの6桁の数字を入力してください / enter the six digits from the authenticator app",
            Refusal::TotpInvalid => "認証アプリの現在の数字を入力し、端末の時刻を確認してください / enter the current code and check the device clock",
            Refusal::TotpReplayed => "次の数字が表示されるまで待って入力してください / wait for the next code",
            Refusal::TotpLocked => "15分ほど待ってから操作してください / wait about 15 minutes",
            Refusal::NotLinked => "責任者にオペレーターと人物の紐付けを依頼してください / ask the security officer to link your account to your person record",
            Refusal::OutsideArea => "取扱区域または管理区域に入室してから操作してください / enter a handling or management area first",
            Refusal::InvalidInput => "項目の説明に従って入力し直してください / correct the field and try again",
            Refusal::Duplicate => "登録済みの記録を使ってください / use the record already registered",
            Refusal::NotFound => "記録IDを確認してください / check the record id",
            Refusal::RecordDeleted => "削除済みの番号は復元できません。必要なら本人から再取得してください / a deleted number cannot be restored; collect it again if needed",
            Refusal::AlreadyDone => "一覧で状態を確認してください / check the status in the list",
            Refusal::NotApproved => "責任者の承認を待ってください / wait for the security officer's approval",
            Refusal::SamePerson => "別の責任者に依頼してください / ask another security officer",
            Refusal::NotRequester => "申請者が操作してください / the requester must do this",
            Refusal::PassphraseNotAllowed => "age の公開鍵（age1…）を受取先に指定してください / give the recipient's age public key (age1…)",
            Refusal::Locked => "管理者はサーバーのログと鍵の設定を確認してください / an administrator should check the server log and key settings",
        }
    }
}

/// Everything the vault can fail with.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The vault has no usable master key; everything else in Monban keeps working.
    #[error("保管庫はロックされています: {0} / the vault is locked: {0}")]
    Locked(String),
    /// The master key is not the one the vault was sealed with.
    #[error("マスター鍵が一致しません（保管庫の鍵 {expected}、与えられた鍵 {given}）。正しい鍵ファイルまたはパスフレーズを指定してください / wrong master key (vault key {expected}, given key {given}); supply the right key file or passphrase")]
    WrongMasterKey { expected: String, given: String },
    /// The key file cannot be read or created.
    #[error("鍵ファイル {path} を使えません: {reason} / cannot use key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    /// A value supplied is not acceptable.
    #[error("{0}")]
    Invalid(FieldError),
    /// A value clashes with an existing record.
    #[error("{0}")]
    Conflict(FieldError),
    /// No such thing.
    #[error("{entity} {id} が見つかりません / {entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    /// The request was refused (and audited).
    #[error("拒否されました: {ja}。{advice} / refused: {en}", ja = .0.label_ja(), en = .0.label_en(), advice = .0.advice())]
    Refused(Refusal),
    /// Stored ciphertext or keys could not be decrypted.
    #[error("暗号データを復号できません（{0}）。鍵と保存データを確認してください / cannot decrypt stored data ({0}); check the key and the stored data")]
    Crypto(String),
    /// The export file could not be built.
    #[error("持出しファイルを作成できません: {0} / cannot build the export file: {0}")]
    Export(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for VaultError {
    fn from(e: sqlx::Error) -> Self {
        VaultError::Store(StoreError::Db(e))
    }
}

impl From<FieldError> for VaultError {
    fn from(f: FieldError) -> Self {
        VaultError::Invalid(f)
    }
}

impl VaultError {
    pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> Self {
        VaultError::NotFound {
            entity,
            id: id.to_string(),
        }
    }
}

/// Result type of the vault.
pub type VaultResult<T> = Result<T, VaultError>;
