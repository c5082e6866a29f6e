//! The demo office and its traffic simulator.
//!
//! [`seed`] creates a small office — エントランス, 執務室, 取扱区域 and 管理区域 (the server
//! rack) — with 30 employees, their IC cards and PINs, and access groups on schedules.
//! [`start_controllers`] runs the office's doors through real controller agents (in-process,
//! enrolled with the server's gateway over TLS, each with its own journal), and [`Simulator`]
//! walks people through those simulated doors: the agents decide, journal and upload, and the
//! server stores each event once and shows it on screen.
//!
//! One door, 取扱区域扉 (card + PIN), is read by OSDP readers: the agent drives them through a
//! real OSDP control panel (libosdp) over a pty, with Secure Channel under a per-reader key,
//! and the readers are simulated with libosdp's Peripheral Device; the simulator holds cards to
//! them and types PINs on their keypads ([`monban_osdp::sim::SimOsdpDoor`]).

use std::time::Duration;

use jiff::Timestamp;
use monban_controller::{Agent, SimDoor, SimDoorHandle};
use monban_core::schedule::{DayKind, Schedule, TimeWindow};
use monban_core::{
    CardId, CredentialKind, CredentialStatus, Direction, PersonKind, PersonStatus, ReaderMode,
    ZoneClass,
};
use monban_osdp::sim::SimOsdpDoor;
use monban_server::password;
use monban_server::AppState;
use monban_store::facility::{self, DoorInput, SiteInput, ZoneInput};
use monban_store::people::{self, AccessGroupInput, CredentialInput, PersonInput};
use monban_store::{controllers, events, Store, StoreError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Errors while setting up or running the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("デモデータの作成に失敗しました: {0} / could not create demo data: {0}")]
    Seed(String),
}

/// Settings key marking a seeded demo database.
const SEEDED_KEY: &str = "demo.seeded";

const FAMILY: &[(&str, &str)] = &[
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
];
const GIVEN: &[(&str, &str)] = &[
    ("翔太", "ショウタ"),
    ("陽菜", "ヒナ"),
    ("大輔", "ダイスケ"),
    ("美咲", "ミサキ"),
    ("健一", "ケンイチ"),
    ("結衣", "ユイ"),
    ("拓也", "タクヤ"),
    ("さくら", "サクラ"),
    ("直樹", "ナオキ"),
    ("愛", "アイ"),
    ("亮", "リョウ"),
    ("由美", "ユミ"),
    ("誠", "マコト"),
    ("真由美", "マユミ"),
    ("悠人", "ユウト"),
];
const DEPARTMENTS: &[&str] = &[
    "総務部",
    "人事部",
    "経理部",
    "営業部",
    "開発部",
    "情報システム部",
];

/// Number of demo employees.
pub const EMPLOYEES: usize = 30;

/// The PIN of demo employee `i` (deterministic so the simulator can type it).
pub fn demo_pin(i: usize) -> String {
    format!("{:04}", (i * 7919 + 1234) % 10_000)
}

/// The card of demo employee `i`: a FeliCa IDm.
pub fn demo_card(i: usize) -> String {
    format!("0114{:012X}", 0x00A0_0000_0000u64 + (i as u64) * 0x1_0001)
}

