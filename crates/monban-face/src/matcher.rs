//! What a face reader does with camera frames: capture a few frames, check liveness, and map
//! the best face to an enrolled template — 1:N for face-only doors, 1:1 against a card
//! holder's templates for face+card doors.
//!
//! At a face-only door the controller presents the matched template reference as a `face`
//! credential. At a face+card door the reader asks the controller agent for the keyed hashes
//! of the card holder's face credentials (`Agent::face_hashes_for_card`), compares the live
//! face only with the gallery templates whose hashed references are among them
//! ([`FaceMatcher::verify_against`]), and hands the resulting [`FaceEvidence`] to the agent
//! with the card, so the decision engine grants or refuses (`face_mismatch`, `face_required`)
//! and journals it like any other read.

use std::sync::Arc;

use monban_core::{CredentialHash, FaceEvidence};

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

    /// 1:1 verification at a face+card door through the controller: compares the live face
    /// only with the gallery templates whose reference hashes (by `hash_ref`, the controller's
    /// keyed credential hash of a `face` template reference) are in `holder_faces`, the card
    /// holder's face credentials. Returns what was seen and the evidence for the decision
    /// engine: `Matched(hash)` for a match at or above the threshold, `NoMatch` for a face that
    /// matched none of them or failed the liveness check, `None` when no face was seen.
    pub fn verify_against(
        &self,
        camera: &mut dyn Camera,
        holder_faces: &[CredentialHash],
        hash_ref: impl Fn(&str) -> Option<CredentialHash>,
    ) -> Result<(FaceRead, Option<FaceEvidence>), FaceError> {
        match self.checked(camera)? {
            Ok(e) => {
                let (read, evidence) = self.verify_embedding_against(&e, holder_faces, hash_ref);
                Ok((read, Some(evidence)))
            }
            Err(FaceRead::NoFace) => Ok((FaceRead::NoFace, None)),
            Err(read) => Ok((read, Some(FaceEvidence::NoMatch))),
        }
    }

    /// [`verify_against`](Self::verify_against) on an embedding.
    pub fn verify_embedding_against(
        &self,
        e: &Embedding,
        holder_faces: &[CredentialHash],
        hash_ref: impl Fn(&str) -> Option<CredentialHash>,
    ) -> (FaceRead, FaceEvidence) {
        if holder_faces.is_empty() {
            return (
                FaceRead::Unknown { best_score: None },
                FaceEvidence::NoMatch,
            );
        }
        // Best first: the first template of the holder is the best of theirs.
        let best = self
            .gallery
            .top_k(e, self.gallery.len())
            .into_iter()
            .find_map(|hit| {
                let h = hash_ref(&hit.owner.template_ref)?;
                holder_faces.contains(&h).then_some((hit, h))
            });
        match best {
            Some((Hit { owner, score }, h)) if self.engine.is_match(score) => {
                (FaceRead::Matched { owner, score }, FaceEvidence::Matched(h))
            }
            Some((hit, _)) => (
                FaceRead::Unknown {
                    best_score: Some(hit.score),
                },
                FaceEvidence::NoMatch,
            ),
            None => (
                FaceRead::Unknown { best_score: None },
                FaceEvidence::NoMatch,
            ),
        }
    }
}
