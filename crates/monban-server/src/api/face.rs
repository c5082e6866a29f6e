//! Face enrollment over the API: `POST /api/persons/{id}/face` with one or more photos
//! (base64 JSON). The photos are embedded on a blocking thread, the template is stored
//! encrypted, a `face` credential points at it, and the audit record is written in the same
//! transaction. The photos are discarded unless `keep_photos` is set.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::response::IntoResponse;
use base64::Engine as _;
use monban_core::operator::Permission;
use monban_core::text::FieldError;
use monban_face::{FaceError, FaceService};
use monban_store::people;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{created, ApiJson};
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// Largest face enrollment request (up to ten photos, base64).
pub const MAX_FACE_BODY_BYTES: usize = 24 * 1024 * 1024;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enroll_face))
        .layer(DefaultBodyLimit::max(MAX_FACE_BODY_BYTES))
}

/// Photos of one person for face enrollment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaceEnrollIn {
    /// 1–10 photos, each a JPEG or PNG in standard base64, showing this person's face alone.
    pub photos: Vec<String>,
    /// Keep the photos too (encrypted). Off by default: only the template is stored.
    #[serde(default)]
    pub keep_photos: bool,
}

/// What one photo showed.
#[derive(Serialize, ToSchema)]
pub struct FacePhotoOut {
    /// Detector confidence, 0..1.
    pub detection_score: f32,
    /// Distance between the eyes, pixels (a rough measure of resolution).
    pub eye_distance_px: f32,
}

/// The face credential created.
#[derive(Serialize, ToSchema)]
pub struct FaceEnrollOut {
    pub credential_id: i64,
    pub person_id: i64,
    /// Opaque reference to the encrypted template (`face_template_ref` of the credential).
    pub template_ref: String,
    pub model: String,
    pub photos: Vec<FacePhotoOut>,
    pub photos_kept: usize,
}

fn service(st: &AppState) -> ApiResult<Arc<FaceService>> {
    st.face.clone().ok_or_else(|| {
        ApiError::Internal(
            "顔認証モデルが読み込まれていません。scripts/fetch-face-assets.sh を実行してサーバーを再起動してください / face models are not loaded; run scripts/fetch-face-assets.sh and restart the server".into(),
        )
    })
}

fn photo_error(index: usize, e: FaceError) -> ApiError {
    match e {
        FaceError::Store(s) => ApiError::from(s),
        e if e.is_bad_input() => {
            ApiError::Invalid(FieldError::new(format!("photos[{index}]"), e.to_string()))
        }
        e => ApiError::Internal(e.to_string()),
    }
}

/// Enrolls a person's face from photos: creates a `face` credential.
#[utoipa::path(post, path = "/api/persons/{id}/face", tag = "people", params(("id" = i64, Path)), request_body = FaceEnrollIn, security(("session" = []), ("csrf" = [])), responses((status = 201, body = FaceEnrollOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn enroll_face(
    State(st): State<AppState>,
    a: Authed,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<FaceEnrollIn>,
) -> ApiResult<impl IntoResponse> {
    a.require(Permission::ManagePeople)?;
    let svc = service(&st)?;
    people::get_person(&st.store, id).await?;
    if b.photos.is_empty() || b.photos.len() > monban_face::service::MAX_PHOTOS {
        return Err(ApiError::Invalid(FieldError::new(
            "photos",
            format!(
                "写真は1〜{}枚にしてください / give 1 to {} photos",
                monban_face::service::MAX_PHOTOS,
                monban_face::service::MAX_PHOTOS
            ),
        )));
    }
    let mut photos = Vec::with_capacity(b.photos.len());
    for (i, p) in b.photos.iter().enumerate() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(p.trim())
            .map_err(|_| {
                ApiError::Invalid(FieldError::new(
                    format!("photos[{i}]"),
                    "base64 で送ってください / send the photo as standard base64",
                ))
            })?;
        photos.push(bytes);
    }
    let request_id = crate::audit::REQUEST_ID.try_with(|r| r.clone()).ok();
    let (enrolled, faces) = svc
        .enroll(
            &st.store,
            id,
            photos,
            b.keep_photos,
            "api",
            &a.actor(),
            request_id,
        )
        .await
        .map_err(|e| photo_error(e.index, e.error))?;
    Ok(created(FaceEnrollOut {
        credential_id: enrolled.credential.id,
        person_id: id,
        template_ref: enrolled.template_ref,
        model: monban_face::model::MODEL_ID.into(),
        photos: faces
            .iter()
            .map(|f| FacePhotoOut {
                detection_score: f.face.score,
                eye_distance_px: f.face.eye_distance(),
            })
            .collect(),
        photos_kept: enrolled.photos_kept,
    }))
}
