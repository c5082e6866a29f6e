//! `monban controller …`: the controller's own commands (enrol, run, status; see
//! `monban_controller::cli`, also the slim `monban-controller` binary) and, on the server,
//! enrolling or revoking controllers directly in the database.

use clap::Subcommand;
use monban_controller::cli::DeviceCmd;
use monban_store::controllers;

use crate::settings::{Settings, SettingsArgs};
use crate::CliError;

/// Controller commands.
#[derive(Subcommand)]
pub enum ControllerCmd {
    /// 制御盤側: 登録・実行・状態 / on the controller: enrol, run, status
    #[command(flatten)]
    Device(DeviceCmd),
    /// サーバー側: コントローラーを登録し登録コードを表示する / on the server: enrol a controller and print its code
    Add {
        #[command(flatten)]
        settings: SettingsArgs,
        #[arg(long)]
        name: String,
        /// 担当する扉のID（カンマ区切り） / door ids it runs (comma-separated)
        #[arg(long, value_delimiter = ',', required = true)]
        doors: Vec<i64>,
        /// 制御盤から見たゲートウェイのアドレス / gateway address as the controller sees it
        #[arg(long)]
        gateway: String,
    },
    /// サーバー側: コントローラーを失効させる / on the server: revoke a controller
    Revoke {
        #[command(flatten)]
        settings: SettingsArgs,
        #[arg(long)]
        id: i64,
    },
}

fn other(e: impl std::fmt::Display) -> CliError {
    CliError::Other(e.to_string())
}

/// Runs a controller command.
pub async fn run(cmd: ControllerCmd) -> Result<(), CliError> {
    match cmd {
        ControllerCmd::Device(cmd) => monban_controller::cli::run(cmd).await.map_err(other),
        ControllerCmd::Add {
            settings,
            name,
            doors,
            gateway,
        } => {
            let s = Settings::load(&settings)?;
            let store = crate::open_store(&s).await?;
            let state = monban_server::AppState::new(store.clone(), s.server_config());
            state.controllers.ready(&store).await?;
            let mut w = store.begin_write().await?;
            let (c, token) =
                controllers::create_controller(&mut w, &name, &doors, monban_proto::token_hash)
                    .await?;
            monban_server::audit::record(
                &mut w,
                "cli",
                "controller.enrol",
                &format!("controller:{}", c.id),
                "ok",
            )
            .await?;
            w.commit().await?;
            let e = state
                .controllers
                .enrolment(&store, &s.data_dir, c.id, token, Some(gateway))
                .await
                .map_err(other)?;
            println!("controller id: {}", c.id);
            println!("code: {}", e.to_code());
            Ok(())
        }
        ControllerCmd::Revoke { settings, id } => {
            let s = Settings::load(&settings)?;
            let store = crate::open_store(&s).await?;
            controllers::migrate(&store).await?;
            let mut w = store.begin_write().await?;
            controllers::revoke(&mut w, id).await?;
            monban_server::audit::record(
                &mut w,
                "cli",
                "controller.revoke",
                &format!("controller:{id}"),
                "ok",
            )
            .await?;
            w.commit().await?;
            println!("コントローラー {id} を失効させました / revoked controller {id}");
            Ok(())
        }
    }
}
