//! `monban face …`: evaluate accuracy on labelled photos (with and without a painted mask),
//! enroll a person's face from photo files, and measure speed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Subcommand;
use monban_face::detect::DetectorConfig;
use monban_face::eval;
use monban_face::model::ModelPaths;
use monban_face::{EngineConfig, FaceEngine, FaceService};

use crate::settings::{Settings, SettingsArgs};
use crate::{open_store, CliError};

#[derive(Subcommand)]
pub enum FaceCmd {
    /// ラベル付き写真で精度を評価する（マスクなし・合成マスクあり） / measure accuracy on labelled photos, unmasked and with a painted mask
    Eval {
        /// 人ごとのフォルダ、または <名前>_<番号>.jpg のあるフォルダ / a folder with one subfolder per person, or files named <name>_<n>.jpg
        dir: PathBuf,
        /// 一致とみなすコサイン類似度 / cosine score at or above which two faces match
        #[arg(long, default_value_t = monban_face::DEFAULT_THRESHOLD)]
        threshold: f32,
        /// モデルのフォルダ（既定: データディレクトリ、取得スクリプトのキャッシュ） / folder with the two model files
        #[arg(long, env = "MONBAN_FACE_MODELS")]
        models: Option<PathBuf>,
        /// 検出の入力サイズ（32の倍数） / detector input size (a multiple of 32)
        #[arg(long, default_value_t = 640)]
        detector_size: u32,
        /// JSON で出力する / print JSON
        #[arg(long)]
        json: bool,
    },
    /// 写真から顔を登録する（顔認証の認証情報を作成） / enroll a face from photos (creates a face credential)
    Enroll {
        #[command(flatten)]
        settings: SettingsArgs,
        #[arg(long)]
        person_id: i64,
        /// 写真も暗号化して保存する（既定では保存しません） / also keep the photos, encrypted (not kept by default)
        #[arg(long)]
        keep_photos: bool,
        /// 本人だけが写った JPEG/PNG（1〜10枚） / JPEG/PNG photos of this person alone (1–10)
        #[arg(required = true)]
        photos: Vec<PathBuf>,
    },
    /// 速度とメモリを測る / measure speed and memory
    Bench {
        /// 写真のフォルダ（既定: 取得スクリプトのキャッシュ） / folder of face photos
        #[arg(long)]
        photos: Option<PathBuf>,
        #[arg(long, env = "MONBAN_FACE_MODELS")]
        models: Option<PathBuf>,
        /// 1:N 検索のテンプレート数 / templates for the 1:N search
        #[arg(long, default_value_t = 100_000)]
        templates: usize,
        /// 繰り返し回数 / repetitions per measurement
        #[arg(long, default_value_t = 20)]
        iterations: usize,
    },
}

fn err(e: impl std::fmt::Display) -> CliError {
    CliError::Other(e.to_string())
}

fn model_paths(models: Option<&Path>) -> ModelPaths {
    match models {
        Some(d) => ModelPaths::in_dir(d),
        None => ModelPaths::locate(None),
    }
}

pub async fn run(cmd: FaceCmd) -> Result<(), CliError> {
    match cmd {
        FaceCmd::Eval {
            dir,
            threshold,
            models,
            detector_size,
            json,
        } => {
            let cfg = EngineConfig {
                threshold,
                detector: DetectorConfig {
                    input_size: detector_size,
                    ..DetectorConfig::default()
                },
                ..EngineConfig::default()
            };
            let paths = model_paths(models.as_deref());
            let report = tokio::task::spawn_blocking(move || -> Result<_, CliError> {
                let samples = eval::load_labelled(&dir).map_err(err)?;
                eprintln!("モデルを読み込み中… / loading models…");
                let engine = FaceEngine::load(&paths, cfg).map_err(err)?;
                let started = Instant::now();
                let report = eval::evaluate(&engine, &samples, |done, total, file| {
                    eprintln!(
                        "[{done}/{total}] {file} ({:.1} s)",
                        started.elapsed().as_secs_f64()
                    );
                });
                Ok(report)
            })
            .await
            .map_err(err)??;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).map_err(err)?);
            } else {
                print!("{report}");
            }
            Ok(())
        }
        FaceCmd::Enroll {
            settings,
            person_id,
            keep_photos,
            photos,
        } => {
            let s = Settings::load(&settings)?;
            let store = open_store(&s).await?;
            let mut bytes = Vec::with_capacity(photos.len());
            for p in &photos {
                bytes.push(std::fs::read(p).map_err(|e| {
                    err(format!(
                        "{} を読めません: {e} / cannot read {}: {e}",
                        p.display(),
                        p.display()
                    ))
                })?);
            }
            let svc = Arc::new(FaceService::open(&store, &s.data_dir).await.map_err(err)?);
            let (enrolled, faces) = svc
                .enroll(&store, person_id, bytes, keep_photos, "cli", "cli", None)
                .await
                .map_err(|e| {
                    let file = photos
                        .get(e.index)
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    err(format!("{file}: {}", e.error))
                })?;
            println!(
                "顔を登録しました / enrolled: person {person_id}, credential {}, template {}, {} photo(s){}",
                enrolled.credential.id,
                enrolled.template_ref,
                faces.len(),
                if enrolled.photos_kept > 0 {
                    " (photos kept, encrypted)"
                } else {
                    ""
                }
            );
            Ok(())
        }
        FaceCmd::Bench {
            photos,
            models,
            templates,
            iterations,
        } => {
            let photos =
                photos.unwrap_or_else(|| monban_face::model::default_cache_dir().join("photos"));
            let paths = model_paths(models.as_deref());
            tokio::task::spawn_blocking(move || {
                monban_face::bench::run(&paths, &photos, templates, iterations, &mut |l| {
                    println!("{l}")
                })
                .map_err(err)
            })
            .await
            .map_err(err)?
        }
    }
}

/// For the demo: fetches the face models into the data directory when they are missing (saying
/// so), then enables face recognition. Without them (no network, no pip) the demo runs on, with
/// face recognition off and a message saying how to get them.
pub async fn with_demo_face(
    state: monban_server::AppState,
    s: &Settings,
) -> monban_server::AppState {
    let data_dir = s.data_dir.clone();
    let fetched = tokio::task::spawn_blocking(move || {
        monban_face::assets::ensure_models(&data_dir, |line| println!("{line}"))
    })
    .await;
    match fetched {
        Ok(Ok(_)) => with_face(state, s).await,
        Ok(Err(e)) => {
            println!("顔認証は無効です（モデルを取得できません）: {e} / face recognition is off (models unavailable): {e}");
            println!("  ./scripts/fetch-face-assets.sh を実行してから再起動してください / run ./scripts/fetch-face-assets.sh, then restart");
            state
        }
        Err(e) => {
            tracing::warn!(error = %e, "face model fetch task failed");
            state
        }
    }
}

/// Enables face enrollment in the server when the models are installed; says so either way.
pub async fn with_face(state: monban_server::AppState, s: &Settings) -> monban_server::AppState {
    match FaceService::open(&state.store, &s.data_dir).await {
        Ok(f) => {
            tracing::info!("face recognition enabled");
            state.with_face(f)
        }
        Err(e) => {
            tracing::warn!(error = %e, "face recognition disabled");
            state
        }
    }
}
