//! `monban`: the command-line entry point. It parses arguments and settings, then hands over to
//! the library crates; it holds no domain logic of its own.

mod admin;
mod audit_cmd;
mod controller_cmd;
mod face_cmd;
mod settings;
mod vault_cmd;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use monban_server::{AppState, Bound};
use monban_store::{operators, Store};

use settings::{Settings, SettingsArgs};

/// 門番 Monban — 入退室管理とマイナンバー保護 / entry-exit management and My Number protection.
#[derive(Parser)]
#[command(name = "monban", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// サーバーを起動する / run the server
    Serve(SettingsArgs),
    /// デモ事業所を作成し、サーバーと通行シミュレーターを起動する / create a demo office and run the server with simulated traffic
    Demo {
        #[command(flatten)]
        settings: SettingsArgs,
        /// 通行シミュレーションの間隔（ミリ秒） / milliseconds between simulated door attempts
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
    },
    /// 人物の管理 / manage persons
    #[command(subcommand)]
    Person(admin::PersonCmd),
    /// 認証情報（カード・暗証番号）の管理 / manage credentials (cards, PINs)
    #[command(subcommand)]
    Credential(admin::CredentialCmd),
    /// オペレーターの管理 / manage operator accounts
    #[command(subcommand)]
    Operator(admin::OperatorCmd),
    /// 監査ログ（書き出し・検証・検査） / the audit log: export, verify, check
    #[command(subcommand)]
    Audit(audit_cmd::AuditCmd),
    /// 顔認証（評価・登録・速度測定） / face recognition: evaluate, enroll, benchmark
    #[command(subcommand)]
    Face(face_cmd::FaceCmd),
    /// OSDPリーダー（鍵の設置・更新、シミュレーション） / OSDP readers: install or rotate keys, simulate a door
    #[command(subcommand)]
    Osdp(monban_osdp::cli::OsdpCmd),
    /// 扉コントローラー（登録・実行・状態） / door controller agent: enrol, run, status
    #[command(subcommand)]
    Controller(controller_cmd::ControllerCmd),
    /// マイナンバー保管庫（鍵更新・台帳・削除予定・設定） / My Number vault: key rotation, ledger, due for deletion, settings
    #[command(subcommand)]
    Vault(vault_cmd::VaultCmd),
    /// OpenAPI文書を出力する / print the OpenAPI document
    Openapi,
    /// バージョンを表示する / print the version
    Version,
}

