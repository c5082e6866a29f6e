//! Shared set-up: the models and photos fetched by scripts/fetch-face-assets.sh.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use monban_face::model::{default_cache_dir, ModelPaths};
use monban_face::{EngineConfig, FaceEngine};

pub const PHOTOS: [&str; 6] = [
    "person_a_1.jpg",
    "person_a_2.jpg",
    "person_b_1.jpg",
    "person_b_2.jpg",
    "impostor_1.jpg",
    "impostor_2.jpg",
];

pub fn photos_dir() -> PathBuf {
    default_cache_dir().join("photos")
}

pub fn models() -> ModelPaths {
    ModelPaths::in_dir(&default_cache_dir().join("models"))
}

/// Whether the assets are there. Missing assets fail the test when
/// `MONBAN_REQUIRE_FACE_ASSETS=1`, and skip it with a notice otherwise.
pub fn assets_present(test: &str) -> bool {
    let m = models();
    let ok = m.detector.is_file()
        && m.recognizer.is_file()
        && PHOTOS.iter().all(|p| photos_dir().join(p).is_file());
    if !ok {
        let msg = format!(
            "face assets missing in {}: run scripts/fetch-face-assets.sh",
            default_cache_dir().display()
        );
        if std::env::var("MONBAN_REQUIRE_FACE_ASSETS").as_deref() == Ok("1") {
            panic!("{test}: {msg} (MONBAN_REQUIRE_FACE_ASSETS=1)");
        }
        eprintln!("SKIPPED {test}: {msg}");
    }
    ok
}

/// One engine per test binary (loading takes a second or two).
pub fn engine() -> Arc<FaceEngine> {
    static E: OnceLock<Arc<FaceEngine>> = OnceLock::new();
    E.get_or_init(|| {
        Arc::new(FaceEngine::load(&models(), EngineConfig::default()).expect("load models"))
    })
    .clone()
}

pub fn photo(name: &str) -> image::RgbImage {
    monban_face::image_io::open(&photos_dir().join(name)).expect("photo")
}

pub fn label(name: &str) -> String {
    if name.starts_with("impostor") {
        name.trim_end_matches(".jpg").to_string()
    } else {
        name[..name.len() - 6].to_string()
    }
}
