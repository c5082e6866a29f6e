//! A baseline presentation-attack check for face-only doors: across several frames the face
//! must *move non-rigidly* (the head turns or nods, so the landmarks' relative layout changes)
//! or the *eye region must change* (a blink), and it must stay the same person.
//!
//! What this stops: a still printed photo or a phone showing a still picture held in front of
//! the camera, including one slid, rotated or brought closer (those are similarity motions,
//! which the check removes before measuring). What it does NOT stop is written down in
//! docs/face.md: a video replay, a photo bent or tilted in 3-D, a printed photo with cut-out
//! eyes, a 3-D mask, and anything a determined attacker prepares. It is a baseline, not an
//! ISO/IEC 30107-3 evaluated presentation-attack detector.

use image::RgbImage;

use crate::align::{self, Similarity, TEMPLATE};
use crate::detect::{Face, Point};
use crate::engine::FaceEngine;
use crate::recognize::Embedding;
use crate::FaceError;

/// Liveness settings.
#[derive(Debug, Clone, Copy)]
pub struct LivenessConfig {
    /// Frames that must show a face.
    pub min_frames: usize,
    /// Non-rigid landmark motion needed, in template pixels (the aligned crop is 112 px wide,
    /// eyes 35 px apart), as the largest mean displacement from the first frame.
    pub min_shape_motion: f32,
    /// Change of the eye regions needed (mean absolute grey-level difference after removing
    /// brightness), 0..255.
    pub min_eye_change: f32,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            min_frames: 3,
            min_shape_motion: 1.5,
            min_eye_change: 14.0,
        }
    }
}

/// What the check measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LivenessReport {
    pub frames: usize,
    pub frames_with_face: usize,
    /// Largest non-rigid landmark motion from the first face, template pixels.
    pub shape_motion: f32,
    /// Largest eye-region change from the first face, grey levels.
    pub eye_change: f32,
    /// Lowest similarity of a frame's face to the first face's.
    pub min_identity_score: f32,
    pub live: bool,
}

/// One frame's face as liveness needs it.
#[derive(Debug, Clone)]
pub struct Observation {
    pub face: Face,
    pub crop: RgbImage,
    pub embedding: Embedding,
}

/// Detects, aligns and embeds the largest face of a frame (`None` without a face).
pub fn observe(engine: &FaceEngine, img: &RgbImage) -> Result<Option<Observation>, FaceError> {
    let faces = engine.detect(img)?;
    let Some(face) = faces.into_iter().next() else {
        return Ok(None);
    };
    if face.eye_distance() < engine.config().min_eye_distance {
        return Ok(None);
    }
    let Some(crop) = align::align(img, &face.landmarks) else {
        return Ok(None);
    };
    let embedding = engine.recognizer().embed(&crop)?;
    Ok(Some(Observation {
        face,
        crop,
        embedding,
    }))
}

/// Decides liveness from per-frame observations (`None` = no face in that frame).
pub fn assess(obs: &[Option<Observation>], threshold: f32, cfg: &LivenessConfig) -> LivenessReport {
    let faces: Vec<&Observation> = obs.iter().flatten().collect();
    let mut report = LivenessReport {
        frames: obs.len(),
        frames_with_face: faces.len(),
        shape_motion: 0.0,
        eye_change: 0.0,
        min_identity_score: 1.0,
        live: false,
    };
    let Some(first) = faces.first() else {
        report.min_identity_score = 0.0;
        return report;
    };
    let first_shape = normalised_shape(&first.face.landmarks);
    let first_eyes = eye_patch(&first.crop);
    for o in &faces[1..] {
        if let (Some(a), Some(b)) = (&first_shape, normalised_shape(&o.face.landmarks)) {
            let m: f32 = a
                .iter()
                .zip(b.iter())
                .map(|(p, q)| ((p.x - q.x).powi(2) + (p.y - q.y).powi(2)).sqrt())
                .sum::<f32>()
                / 5.0;
            report.shape_motion = report.shape_motion.max(m);
        }
        let eyes = eye_patch(&o.crop);
        report.eye_change = report.eye_change.max(patch_change(&first_eyes, &eyes));
        report.min_identity_score = report
            .min_identity_score
            .min(first.embedding.cosine(&o.embedding));
    }
    report.live = faces.len() >= cfg.min_frames.max(2)
        && report.min_identity_score >= threshold
        && (report.shape_motion >= cfg.min_shape_motion || report.eye_change >= cfg.min_eye_change);
    report
}

/// The landmarks mapped onto the template by their own best similarity transform: what is left
/// is the face's shape, free of position, size and in-plane rotation.
fn normalised_shape(l: &[Point; 5]) -> Option<[Point; 5]> {
    let t = Similarity::estimate(l, &TEMPLATE)?;
    Some(l.map(|p| t.apply(p)))
}

/// Grey levels of both eye regions of an aligned crop, brightness removed.
fn eye_patch(crop: &RgbImage) -> Vec<f32> {
    let mut v = Vec::with_capacity(2 * 24 * 14);
    for c in [TEMPLATE[0], TEMPLATE[1]] {
        let (cx, cy) = (c.x.round() as i64, c.y.round() as i64);
        for y in cy - 7..cy + 7 {
            for x in cx - 12..cx + 12 {
                let (xu, yu) = (x.clamp(0, 111) as u32, y.clamp(0, 111) as u32);
                let p = crop.get_pixel(
                    xu.min(crop.width().saturating_sub(1)),
                    yu.min(crop.height().saturating_sub(1)),
                );
                v.push(0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]));
            }
        }
    }
    let mean = v.iter().sum::<f32>() / v.len().max(1) as f32;
    v.iter_mut().for_each(|x| *x -= mean);
    v
}

fn patch_change(a: &[f32], b: &[f32]) -> f32 {
    if a.is_empty() || a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
}
