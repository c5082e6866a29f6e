//! What the server and the CLI hold: the loaded engine, the template key, and enrollment from
//! photo bytes.

use std::path::Path;
use std::sync::Arc;

use monban_store::Store;

use crate::engine::{EngineConfig, FaceEmbedding, FaceEngine, FacePolicy};
use crate::model::ModelPaths;
use crate::templates::{self, Enrolled, Enrollment, TemplateKey};
use crate::FaceError;

/// Most photos accepted in one enrollment.
pub const MAX_PHOTOS: usize = 10;

/// The engine and the template key, shared by request handlers.
#[derive(Debug)]
pub struct FaceService {
    pub engine: Arc<FaceEngine>,
    pub key: TemplateKey,
}

/// A photo that could not be used, with its position in the request.
#[derive(Debug, thiserror::Error)]
#[error("写真 {index}: {error} / photo {index}: {error}")]
pub struct PhotoError {
    pub index: usize,
    #[source]
    pub error: FaceError,
}

impl FaceService {
    /// Loads the models (found by [`ModelPaths::locate`]), the key file of the data directory
    /// (created if absent) and brings the face tables up to date.
    pub async fn open(store: &Store, data_dir: &Path) -> Result<Self, FaceError> {
        let paths = ModelPaths::locate(Some(data_dir));
        let key = TemplateKey::load_or_create(&TemplateKey::path_in(data_dir))?;
        let engine = tokio_blocking(move || FaceEngine::load(&paths, EngineConfig::default()))?;
        templates::migrate(store).await?;
        Ok(FaceService {
            engine: Arc::new(engine),
            key,
        })
    }

    /// Embeds each photo (exactly one face each). Runs inference: call from a blocking thread.
    pub fn embed_photos(&self, photos: &[Vec<u8>]) -> Result<Vec<FaceEmbedding>, PhotoError> {
        if photos.is_empty() || photos.len() > MAX_PHOTOS {
            return Err(PhotoError {
                index: 0,
                error: FaceError::Invalid(format!(
                    "写真は1〜{MAX_PHOTOS}枚にしてください / give 1 to {MAX_PHOTOS} photos, got {}",
                    photos.len()
                )),
            });
        }
        photos
            .iter()
            .enumerate()
            .map(|(index, p)| {
                self.engine
                    .embed_bytes(p, FacePolicy::Single)
                    .map_err(|error| PhotoError { index, error })
            })
            .collect()
    }

    /// Embeds the photos on a blocking thread, then stores the template, the credential and
    /// the audit record in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn enroll(
        self: &Arc<Self>,
        store: &Store,
        person_id: i64,
        photos: Vec<Vec<u8>>,
        keep_photos: bool,
        source: &str,
        actor: &str,
        request_id: Option<String>,
    ) -> Result<(Enrolled, Vec<FaceEmbedding>), PhotoError> {
        let me = self.clone();
        let (photos, faces) = tokio::task::spawn_blocking(move || {
            let faces = me.embed_photos(&photos);
            (photos, faces)
        })
        .await
        .map_err(|e| PhotoError {
            index: 0,
            error: FaceError::Inference(e.to_string()),
        })?;
        let faces = faces?;
        let embeddings: Vec<_> = faces.iter().map(|f| f.embedding.clone()).collect();
        let enrolled = templates::enroll(
            store,
            &self.key,
            &Enrollment {
                person_id,
                embeddings: &embeddings,
                keep_photos: keep_photos.then_some(photos.as_slice()),
                source: source.into(),
                actor: actor.into(),
                request_id,
            },
        )
        .await
        .map_err(|error| PhotoError { index: 0, error })?;
        Ok((enrolled, faces))
    }
}

fn tokio_blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
