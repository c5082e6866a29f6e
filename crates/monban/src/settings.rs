//! Settings for `serve` and `demo`: built-in defaults, then a TOML file, then MONBAN_*
//! environment variables, then command-line flags, each overriding the one before.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use monban_server::ServerConfig;
use serde::Deserialize;

use crate::CliError;

/// Command-line flags (each also readable from its MONBAN_* variable).
#[derive(Args, Debug, Clone, Default)]
pub struct SettingsArgs {
    /// 設定ファイル（TOML） / settings file (TOML)
    #[arg(long, env = "MONBAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// 待ち受けアドレス / address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "MONBAN_BIND")]
    pub bind: Option<String>,
    /// データディレクトリ / data directory [default: ./data]
    #[arg(long, env = "MONBAN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// データベースURL（sqlite://… または postgres://…） / database URL [default: SQLite file in the data directory]
    #[arg(long, env = "MONBAN_DATABASE_URL")]
    pub database_url: Option<String>,
    /// 監査ログ署名鍵のファイル / audit-log signing key file [default: <data dir>/audit-signing.key]
    #[arg(long, env = "MONBAN_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,
    /// チェックポイントの複製先（別ボリュームのディレクトリ） / second place for checkpoint copies (a directory on another volume)
    #[arg(long, env = "MONBAN_AUDIT_CHECKPOINT_DIR")]
    pub audit_checkpoint_dir: Option<PathBuf>,
    /// Cookieに Secure を付ける（HTTPS 配信時） / mark cookies Secure (when served over HTTPS)
    #[arg(long, env = "MONBAN_COOKIE_SECURE")]
    pub cookie_secure: Option<bool>,
}

/// The settings file's shape.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    bind: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    cookie_secure: Option<bool>,
    session_minutes: Option<i64>,
    lockout_after: Option<i64>,
    lockout_minutes: Option<i64>,
    audit_key_file: Option<PathBuf>,
    audit_checkpoint_dir: Option<PathBuf>,
    checkpoint_interval_secs: Option<i64>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub cookie_secure: bool,
    pub session_minutes: i64,
    pub lockout_after: i64,
    pub lockout_minutes: i64,
    pub audit_key_file: Option<PathBuf>,
    pub audit_checkpoint_dir: Option<PathBuf>,
    pub checkpoint_interval_secs: i64,
}

impl Settings {
    /// Reads the settings file (if any) and applies flags and environment over it.
    pub fn load(args: &SettingsArgs) -> Result<Self, CliError> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    CliError::Settings(format!(
                        "設定ファイル {} を読めません: {e} / cannot read settings file {}: {e}",
                        path.display(),
                        path.display()
                    ))
                })?;
                toml::from_str::<FileSettings>(&text).map_err(|e| {
                    CliError::Settings(format!(
                        "設定ファイル {} の内容が正しくありません: {e} / settings file {} is invalid: {e}",
                        path.display(),
                        path.display()
                    ))
                })?
            }
            None => FileSettings::default(),
        };
        let bind_text = args
            .bind
            .clone()
            .or(file.bind)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind: SocketAddr = bind_text.parse().map_err(|_| {
            CliError::Settings(format!(
                "待ち受けアドレス「{bind_text}」が正しくありません。例: 127.0.0.1:8080 / invalid bind address {bind_text:?}; use e.g. 127.0.0.1:8080"
            ))
        })?;
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| monban_store::sqlite_url(&data_dir.join("monban.sqlite3")));
        let positive = |name: &str, v: Option<i64>, default: i64| -> Result<i64, CliError> {
            match v {
                Some(n) if n <= 0 => Err(CliError::Settings(format!(
                    "設定 {name} は1以上にしてください / setting {name} must be at least 1"
                ))),
                Some(n) => Ok(n),
                None => Ok(default),
            }
        };
        let defaults = ServerConfig::new(bind, data_dir.clone(), database_url.clone());
        Ok(Self {
            bind,
            data_dir,
            database_url,
            cookie_secure: args.cookie_secure.or(file.cookie_secure).unwrap_or(false),
            session_minutes: positive(
                "session_minutes",
                file.session_minutes,
                defaults.session_minutes,
            )?,
            lockout_after: positive("lockout_after", file.lockout_after, defaults.lockout_after)?,
            lockout_minutes: positive(
                "lockout_minutes",
                file.lockout_minutes,
                defaults.lockout_minutes,
            )?,
            audit_key_file: args.audit_key_file.clone().or(file.audit_key_file),
            audit_checkpoint_dir: args
                .audit_checkpoint_dir
                .clone()
                .or(file.audit_checkpoint_dir),
            checkpoint_interval_secs: positive(
                "checkpoint_interval_secs",
                file.checkpoint_interval_secs,
                60,
            )?,
        })
    }

    /// Where the audit log's signing key is kept.
    pub fn audit_key_file(&self) -> PathBuf {
        self.audit_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(monban_server::audit::KEY_FILE))
    }

    /// The server's view of these settings.
    pub fn server_config(&self) -> ServerConfig {
        let mut c = ServerConfig::new(self.bind, self.data_dir.clone(), self.database_url.clone());
        c.cookie_secure = self.cookie_secure;
        c.session_minutes = self.session_minutes;
        c.lockout_after = self.lockout_after;
        c.lockout_minutes = self.lockout_minutes;
        c
    }
}
