//! A simulated door with an OSDP reader: the real controller agent, a real OSDP control panel,
//! and a reader simulated with libosdp's Peripheral Device on the other side of a pty, with
//! Secure Channel under a per-reader key. `monban osdp sim` runs it; the tests reuse
//! [`demo_agent`] to give the agent a small signed policy.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use libosdp::{
    OsdpCardFormats, OsdpCommand, OsdpEvent, OsdpEventCardRead, OsdpFlag, PdCapEntity,
    PdCapability, PdInfoBuilder, PeripheralDevice,
};
use monban_controller::{enrol, Agent};
use monban_core::model::Id;
use monban_core::schedule::Schedule;
use monban_core::snapshot::{
    AntiPassbackMode, CredentialPolicy, DoorPolicy, GroupPolicy, HolderPolicy, ZonePolicy,
};
use monban_core::{
    CredentialKind, CredentialStatus, Direction, PersonKind, PolicyData, ReaderMode, ZoneClass,
    ZoneRules,
};
use monban_proto::{credential_hash, Enrolment, RecordBody, SignedSnapshot};

use crate::bus::{Bus, ReaderConfig};
use crate::door::OsdpDoor;
use crate::keys::Scbk;
use crate::transport;

/// Errors of the simulation.
#[derive(Debug, thiserror::Error)]
#[error("シミュレーションを開始できません: {0} / cannot start the simulation: {0}")]
pub struct SimError(pub String);

fn err(e: impl std::fmt::Display) -> SimError {
    SimError(e.to_string())
}

/// A person in the demo policy.
#[derive(Debug, Clone)]
pub struct DemoPerson {
    /// Card ID, normalised hex.
    pub card: String,
    /// Argon2id PHC string of the PIN, for card + PIN doors.
    pub pin_hash: Option<String>,
    /// Whether the person is in the access group.
    pub allowed: bool,
}

/// Enrols an agent in `dir` (no server: the gateway is never contacted) and installs a signed
/// policy with one zone, the given doors (id, reader mode) and people.
pub fn demo_agent(
    dir: &Path,
    doors: &[(Id, ReaderMode)],
    people: &[DemoPerson],
) -> Result<Agent, SimError> {
    let sk = SigningKey::from_bytes(&[42u8; 32]);
    let e = Enrolment {
        gateway: "127.0.0.1:9".into(),
        controller_id: 1,
        token: "simulated".into(),
        cert_sha256: "00".into(),
        snapshot_key: hex::encode(sk.verifying_key().to_bytes()),
    };
    enrol(dir, &e.to_code(), None).map_err(err)?;
    let agent = Agent::open(dir).map_err(err)?;
    let cred_key = "73696d756c6174696f6e2d6b6579";
    let key = hex::decode(cred_key).map_err(err)?;
    let zone = 1;
    let data = PolicyData {
        version: 1,
        built_at_us: 0,
        time_zone: "Asia/Tokyo".into(),
        credential_key: cred_key.into(),
        zones: vec![ZonePolicy {
            id: zone,
            site_id: 1,
            parent_id: None,
            class: ZoneClass::General,
            occupancy_limit: None,
            rules: ZoneRules {
                anti_passback: AntiPassbackMode::Off,
                ..ZoneRules::defaults_for(ZoneClass::General)
            },
        }],
        doors: doors
            .iter()
            .map(|(id, mode)| DoorPolicy {
                id: *id,
                site_id: 1,
                from_zone_id: None,
                to_zone_id: zone,
                reader_mode: *mode,
                held_open_limit_secs: 30,
                interlock_group: None,
            })
            .collect(),
        holders: people
            .iter()
            .enumerate()
            .map(|(i, p)| HolderPolicy {
                id: i as Id + 100,
                kind: PersonKind::Employee,
                active: true,
                valid_from: None,
                valid_until: None,
                pin_hash: p.pin_hash.clone(),
            })
            .collect(),
        credentials: people
            .iter()
            .enumerate()
            .map(|(i, p)| CredentialPolicy {
                hash: credential_hash(&key, CredentialKind::Card, &p.card),
                id: i as Id + 1000,
                person_id: i as Id + 100,
                kind: CredentialKind::Card,
                status: CredentialStatus::Active,
                valid_from: None,
                valid_until: None,
            })
            .collect(),
        groups: vec![GroupPolicy {
            id: 1,
            schedule: Schedule::always(),
            zone_ids: vec![zone],
            person_ids: people
                .iter()
                .enumerate()
                .filter(|(_, p)| p.allowed)
                .map(|(i, _)| i as Id + 100)
                .collect(),
        }],
        lockdown_zones: vec![],
        lockdown_sites: vec![],
    };
    let signed = SignedSnapshot::sign(&data, &sk).map_err(err)?;
    agent.install_snapshot(&signed, false).map_err(err)?;
    Ok(agent)
}