/// An error that ends the command, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Settings(String),
    #[error(transparent)]
    Store(#[from] monban_store::StoreError),
    #[error(transparent)]
    Server(#[from] monban_server::ServerError),
    #[error(transparent)]
    Demo(#[from] monban_demo::DemoError),
    #[error(transparent)]
    Audit(#[from] monban_server::audit::AuditError),
    #[error("{0}")]
    Other(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!(
                "エラー: 実行環境を準備できません: {e} / error: cannot start the runtime: {e}"
            );
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("エラー / error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MONBAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(args) => serve(Settings::load(&args)?).await,
        Command::Demo {
            settings,
            interval_ms,
        } => {
            let mut args = settings;
            if args.data_dir.is_none() && std::env::var_os("MONBAN_DATA_DIR").is_none() {
                args.data_dir = Some("demo-data".into());
            }
            demo(
                Settings::load(&args)?,
                Duration::from_millis(interval_ms.max(50)),
            )
            .await
        }
        Command::Person(c) => admin::person(c).await,
        Command::Credential(c) => admin::credential(c).await,
        Command::Operator(c) => admin::operator(c).await,
        Command::Audit(c) => audit_cmd::run(c).await,
        Command::Face(c) => face_cmd::run(c).await,
        Command::Osdp(c) => monban_osdp::cli::run(c)
            .await
            .map_err(|e| CliError::Other(e.to_string())),
        Command::Controller(c) => controller_cmd::run(c).await,
        Command::Vault(c) => vault_cmd::run(c).await,
        Command::Openapi => {
            let doc = monban_server::api::openapi();
            let json = doc
                .to_pretty_json()
                .map_err(|e| CliError::Other(e.to_string()))?;
            println!("{json}");
            Ok(())
        }
        Command::Version => {
            println!("monban {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}

/// Opens the database named by the settings.
pub async fn open_store(s: &Settings) -> Result<Store, CliError> {
    if s.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&s.data_dir).map_err(|e| {
            CliError::Settings(format!(
                "データディレクトリ {} を作成できません: {e}。--data-dir で書き込める場所を指定してください / cannot create data directory {}: {e}; choose a writable one with --data-dir",
                s.data_dir.display(),
                s.data_dir.display()
            ))
        })?;
    }
    Ok(Store::open(&s.database_url).await?)
}

/// Loads the audit signing key and starts issuing checkpoints periodically.
fn with_audit(state: AppState, s: &Settings) -> Result<AppState, CliError> {
    let state = state.with_checkpointer(audit_cmd::checkpointer(s)?);
    let every = Duration::from_secs(s.checkpoint_interval_secs.max(1) as u64);
    let st = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Some(c) = &st.checkpointer {
                if let Err(e) = c.issue(&st.store).await {
                    tracing::error!(error = %e, "could not issue an audit checkpoint");
                }
            }
        }
    });
    Ok(state)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn serve(s: Settings) -> Result<(), CliError> {
    let store = open_store(&s).await?;
    if operators::count_operators(&store).await? == 0 {
        let pw = admin::create_first_admin(&store).await?;
        println!("初回起動: 管理者アカウントを作成しました / first start: created the administrator account");
        println!("  ユーザー名 / username: admin");
        println!("  ワンタイムパスワード / one-time password: {pw}");
        println!(
            "  初回ログイン時にパスワードの変更が必要です / you must change it at first login"
        );
    }
    let bound = Bound::bind(s.bind).await?;
    println!(
        "門番 Monban {} を起動しました / started",
        env!("CARGO_PKG_VERSION")
    );
    println!("URL: http://{}/", bound.local_addr());
    let vault = vault_cmd::open_vault(&store, &s).await?;
    let state = with_audit(AppState::new(store, s.server_config()), &s)?.with_vault(vault);
    let state = face_cmd::with_face(state, &s).await;
    start_gateway(&state, &s, false).await?;
    bound.serve(state, shutdown_signal()).await?;
    Ok(())
}

async fn demo(s: Settings, interval: Duration) -> Result<(), CliError> {
    let store = open_store(&s).await?;
    println!("デモ事業所を準備しています… / preparing the demo office…");
    if monban_demo::seed(&store).await? {
        println!(
            "デモデータを作成しました（従業員{}名） / created demo data ({} employees)",
            monban_demo::EMPLOYEES,
            monban_demo::EMPLOYEES
        );
    } else {
        println!(
            "既存のデモデータを使います（{}） / reusing the demo data in {}",
            s.data_dir.display(),
            s.data_dir.display()
        );
    }
    let pw = admin::reset_demo_admin(&store).await?;
    let bound = Bound::bind(s.bind).await?;
    let vault = vault_cmd::open_vault(&store, &s).await?;
    let state = with_audit(AppState::new(store, s.server_config()), &s)?.with_vault(vault);
    let state = face_cmd::with_demo_face(state, &s).await;
    start_gateway(&state, &s, true).await?;
    let doors = monban_demo::start_controllers(&state, &s.data_dir).await?;
    println!(
        "扉「{0}」は OSDP リーダー（シミュレーション、セキュアチャネル）で動いています / door {0} is read by simulated OSDP readers under Secure Channel",
        monban_demo::OSDP_DOOR
    );
    tokio::spawn(monban_demo::Simulator::new(state.clone(), doors, interval).run());
    println!("門番 Monban デモを起動しました / demo started");
    println!("URL: http://{}/", bound.local_addr());
    println!("ログイン / login: admin / {pw}");
    println!("終了するには Ctrl+C / press Ctrl+C to stop");
    bound.serve(state, shutdown_signal()).await?;
    Ok(())
}

/// Starts the controller gateway on MONBAN_GATEWAY_BIND; by default on the HTTP address's host
/// with the next port (any free port when the HTTP port is 0, and always for the demo).
async fn start_gateway(state: &AppState, s: &Settings, demo: bool) -> Result<(), CliError> {
    let addr = match std::env::var("MONBAN_GATEWAY_BIND") {
        Ok(v) => v.parse().map_err(|_| {
            CliError::Settings(format!(
                "MONBAN_GATEWAY_BIND「{v}」が正しくありません。例: 127.0.0.1:7443 / invalid MONBAN_GATEWAY_BIND {v:?}; use e.g. 127.0.0.1:7443"
            ))
        })?,
        Err(_) => {
            let mut a = s.bind;
            let port = if demo || a.port() == 0 {
                0
            } else {
                a.port().saturating_add(1)
            };
            a.set_port(port);
            a
        }
    };
    // Logged (stderr) by the gateway itself; stdout after the URL line is left alone.
    monban_server::gateway::start(state.clone(), addr, Duration::from_secs(5))
        .await
        .map_err(|e| CliError::Other(e.to_string()))?;
    Ok(())
}
