//! Shared set-up for the vault's storage-level tests: a facility with a 取扱区域 and a general
//! area, operators of each relevant role linked to persons, a vault on a manual clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::sync::Arc;

use jiff::Timestamp;
use monban_core::{
    Direction, OperatorRole, PersonKind, PersonStatus, ReaderMode, ReasonCode, ZoneClass,
};
use monban_store::events::{self, NewAccessEvent};
use monban_store::facility::{self, DoorInput, SiteInput, ZoneInput};
use monban_store::people::{self, PersonInput};
use monban_store::{operators, Store};
use monban_vault::crypto::Key32;
use monban_vault::{
    Actor, DocType, IdentityCheckDoc, ManualClock, MyNumber, NewRecord, NumberCheckDoc, Relation,
    StaticKeyProvider, Vault,
};
use sqlx::Row;

pub struct World {
    pub store: Store,
    pub vault: Vault,
    pub clock: Arc<ManualClock>,
    pub master: Key32,
    pub site: i64,
    pub handling_door: i64,
    pub general_door: i64,
    pub handler: Actor,
    pub handler_person: i64,
    pub officer: Actor,
    pub officer2: Actor,
    pub admin: Actor,
    pub employee: i64,
}

pub async fn create_person(store: &Store, name: &str, emp: &str) -> i64 {
    let mut w = store.begin_write().await.unwrap();
    let p = people::create_person(
        &mut w,
        &PersonInput {
            kind: PersonKind::Employee,
            employee_number: Some(emp.into()),
            name_kanji: name.into(),
            name_kana: "テスト".into(),
            department: Some("人事部".into()),
            valid_from: None,
            valid_until: None,
            status: PersonStatus::Active,
        },
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
    p.id
}

async fn create_operator(store: &Store, user: &str, role: OperatorRole) -> Actor {
    let mut w = store.begin_write().await.unwrap();
    let op = operators::create_operator(&mut w, user, user, role, "$argon2id$x", false)
        .await
        .unwrap();
    w.commit().await.unwrap();
    Actor::operator(&op)
}

/// Moves a person through a door (granted), so presence follows.
pub async fn pass(w: &World, person: i64, door: i64, dir: Direction) {
    let mut tx = w.store.begin_write().await.unwrap();
    events::record_access_event(
        &mut tx,
        &NewAccessEvent {
            occurred_at: Timestamp::now(),
            door_id: door,
            direction: dir,
            person_id: Some(person),
            credential_kind: None,
            granted: true,
            reason: ReasonCode::Granted,
            source: "test".into(),
            source_seq: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

pub async fn world(store: Store) -> World {
    let mut w = store.begin_write().await.unwrap();
    let site = facility::create_site(
        &mut w,
        &SiteInput {
            name: "本社".into(),
            time_zone: None,
        },
    )
    .await
    .unwrap();
    let general = facility::create_zone(
        &mut w,
        &ZoneInput {
            site_id: site.id,
            parent_id: None,
            name: "執務室".into(),
            class: ZoneClass::General,
            occupancy_limit: None,
        },
    )
    .await
    .unwrap();
    let handling = facility::create_zone(
        &mut w,
        &ZoneInput {
            site_id: site.id,
            parent_id: Some(general.id),
            name: "取扱区域".into(),
            class: ZoneClass::Handling,
            occupancy_limit: None,
        },
    )
    .await
    .unwrap();
    let general_door = facility::create_door(
        &mut w,
        &DoorInput {
            site_id: site.id,
            name: "正面".into(),
            from_zone_id: None,
            to_zone_id: general.id,
            reader_mode: ReaderMode::Card,
            held_open_limit_secs: None,
        },
    )
    .await
    .unwrap();
    let handling_door = facility::create_door(
        &mut w,
        &DoorInput {
            site_id: site.id,
            name: "取扱区域扉".into(),
            from_zone_id: Some(general.id),
            to_zone_id: handling.id,
            reader_mode: ReaderMode::Card,
            held_open_limit_secs: None,
        },
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
    let handler = create_operator(&store, "handler", OperatorRole::Handler).await;
    let officer = create_operator(&store, "officer", OperatorRole::SecurityOfficer).await;
    let officer2 = create_operator(&store, "officer2", OperatorRole::SecurityOfficer).await;
    let admin = create_operator(&store, "admin", OperatorRole::Administrator).await;
    let handler_person = create_person(&store, "担当 花子", "H1").await;
    let officer_person = create_person(&store, "責任 次郎", "S1").await;
    let officer2_person = create_person(&store, "責任 三郎", "S2").await;
    let admin_person = create_person(&store, "管理 一郎", "A1").await;
    let employee = create_person(&store, "山田 太郎", "E1").await;
    let master = Key32::random();
    let clock = Arc::new(ManualClock::new(Timestamp::now()));
    let vault = Vault::open_with_clock(
        store.clone(),
        &StaticKeyProvider(master.clone()),
        clock.clone(),
    )
    .await
    .unwrap();
    assert!(vault.is_unlocked());
    let cli = Actor::cli();
    for (a, p) in [
        (&handler, handler_person),
        (&officer, officer_person),
        (&officer2, officer2_person),
        (&admin, admin_person),
    ] {
        vault
            .link_operator(&cli, a.operator_id.unwrap(), Some(p), Some(site.id))
            .await
            .unwrap();
    }
    let world = World {
        store,
        vault,
        clock,
        master,
        site: site.id,
        handling_door: handling_door.id,
        general_door: general_door.id,
        handler,
        handler_person,
        officer,
        officer2,
        admin,
        employee,
    };
    for p in [
        handler_person,
        officer_person,
        officer2_person,
        admin_person,
    ] {
        pass(&world, p, world.general_door, Direction::In).await;
        pass(&world, p, world.handling_door, Direction::In).await;
    }
    world
}

/// Enrols TOTP for an actor and returns the secret.
pub async fn enrol(w: &World, a: &Actor) -> Vec<u8> {
    let e = w.vault.totp_enroll(a, "test").await.unwrap();
    let secret = monban_vault::totp::from_base32(&e.secret_base32)
        .unwrap()
        .to_vec();
    let code = current_code(w, &secret);
    w.vault.totp_confirm(a, &code).await.unwrap();
    w.clock.advance(30);
    secret
}

pub fn current_code(w: &World, secret: &[u8]) -> String {
    use monban_vault::Clock;
    let now = w.clock.now().as_second();
    monban_vault::totp::code_at(secret, monban_vault::totp::step_of(now))
}

/// A fresh code: moves the clock to the next step first.
pub fn fresh_code(w: &World, secret: &[u8]) -> String {
    w.clock.advance(30);
    current_code(w, secret)
}

pub fn new_record(person: i64, number: &MyNumber, doc: DocType) -> NewRecord {
    NewRecord {
        person_id: person,
        relation: Relation::Employee,
        dependent_label: None,
        doc_type: doc,
        purposes: vec![],
        basis_date: None,
        number: number.clone(),
        number_check_doc: NumberCheckDoc::MyNumberCard,
        identity_check_doc: IdentityCheckDoc::MyNumberCard,
        checked_on: jiff::civil::date(2026, 4, 1),
    }
}

/// The vault access log as (action, outcome, reason, purpose) tuples, oldest first.
pub async fn access_log(store: &Store) -> Vec<(String, String, Option<String>, Option<String>)> {
    sqlx::query("SELECT action, outcome, reason, purpose FROM vault_access_log ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get("action"),
                r.get("outcome"),
                r.get("reason"),
                r.get("purpose"),
            )
        })
        .collect()
}