/// Runs one door with a simulated OSDP reader at `baud` (emulated on a pty), presenting
/// `rounds` times a permitted card and an unknown one, and prints each decision and the LED
/// and buzzer commands the reader received.
pub async fn run(baud: u32, rounds: u32) -> Result<(), SimError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let door: Id = 1;
    let known = "0114000000000001";
    let agent = demo_agent(
        dir.path(),
        &[(door, ReaderMode::Card)],
        &[DemoPerson {
            card: known.into(),
            pin_hash: None,
            allowed: true,
        }],
    )?;
    let key = Scbk::random();
    let pty = transport::open_pty().map_err(err)?;
    let bus = Bus::start(
        transport::fd_factory(pty.master, Some(baud)),
        vec![ReaderConfig {
            name: "sim-reader".into(),
            address: 1,
            door_id: door,
            direction: Direction::In,
            pin: false,
            scbk: key.clone(),
            install_mode: false,
        }],
    )
    .map_err(err)?;
    let events = bus
        .take_door_events(door)
        .ok_or_else(|| SimError("door".into()))?;
    let io = OsdpDoor::new(door, bus.handle(), events, Some(agent.subscribe()));
    let mut outcomes = agent.subscribe();
    tokio::spawn(agent.clone().run_door(io));

    let seen: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let (card_tx, card_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let slave = transport::open_tty(&pty.slave_path).map_err(err)?;
    let seen2 = seen.clone();
    let key_bytes = key.bytes();
    std::thread::spawn(move || {
        let key = Scbk::from_bytes(key_bytes);
        let Ok(info) = (|| -> Result<PdInfoBuilder, SimError> {
            Ok(PdInfoBuilder::new()
                .name("sim-pd")
                .and_then(|b| b.address(1))
                .map_err(err)?
                .flag(OsdpFlag::EnforceSecure)
                .secure_channel_key(key.bytes())
                .capabilities(&[
                    PdCapability::CommunicationSecurity(PdCapEntity::new(1, 1)),
                    PdCapability::LedControl(PdCapEntity::new(1, 1)),
                    PdCapability::AudibleOutput(PdCapEntity::new(1, 1)),
                ]))
        })() else {
            return;
        };
        let Ok(mut pd) = PeripheralDevice::new(info, Box::new(slave)) else {
            return;
        };
        pd.set_command_callback(move |c| {
            let s = match c {
                OsdpCommand::Led(l) => format!("LED {:?}", l.temporary.on_color),
                OsdpCommand::Buzzer(b) => format!("ブザー/buzzer ×{}", b.rep_count),
                other => format!("{other:?}"),
            };
            if let Ok(mut v) = seen2.lock() {
                v.push(s);
            }
            0
        });
        loop {
            pd.refresh();
            while let Ok(data) = card_rx.try_recv() {
                let _ = pd.notify_event(OsdpEvent::CardRead(OsdpEventCardRead {
                    reader_no: 0,
                    format: OsdpCardFormats::Unspecified,
                    direction: false,
                    nr_bits: data.len() * 8,
                    data,
                }));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    println!("OSDPリーダー（シミュレーション）を {baud} bps で接続中… / connecting simulated OSDP reader at {baud} bps…");
    if !bus.handle().wait_secure(0, Duration::from_secs(20)).await {
        return Err(SimError("Secure Channel not established".into()));
    }
    println!("セキュアチャネル確立（リーダー固有鍵） / Secure Channel established with the per-reader key");
    let cards = [known, "0114000000000099"];
    for round in 0..rounds {
        for c in cards {
            let bytes = hex::decode(c).map_err(err)?;
            let _ = card_tx.send(bytes);
            // The next access decision (alarms such as "reader online" are skipped).
            let rec = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    match outcomes.recv().await {
                        Ok(r) if matches!(r.body, RecordBody::Access { .. }) => return Ok(r),
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(e) => return Err(err(e)),
                    }
                }
            })
            .await
            .map_err(err)??;
            if let RecordBody::Access {
                granted, reason, ..
            } = rec.body
            {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let fb: Vec<String> = seen
                    .lock()
                    .map(|mut v| v.drain(..).collect())
                    .unwrap_or_default();
                println!(
                    "[{round}] カード {c}: {} ({}) → リーダー/reader: {}",
                    if granted {
                        "許可/granted"
                    } else {
                        "拒否/denied"
                    },
                    monban_core::text::Code::code(reason),
                    fb.join(", ")
                );
            }
        }
    }
    Ok(())
}
