//! The My Number vault over the API: registering numbers with their 本人確認, listing records
//! (numbers never shown, only 「登録済み」), the gated reveal, TOTP enrolment, operator–person
//! links, settings, deletion and export workflows, and the ledger and due-for-deletion reports
//! (JSON or CSV). Vault refusals answer as problem documents with the refusal's reason code.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use monban_core::text::{Code, FieldError};
use monban_vault::policy::{self, RetentionRule};
use monban_vault::{
    Actor, DocType, ExportInput, ExportRecipient, IdentityCheckDoc, MyNumber, NewRecord,
    NumberCheckDoc, Purpose, Refusal, Relation, SettingsChange, VaultError,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use zeroize::{Zeroize, Zeroizing};

use super::{parse_code, parse_date, ApiJson};
use crate::auth::Authed;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(vocabulary))
        .routes(routes!(list_records, create_record))
        .routes(routes!(get_record))
        .routes(routes!(set_retention))
        .routes(routes!(reveal))
        .routes(routes!(request_deletion))
        .routes(routes!(list_deletions))
        .routes(routes!(confirm_deletion))
        .routes(routes!(list_exports, request_export))
        .routes(routes!(approve_export))
        .routes(routes!(produce_export))
        .routes(routes!(totp_enroll))
        .routes(routes!(totp_confirm))
        .routes(routes!(totp_reset))
        .routes(routes!(list_links))
        .routes(routes!(set_link))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(ledger))
        .routes(routes!(due))
}

/// An error from a vault route: an ordinary API error or a vault error.
pub enum VaultApiError {
    Api(ApiError),
    Vault(VaultError),
}

impl From<ApiError> for VaultApiError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<VaultError> for VaultApiError {
    fn from(e: VaultError) -> Self {
        Self::Vault(e)
    }
}

impl From<FieldError> for VaultApiError {
    fn from(e: FieldError) -> Self {
        Self::Api(ApiError::Invalid(e))
    }
}

/// A vault problem document: RFC 9457 with the refusal's reason code.
#[derive(Serialize, ToSchema)]
pub struct VaultProblem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The refusal's reason code (e.g. `outside_area`), when refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn problem_response(p: VaultProblem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&p).unwrap_or_default();
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

impl IntoResponse for VaultApiError {
    fn into_response(self) -> Response {
        let e = match self {
            VaultApiError::Api(a) => return a.into_response(),
            VaultApiError::Vault(e) => e,
        };
        match e {
            VaultError::Invalid(f) => ApiError::Invalid(f).into_response(),
            VaultError::Conflict(f) => ApiError::Conflict(f).into_response(),
            VaultError::NotFound { entity, id } => ApiError::NotFound {
                entity: entity.into(),
                id,
            }
            .into_response(),
            VaultError::Store(s) => ApiError::from(s).into_response(),
            VaultError::Refused(r) => {
                let (status, field) = match r {
                    Refusal::PurposeUnknown => (422, Some("purpose")),
                    Refusal::TotpMalformed => (422, Some("totp")),
                    Refusal::TotpLocked => (429, None),
                    Refusal::RecordDeleted => (410, None),
                    Refusal::NotFound => (404, None),
                    Refusal::AlreadyDone | Refusal::NotApproved => (409, None),
                    Refusal::Locked => (503, None),
                    _ => (403, None),
                };
                problem_response(VaultProblem {
                    kind: "/problems/vault-refused".into(),
                    title: "保管庫へのアクセスが拒否されました / vault access refused".into(),
                    status,
                    detail: VaultError::Refused(r).to_string(),
                    field: field.map(Into::into),
                    reason: Some(r.code().into()),
                })
            }
            VaultError::Locked(_)
            | VaultError::WrongMasterKey { .. }
            | VaultError::KeyFile { .. } => problem_response(VaultProblem {
                kind: "/problems/vault-locked".into(),
                title: "保管庫はロックされています / vault locked".into(),
                status: 503,
                detail: e.to_string(),
                field: None,
                reason: Some("locked".into()),
            }),
            VaultError::Crypto(_) | VaultError::Export(_) => {
                tracing::error!(error = %e, "vault error");
                ApiError::Internal("vault".into()).into_response()
            }
        }
    }
}

type VResult<T> = Result<T, VaultApiError>;

