//! YuNet face detection: preprocessing, output decoding and non-maximum suppression.
//!
//! The image is scaled to fit a square canvas (320 or 640 pixels a side, fixed at load) and
//! padded on the right and bottom; YuNet's twelve outputs (`cls`, `obj`, `bbox`, `kps` at strides
//! 8, 16 and 32) are decoded as OpenCV's `FaceDetectorYN` does.

use image::imageops::FilterType;
use image::RgbImage;
use tract_onnx::prelude::*;

use crate::model::{self, YUNET_SHA256};
use crate::FaceError;

/// A point in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// One detected face, in the original image's pixels.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Face {
    /// Left, top, width, height.
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    /// Right eye, left eye, nose tip, right and left mouth corner (the person's right is on the
    /// image's left).
    pub landmarks: [Point; 5],
    /// Detection confidence, 0..1.
    pub score: f32,
}

impl Face {
    /// Area of the box.
    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    /// Distance between the eyes, in pixels.
    pub fn eye_distance(&self) -> f32 {
        let [a, b, ..] = self.landmarks;
        ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
    }

    fn iou(&self, o: &Face) -> f32 {
        let x1 = self.x.max(o.x);
        let y1 = self.y.max(o.y);
        let x2 = (self.x + self.w).min(o.x + o.w);
        let y2 = (self.y + self.h).min(o.y + o.h);
        let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
        let union = self.area() + o.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
}

/// Detector settings.
#[derive(Debug, Clone, Copy)]
pub struct DetectorConfig {
    /// Side of the square input canvas (a multiple of 32): 320 is faster, 640 finds smaller faces.
    pub input_size: u32,
    /// Minimum confidence of a face.
    pub score_threshold: f32,
    /// Overlap above which the weaker of two boxes is dropped.
    pub nms_threshold: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            input_size: 640,
            score_threshold: 0.6,
            nms_threshold: 0.3,
        }
    }
}

/// The YuNet detector, ready to run.
#[derive(Debug)]
pub struct Detector {
    plan: model::Plan,
    config: DetectorConfig,
    /// Output index of cls/obj/bbox/kps for strides 8, 16, 32.
    outputs: [[usize; 3]; 4],
}

impl Detector {
    /// Loads a verified model file.
    pub fn load(path: &std::path::Path, config: DetectorConfig) -> Result<Self, FaceError> {
        let bytes = model::read_verified(path, YUNET_SHA256)?;
        Self::from_bytes(&bytes, config)
    }

    /// Loads from bytes already verified by the caller.
    pub fn from_bytes(bytes: &[u8], config: DetectorConfig) -> Result<Self, FaceError> {
        if config.input_size < 32 || config.input_size & 31 != 0 || config.input_size > 2048 {
            return Err(FaceError::Invalid(format!(
                "検出サイズは 32 の倍数（32〜2048）にしてください / detector input size must be a multiple of 32 between 32 and 2048, got {}",
                config.input_size
            )));
        }
        let s = config.input_size as usize;
        let plan = model::load_plan(bytes, &[1, 3, s, s])?;
        let names: Vec<String> = plan
            .model()
            .output_outlets()
            .map_err(|e| FaceError::ModelLoad(e.to_string()))?
            .iter()
            .map(|o| {
                plan.model()
                    .outlet_label(*o)
                    .map(str::to_string)
                    .unwrap_or_else(|| plan.model().node(o.node).name.clone())
            })
            .collect();
        let mut outputs = [[usize::MAX; 3]; 4];
        for (k, kind) in ["cls", "obj", "bbox", "kps"].iter().enumerate() {
            for (si, stride) in [8, 16, 32].iter().enumerate() {
                let want = format!("{kind}_{stride}");
                outputs[k][si] = names.iter().position(|n| *n == want).unwrap_or(k * 3 + si);
            }
        }
        if names.len() != 12 || outputs.iter().flatten().any(|&i| i >= names.len()) {
            return Err(FaceError::ModelLoad(format!(
                "unexpected YuNet outputs: {names:?}"
            )));
        }
        Ok(Detector {
            plan,
            config,
            outputs,
        })
    }

    /// Settings in use.
    pub fn config(&self) -> DetectorConfig {
        self.config
    }

    /// Finds every face, largest first.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Face>, FaceError> {
        let s = self.config.input_size;
        let (w, h) = img.dimensions();
        if w == 0 || h == 0 {
            return Ok(Vec::new());
        }
        let scale = s as f32 / w.max(h) as f32;
        let nw = ((w as f32 * scale).round() as u32).clamp(1, s);
        let nh = ((h as f32 * scale).round() as u32).clamp(1, s);
        let resized;
        let src = if (nw, nh) == (w, h) {
            img
        } else {
            resized = image::imageops::resize(img, nw, nh, FilterType::Triangle);
            &resized
        };
        let su = s as usize;
        // NCHW, BGR, raw 0..255 values, zero padding.
        let mut input = tract_ndarray::Array4::<f32>::zeros((1, 3, su, su));
        for (x, y, p) in src.enumerate_pixels() {
            let (xu, yu) = (x as usize, y as usize);
            input[[0, 0, yu, xu]] = f32::from(p[2]);
            input[[0, 1, yu, xu]] = f32::from(p[1]);
            input[[0, 2, yu, xu]] = f32::from(p[0]);
        }
        let out = self
            .plan
            .run(tvec!(Tensor::from(input).into()))
            .map_err(|e| FaceError::Inference(e.to_string()))?;
        let mut faces = Vec::new();
        for (si, stride) in [8usize, 16, 32].iter().enumerate() {
            let get = |k: usize| -> Result<Vec<f32>, FaceError> {
                model::f32_vec(&out[self.outputs[k][si]]).map_err(FaceError::Inference)
            };
            let (cls, obj, bbox, kps) = (get(0)?, get(1)?, get(2)?, get(3)?);
            let cols = su / stride;
            let rows = su / stride;
            let n = rows * cols;
            if cls.len() < n || obj.len() < n || bbox.len() < n * 4 || kps.len() < n * 10 {
                return Err(FaceError::Inference("YuNet output too short".into()));
            }
            let st = *stride as f32;
            for r in 0..rows {
                for c in 0..cols {
                    let i = r * cols + c;
                    let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
                    if score < self.config.score_threshold {
                        continue;
                    }
                    let cx = (c as f32 + bbox[i * 4]) * st;
                    let cy = (r as f32 + bbox[i * 4 + 1]) * st;
                    let bw = bbox[i * 4 + 2].exp() * st;
                    let bh = bbox[i * 4 + 3].exp() * st;
                    let mut landmarks = [Point::default(); 5];
                    for (k, l) in landmarks.iter_mut().enumerate() {
                        l.x = (kps[i * 10 + 2 * k] + c as f32) * st / scale;
                        l.y = (kps[i * 10 + 2 * k + 1] + r as f32) * st / scale;
                    }
                    let face = Face {
                        x: (cx - bw / 2.0) / scale,
                        y: (cy - bh / 2.0) / scale,
                        w: bw / scale,
                        h: bh / scale,
                        landmarks,
                        score,
                    };
                    if face.w.is_finite() && face.h.is_finite() && face.w > 1.0 && face.h > 1.0 {
                        faces.push(face);
                    }
                }
            }
        }
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut kept: Vec<Face> = Vec::new();
        for f in faces {
            if kept.iter().all(|k| k.iou(&f) <= self.config.nms_threshold) {
                kept.push(f);
            }
        }
        kept.sort_by(|a, b| b.area().total_cmp(&a.area()));
        Ok(kept)
    }
}
