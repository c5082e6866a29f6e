//! SFace embeddings: a 112×112 aligned crop in, an L2-normalised 128-d vector out.

use image::RgbImage;
use tract_onnx::prelude::*;

use crate::align::CROP;
use crate::model::{self, SFACE_SHA256};
use crate::FaceError;

/// Length of an embedding.
pub const DIM: usize = 128;

/// An L2-normalised face embedding.
#[derive(Clone, PartialEq)]
pub struct Embedding(pub [f32; DIM]);

impl std::fmt::Debug for Embedding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Biometric data: never printed in full.
        f.write_str("Embedding(128 floats)")
    }
}

impl Embedding {
    /// Normalises a raw vector; `None` when it is all zeros or not finite.
    pub fn from_raw(v: &[f32]) -> Option<Embedding> {
        if v.len() != DIM {
            return None;
        }
        let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !n.is_finite() || n < 1e-12 {
            return None;
        }
        let mut out = [0f32; DIM];
        for (o, x) in out.iter_mut().zip(v) {
            *o = x / n;
        }
        Some(Embedding(out))
    }

    /// Cosine similarity with another embedding (both normalised: a dot product), −1..1.
    pub fn cosine(&self, other: &Embedding) -> f32 {
        dot(&self.0, &other.0)
    }

    /// The normalised mean of several embeddings (the template of a person enrolled from
    /// several photos).
    pub fn centroid(all: &[Embedding]) -> Option<Embedding> {
        let mut sum = [0f32; DIM];
        for e in all {
            for (s, x) in sum.iter_mut().zip(e.0.iter()) {
                *s += x;
            }
        }
        Embedding::from_raw(&sum)
    }

    /// Little-endian bytes (512).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// From [`Embedding::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Option<Embedding> {
        if b.len() != DIM * 4 {
            return None;
        }
        let v: Vec<f32> = b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Embedding::from_raw(&v)
    }
}

/// Dot product with eight independent accumulators (vectorises well).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// The SFace recogniser, ready to run.
#[derive(Debug)]
pub struct Recognizer {
    plan: model::Plan,
}

impl Recognizer {
    /// Loads a verified model file.
    pub fn load(path: &std::path::Path) -> Result<Self, FaceError> {
        let bytes = model::read_verified(path, SFACE_SHA256)?;
        Self::from_bytes(&bytes)
    }

    /// Loads from bytes already verified by the caller.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FaceError> {
        let c = CROP as usize;
        Ok(Recognizer {
            plan: model::load_plan(bytes, &[1, 3, c, c])?,
        })
    }

    /// Embeds an aligned 112×112 crop.
    pub fn embed(&self, crop: &RgbImage) -> Result<Embedding, FaceError> {
        if crop.dimensions() != (CROP, CROP) {
            return Err(FaceError::Invalid(format!(
                "crop must be {CROP}×{CROP}, got {:?}",
                crop.dimensions()
            )));
        }
        let c = CROP as usize;
        // NCHW, BGR, raw 0..255 values (as OpenCV's FaceRecognizerSF feeds it).
        let mut input = tract_ndarray::Array4::<f32>::zeros((1, 3, c, c));
        for (x, y, p) in crop.enumerate_pixels() {
            let (xu, yu) = (x as usize, y as usize);
            input[[0, 0, yu, xu]] = f32::from(p[2]);
            input[[0, 1, yu, xu]] = f32::from(p[1]);
            input[[0, 2, yu, xu]] = f32::from(p[0]);
        }
        let out = self
            .plan
            .run(tvec!(Tensor::from(input).into()))
            .map_err(|e| FaceError::Inference(e.to_string()))?;
        let v = model::f32_vec(
            out.first()
                .ok_or_else(|| FaceError::Inference("SFace gave no output".into()))?,
        )
        .map_err(FaceError::Inference)?;
        Embedding::from_raw(&v)
            .ok_or_else(|| FaceError::Inference(format!("SFace output of {} values", v.len())))
    }
}
