//! What the controller's end-to-end tests share: a facility written through the store as an
//! operator would (sites, zones, doors, people with cards, access groups), a real server
//! gateway on loopback, and agents enrolled with it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod fake_gateway;

use std::time::Duration;

use monban_controller::{enrol, Agent};
use monban_core::model::Id;
use monban_core::schedule::Schedule;
use monban_core::{CardId, CredentialKind, CredentialStatus, ReaderMode, ZoneClass};
use monban_server::{gateway, AppState, ServerConfig};
use monban_store::facility::{self, DoorInput, SiteInput, ZoneInput};
use monban_store::people::{self, AccessGroupInput, CredentialInput, PersonInput};
use monban_store::{controllers, Store, WriteTx};

/// Waits up to 30 s for `f` to hold.
pub async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A site named 本社; its id.
pub async fn site(w: &mut WriteTx) -> Id {
    facility::create_site(
        w,
        &SiteInput {
            name: "本社".into(),
            time_zone: None,
        },
    )
    .await
    .unwrap()
    .id
}

/// A zone of `class` in `site`, inside `parent`; its id.
pub async fn zone(
    w: &mut WriteTx,
    site: Id,
    name: &str,
    parent: Option<Id>,
    class: ZoneClass,
) -> Id {
    facility::create_zone(
        w,
        &ZoneInput {
            site_id: site,
            parent_id: parent,
            name: name.into(),
            class,
            occupancy_limit: None,
        },
    )
    .await
    .unwrap()
    .id
}

/// A door from `from` into `to`; its id.
pub async fn door(
    w: &mut WriteTx,
    site: Id,
    name: &str,
    (from, to): (Option<Id>, Id),
    reader_mode: ReaderMode,
    held_open_limit_secs: Option<u32>,
) -> Id {
    facility::create_door(
        w,
        &DoorInput {
            site_id: site,
            name: name.into(),
            from_zone_id: from,
            to_zone_id: to,
            reader_mode,
            held_open_limit_secs,
        },
    )
    .await
    .unwrap()
    .id
}

/// An active employee (number `E{n}`) holding the card `card`; their id.
pub async fn employee_with_card(w: &mut WriteTx, n: usize, card: &str) -> Id {
    let p = people::create_person(
        w,
        &PersonInput::employee(format!("E{n}"), format!("社員{n}"), "シャイン"),
    )
    .await
    .unwrap();
    credential(w, p.id, CredentialKind::Card, card).await;
    p.id
}

/// An active credential of `kind` for `person`: a card's ID, or a face template reference.
pub async fn credential(w: &mut WriteTx, person: Id, kind: CredentialKind, value: &str) {
    let card = kind == CredentialKind::Card;
    people::create_credential(
        w,
        &CredentialInput {
            person_id: person,
            kind,
            card_id: card.then(|| CardId::parse("c", value).unwrap()),
            pin_hash: None,
            face_template_ref: (!card).then(|| value.to_string()),
            valid_from: None,
            valid_until: None,
            status: CredentialStatus::Active,
        },
    )
    .await
    .unwrap();
}

/// An access group letting `persons` into `zones` at any time.
pub async fn group_always(w: &mut WriteTx, zones: Vec<Id>, persons: Vec<Id>) {
    people::create_access_group(
        w,
        &AccessGroupInput {
            name: "全員".into(),
            schedule: Schedule::always(),
            zone_ids: zones,
            person_ids: persons,
        },
    )
    .await
    .unwrap();
}

/// The server state over `store` (data directory `dir`) with its controller gateway listening
/// on loopback, rebuilding snapshots every `refresh`.
pub async fn start_gateway(store: Store, dir: &std::path::Path, refresh: Duration) -> AppState {
    let state = AppState::new(
        store,
        ServerConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            dir.to_path_buf(),
            String::new(),
        ),
    );
    gateway::start(state.clone(), "127.0.0.1:0".parse().unwrap(), refresh)
        .await
        .unwrap();
    state
}

/// A controller for `doors`, enrolled with the gateway, its agent opened in `dir` (not yet
/// linked).
pub async fn enrolled_agent(state: &AppState, doors: &[Id], dir: &std::path::Path) -> Agent {
    let mut tx = state.store.begin_write().await.unwrap();
    let (c, token) =
        controllers::create_controller(&mut tx, "ctl", doors, monban_proto::token_hash)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    let e = state
        .controllers
        .enrolment(&state.store, dir, c.id, token, None)
        .await
        .unwrap();
    enrol(dir, &e.to_code(), None).unwrap();
    Agent::open(dir).unwrap()
}