fn actor(a: &Authed) -> Actor {
    let mut act = Actor::operator(&a.operator);
    act.request_id = crate::audit::REQUEST_ID.try_with(Clone::clone).ok();
    act
}

fn require_view(a: &Authed) -> VResult<()> {
    if policy::may_view_metadata(a.operator.role) {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            needed: "保管庫の閲覧（事務取扱担当者・責任者・監査）".into(),
            needed_en: "view the vault (handler, security officer or auditor)".into(),
        }
        .into())
    }
}

fn no_store(resp: &mut Response) {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

// ----- status and vocabulary ------------------------------------------------------------------

/// The vault's state and the calling operator's readiness.
#[derive(Serialize, ToSchema)]
pub struct VaultStatusOut {
    pub unlocked: bool,
    pub locked_reason: Option<String>,
    pub key_version: Option<i64>,
    pub key_fingerprint: Option<String>,
    pub provider: Option<String>,
    pub sme_profile: bool,
    pub presence_required: bool,
    /// Whether the caller has a confirmed TOTP.
    pub totp_enrolled: bool,
    /// The person the caller is linked to, for presence.
    pub linked_person_id: Option<i64>,
}

/// The vault's state.
#[utoipa::path(get, path = "/api/vault/status", tag = "vault", security(("session" = [])), responses((status = 200, body = VaultStatusOut)))]
async fn status(State(st): State<AppState>, a: Authed) -> VResult<Json<VaultStatusOut>> {
    let s = st.vault.status();
    // Tables exist only once the vault was opened with a key provider.
    let (settings, enrolled, link) = if st.vault.store_ready().await {
        (
            Some(st.vault.settings().await?),
            st.vault.totp_enrolled(a.operator.id).await?,
            st.vault.link_of(a.operator.id).await?.map(|l| l.person_id),
        )
    } else {
        (None, false, None)
    };
    Ok(Json(VaultStatusOut {
        unlocked: s.unlocked,
        locked_reason: s.locked_reason,
        key_version: s.key_version,
        key_fingerprint: s.key_fingerprint,
        provider: s.provider,
        sme_profile: settings.as_ref().is_some_and(|s| s.sme_profile),
        presence_required: settings.as_ref().is_none_or(|s| s.presence_required),
        totp_enrolled: enrolled,
        linked_person_id: link,
    }))
}

/// A coded value with its labels.
#[derive(Serialize, ToSchema)]
pub struct Term {
    pub code: String,
    pub ja: String,
    pub en: String,
}

fn terms<T: Code>() -> Vec<Term> {
    T::ALL
        .iter()
        .map(|t| Term {
            code: t.code().into(),
            ja: t.label_ja().into(),
            en: t.label_en().into(),
        })
        .collect()
}

/// A document type with its purposes and retention rule.
#[derive(Serialize, ToSchema)]
pub struct DocTypeOut {
    pub code: String,
    pub ja: String,
    pub en: String,
    pub purposes: Vec<String>,
    pub retention: String,
    pub basis_date_meaning: String,
}

/// The vault's vocabulary.
#[derive(Serialize, ToSchema)]
pub struct VocabularyOut {
    /// Lawful purposes (番号法9条).
    pub purposes: Vec<Term>,
    pub doc_types: Vec<DocTypeOut>,
    pub relations: Vec<Term>,
    pub number_check_docs: Vec<Term>,
    pub identity_check_docs: Vec<Term>,
}

/// Purposes, document types with retention rules, and 本人確認 documents.
#[utoipa::path(get, path = "/api/vault/vocabulary", tag = "vault", security(("session" = [])), responses((status = 200, body = VocabularyOut)))]
async fn vocabulary(_a: Authed) -> Json<VocabularyOut> {
    Json(VocabularyOut {
        purposes: terms::<Purpose>(),
        doc_types: DocType::ALL
            .iter()
            .map(|d| DocTypeOut {
                code: d.code().into(),
                ja: d.label_ja().into(),
                en: d.label_en().into(),
                purposes: d.purposes().iter().map(|p| p.code().into()).collect(),
                retention: RetentionRule::describe(d.retention()),
                basis_date_meaning: d.basis_meaning().into(),
            })
            .collect(),
        relations: terms::<Relation>(),
        number_check_docs: terms::<NumberCheckDoc>(),
        identity_check_docs: terms::<IdentityCheckDoc>(),
    })
}

// ----- records --------------------------------------------------------------------------------

/// A record. The number is never included: `number` says only whether one is held.
#[derive(Serialize, ToSchema)]
pub struct RecordOut {
    pub id: i64,
    pub person_id: i64,
    pub relation: String,
    pub relation_ja: String,
    pub dependent_label: Option<String>,
    pub doc_type: String,
    pub doc_type_ja: String,
    pub purposes: Vec<String>,
    pub purposes_ja: Vec<String>,
    pub basis_date: Option<String>,
    /// 削除予定日.
    pub due_date: Option<String>,
    /// `active` or `deleted`.
    pub status: String,
    /// 「登録済み」 or 「削除済み」; never digits.
    #[schema(example = "登録済み / registered")]
    pub number: String,
    pub number_check_doc: String,
    pub identity_check_doc: String,
    pub checked_by: Option<i64>,
    pub checked_on: String,
    pub created_by: String,
    pub created_at: String,
    pub deleted_at: Option<String>,
}

impl From<monban_vault::RecordMeta> for RecordOut {
    fn from(r: monban_vault::RecordMeta) -> Self {
        Self {
            id: r.id,
            person_id: r.person_id,
            relation: r.relation.code().into(),
            relation_ja: r.relation.label_ja().into(),
            dependent_label: r.dependent_label.clone(),
            doc_type: r.doc_type.code().into(),
            doc_type_ja: r.doc_type.label_ja().into(),
            purposes: r.purposes.iter().map(|p| p.code().into()).collect(),
            purposes_ja: r.purposes.iter().map(|p| p.label_ja().into()).collect(),
            basis_date: r.basis_date.map(|d| d.to_string()),
            due_date: r.due_date.map(|d| d.to_string()),
            status: if r.deleted { "deleted" } else { "active" }.into(),
            number: r.number_display().into(),
            number_check_doc: r.number_check_doc.code().into(),
            identity_check_doc: r.identity_check_doc.code().into(),
            checked_by: r.checked_by,
            checked_on: r.checked_on.to_string(),
            created_by: r.created_by.clone(),
            created_at: r.created_at.to_string(),
            deleted_at: r.deleted_at.map(|t| t.to_string()),
        }
    }
}

/// A number to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordIn {
    pub person_id: i64,
    /// employee (default) or dependent.
    pub relation: Option<String>,
    /// Who the dependent is (e.g. 配偶者). Required for dependents.
    pub dependent_label: Option<String>,
    #[schema(example = "dependents_declaration")]
    pub doc_type: String,
    /// Purposes; default: the document type's.
    pub purposes: Option<Vec<String>>,
    /// YYYY-MM-DD: the date retention counts from (see /api/vault/vocabulary).
    pub basis_date: Option<String>,
    /// The 12-digit personal number (full-width digits, spaces and hyphens accepted).
    #[schema(value_type = String)]
    pub number: serde_json::Value,
    #[schema(example = "my_number_card")]
    pub number_check_doc: String,
    #[schema(example = "my_number_card")]
    pub identity_check_doc: String,
    /// YYYY-MM-DD: when 本人確認 was done.
    pub checked_on: String,
}

