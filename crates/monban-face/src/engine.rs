//! The whole pipeline: image → faces → aligned crop → embedding.

use std::path::Path;
use std::time::Instant;

use image::RgbImage;

use crate::align;
use crate::detect::{Detector, DetectorConfig, Face};
use crate::model::ModelPaths;
use crate::recognize::{Embedding, Recognizer};
use crate::FaceError;

/// OpenCV's cosine threshold for SFace (same person at or above it).
pub const DEFAULT_THRESHOLD: f32 = 0.363;

/// Which face to use when an image holds several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FacePolicy {
    /// The largest face (a door camera: the nearest person).
    Largest,
    /// Exactly one face, or [`FaceError::SeveralFaces`] (enrollment photos).
    Single,
}

/// Engine settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    pub detector: DetectorConfig,
    /// Cosine threshold for a match.
    pub threshold: f32,
    /// Faces whose eyes are closer than this many pixels are refused as too small.
    pub min_eye_distance: f32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            detector: DetectorConfig::default(),
            threshold: DEFAULT_THRESHOLD,
            min_eye_distance: 12.0,
        }
    }
}

/// A face found in an image and its embedding.
#[derive(Debug, Clone)]
pub struct FaceEmbedding {
    pub face: Face,
    pub embedding: Embedding,
    /// How many faces the detector found in the image.
    pub faces_in_image: usize,
}

/// Detector and recogniser together. `Send + Sync`: share it in an `Arc`.
#[derive(Debug)]
pub struct FaceEngine {
    detector: Detector,
    recognizer: Recognizer,
    config: EngineConfig,
}

impl FaceEngine {
    /// Loads both models (checking their SHA-256).
    pub fn load(paths: &ModelPaths, config: EngineConfig) -> Result<Self, FaceError> {
        if !(-1.0..=1.0).contains(&config.threshold) {
            return Err(FaceError::Invalid(format!(
                "しきい値は -1〜1 で指定してください / threshold must be between -1 and 1, got {}",
                config.threshold
            )));
        }
        let started = Instant::now();
        let detector = Detector::load(&paths.detector, config.detector)?;
        let recognizer = Recognizer::load(&paths.recognizer)?;
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "face models loaded"
        );
        Ok(FaceEngine {
            detector,
            recognizer,
            config,
        })
    }

    /// Loads from the directory that holds both files.
    pub fn load_dir(dir: &Path, config: EngineConfig) -> Result<Self, FaceError> {
        Self::load(&ModelPaths::in_dir(dir), config)
    }

    /// Settings in use.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The cosine threshold.
    pub fn threshold(&self) -> f32 {
        self.config.threshold
    }

    /// The detector alone.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The recogniser alone.
    pub fn recognizer(&self) -> &Recognizer {
        &self.recognizer
    }

    /// Every face, largest first.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Face>, FaceError> {
        self.detector.detect(img)
    }

    /// Picks the face the policy asks for.
    pub fn choose(&self, faces: &[Face], policy: FacePolicy) -> Result<Face, FaceError> {
        let face = match (faces.len(), policy) {
            (0, _) => return Err(FaceError::NoFace),
            (n, FacePolicy::Single) if n > 1 => return Err(FaceError::SeveralFaces(n)),
            _ => faces[0].clone(),
        };
        let d = face.eye_distance();
        if d < self.config.min_eye_distance {
            return Err(FaceError::FaceTooSmall(d.round() as u32));
        }
        Ok(face)
    }

    /// Embeds a given face of an image.
    pub fn embed_face(&self, img: &RgbImage, face: &Face) -> Result<Embedding, FaceError> {
        let crop = align::align(img, &face.landmarks).ok_or(FaceError::NoFace)?;
        self.recognizer.embed(&crop)
    }

    /// Detects, chooses and embeds.
    pub fn embed(&self, img: &RgbImage, policy: FacePolicy) -> Result<FaceEmbedding, FaceError> {
        let faces = self.detect(img)?;
        let face = self.choose(&faces, policy)?;
        let embedding = self.embed_face(img, &face)?;
        Ok(FaceEmbedding {
            face,
            embedding,
            faces_in_image: faces.len(),
        })
    }

    /// Decodes image bytes (JPEG/PNG, size-checked) and embeds.
    pub fn embed_bytes(
        &self,
        bytes: &[u8],
        policy: FacePolicy,
    ) -> Result<FaceEmbedding, FaceError> {
        let img = crate::image_io::decode(bytes)?;
        self.embed(&img, policy)
    }

    /// Whether a cosine score is a match at the configured threshold.
    pub fn is_match(&self, score: f32) -> bool {
        score >= self.config.threshold
    }
}
