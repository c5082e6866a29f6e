//! Bad input never panics: not an image, truncated, huge dimensions, no face, several faces,
//! missing or corrupt model files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use monban_face::model::{ModelPaths, SFACE_FILE, YUNET_FILE};
use monban_face::{image_io, EngineConfig, FaceEngine, FaceError, FacePolicy};

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A valid tiny PNG whose header then claims `w`×`h` (with a correct CRC).
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(1, 1)
        .write_to(&mut buf, image::ImageFormat::Png)
        .unwrap();
    let mut b = buf.into_inner();
    b[16..20].copy_from_slice(&w.to_be_bytes());
    b[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&b[12..29]);
    b[29..33].copy_from_slice(&crc.to_be_bytes());
    b
}

#[test]
fn decoding_rejects_garbage_truncation_and_huge_dimensions() {
    assert!(matches!(
        image_io::decode(b"hello, not an image"),
        Err(FaceError::NotAnImage(_))
    ));
    assert!(matches!(
        image_io::decode(b""),
        Err(FaceError::NotAnImage(_))
    ));
    // GIF magic: a real format, but not one we accept.
    assert!(matches!(
        image_io::decode(b"GIF89a\x01\x00\x01\x00"),
        Err(FaceError::NotAnImage(_))
    ));
    assert!(matches!(
        image_io::decode(&png_claiming(100_000, 100_000)),
        Err(FaceError::TooLarge { width: 100_000, .. })
    ));
    assert!(matches!(
        image_io::decode(&png_claiming(8000, 8000)),
        Err(FaceError::TooLarge { .. })
    ));
    // A header that promises pixels the file does not have.
    assert!(image_io::decode(&png_claiming(64, 64)).is_err());
    // Truncated PNG.
    let mut buf = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8, y as u8, 7]))
        .write_to(&mut buf, image::ImageFormat::Png)
        .unwrap();
    let png = buf.into_inner();
    assert!(image_io::decode(&png).is_ok());
    assert!(matches!(
        image_io::decode(&png[..png.len() / 2]),
        Err(FaceError::CorruptImage(_))
    ));
    for e in [FaceError::NoFace, FaceError::SeveralFaces(2)] {
        assert!(e.is_bad_input());
        let msg = e.to_string();
        assert!(msg.contains(" / "), "Japanese then English: {msg}");
    }
}

#[test]
fn truncated_jpeg_and_faceless_images_are_errors() {
    if !assets_present("truncated_jpeg") {
        return;
    }
    let bytes = std::fs::read(photos_dir().join("person_b_1.jpg")).unwrap();
    let eng = engine();
    for cut in [10, 200, bytes.len() / 3] {
        // Either the decoder notices, or what is left has no usable face: never a panic, never Ok
        // for the header-only cuts.
        let r = eng.embed_bytes(&bytes[..cut], FacePolicy::Single);
        if cut <= 200 {
            assert!(r.is_err(), "cut at {cut} gave Ok");
        }
        if let Err(e) = r {
            assert!(e.is_bad_input(), "{e}");
        }
    }
    let grey = image::RgbImage::from_pixel(400, 300, image::Rgb([120, 120, 120]));
    assert!(matches!(
        eng.embed(&grey, FacePolicy::Largest),
        Err(FaceError::NoFace)
    ));
    let tiny = image::RgbImage::new(1, 1);
    assert!(matches!(
        eng.embed(&tiny, FacePolicy::Largest),
        Err(FaceError::NoFace)
    ));
}

#[test]
fn several_faces_are_refused_for_enrollment_and_the_largest_is_used_at_doors() {
    if !assets_present("several_faces") {
        return;
    }
    let a = photo("person_a_2.jpg");
    let b = photo("person_b_2.jpg");
    let h = 480;
    let ra = image::imageops::resize(
        &a,
        a.width() * h / a.height(),
        h,
        image::imageops::FilterType::Triangle,
    );
    let rb = image::imageops::resize(
        &b,
        b.width() * (h * 2 / 3) / b.height(),
        h * 2 / 3,
        image::imageops::FilterType::Triangle,
    );
    let mut canvas =
        image::RgbImage::from_pixel(ra.width() + rb.width() + 40, h, image::Rgb([200, 200, 200]));
    image::imageops::overlay(&mut canvas, &ra, 0, 0);
    image::imageops::overlay(&mut canvas, &rb, i64::from(ra.width() + 40), 0);
    let eng = engine();
    match eng.embed(&canvas, FacePolicy::Single) {
        Err(FaceError::SeveralFaces(n)) => assert!(n >= 2),
        other => panic!("expected SeveralFaces, got {other:?}"),
    }
    let largest = eng.embed(&canvas, FacePolicy::Largest).unwrap();
    let a_alone = eng.embed(&a, FacePolicy::Single).unwrap();
    assert!(largest.embedding.cosine(&a_alone.embedding) > 0.8);
}

#[test]
fn missing_and_corrupt_models_are_refused_with_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let err =
        FaceEngine::load(&ModelPaths::in_dir(dir.path()), EngineConfig::default()).unwrap_err();
    assert!(matches!(err, FaceError::ModelMissing { .. }), "{err}");
    assert!(err.to_string().contains("fetch-face-assets.sh"));
    if !assets_present("corrupt_models") {
        return;
    }
    let src = models();
    std::fs::copy(&src.detector, dir.path().join(YUNET_FILE)).unwrap();
    let mut bytes = std::fs::read(&src.recognizer).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(dir.path().join(SFACE_FILE), &bytes).unwrap();
    let err =
        FaceEngine::load(&ModelPaths::in_dir(dir.path()), EngineConfig::default()).unwrap_err();
    assert!(matches!(err, FaceError::ModelChecksum { .. }), "{err}");
    assert!(err.to_string().contains("checksum"));
    // A model replaced by garbage.
    std::fs::write(dir.path().join(YUNET_FILE), b"not onnx").unwrap();
    let err =
        FaceEngine::load(&ModelPaths::in_dir(dir.path()), EngineConfig::default()).unwrap_err();
    assert!(matches!(err, FaceError::ModelChecksum { .. }), "{err}");
    // Garbage that passes no checksum still fails cleanly when parsed directly.
    assert!(monban_face::detect::Detector::from_bytes(b"not onnx", Default::default()).is_err());
}