fn parse_number(v: serde_json::Value) -> Result<MyNumber, ApiError> {
    let mut text = match v {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let parsed = MyNumber::parse(&text);
    text.zeroize();
    parsed.map_err(ApiError::Invalid)
}

/// Query for the record list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecordQuery {
    pub person_id: Option<i64>,
}

/// Lists records (no numbers).
#[utoipa::path(get, path = "/api/vault/records", tag = "vault", params(RecordQuery), security(("session" = [])), responses((status = 200, body = [RecordOut]), (status = 403, body = Problem)))]
async fn list_records(
    State(st): State<AppState>,
    a: Authed,
    Query(q): Query<RecordQuery>,
) -> VResult<Json<Vec<RecordOut>>> {
    require_view(&a)?;
    Ok(Json(
        st.vault
            .list_records(q.person_id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Registers a number with its 本人確認 (handler or security officer, inside a handling area).
#[utoipa::path(post, path = "/api/vault/records", tag = "vault", request_body = RecordIn, security(("session" = []), ("csrf" = [])), responses((status = 201, body = RecordOut), (status = 422, body = Problem), (status = 409, body = Problem), (status = 403, body = VaultProblem), (status = 503, body = VaultProblem)))]
async fn create_record(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<RecordIn>,
) -> VResult<Response> {
    let person_id = b.person_id;
    match record_input(b) {
        Ok(rec) => {
            let r = st.vault.register(&actor(&a), rec).await?;
            Ok((StatusCode::CREATED, Json(RecordOut::from(r))).into_response())
        }
        Err(ApiError::Invalid(f)) => {
            // Bad input from an operator is audited too (the field, never the value).
            if st.vault.store_ready().await {
                st.vault
                    .note_invalid(
                        &actor(&a),
                        "register",
                        &format!("person:{person_id}"),
                        Refusal::InvalidInput,
                        &f.field,
                    )
                    .await?;
            }
            Err(ApiError::Invalid(f).into())
        }
        Err(e) => Err(e.into()),
    }
}

fn record_input(b: RecordIn) -> Result<NewRecord, ApiError> {
    let number = parse_number(b.number)?;
    let purposes = b
        .purposes
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, p)| parse_code::<Purpose>(&format!("purposes[{i}]"), p))
        .collect::<Result<Vec<_>, _>>()?;
    let rec = NewRecord {
        person_id: b.person_id,
        relation: match &b.relation {
            Some(r) => parse_code("relation", r)?,
            None => Relation::Employee,
        },
        dependent_label: b.dependent_label,
        doc_type: parse_code("doc_type", &b.doc_type)?,
        purposes,
        basis_date: parse_date("basis_date", &b.basis_date)?,
        number,
        number_check_doc: parse_code("number_check_doc", &b.number_check_doc)?,
        identity_check_doc: parse_code("identity_check_doc", &b.identity_check_doc)?,
        checked_on: parse_date("checked_on", &Some(b.checked_on))?.ok_or_else(|| {
            ApiError::Invalid(FieldError::new(
                "checked_on",
                "本人確認日を入力してください / checked_on is required",
            ))
        })?,
    };
    Ok(rec)
}

/// One record (no number).
#[utoipa::path(get, path = "/api/vault/records/{id}", tag = "vault", params(("id" = i64, Path)), security(("session" = [])), responses((status = 200, body = RecordOut), (status = 404, body = Problem)))]
async fn get_record(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> VResult<Json<RecordOut>> {
    require_view(&a)?;
    Ok(Json(st.vault.get_record(id).await?.into()))
}

/// A new retention basis date.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionIn {
    /// YYYY-MM-DD, or null while unknown.
    pub basis_date: Option<String>,
}

/// Sets the retention basis date (e.g. on retirement), which sets the deletion due date.
#[utoipa::path(put, path = "/api/vault/records/{id}/retention", tag = "vault", params(("id" = i64, Path)), request_body = RetentionIn, security(("session" = []), ("csrf" = [])), responses((status = 200, body = RecordOut), (status = 403, body = VaultProblem)))]
async fn set_retention(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<RetentionIn>,
) -> VResult<Json<RecordOut>> {
    let d = parse_date("basis_date", &b.basis_date)?;
    Ok(Json(
        st.vault.set_basis_date(&actor(&a), id, d).await?.into(),
    ))
}

/// A reveal request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealIn {
    /// A lawful purpose the record is registered for.
    #[schema(example = "withholding_slip")]
    pub purpose: String,
    /// The current six-digit code from the operator's authenticator app.
    #[schema(example = "123456")]
    pub totp: String,
}

/// A revealed number. Sent with `Cache-Control: no-store`.
#[derive(Serialize, ToSchema)]
pub struct RevealOut {
    pub record_id: i64,
    /// The 12-digit number.
    pub number: String,
    pub purpose: String,
    pub purpose_ja: String,
    pub revealed_at: String,
}

/// Reveals a number: handler or security officer, lawful purpose, fresh TOTP, presence in a
/// 取扱区域/管理区域. Every attempt and refusal is audited.
#[utoipa::path(post, path = "/api/vault/records/{id}/reveal", tag = "vault", params(("id" = i64, Path)), request_body = RevealIn, security(("session" = []), ("csrf" = [])), responses((status = 200, body = RevealOut), (status = 403, body = VaultProblem), (status = 422, body = VaultProblem), (status = 429, body = VaultProblem), (status = 503, body = VaultProblem)))]
async fn reveal(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<RevealIn>,
) -> VResult<Response> {
    let r = st.vault.reveal(&actor(&a), id, &b.purpose, &b.totp).await?;
    let body = Zeroizing::new(
        serde_json::to_vec(&RevealOut {
            record_id: r.record_id,
            number: r.number.expose().to_string(),
            purpose: r.purpose.code().into(),
            purpose_ja: r.purpose.label_ja().into(),
            revealed_at: r.at.to_string(),
        })
        .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    let mut resp = (StatusCode::OK, body.to_vec()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    no_store(&mut resp);
    Ok(resp)
}

// ----- deletion -------------------------------------------------------------------------------

/// A deletion request or record.
#[derive(Serialize, ToSchema)]
pub struct DeletionOut {
    pub id: i64,
    pub record_id: i64,
    pub doc_type: String,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: String,
    /// `requested` or `done`.
    pub status: String,
    pub method: Option<String>,
    pub confirmed_by: Option<String>,
    pub confirmed_at: Option<String>,
}

impl From<monban_vault::DeletionRecord> for DeletionOut {
    fn from(d: monban_vault::DeletionRecord) -> Self {
        Self {
            id: d.id,
            record_id: d.record_id,
            doc_type: d.doc_type,
            reason: d.reason,
            requested_by: d.requested_by,
            requested_at: d.requested_at.to_string(),
            status: d.status,
            method: d.method,
            confirmed_by: d.confirmed_by,
            confirmed_at: d.confirmed_at.map(|t| t.to_string()),
        }
    }
}

/// Why a record should be deleted.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletionIn {
    #[schema(example = "保存期間満了")]
    pub reason: String,
}

/// Requests deletion of a record (the security officer confirms).
#[utoipa::path(post, path = "/api/vault/records/{id}/deletion", tag = "vault", params(("id" = i64, Path)), request_body = DeletionIn, security(("session" = []), ("csrf" = [])), responses((status = 201, body = DeletionOut), (status = 403, body = VaultProblem), (status = 409, body = Problem)))]
async fn request_deletion(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<DeletionIn>,
) -> VResult<Response> {
    let d = st.vault.request_deletion(&actor(&a), id, &b.reason).await?;
    Ok((StatusCode::CREATED, Json(DeletionOut::from(d))).into_response())
}

/// Deletion requests and records.
#[utoipa::path(get, path = "/api/vault/deletions", tag = "vault", security(("session" = [])), responses((status = 200, body = [DeletionOut])))]
async fn list_deletions(State(st): State<AppState>, a: Authed) -> VResult<Json<Vec<DeletionOut>>> {
    require_view(&a)?;
    Ok(Json(
        st.vault
            .list_deletions()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// The security officer confirms a deletion: the data key is erased (crypto-shredding).
#[utoipa::path(post, path = "/api/vault/deletions/{id}/confirm", tag = "vault", params(("id" = i64, Path)), security(("session" = []), ("csrf" = [])), responses((status = 200, body = DeletionOut), (status = 403, body = VaultProblem), (status = 409, body = VaultProblem)))]
async fn confirm_deletion(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> VResult<Json<DeletionOut>> {
    Ok(Json(
        st.vault.confirm_deletion(&actor(&a), id).await?.into(),
    ))
}

// ----- export ---------------------------------------------------------------------------------

/// An export (持出し) record.
#[derive(Serialize, ToSchema)]
pub struct ExportOut {
    pub id: i64,
    pub requested_by: String,
    pub requested_at: String,
    pub purpose: String,
    pub destination: String,
    pub record_ids: Vec<i64>,
    /// `age_x25519` or `passphrase`.
    pub recipient_kind: String,
    pub recipient: Option<String>,
    /// `requested`, `approved` or `produced`.
    pub status: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
    pub produced_at: Option<String>,
    pub record_count: Option<i64>,
    pub file_sha256: Option<String>,
}

impl From<monban_vault::ExportRecord> for ExportOut {
    fn from(e: monban_vault::ExportRecord) -> Self {
        Self {
            id: e.id,
            requested_by: e.requested_by,
            requested_at: e.requested_at.to_string(),
            purpose: e.purpose.code().into(),
            destination: e.destination,
            record_ids: e.record_ids,
            recipient_kind: e.recipient_kind,
            recipient: e.recipient,
            status: e.status,
            approved_by: e.approved_by,
            approved_at: e.approved_at.map(|t| t.to_string()),
            produced_at: e.produced_at.map(|t| t.to_string()),
            record_count: e.record_count,
            file_sha256: e.file_sha256,
        }
    }
}

/// An export request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportIn {
    pub record_ids: Vec<i64>,
    #[schema(example = "withholding_slip")]
    pub purpose: String,
    #[schema(example = "○○税理士事務所")]
    pub destination: String,
    /// The recipient's age public key (`age1…`). Omit for a passphrase export (small-business
    /// profile only).
    pub age_recipient: Option<String>,
}

/// Exports.
#[utoipa::path(get, path = "/api/vault/exports", tag = "vault", security(("session" = [])), responses((status = 200, body = [ExportOut])))]
async fn list_exports(State(st): State<AppState>, a: Authed) -> VResult<Json<Vec<ExportOut>>> {
    require_view(&a)?;
    Ok(Json(
        st.vault
            .list_exports()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Requests an export (the security officer approves before the file can be made).
#[utoipa::path(post, path = "/api/vault/exports", tag = "vault", request_body = ExportIn, security(("session" = []), ("csrf" = [])), responses((status = 201, body = ExportOut), (status = 403, body = VaultProblem), (status = 422, body = Problem)))]
async fn request_export(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<ExportIn>,
) -> VResult<Response> {
    let input = ExportInput {
        record_ids: b.record_ids,
        purpose: b.purpose,
        destination: b.destination,
        recipient: match b.age_recipient {
            Some(k) => ExportRecipient::AgePublicKey(k),
            None => ExportRecipient::Passphrase,
        },
    };
    let e = st.vault.request_export(&actor(&a), &input).await?;
    Ok((StatusCode::CREATED, Json(ExportOut::from(e))).into_response())
}

/// The security officer approves an export.
#[utoipa::path(post, path = "/api/vault/exports/{id}/approve", tag = "vault", params(("id" = i64, Path)), security(("session" = []), ("csrf" = [])), responses((status = 200, body = ExportOut), (status = 403, body = VaultProblem)))]
async fn approve_export(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
) -> VResult<Json<ExportOut>> {
    Ok(Json(st.vault.approve_export(&actor(&a), id).await?.into()))
}

/// What making an export file needs.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportFileIn {
    pub totp: String,
    /// For passphrase exports only (never stored).
    pub passphrase: Option<String>,
}

/// The requester makes the approved export file (age-encrypted CSV), once.
#[utoipa::path(post, path = "/api/vault/exports/{id}/file", tag = "vault", params(("id" = i64, Path)), request_body = ExportFileIn, security(("session" = []), ("csrf" = [])), responses((status = 200, description = "age-encrypted CSV", content_type = "application/octet-stream"), (status = 403, body = VaultProblem), (status = 409, body = VaultProblem)))]
async fn produce_export(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ExportFileIn>,
) -> VResult<Response> {
    let f = st
        .vault
        .produce_export(&actor(&a), id, &b.totp, b.passphrase.map(Zeroizing::new))
        .await?;
    let mut resp = (StatusCode::OK, f.bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", f.file_name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&f.sha256) {
        h.insert("x-monban-sha256", v);
    }
    no_store(&mut resp);
    Ok(resp)
}

// ----- TOTP -----------------------------------------------------------------------------------

/// A TOTP enrolment, shown once.
#[derive(Serialize, ToSchema)]
pub struct TotpEnrollOut {
    /// Base32 secret to type into the app.
    pub secret_base32: String,
    /// `otpauth://` URI (for a QR code).
    pub otpauth_uri: String,
}

/// Starts TOTP enrolment for the calling operator.
#[utoipa::path(post, path = "/api/vault/totp/enroll", tag = "vault", security(("session" = []), ("csrf" = [])), responses((status = 200, body = TotpEnrollOut), (status = 409, body = Problem)))]
async fn totp_enroll(State(st): State<AppState>, a: Authed) -> VResult<Response> {
    let e = st
        .vault
        .totp_enroll(&actor(&a), &a.operator.username)
        .await?;
    let mut resp = Json(TotpEnrollOut {
        secret_base32: e.secret_base32.to_string(),
        otpauth_uri: e.otpauth_uri.to_string(),
    })
    .into_response();
    no_store(&mut resp);
    Ok(resp)
}

/// A code from the app.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCodeIn {
    pub code: String,
}

/// Confirms TOTP enrolment with a current code.
#[utoipa::path(post, path = "/api/vault/totp/confirm", tag = "vault", request_body = TotpCodeIn, security(("session" = []), ("csrf" = [])), responses((status = 204), (status = 403, body = VaultProblem)))]
async fn totp_confirm(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<TotpCodeIn>,
) -> VResult<StatusCode> {
    st.vault.totp_confirm(&actor(&a), &b.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The security officer removes an operator's TOTP (lost device).
#[utoipa::path(delete, path = "/api/vault/totp/{operator_id}", tag = "vault", params(("operator_id" = i64, Path)), security(("session" = []), ("csrf" = [])), responses((status = 204), (status = 403, body = VaultProblem)))]
async fn totp_reset(
    State(st): State<AppState>,
    a: Authed,
    Path(operator_id): Path<i64>,
) -> VResult<StatusCode> {
    st.vault.totp_reset(&actor(&a), operator_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- links and settings ---------------------------------------------------------------------

/// An operator ↔ person link.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LinkOut {
    pub operator_id: i64,
    pub person_id: i64,
    pub site_id: Option<i64>,
}

/// Operator ↔ person links (presence of the person applies to the operator).
#[utoipa::path(get, path = "/api/vault/links", tag = "vault", security(("session" = [])), responses((status = 200, body = [LinkOut])))]
async fn list_links(State(st): State<AppState>, a: Authed) -> VResult<Json<Vec<LinkOut>>> {
    require_view(&a)?;
    Ok(Json(
        st.vault
            .list_links()
            .await?
            .into_iter()
            .map(|l| LinkOut {
                operator_id: l.operator_id,
                person_id: l.person_id,
                site_id: l.site_id,
            })
            .collect(),
    ))
}

/// A link to set; `person_id: null` removes it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIn {
    pub person_id: Option<i64>,
    /// The site whose presence setting applies.
    pub site_id: Option<i64>,
}

/// The security officer links an operator to a person.
#[utoipa::path(put, path = "/api/vault/links/{operator_id}", tag = "vault", params(("operator_id" = i64, Path)), request_body = LinkIn, security(("session" = []), ("csrf" = [])), responses((status = 204), (status = 403, body = VaultProblem), (status = 404, body = Problem)))]
async fn set_link(
    State(st): State<AppState>,
    a: Authed,
    Path(operator_id): Path<i64>,
    ApiJson(b): ApiJson<LinkIn>,
) -> VResult<StatusCode> {
    st.vault
        .link_operator(&actor(&a), operator_id, b.person_id, b.site_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A per-site presence setting.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SitePresence {
    pub site_id: i64,
    /// `null` removes the override.
    pub presence_required: Option<bool>,
}

/// The vault's settings.
#[derive(Serialize, ToSchema)]
pub struct SettingsOut {
    /// 中小規模事業者 profile.
    pub sme_profile: bool,
    /// Reveal needs presence in a 取扱区域/管理区域 (default on).
    pub presence_required: bool,
    pub site_presence: Vec<SitePresence>,
    pub responsible_department: Option<String>,
}

impl From<monban_vault::VaultSettings> for SettingsOut {
    fn from(s: monban_vault::VaultSettings) -> Self {
        Self {
            sme_profile: s.sme_profile,
            presence_required: s.presence_required,
            site_presence: s
                .site_presence
                .into_iter()
                .map(|(site_id, on)| SitePresence {
                    site_id,
                    presence_required: Some(on),
                })
                .collect(),
            responsible_department: s.responsible_department,
        }
    }
}

/// A settings change; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsIn {
    pub sme_profile: Option<bool>,
    pub presence_required: Option<bool>,
    pub site_presence: Option<Vec<SitePresence>>,
    /// Empty text clears it.
    pub responsible_department: Option<String>,
}

/// The vault's settings.
#[utoipa::path(get, path = "/api/vault/settings", tag = "vault", security(("session" = [])), responses((status = 200, body = SettingsOut)))]
async fn get_settings(State(st): State<AppState>, a: Authed) -> VResult<Json<SettingsOut>> {
    require_view(&a)?;
    Ok(Json(st.vault.settings().await?.into()))
}

/// The security officer changes the vault's settings.
#[utoipa::path(put, path = "/api/vault/settings", tag = "vault", request_body = SettingsIn, security(("session" = []), ("csrf" = [])), responses((status = 200, body = SettingsOut), (status = 403, body = VaultProblem)))]
async fn put_settings(
    State(st): State<AppState>,
    a: Authed,
    ApiJson(b): ApiJson<SettingsIn>,
) -> VResult<Json<SettingsOut>> {
    let c = SettingsChange {
        sme_profile: b.sme_profile,
        presence_required: b.presence_required,
        site_presence: b
            .site_presence
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.site_id, s.presence_required))
            .collect(),
        responsible_department: b.responsible_department,
    };
    Ok(Json(st.vault.update_settings(&actor(&a), &c).await?.into()))
}

// ----- reports --------------------------------------------------------------------------------

/// Report format.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `json` (default) or `csv` (UTF-8 with BOM, for Excel).
    pub format: Option<String>,
    /// For the due list: YYYY-MM-DD (default today in Asia/Tokyo).
    pub as_of: Option<String>,
}

/// One ledger row.
#[derive(Serialize, ToSchema)]
pub struct LedgerOut {
    pub record: RecordOut,
    pub employee_number: Option<String>,
    pub officers: Vec<String>,
    pub department: Option<String>,
    pub access: Vec<String>,
    pub reveals: i64,
    pub last_reveal: Option<String>,
    pub exports: i64,
    pub deletion_method: Option<String>,
    pub deletion_confirmed_by: Option<String>,
}

fn csv_response(name: &str, bytes: Vec<u8>) -> Response {
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

fn want_csv(q: &ReportQuery) -> Result<bool, ApiError> {
    match q.format.as_deref() {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(ApiError::Invalid(FieldError::new(
            "format",
            "format は json または csv にしてください / format must be json or csv",
        ))),
    }
}

/// The 取扱状況 ledger (JSON or CSV).
#[utoipa::path(get, path = "/api/vault/reports/ledger", tag = "vault", params(ReportQuery), security(("session" = [])), responses((status = 200, body = [LedgerOut]), (status = 403, body = Problem)))]
async fn ledger(
    State(st): State<AppState>,
    a: Authed,
    Query(q): Query<ReportQuery>,
) -> VResult<Response> {
    require_view(&a)?;
    let csv = want_csv(&q)?;
    let rows = st.vault.ledger(&actor(&a)).await?;
    if csv {
        return Ok(csv_response(
            "vault-ledger.csv",
            monban_vault::report::ledger_csv(&rows),
        ));
    }
    Ok(Json(
        rows.into_iter()
            .map(|r| LedgerOut {
                employee_number: r.employee_number,
                officers: r.officers,
                department: r.department,
                access: r.access,
                reveals: r.reveals,
                last_reveal: r.last_reveal.map(|t| t.to_string()),
                exports: r.exports,
                deletion_method: r.deletion_method,
                deletion_confirmed_by: r.deletion_confirmed_by,
                record: r.record.into(),
            })
            .collect::<Vec<_>>(),
    )
    .into_response())
}

/// One record due for deletion.
#[derive(Serialize, ToSchema)]
pub struct DueOut {
    pub record: RecordOut,
    pub employee_number: Option<String>,
    pub due_date: String,
    pub days_overdue: i64,
    pub pending_request: Option<i64>,
}

/// Records due for deletion on or before `as_of` (JSON or CSV).
#[utoipa::path(get, path = "/api/vault/reports/due", tag = "vault", params(ReportQuery), security(("session" = [])), responses((status = 200, body = [DueOut]), (status = 403, body = Problem)))]
async fn due(
    State(st): State<AppState>,
    a: Authed,
    Query(q): Query<ReportQuery>,
) -> VResult<Response> {
    require_view(&a)?;
    let csv = want_csv(&q)?;
    let as_of = match parse_date("as_of", &q.as_of)? {
        Some(d) => d,
        None => jiff::Zoned::now()
            .with_time_zone(
                jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC),
            )
            .date(),
    };
    let rows = st.vault.due_for_deletion(&actor(&a), as_of).await?;
    if csv {
        return Ok(csv_response(
            "vault-due-for-deletion.csv",
            monban_vault::report::due_csv(&rows),
        ));
    }
    Ok(Json(
        rows.into_iter()
            .map(|r| DueOut {
                employee_number: r.employee_number,
                due_date: r.due_date.to_string(),
                days_overdue: r.days_overdue,
                pending_request: r.pending_request,
                record: r.record.into(),
            })
            .collect::<Vec<_>>(),
    )
    .into_response())
}