/// Creates the demo office unless this database already has it. Returns whether it seeded.
pub async fn seed(store: &Store) -> Result<bool, DemoError> {
    if events::setting(store, SEEDED_KEY).await?.is_some() {
        return Ok(false);
    }
    let mut w = store.begin_write().await?;
    let site = facility::create_site(
        &mut w,
        &SiteInput {
            name: "本社（デモ）".into(),
            time_zone: None,
        },
    )
    .await?;
    let zone = |name: &str, parent: Option<i64>, class: ZoneClass, limit: Option<u32>| ZoneInput {
        site_id: site.id,
        parent_id: parent,
        name: name.into(),
        class,
        occupancy_limit: limit,
    };
    let entrance = facility::create_zone(
        &mut w,
        &zone("エントランス", None, ZoneClass::General, None),
    )
    .await?;
    let office = facility::create_zone(
        &mut w,
        &zone("執務室", Some(entrance.id), ZoneClass::General, Some(40)),
    )
    .await?;
    let handling = facility::create_zone(
        &mut w,
        &zone("取扱区域", Some(office.id), ZoneClass::Handling, Some(6)),
    )
    .await?;
    let mgmt = facility::create_zone(
        &mut w,
        &zone(
            "管理区域（サーバーラック）",
            Some(office.id),
            ZoneClass::Management,
            Some(3),
        ),
    )
    .await?;
    let door = |name: &str, from: Option<i64>, to: i64, mode: ReaderMode| DoorInput {
        site_id: site.id,
        name: name.into(),
        from_zone_id: from,
        to_zone_id: to,
        reader_mode: mode,
        held_open_limit_secs: None,
    };
    facility::create_door(
        &mut w,
        &door("正面玄関", None, entrance.id, ReaderMode::Card),
    )
    .await?;
    facility::create_door(
        &mut w,
        &door("執務室入口", Some(entrance.id), office.id, ReaderMode::Card),
    )
    .await?;
    facility::create_door(
        &mut w,
        &door(
            "取扱区域扉",
            Some(office.id),
            handling.id,
            ReaderMode::CardAndPin,
        ),
    )
    .await?;
    facility::create_door(
        &mut w,
        &door(
            "サーバーラック扉",
            Some(office.id),
            mgmt.id,
            ReaderMode::CardAndPin,
        ),
    )
    .await?;

    let mut everyone = Vec::new();
    let mut handlers = Vec::new();
    let mut it_staff = Vec::new();
    for i in 0..EMPLOYEES {
        let (fam, fam_k) = FAMILY[i % FAMILY.len()];
        let (given, given_k) = GIVEN[(i * 7) % GIVEN.len()];
        let dept = DEPARTMENTS[i % DEPARTMENTS.len()];
        let p = people::create_person(
            &mut w,
            &PersonInput {
                kind: PersonKind::Employee,
                employee_number: Some(format!("E{:04}", 1001 + i)),
                name_kanji: format!("{fam} {given}"),
                name_kana: format!("{fam_k} {given_k}"),
                department: Some(dept.into()),
                valid_from: None,
                valid_until: None,
                status: PersonStatus::Active,
            },
        )
        .await?;
        let card =
            CardId::parse("card_id", &demo_card(i)).map_err(|e| DemoError::Seed(e.to_string()))?;
        // Employee 29's card was reported lost: the simulator shows the refusal.
        let status = if i == EMPLOYEES - 1 {
            CredentialStatus::Lost
        } else {
            CredentialStatus::Active
        };
        let cred = |kind, card_id, pin_hash| CredentialInput {
            person_id: p.id,
            kind,
            card_id,
            pin_hash,
            face_template_ref: None,
            valid_from: None,
            valid_until: None,
            status,
        };
        people::create_credential(&mut w, &cred(CredentialKind::Card, Some(card), None)).await?;
        let pin_hash = password::hash(&demo_pin(i)).map_err(|e| DemoError::Seed(e.to_string()))?;
        people::create_credential(&mut w, &cred(CredentialKind::Pin, None, Some(pin_hash))).await?;
        everyone.push(p.id);
        match dept {
            "総務部" | "人事部" | "経理部" => handlers.push(p.id),
            "情報システム部" => it_staff.push(p.id),
            _ => {}
        }
    }
    let mut handling_hours = Schedule::new("取扱時間（平日 7:00〜21:00）");
    handling_hours.windows.push(TimeWindow::new(
        vec![
            DayKind::Mon,
            DayKind::Tue,
            DayKind::Wed,
            DayKind::Thu,
            DayKind::Fri,
        ],
        jiff::civil::time(7, 0, 0, 0),
        jiff::civil::time(21, 0, 0, 0),
    ));
    let groups = [
        (
            "全従業員（エントランス・執務室）",
            Schedule::always(),
            vec![entrance.id, office.id],
            everyone,
        ),
        (
            "マイナンバー事務取扱担当者",
            handling_hours,
            vec![handling.id],
            handlers,
        ),
        (
            "情報システム部（サーバーラック）",
            Schedule::always(),
            vec![mgmt.id],
            it_staff,
        ),
    ];
    for (name, schedule, zone_ids, person_ids) in groups {
        people::create_access_group(
            &mut w,
            &AccessGroupInput {
                name: name.into(),
                schedule,
                zone_ids,
                person_ids,
            },
        )
        .await?;
    }
    events::set_setting(&mut w, SEEDED_KEY, &Timestamp::now().to_string()).await?;
    w.commit().await?;
    Ok(true)
}

/// Names of the demo's door controllers and the doors (by name) each runs.
const CONTROLLERS: &[(&str, &[&str])] = &[
    ("デモ制御盤A（玄関・執務室）", &["正面玄関", "執務室入口"]),
    (
        "デモ制御盤B（取扱区域・サーバーラック）",
        &["取扱区域扉", "サーバーラック扉"],
    ),
];

/// The door whose readers are OSDP readers (simulated) in the demo.
pub const OSDP_DOOR: &str = "取扱区域扉";

/// A demo door the simulator drives.
pub enum DemoDoor {
    /// Inputs go straight to the agent's simulated door.
    Sim(SimDoorHandle),
    /// Cards and PINs go to simulated OSDP readers, read by the agent's OSDP control panel.
    Osdp(Box<SimOsdpDoor>),
}

impl DemoDoor {
    /// The door's id.
    pub fn door_id(&self) -> i64 {
        match self {
            DemoDoor::Sim(h) => h.door_id,
            DemoDoor::Osdp(d) => d.door_id,
        }
    }

    /// Presents a card (and PIN) the way the door's readers take it.
    pub async fn present_card(&self, direction: Direction, card_hex: &str, pin: Option<&str>) {
        match self {
            DemoDoor::Sim(h) => {
                h.present_card(direction, card_hex, pin).await;
            }
            DemoDoor::Osdp(d) => {
                d.present_card(direction, card_hex, pin).await;
            }
        }
    }
}

