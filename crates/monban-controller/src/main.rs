//! `monban-controller`: the door controller agent alone, for controller devices. The same
//! commands as `monban controller enrol|run|status`, without the server, the database or the
//! face models, so a controller holding a 100,000-person snapshot stays small
//! (docs/benchmarks.md).

use std::process::ExitCode;

use clap::Parser;
use monban_controller::cli::DeviceCmd;

/// 門番 扉コントローラー / Monban door controller
#[derive(Parser)]
#[command(name = "monban-controller", version)]
struct Cli {
    #[command(subcommand)]
    command: DeviceCmd,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("MONBAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
    match rt.block_on(monban_controller::cli::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("エラー / error: {e}");
            ExitCode::FAILURE
        }
    }
}
