//! `monban face bench`: speed and memory of the face pipeline on this machine.

use std::path::Path;
use std::time::Instant;

use crate::detect::DetectorConfig;
use crate::gallery::{Gallery, TemplateOwner};
use crate::model::ModelPaths;
use crate::recognize::DIM;
use crate::{eval, Embedding, EngineConfig, FaceEngine, FaceError, FacePolicy};

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "—".into();
    }
    v.sort_by(f64::total_cmp);
    let med = v[v.len() / 2];
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    format!(
        "median {med:.2} ms, mean {mean:.2} ms, min {:.2} ms (n={})",
        v[0],
        v.len()
    )
}

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Measures model load, detection at 320 and 640, embedding, the whole pipeline, 1:N search
/// over `n_templates` random templates and peak RSS; each result is one line given to `out`.
pub fn run(
    paths: &ModelPaths,
    photos: &Path,
    n_templates: usize,
    iters: usize,
    out: &mut dyn FnMut(String),
) -> Result<(), FaceError> {
    let iters = iters.max(1);
    let samples = eval::load_labelled(photos)?;
    let images: Vec<image::RgbImage> = samples
        .iter()
        .map(|s| crate::image_io::open(&s.path))
        .collect::<Result<_, _>>()?;
    out(format!(
        "threads: 1 (tract runs single-threaded); cpus: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    ));
    let rss0 = peak_rss_mib();
    for size in [320u32, 640] {
        let t = Instant::now();
        let cfg = EngineConfig {
            detector: DetectorConfig {
                input_size: size,
                ..DetectorConfig::default()
            },
            ..EngineConfig::default()
        };
        let engine = match FaceEngine::load(paths, cfg) {
            Ok(e) => e,
            Err(e) => {
                out(format!(
                    "detector {size}×{size}: not usable with this model file: {e}"
                ));
                continue;
            }
        };
        out(format!(
            "model load (YuNet {size} + SFace, verify + dequantize + optimise): {:.0} ms",
            ms(t.elapsed())
        ));
        let img = &images[images.len() - 1];
        let _ = engine.detect(img)?; // warm-up
        let mut d = Vec::new();
        for i in 0..iters {
            let img = &images[i % images.len()];
            let t = Instant::now();
            let _ = engine.detect(img)?;
            d.push(ms(t.elapsed()));
        }
        out(format!(
            "detection {size}×{size} (incl. resize of the photo): {}",
            stats(d)
        ));
        if size == 640 {
            let faces: Vec<_> = images
                .iter()
                .filter_map(|img| {
                    let f = engine.detect(img).ok()?.into_iter().next()?;
                    crate::align::align(img, &f.landmarks)
                })
                .collect();
            if faces.is_empty() {
                return Err(FaceError::NoFace);
            }
            let _ = engine.recognizer().embed(&faces[0])?;
            let mut e = Vec::new();
            for i in 0..iters {
                let t = Instant::now();
                let _ = engine.recognizer().embed(&faces[i % faces.len()])?;
                e.push(ms(t.elapsed()));
            }
            out(format!("embedding (SFace, one 112×112 face): {}", stats(e)));
            let mut a = Vec::new();
            for i in 0..iters {
                let img = &images[i % images.len()];
                let t = Instant::now();
                let _ = engine.embed(img, FacePolicy::Largest);
                a.push(ms(t.elapsed()));
            }
            out(format!(
                "whole pipeline (decoded photo → embedding, 640 detector): {}",
                stats(a)
            ));
        }
    }
    // 1:N over random unit vectors.
    let mut g = Gallery::with_capacity(n_templates);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut v = [0f32; DIM];
    for i in 0..n_templates {
        v.iter_mut().for_each(|x| *x = rnd());
        if let Some(e) = Embedding::from_raw(&v) {
            g.push(
                TemplateOwner {
                    template_ref: format!("t{i}"),
                    person_id: i as i64,
                    credential_id: None,
                },
                &e,
            );
        }
    }
    v.iter_mut().for_each(|x| *x = rnd());
    let q = Embedding::from_raw(&v).ok_or_else(|| FaceError::Invalid("zero query".into()))?;
    let _ = g.best(&q);
    let mut s = Vec::new();
    for _ in 0..iters.max(20) {
        let t = Instant::now();
        let hit = g.best(&q);
        s.push(ms(t.elapsed()));
        std::hint::black_box(hit);
    }
    out(format!(
        "1:N search over {} templates (one thread): {}",
        g.len(),
        stats(s)
    ));
    if let (Some(before), Some(after)) = (rss0, peak_rss_mib()) {
        out(format!(
            "peak RSS: {after:.0} MiB (after loading photos: {before:.0} MiB; the {n_templates}-template gallery is {:.0} MiB)",
            (n_templates * DIM * 4) as f64 / 1048576.0
        ));
    }
    Ok(())
}
