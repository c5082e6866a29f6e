//! The controller's own commands — enrol, run, status — shared by the `monban controller …`
//! subcommands and the slim `monban-controller` binary for controller devices.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;
use monban_core::{CredentialKind, Direction};
use rand::Rng;

use crate::{Agent, AgentError, DoorInput, SimDoor};

/// What a controller device does.
#[derive(Debug, Subcommand)]
pub enum DeviceCmd {
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
}

/// Runs a device command; `run` returns only on error.
pub async fn run(cmd: DeviceCmd) -> Result<(), AgentError> {
    match cmd {
        DeviceCmd::Enrol {
            state_dir,
            code,
            gateway,
        } => {
            let e = crate::enrol(&state_dir, &code, gateway.as_deref())?;
            println!(
                "コントローラー {} を登録しました（ゲートウェイ {}） / enrolled controller {} (gateway {})",
                e.controller_id, e.gateway, e.controller_id, e.gateway
            );
            Ok(())
        }
        DeviceCmd::Status { state_dir } => {
            let (head, acked) = crate::inspect(&state_dir)?;
            println!("{{\"journal_head\":{head},\"acked\":{acked}}}");
            Ok(())
        }
        DeviceCmd::Run {
            state_dir,
            simulate_rate,
            simulate_cards,
        } => run_agent(state_dir, simulate_rate, simulate_cards).await,
    }
}

async fn run_agent(dir: PathBuf, rate: Option<f64>, cards: Vec<String>) -> Result<(), AgentError> {
    let agent = Agent::open(&dir)?;
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