/// Starts the demo's door controllers as real agents (in-process tasks), each enrolled with
/// the running gateway, with its journal under `data_dir/controllers/`. Returns the doors to
/// drive; [`OSDP_DOOR`] is read by simulated OSDP readers.
pub async fn start_controllers(
    state: &AppState,
    data_dir: &std::path::Path,
) -> Result<Vec<DemoDoor>, DemoError> {
    let store = &state.store;
    state.controllers.ready(store).await?;
    let doors = facility::list_doors(store, None).await?;
    let existing = controllers::list_controllers(store).await?;
    let mut handles = Vec::new();
    for (n, (name, door_names)) in CONTROLLERS.iter().enumerate() {
        let ids: Vec<i64> = doors
            .iter()
            .filter(|d| door_names.contains(&d.name.as_str()))
            .map(|d| d.id)
            .collect();
        let mut w = store.begin_write().await?;
        let (id, token) = match existing.iter().find(|c| c.name == *name) {
            Some(c) => (
                c.id,
                controllers::rotate_token(&mut w, c.id, monban_proto::token_hash).await?,
            ),
            None => {
                let (c, t) =
                    controllers::create_controller(&mut w, name, &ids, monban_proto::token_hash)
                        .await?;
                (c.id, t)
            }
        };
        w.commit().await?;
        let e = state
            .controllers
            .enrolment(store, data_dir, id, token, None)
            .await
            .map_err(|e| DemoError::Seed(e.to_string()))?;
        let dir = data_dir.join("controllers").join(format!("{}", n + 1));
        monban_controller::enrol(&dir, &e.to_code(), None)
            .map_err(|e| DemoError::Seed(e.to_string()))?;
        let agent = Agent::open(&dir).map_err(|e| DemoError::Seed(e.to_string()))?;
        tokio::spawn(agent.clone().run_link());
        for d in &ids {
            let osdp = doors.iter().find(|x| x.id == *d && x.name == OSDP_DOOR);
            if let Some(door) = osdp {
                let pin = door
                    .reader_mode
                    .required_kinds()
                    .contains(&CredentialKind::Pin);
                let sim = SimOsdpDoor::start(&agent, *d, pin, None)
                    .map_err(|e| DemoError::Seed(e.to_string()))?;
                tracing::info!(door = %door.name, "OSDP readers (simulated, Secure Channel) started");
                handles.push(DemoDoor::Osdp(Box::new(sim)));
            } else {
                let (door, handle) = SimDoor::new(*d);
                tokio::spawn(agent.clone().run_door(door));
                handles.push(DemoDoor::Sim(handle));
            }
        }
    }
    Ok(handles)
}

/// Walks demo employees through the office's doors: each attempt is a card (and PIN) presented
/// at a simulated door run by a real controller agent, which decides, journals and uploads it.
pub struct Simulator {
    state: AppState,
    doors: Vec<DemoDoor>,
    rng: StdRng,
    interval: Duration,
}

impl Simulator {
    /// A simulator that makes one attempt every `interval` at the given doors.
    pub fn new(state: AppState, doors: Vec<DemoDoor>, interval: Duration) -> Self {
        Self {
            state,
            doors,
            rng: StdRng::from_entropy(),
            interval,
        }
    }

    /// Runs until the task is dropped. Errors are logged and the simulator carries on.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(self.interval);
        loop {
            tick.tick().await;
            if let Err(e) = self.step().await {
                tracing::warn!(error = %e, "simulator step failed");
            }
        }
    }

    /// One attempt at one door.
    pub async fn step(&mut self) -> Result<(), DemoError> {
        let store = self.state.store.clone();
        let persons = people::list_persons(&store, None, EMPLOYEES as i64, 0).await?;
        if persons.is_empty() {
            return Ok(());
        }
        let doors = facility::list_doors(&store, None).await?;
        let i = self.rng.gen_range(0..persons.len());
        let person = &persons[i];
        let here = events::presence_of(&store, person.id)
            .await?
            .and_then(|p| p.zone_id);
        // Doors out of the zone the person is in lead further in; doors into it lead out.
        let mut options: Vec<(&monban_core::Door, Direction)> = Vec::new();
        for d in &doors {
            if d.from_zone_id == here {
                options.push((d, Direction::In));
            }
            if here.is_some() && Some(d.to_zone_id) == here {
                options.push((d, Direction::Out));
            }
        }
        if options.is_empty() {
            return Ok(());
        }
        let (door, direction) = options[self.rng.gen_range(0..options.len())];
        let Some(handle) = self.doors.iter().find(|h| h.door_id() == door.id) else {
            return Ok(());
        };
        let card = if self.rng.gen_bool(0.04) {
            "04A1B2C3".to_string()
        } else {
            demo_card(i)
        };
        let pin = if door
            .reader_mode
            .required_kinds()
            .contains(&CredentialKind::Pin)
        {
            Some(if self.rng.gen_bool(0.05) {
                "0000".to_string()
            } else {
                demo_pin(i)
            })
        } else {
            None
        };
        handle.present_card(direction, &card, pin.as_deref()).await;
        tracing::debug!(door = %door.name, "simulated");
        Ok(())
    }
}
