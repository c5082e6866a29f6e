//! What a face reader does with camera frames: capture a few frames, check liveness, and map
//! the best face to an enrolled template — 1:N for face-only doors, 1:1 against a card
//! holder's template for face+card doors. The controller then presents the template reference
//! (a `face` credential) or the card to the decision engine like any other read.

use std::sync::Arc;

use crate::camera::Camera;
use crate::engine::FaceEngine;
use crate::gallery::{Gallery, Hit, TemplateOwner};
use crate::liveness::{self, LivenessConfig, LivenessReport, Observation};
use crate::recognize::Embedding;
use crate::FaceError;

/// The result of reading a face at a door.
#[derive(Debug, Clone, PartialEq)]
pub enum FaceRead {
    /// A template matched at or above the threshold.
    Matched { owner: TemplateOwner, score: f32 },
    /// A face was seen but matched nobody (best score given, if any template exists).
    Unknown { best_score: Option<f32> },
    /// The liveness check failed (too little movement, or the face changed between frames).
    NotLive(LivenessReport),
    /// No usable face in the frames.
    NoFace,
}

/// Maps camera frames to enrolled templates.
#[derive(Debug, Clone)]
pub struct FaceMatcher {
    engine: Arc<FaceEngine>,
    gallery: Arc<Gallery>,
    /// Frames to capture per read.
    pub frames: usize,
    /// Liveness settings; `None` disables the check (face+card doors may choose so).
    pub liveness: Option<LivenessConfig>,
}

/// A capture: the best frame's face and what liveness measured.
#[derive(Debug, Clone)]
pub struct Capture {
    pub best: Option<Observation>,
    pub liveness: LivenessReport,
}

impl FaceMatcher {
    /// A matcher over these templates with the default liveness check over 3 frames.
    pub fn new(engine: Arc<FaceEngine>, gallery: Arc<Gallery>) -> Self {
        FaceMatcher {
            engine,
            gallery,
            frames: 3,
            liveness: Some(LivenessConfig::default()),
        }
    }

    /// Replaces the templates (after an enrollment or a revocation).
    pub fn set_gallery(&mut self, gallery: Arc<Gallery>) {
        self.gallery = gallery;
    }

    /// The templates.
    pub fn gallery(&self) -> &Gallery {
        &self.gallery
    }

    /// The engine.
    pub fn engine(&self) -> &FaceEngine {
        &self.engine
    }

    /// Reads `self.frames` frames and measures them.
    pub fn capture(&self, camera: &mut dyn Camera) -> Result<Capture, FaceError> {
        let frames = camera.take_frames(self.frames.max(1))?;
        let mut obs = Vec::with_capacity(frames.len());
        for f in &frames {
            obs.push(liveness::observe(&self.engine, &f.image)?);
        }
        let cfg = self.liveness.unwrap_or_default();
        let report = liveness::assess(&obs, self.engine.threshold(), &cfg);
        let best = obs
            .into_iter()
            .flatten()
            .max_by(|a, b| a.face.score.total_cmp(&b.face.score));
        Ok(Capture {
            best,
            liveness: report,
        })
    }

    fn checked(&self, camera: &mut dyn Camera) -> Result<Result<Embedding, FaceRead>, FaceError> {
        let cap = self.capture(camera)?;
        let Some(best) = cap.best else {
            return Ok(Err(FaceRead::NoFace));
        };
        if self.liveness.is_some() && !cap.liveness.live {
            return Ok(Err(FaceRead::NotLive(cap.liveness)));
        }
        Ok(Ok(best.embedding))
    }

    /// 1:N identification for a face-only door.
    pub fn identify(&self, camera: &mut dyn Camera) -> Result<FaceRead, FaceError> {
        let e = match self.checked(camera)? {
            Ok(e) => e,
            Err(read) => return Ok(read),
        };
        Ok(self.identify_embedding(&e))
    }

    /// 1:N on an embedding.
    pub fn identify_embedding(&self, e: &Embedding) -> FaceRead {
        match self.gallery.best(e) {
            Some(Hit { owner, score }) if self.engine.is_match(score) => {
                FaceRead::Matched { owner, score }
            }
            Some(hit) => FaceRead::Unknown {
                best_score: Some(hit.score),
            },
            None => FaceRead::Unknown { best_score: None },
        }
    }

    /// 1:1 verification against one person's templates (a face+card door: the card says who,
    /// the face must match that person).
    pub fn verify_person(
        &self,
        camera: &mut dyn Camera,
        person_id: i64,
    ) -> Result<FaceRead, FaceError> {
        let e = match self.checked(camera)? {
            Ok(e) => e,
            Err(read) => return Ok(read),
        };
        Ok(self.verify_embedding(&e, person_id))
    }

    /// 1:1 on an embedding.
    pub fn verify_embedding(&self, e: &Embedding, person_id: i64) -> FaceRead {
        let mut best: Option<(TemplateOwner, f32)> = None;
        for hit in self.gallery.of_person(person_id) {
            if let Some(score) = self.gallery.verify(&hit.template_ref, e) {
                if best.as_ref().is_none_or(|(_, b)| score > *b) {
                    best = Some((hit.clone(), score));
                }
            }
        }
        match best {
            Some((owner, score)) if self.engine.is_match(score) => {
                FaceRead::Matched { owner, score }
            }
            Some((_, score)) => FaceRead::Unknown {
                best_score: Some(score),
            },
            None => FaceRead::Unknown { best_score: None },
        }
    }
}
