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
    agent.install_snapshot(&signed).map_err(err)?;
    Ok(agent)
}

/// What one simulated reader was told to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdFeedback {
    /// The reader's OSDP address.
    pub address: u8,
    /// `LED <colour>` or `buzzer ×<n>`, or the command's debug form.
    pub what: String,
}

enum SimInput {
    Card(u8, Vec<u8>),
    Keys(u8, Vec<u8>),
}

/// One simulated PD's view of the shared tty (multi-drop): its own copy of every byte the
/// control panel sent; what it writes goes onto the shared line.
struct Tap {
    id: i32,
    rx: Arc<Mutex<std::collections::VecDeque<u8>>>,
    line: transport::FdChannel,
}

impl libosdp::Channel for Tap {
    fn get_id(&self) -> i32 {
        self.id
    }
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, libosdp::ChannelError> {
        let Ok(mut q) = self.rx.lock() else {
            return Err(libosdp::ChannelError::TransportError);
        };
        let n = buf.len().min(q.len());
        for (dst, src) in buf.iter_mut().zip(q.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }
    fn write(&mut self, buf: &[u8]) -> Result<usize, libosdp::ChannelError> {
        libosdp::Channel::write(&mut self.line, buf)
    }
    fn flush(&mut self) -> Result<(), libosdp::ChannelError> {
        Ok(())
    }
    fn close(&mut self) -> Result<(), libosdp::ChannelError> {
        Ok(())
    }
}

/// Simulated OSDP readers (libosdp's Rust Peripheral Device) sharing one line, each answering
/// only to its own address and enforcing Secure Channel under its own key. Cards and keys are
/// "presented" with [`SimReaders::card`] and [`SimReaders::keys`]; the LED and buzzer commands
/// the control panel sends are collected. Dropping it stops the readers' thread.
pub struct SimReaders {
    tx: std::sync::mpsc::Sender<SimInput>,
    seen: Arc<Mutex<Vec<PdFeedback>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl SimReaders {
    /// Starts the readers `(address, key)` on `line` (e.g. the slave side of a pty).
    pub fn spawn(mut line: transport::FdChannel, pds: &[(u8, Scbk)]) -> Result<Self, SimError> {
        let (tx, rx) = std::sync::mpsc::channel::<SimInput>();
        let seen: Arc<Mutex<Vec<PdFeedback>>> = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut taps = Vec::new();
        let mut specs = Vec::new();
        for (i, (addr, key)) in pds.iter().enumerate() {
            let q = Arc::new(Mutex::new(std::collections::VecDeque::new()));
            taps.push(q.clone());
            let tap = Tap {
                id: 9000 + i as i32,
                rx: q,
                line: line.try_clone().map_err(err)?,
            };
            specs.push((*addr, key.bytes(), tap));
        }
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::Builder::new()
            .name("osdp-sim-readers".into())
            .spawn(move || {
                let mut pds = Vec::new();
                for (addr, key, tap) in specs {
                    let info = match PdInfoBuilder::new()
                        .name(&format!("sim-pd-{addr}"))
                        .and_then(|b| b.address(i32::from(addr)))
                    {
                        Ok(b) => b
                            .flag(OsdpFlag::EnforceSecure)
                            .secure_channel_key(key)
                            .capabilities(&[
                                PdCapability::CommunicationSecurity(PdCapEntity::new(1, 1)),
                                PdCapability::LedControl(PdCapEntity::new(1, 1)),
                                PdCapability::AudibleOutput(PdCapEntity::new(1, 1)),
                            ]),
                        Err(e) => {
                            tracing::warn!(error = %e, "simulated reader: bad settings");
                            return;
                        }
                    };
                    let mut pd = match PeripheralDevice::new(info, Box::new(tap)) {
                        Ok(pd) => pd,
                        Err(e) => {
                            tracing::warn!(error = %e, "simulated reader did not start");
                            return;
                        }
                    };
                    let seen3 = seen2.clone();
                    pd.set_command_callback(move |c| {
                        let what = match c {
                            OsdpCommand::Led(l) => format!("LED {:?}", l.temporary.on_color),
                            OsdpCommand::Buzzer(b) => format!("buzzer ×{}", b.rep_count),
                            other => format!("{other:?}"),
                        };
                        if let Ok(mut v) = seen3.lock() {
                            v.push(PdFeedback {
                                address: addr,
                                what,
                            });
                        }
                        0
                    });
                    pds.push((addr, pd));
                }
                let mut buf = [0u8; 512];
                while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                    loop {
                        match libosdp::Channel::read(&mut line, &mut buf) {
                            Ok(n) if n > 0 => {
                                for q in &taps {
                                    if let Ok(mut q) = q.lock() {
                                        q.extend(&buf[..n]);
                                    }
                                }
                            }
                            _ => break,
                        }
                    }
                    while let Ok(input) = rx.try_recv() {
                        let (addr, ev) = match input {
                            SimInput::Card(a, data) => (
                                a,
                                OsdpEvent::CardRead(OsdpEventCardRead {
                                    reader_no: 0,
                                    format: OsdpCardFormats::Unspecified,
                                    direction: false,
                                    nr_bits: data.len() * 8,
                                    data,
                                }),
                            ),
                            SimInput::Keys(a, data) => (
                                a,
                                OsdpEvent::KeyPress(libosdp::OsdpEventKeyPress {
                                    reader_no: 0,
                                    data,
                                }),
                            ),
                        };
                        if let Some((_, pd)) = pds.iter_mut().find(|(x, _)| *x == addr) {
                            let _ = pd.notify_event(ev);
                        }
                    }
                    for (_, pd) in &mut pds {
                        pd.refresh();
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
            .map_err(err)?;
        Ok(Self { tx, seen, stop })
    }

    /// A card held to reader `address` (raw bytes: a FeliCa IDm or MIFARE UID).
    pub fn card(&self, address: u8, data: Vec<u8>) {
        let _ = self.tx.send(SimInput::Card(address, data));
    }

    /// Keys pressed on reader `address`, e.g. `"1234#"`.
    pub fn keys(&self, address: u8, keys: &str) {
        let _ = self
            .tx
            .send(SimInput::Keys(address, keys.as_bytes().to_vec()));
    }

    /// The LED and buzzer commands received since the last call.
    pub fn take_feedback(&self) -> Vec<PdFeedback> {
        self.seen
            .lock()
            .map(|mut v| v.drain(..).collect())
            .unwrap_or_default()
    }
}

impl Drop for SimReaders {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// OSDP address of the entry reader (outside) of a [`SimOsdpDoor`].
pub const ENTRY_READER: u8 = 1;
/// OSDP address of the exit reader (inside) of a [`SimOsdpDoor`].
pub const EXIT_READER: u8 = 2;

/// A door run by a controller agent through a real OSDP control panel, with two simulated
/// readers on one line (a pty): entry at address 1, exit at address 2, each under Secure
/// Channel with its own random key. The demo drives it like a person would: a card held to a
/// reader and, on card + PIN doors, the PIN typed on its keypad.
pub struct SimOsdpDoor {
    /// The door it runs.
    pub door_id: Id,
    pin: bool,
    readers: SimReaders,
    bus: Bus,
}

impl SimOsdpDoor {
    /// Starts the control panel and the simulated readers for `door_id` and hands the door to
    /// `agent`. `pin`: the readers ask for a PIN after the card. `baud`: emulated line speed.
    pub fn start(
        agent: &Agent,
        door_id: Id,
        pin: bool,
        baud: Option<u32>,
    ) -> Result<Self, SimError> {
        let pty = transport::open_pty().map_err(err)?;
        let keys = [
            (ENTRY_READER, Scbk::random()),
            (EXIT_READER, Scbk::random()),
        ];
        let readers: Vec<ReaderConfig> = keys
            .iter()
            .map(|(addr, key)| ReaderConfig {
                name: format!(
                    "door{door_id}-{}",
                    if *addr == ENTRY_READER { "in" } else { "out" }
                ),
                address: *addr,
                door_id,
                direction: if *addr == ENTRY_READER {
                    Direction::In
                } else {
                    Direction::Out
                },
                pin,
                scbk: key.clone(),
                install_mode: false,
            })
            .collect();
        let bus = Bus::start(transport::fd_factory(pty.master, baud), readers).map_err(err)?;
        let events = bus
            .take_door_events(door_id)
            .ok_or_else(|| SimError(format!("door {door_id}")))?;
        let io = OsdpDoor::new(door_id, bus.handle(), events, Some(agent.subscribe()));
        tokio::spawn(agent.clone().run_door(io));
        let slave = transport::open_tty(&pty.slave_path).map_err(err)?;
        let readers = SimReaders::spawn(slave, &keys)?;
        Ok(Self {
            door_id,
            pin,
            readers,
            bus,
        })
    }

    /// Waits until both readers are under Secure Channel.
    pub async fn wait_secure(&self, timeout: Duration) -> bool {
        let h = self.bus.handle();
        h.wait_secure(0, timeout).await && h.wait_secure(1, timeout).await
    }

    /// Holds card `card_hex` to the reader for `direction` and, on a card + PIN door, types
    /// `pin` and `#` on its keypad. `false` if the card ID is not hex.
    pub async fn present_card(
        &self,
        direction: Direction,
        card_hex: &str,
        pin: Option<&str>,
    ) -> bool {
        let Ok(bytes) = hex::decode(card_hex) else {
            return false;
        };
        let addr = match direction {
            Direction::In => ENTRY_READER,
            Direction::Out => EXIT_READER,
        };
        self.readers.card(addr, bytes);
        if self.pin {
            // The reader prompts for the PIN once the control panel has the card.
            tokio::time::sleep(Duration::from_millis(300)).await;
            self.readers
                .keys(addr, &format!("{}#", pin.unwrap_or_default()));
        }
        true
    }

    /// The LED and buzzer commands the readers received since the last call.
    pub fn take_feedback(&self) -> Vec<PdFeedback> {
        self.readers.take_feedback()
    }
}

/// Runs one door with simulated OSDP readers at `baud` (emulated on a pty), presenting
/// `rounds` times a permitted card and an unknown one at the entry reader, and prints each
/// decision and the LED and buzzer commands the reader received.
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
    let mut outcomes = agent.subscribe();
    let sim = SimOsdpDoor::start(&agent, door, false, Some(baud))?;
    println!("OSDPリーダー（シミュレーション）を {baud} bps で接続中… / connecting simulated OSDP readers at {baud} bps…");
    if !sim.wait_secure(Duration::from_secs(20)).await {
        return Err(SimError("Secure Channel not established".into()));
    }
    println!("セキュアチャネル確立（リーダー固有鍵） / Secure Channel established with the per-reader key");
    let cards = [known, "0114000000000099"];
    for round in 0..rounds {
        for c in cards {
            sim.present_card(Direction::In, c, None).await;
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
                let fb: Vec<String> = sim.take_feedback().into_iter().map(|f| f.what).collect();
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
