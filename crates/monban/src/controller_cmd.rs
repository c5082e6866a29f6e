//! `monban controller …`: enrol and run a door controller agent, show its journal counters, and
//! (on the server) enrol or revoke controllers directly in the database.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;
use monban_controller::{Agent, DoorInput, SimDoor};
use monban_core::{CredentialKind, Direction};
use monban_store::controllers;
use rand::Rng;

use crate::settings::{Settings, SettingsArgs};
use crate::CliError;

/// Controller commands.
#[derive(Subcommand)]
pub enum ControllerCmd {
    /// 登録コードを保存する / save an enrolment code in the controller's state directory
    Enrol {
        /// 状態ディレクトリ（ジャーナル・スナップショット） / state directory (journal, snapshot)
        #[arg(long)]
        state_dir: PathBuf,
        /// サーバーが発行した登録コード / the enrolment code issued by the server
        #[arg(long)]
        code: String,
        /// ゲートウェイのアドレス（host:port）を上書き / override the gateway address (host:port)
        #[arg(long)]
        gateway: Option<String>,
    },
    /// コントローラーを動かす / run the controller agent
    Run {
        #[arg(long)]
        state_dir: PathBuf,
        /// 模擬扉で毎秒この回数だけカードを読ませる（試験用） / simulate this many card reads per second at simulated doors (for tests)
        #[arg(long)]
        simulate_rate: Option<f64>,
        /// 模擬で使うカードID（カンマ区切り） / card IDs the simulation presents (comma-separated)
        #[arg(long, value_delimiter = ',')]
        simulate_cards: Vec<String>,
    },
    /// ジャーナルの状態を表示する（JSON） / print the journal counters (JSON)
    Status {
        #[arg(long)]
        state_dir: PathBuf,
    },
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
        ControllerCmd::Enrol {
            state_dir,
            code,
            gateway,
        } => {
            let e =
                monban_controller::enrol(&state_dir, &code, gateway.as_deref()).map_err(other)?;
            println!(
                "コントローラー {} を登録しました（ゲートウェイ {}） / enrolled controller {} (gateway {})",
                e.controller_id, e.gateway, e.controller_id, e.gateway
            );
            Ok(())
        }
        ControllerCmd::Status { state_dir } => {
            let (head, acked) = monban_controller::inspect(&state_dir).map_err(other)?;
            println!("{{\"journal_head\":{head},\"acked\":{acked}}}");
            Ok(())
        }
        ControllerCmd::Run {
            state_dir,
            simulate_rate,
            simulate_cards,
        } => run_agent(state_dir, simulate_rate, simulate_cards).await,
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

async fn run_agent(dir: PathBuf, rate: Option<f64>, cards: Vec<String>) -> Result<(), CliError> {
    let agent = Agent::open(&dir).map_err(other)?;
    tokio::spawn(agent.clone().run_link());
    println!(
        "コントローラー {} を起動しました / controller {} started",
        agent.enrolment().controller_id,
        agent.enrolment().controller_id
    );
    let Some(rate) = rate.filter(|r| *r > 0.0) else {
        std::future::pending::<()>().await;
        return Ok(());
    };
    // Simulated doors: wait until the server has told us which doors we run.
    let doors = loop {
        let d = agent.status().doors;
        if !d.is_empty() {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut handles = Vec::new();
    for d in doors {
        let (door, h) = SimDoor::new(d);
        tokio::spawn(agent.clone().run_door(door));
        handles.push(h);
    }
    let cards = if cards.is_empty() {
        vec!["0114000000000001".to_string()]
    } else {
        cards
    };
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    loop {
        tick.tick().await;
        let (h, card, dir) = {
            let mut rng = rand::thread_rng();
            let h = &handles[rng.gen_range(0..handles.len())];
            let card = cards[rng.gen_range(0..cards.len())].clone();
            let dir = if rng.gen_bool(0.5) {
                Direction::In
            } else {
                Direction::Out
            };
            (h.clone(), card, dir)
        };
        h.send(DoorInput::Read {
            direction: dir,
            kind: CredentialKind::Card,
            value: card,
            pin: None,
            temperature_dc: None,
            at: None,
        })
        .await;
    }
}
