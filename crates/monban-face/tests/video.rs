//! `VideoCamera` through a real ffmpeg: a short video made from the test photos is read back
//! frame by frame and the faces in it are found and recognised; inputs that cannot be opened
//! give typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use image::RgbImage;
use monban_face::camera::{ffmpeg_version, Camera, VideoCamera, VideoOptions};
use monban_face::{FaceError, FacePolicy};

/// Whether ffmpeg runs. Missing, it fails the test when `MONBAN_REQUIRE_FACE_ASSETS=1`
/// (scripts/fetch-face-assets.sh installs it) and skips it otherwise.
fn ffmpeg_present(test: &str) -> bool {
    match ffmpeg_version(&VideoOptions::default().ffmpeg) {
        Ok(v) => {
            eprintln!("{v}");
            true
        }
        Err(e) => {
            if std::env::var("MONBAN_REQUIRE_FACE_ASSETS").as_deref() == Ok("1") {
                panic!("{test}: {e} (MONBAN_REQUIRE_FACE_ASSETS=1)");
            }
            eprintln!("SKIPPED {test}: {e}");
            false
        }
    }
}

/// The photo scaled to fit a 640×480 frame, centred on black (a camera's frame size).
fn frame_of(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    let s = (640.0 / w as f32).min(480.0 / h as f32);
    let (nw, nh) = ((w as f32 * s) as u32, (h as f32 * s) as u32);
    let small = image::imageops::resize(img, nw, nh, image::imageops::FilterType::Triangle);
    let mut canvas = RgbImage::new(640, 480);
    image::imageops::overlay(
        &mut canvas,
        &small,
        i64::from((640 - nw) / 2),
        i64::from((480 - nh) / 2),
    );
    canvas
}

/// Encodes PNG frames `f000.png…` of `dir` into `dir/clip.avi` (MPEG-4 part 2, lossy).
fn encode(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("clip.avi");
    let st = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-framerate",
            "5",
            "-i",
        ])
        .arg(dir.join("f%03d.png"))
        .args(["-c:v", "mpeg4", "-q:v", "2", "-pix_fmt", "yuv420p"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "ffmpeg could not encode the test clip");
    out
}

#[test]
fn frames_of_a_video_file_show_the_people_in_it() {
    if !assets_present("video_file") || !ffmpeg_present("video_file") {
        return;
    }
    let eng = engine();
    let people = ["person_a_1.jpg", "person_b_1.jpg", "impostor_1.jpg"];
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for p in people {
        let f = frame_of(&photo(p));
        for _ in 0..2 {
            f.save(dir.path().join(format!("f{n:03}.png"))).unwrap();
            n += 1;
        }
    }
    let clip = encode(dir.path());

    let mut cam = VideoCamera::open_input(clip.to_str().unwrap(), &VideoOptions::default())
        .expect("open the clip");
    assert_eq!(cam.source(), clip.to_str().unwrap());
    let frames = cam.take_frames(100).unwrap();
    assert_eq!(frames.len(), n, "every frame, in order, then the end");
    assert!(cam.next_frame().unwrap().is_none());
    assert!(cam.next_frame().unwrap().is_none(), "the end stays the end");

    // Each frame holds the face of the photo it was made from, recognised against the
    // *other* photo of the same person where there is one, and against nobody else.
    let enrolled: Vec<_> = ["person_a_2.jpg", "person_b_2.jpg", "impostor_2.jpg"]
        .iter()
        .map(|p| eng.embed(&photo(p), FacePolicy::Largest).unwrap().embedding)
        .collect();
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.seq, i as u64);
        assert_eq!(f.image.dimensions(), (640, 480));
        let found = eng.embed(&f.image, FacePolicy::Largest).unwrap();
        let who = i / 2;
        for (j, e) in enrolled.iter().enumerate() {
            let s = found.embedding.cosine(e);
            eprintln!("frame {i} ({}) vs {j}: {s:.3}", people[who]);
            // impostor_1 and impostor_2 are different people.
            if j == who && who < 2 {
                assert!(s >= eng.threshold(), "frame {i}: {s:.3}");
            } else {
                assert!(s < eng.threshold(), "frame {i} vs {j}: {s:.3}");
            }
        }
    }
}

#[test]
fn inputs_that_cannot_be_opened_give_typed_errors() {
    if !ffmpeg_present("bad_inputs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = VideoOptions::default();

    let missing = dir.path().join("missing.mp4");
    let e = VideoCamera::open_input(missing.to_str().unwrap(), &opts).unwrap_err();
    assert!(matches!(e, FaceError::CameraOpen { .. }), "{e}");
    assert!(
        e.to_string().contains("No such file"),
        "ffmpeg's words: {e}"
    );
    assert!(e.to_string().starts_with("カメラを開けません"), "{e}");

    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a video at all\n".repeat(100)).unwrap();
    let e = VideoCamera::open_input(text.to_str().unwrap(), &opts).unwrap_err();
    assert!(matches!(e, FaceError::CameraOpen { .. }), "{e}");

    // A device file that is not a camera.
    let e = VideoCamera::open_device(Path::new("/dev/null"), &opts).unwrap_err();
    assert!(matches!(e, FaceError::CameraOpen { .. }), "{e}");
    eprintln!("{e}");

    let e = VideoCamera::open_device(Path::new("/dev/video-that-is-not-there"), &opts).unwrap_err();
    assert!(e.to_string().contains("no such device"), "{e}");
}
