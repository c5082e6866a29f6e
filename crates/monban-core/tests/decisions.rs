//! Scenario tests of the decision engine: one per rule, each through the same `decide` +
//! `PresenceState::apply` pair the controllers use.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jiff::Timestamp;
use monban_core::schedule::Schedule;
use monban_core::snapshot::{CredentialPolicy, DoorPolicy, GroupPolicy, HolderPolicy, ZonePolicy};
use monban_core::{
    decide, decide_with_face, AccessRequest, AlarmCode, AntiPassbackMode, CredentialHash,
    CredentialKind, CredentialStatus, Decision, Direction, FaceEvidence, PersonKind, PolicyData,
    PolicySnapshot, PresenceState, ReaderMode, ReasonCode, ZoneClass, ZoneRules,
};

// Zones: 1 lobby (general, from outside), 2 handling (inside 1), 3 management (inside 1).
// Doors: 10 outside→1, 20 1→2, 30 1→3, 40/41 interlocked pair 1→2.
const LOBBY: i64 = 1;
const HANDLING: i64 = 2;
const MGMT: i64 = 3;

fn h(n: u8) -> CredentialHash {
    CredentialHash([n; 32])
}

fn zone(id: i64, parent: Option<i64>, class: ZoneClass) -> ZonePolicy {
    ZonePolicy {
        id,
        site_id: 1,
        parent_id: parent,
        class,
        occupancy_limit: None,
        rules: ZoneRules::defaults_for(class),
    }
}

fn door(id: i64, from: Option<i64>, to: i64, interlock: Option<i64>) -> DoorPolicy {
    DoorPolicy {
        id,
        site_id: 1,
        from_zone_id: from,
        to_zone_id: to,
        reader_mode: ReaderMode::Card,
        held_open_limit_secs: 30,
        interlock_group: interlock,
    }
}

/// Persons 1..=5 employees with access everywhere; 6 a visitor; each with card h(id).
fn data() -> PolicyData {
    let mut holders = Vec::new();
    let mut credentials = Vec::new();
    for id in 1..=6i64 {
        holders.push(HolderPolicy {
            id,
            kind: if id == 6 {
                PersonKind::Visitor
            } else {
                PersonKind::Employee
            },
            active: true,
            valid_from: None,
            valid_until: None,
            pin_hash: None,
        });
        credentials.push(CredentialPolicy {
            hash: h(id as u8),
            id: 100 + id,
            person_id: id,
            kind: CredentialKind::Card,
            status: CredentialStatus::Active,
            valid_from: None,
            valid_until: None,
        });
    }
    credentials.push(CredentialPolicy {
        hash: h(99),
        id: 199,
        person_id: 1,
        kind: CredentialKind::Card,
        status: CredentialStatus::Lost,
        valid_from: None,
        valid_until: None,
    });
    PolicyData {
        version: 1,
        built_at_us: 0,
        time_zone: "Asia/Tokyo".into(),
        credential_key: String::new(),
        zones: vec![
            zone(LOBBY, None, ZoneClass::General),
            zone(HANDLING, Some(LOBBY), ZoneClass::Handling),
            zone(MGMT, Some(LOBBY), ZoneClass::Management),
        ],
        doors: vec![
            door(10, None, LOBBY, None),
            door(20, Some(LOBBY), HANDLING, None),
            door(30, Some(LOBBY), MGMT, None),
            door(40, Some(LOBBY), HANDLING, Some(7)),
            door(41, Some(LOBBY), HANDLING, Some(7)),
        ],
        holders,
        credentials,
        groups: vec![
            GroupPolicy {
                id: 1,
                schedule: Schedule::always(),
                zone_ids: vec![LOBBY, HANDLING, MGMT],
                person_ids: vec![1, 2, 3, 4, 5, 6],
            },
            GroupPolicy {
                id: 2,
                schedule: Schedule::business_hours(),
                zone_ids: vec![],
                person_ids: vec![],
            },
        ],
        lockdown_zones: vec![],
        lockdown_sites: vec![],
    }
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Thursday 2026-11-26 10:00 JST plus `secs`.
fn at(secs: i64) -> Timestamp {
    t("2026-11-26T01:00:00Z") + jiff::SignedDuration::from_secs(secs)
}

struct World {
    snap: PolicySnapshot,
    p: PresenceState,
}

impl World {
    fn new(d: PolicyData) -> Self {
        Self {
            snap: PolicySnapshot::build(d).unwrap(),
            p: PresenceState::new(),
        }
    }
    fn try_(&mut self, door: i64, dir: Direction, card: u8, when: Timestamp) -> Decision {
        self.try_full(door, dir, card, when, None)
    }
    fn try_full(
        &mut self,
        door: i64,
        dir: Direction,
        card: u8,
        when: Timestamp,
        temp: Option<i16>,
    ) -> Decision {
        let req = AccessRequest {
            door_id: door,
            direction: dir,
            credential: Some(h(card)),
            pin_ok: None,
            temperature_dc: temp,
        };
        let d = decide(&self.snap, &self.p, &req, when);
        // Pure: deciding twice gives the same answer.
        assert_eq!(d, decide(&self.snap, &self.p, &req, when));
        self.p.apply(&self.snap, &req, &d, when);
        d
    }
    /// A card read with the reader's 1:1 face check.
    fn try_face(
        &mut self,
        door: i64,
        dir: Direction,
        card: u8,
        face: Option<FaceEvidence>,
        when: Timestamp,
    ) -> Decision {
        let req = AccessRequest {
            door_id: door,
            direction: dir,
            credential: Some(h(card)),
            pin_ok: None,
            temperature_dc: None,
        };
        let d = decide_with_face(&self.snap, &self.p, &req, face, when);
        assert_eq!(d, decide_with_face(&self.snap, &self.p, &req, face, when));
        self.p.apply(&self.snap, &req, &d, when);
        d
    }
}

use Direction::{In, Out};

#[test]
fn credential_reasons() {
    let mut w = World::new(data());
    assert_eq!(
        w.try_(10, In, 42, at(0)).reason,
        ReasonCode::UnknownCredential
    );
    let d = w.try_(10, In, 99, at(0));
    assert_eq!(
        (d.reason, d.person_id),
        (ReasonCode::CredentialSuspended, Some(1))
    );
    let mut d = data();
    d.credentials[0].valid_until = Some(jiff::civil::date(2026, 11, 25));
    d.credentials[1].valid_from = Some(jiff::civil::date(2026, 11, 27));
    d.holders[2].active = false;
    let mut w = World::new(d);
    assert_eq!(
        w.try_(10, In, 1, at(0)).reason,
        ReasonCode::CredentialExpired
    );
    assert_eq!(
        w.try_(10, In, 2, at(0)).reason,
        ReasonCode::CredentialNotYetValid
    );
    assert_eq!(w.try_(10, In, 3, at(0)).reason, ReasonCode::PersonInactive);
    assert_eq!(w.try_(99, In, 4, at(0)).reason, ReasonCode::UnknownDoor);
    assert_eq!(w.try_(10, In, 4, at(0)).reason, ReasonCode::Granted);
}

#[test]
fn schedule_and_holiday() {
    let mut d = data();
    d.groups[0].zone_ids = vec![LOBBY];
    d.groups[1].zone_ids = vec![HANDLING];
    d.groups[1].person_ids = vec![1];
    d.zones[1].rules.anti_passback = AntiPassbackMode::Off;
    let mut w = World::new(d);
    assert!(w.try_(10, In, 1, at(0)).granted);
    assert_eq!(w.try_(20, In, 2, at(1)).reason, ReasonCode::NoAccessGroup);
    // 23:00 JST: outside business hours.
    assert_eq!(
        w.try_(20, In, 1, t("2026-11-26T14:00:00Z")).reason,
        ReasonCode::OutsideSchedule
    );
    // 勤労感謝の日.
    assert_eq!(
        w.try_(20, In, 1, t("2026-11-23T01:00:00Z")).reason,
        ReasonCode::Holiday
    );
    assert!(w.try_(20, In, 1, at(2)).granted);
}

#[test]
fn tailgater_cannot_badge_out_and_is_named_in_the_alarm() {
    let mut w = World::new(data());
    // Person 1 enters the lobby and the handling area properly.
    assert!(w.try_(10, In, 1, at(0)).granted);
    assert!(w.try_(20, In, 1, at(5)).granted);
    // Person 2 badges into the lobby, then slips into the handling area behind person 1
    // without badging (共連れ): no event for them at door 20.
    assert!(w.try_(10, In, 2, at(6)).granted);
    // Trying to badge out of the handling area: refused (hard anti-passback), and the alarm
    // names person 2 at door 20.
    let d = w.try_(20, Out, 2, at(60));
    assert!(!d.granted);
    assert_eq!(d.reason, ReasonCode::AntiPassback);
    assert_eq!(d.person_id, Some(2));
    assert_eq!(d.alarm, Some(AlarmCode::AntiPassback));
    // The same person with a second credential type is refused too: the rule is per person.
    // Person 1 leaves normally.
    assert!(w.try_(20, Out, 1, at(61)).granted);
    // An operator forgives person 2: the next pass is accepted and presence is right again.
    w.p.forgive(2);
    assert!(w.try_(20, Out, 2, at(70)).granted);
    assert_eq!(w.p.whereabouts(2).unwrap().zone_id, Some(LOBBY));
    // Passback (entering twice) is refused as well.
    assert!(w.try_(20, In, 2, at(80)).granted);
    assert_eq!(w.try_(20, In, 2, at(81)).reason, ReasonCode::AntiPassback);
}

#[test]
fn anti_passback_applies_across_doors_and_credentials_of_the_person() {
    let mut d = data();
    // Person 1 has a second card.
    d.credentials.push(CredentialPolicy {
        hash: h(50),
        id: 150,
        person_id: 1,
        kind: CredentialKind::Face,
        status: CredentialStatus::Active,
        valid_from: None,
        valid_until: None,
    });
    let mut w = World::new(d);
    assert!(w.try_(10, In, 1, at(0)).granted);
    assert!(w.try_(20, In, 1, at(1)).granted);
    // Entering the handling area again through another door of the zone, with the other
    // credential: still passback.
    assert_eq!(w.try_(40, In, 50, at(2)).reason, ReasonCode::AntiPassback);
}

#[test]
fn soft_and_timed_anti_passback() {
    let mut d = data();
    d.zones[0].rules.anti_passback = AntiPassbackMode::Soft;
    d.zones[1].rules.anti_passback = AntiPassbackMode::Timed;
    d.zones[1].rules.anti_passback_secs = 60;
    let mut w = World::new(d);
    // Soft: leaving a lobby never entered is allowed with an alarm.
    let d = w.try_(10, Out, 3, at(0));
    assert!(d.granted);
    assert_eq!(d.alarm, Some(AlarmCode::AntiPassback));
    // Timed: refused within 60 s of the last pass, free after.
    assert!(w.try_(10, In, 4, at(0)).granted);
    assert!(w.try_(20, In, 4, at(1)).granted);
    assert_eq!(w.try_(20, In, 4, at(30)).reason, ReasonCode::AntiPassback);
    assert!(w.try_(20, In, 4, at(120)).granted);
}

#[test]
fn entering_a_management_area_alone_is_refused() {
    let mut w = World::new(data());
    for p in [1, 2, 3] {
        assert!(w.try_(10, In, p, at(0)).granted);
    }
    // Person 1 alone: refused, waiting for a second person.
    let d = w.try_(30, In, 1, at(10));
    assert!(!d.granted);
    assert_eq!(d.reason, ReasonCode::TwoPersonPending);
    assert_eq!(w.p.whereabouts(1).unwrap().zone_id, Some(LOBBY));
    // Nobody comes within the window: person 1 is still outside; a later badge by person 2
    // starts a new wait instead of letting them in.
    let d = w.try_(30, In, 2, at(100));
    assert_eq!(d.reason, ReasonCode::TwoPersonPending);
    // The same person badging twice does not make two.
    let d = w.try_(30, In, 2, at(105));
    assert_eq!(d.reason, ReasonCode::TwoPersonFailed);
    // Two different authorised persons within the window: both enter.
    assert_eq!(
        w.try_(30, In, 1, at(200)).reason,
        ReasonCode::TwoPersonPending
    );
    let d = w.try_(30, In, 3, at(210));
    assert!(d.granted);
    assert_eq!(d.companion, Some(1));
    assert_eq!(w.p.whereabouts(1).unwrap().zone_id, Some(MGMT));
    assert_eq!(w.p.whereabouts(3).unwrap().zone_id, Some(MGMT));
    assert_eq!(w.p.occupancy(MGMT), 2);
    // One leaves: the other would be alone inside — the exit carries a never-alone alarm.
    let d = w.try_(30, Out, 3, at(300));
    assert!(d.granted);
    assert_eq!(d.alarm, Some(AlarmCode::NeverAlone));
}

#[test]
fn interlock_zone_full_escort_temperature_lockdown() {
    let mut d = data();
    d.zones[1].occupancy_limit = Some(2);
    d.zones[1].rules.anti_passback = AntiPassbackMode::Off;
    let mut w = World::new(d);
    for p in 1..=6 {
        assert!(w.try_(10, In, p, at(0)).granted);
    }
    // Interlock: door 41 cannot open while door 40 is open.
    w.p.set_door_open(40, true);
    assert_eq!(w.try_(41, In, 1, at(1)).reason, ReasonCode::InterlockBusy);
    w.p.set_door_open(40, false);
    assert!(w.try_(41, In, 1, at(2)).granted);
    // Escort: a visitor alone is refused; right after an employee at the same door, allowed.
    assert_eq!(
        w.try_(20, In, 6, at(100)).reason,
        ReasonCode::EscortRequired
    );
    assert!(w.try_(20, In, 2, at(101)).granted);
    // Zone full: the limit of 2 is reached.
    assert_eq!(w.try_(20, In, 6, at(102)).reason, ReasonCode::ZoneFull);
    assert!(w.try_(20, Out, 2, at(103)).granted);
    assert!(w.try_(20, In, 3, at(104)).granted);
    assert_eq!(w.try_(20, In, 6, at(105)).reason, ReasonCode::ZoneFull);
}

#[test]
fn temperature_over_the_zone_limit_is_refused() {
    let mut w = World::new(data());
    let d = w.try_full(10, In, 5, at(0), Some(378));
    assert_eq!(d.reason, ReasonCode::TemperatureOverLimit);
    assert_eq!(d.alarm, Some(AlarmCode::TemperatureOverLimit));
    assert!(w.try_full(10, In, 5, at(1), Some(365)).granted);
    let mut d = data();
    d.zones[0].rules.max_temperature_dc = 380;
    let mut w = World::new(d);
    assert!(w.try_full(10, In, 5, at(0), Some(378)).granted);
}

#[test]
fn lockdown_refuses_entry_but_never_exit() {
    let mut w = World::new(data());
    assert!(w.try_(10, In, 1, at(0)).granted);
    let mut d = data();
    d.lockdown_zones = vec![LOBBY];
    let mut w2 = World {
        snap: PolicySnapshot::build(d).unwrap(),
        p: w.p.clone(),
    };
    // Zones inside a locked-down zone are locked down too.
    assert_eq!(w2.try_(20, In, 1, at(1)).reason, ReasonCode::Lockdown);
    assert_eq!(w2.try_(10, In, 2, at(1)).reason, ReasonCode::Lockdown);
    assert!(w2.try_(10, Out, 1, at(2)).granted);
    let _ = &mut w;
}

#[test]
fn presence_updates_never_go_backwards() {
    let mut p = PresenceState::new();
    p.set(1, Some(LOBBY), at(10));
    p.set(1, Some(HANDLING), at(5));
    assert_eq!(p.whereabouts(1).unwrap().zone_id, Some(LOBBY));
    assert_eq!(p.occupancy(LOBBY), 1);
    p.set(1, None, at(20));
    assert_eq!(p.occupancy(LOBBY), 0);
}

/// Door 50: lobby → handling, face + card. Faces: h(61) person 1, h(62) person 2, h(63) person 1
/// but suspended, h(64) person 1 but expired yesterday.
fn face_and_card_data() -> PolicyData {
    let mut d = data();
    let mut fc = door(50, Some(LOBBY), HANDLING, None);
    fc.reader_mode = ReaderMode::FaceAndCard;
    d.doors.push(fc);
    for (hash, person, status, until) in [
        (61u8, 1i64, CredentialStatus::Active, None),
        (62, 2, CredentialStatus::Active, None),
        (63, 1, CredentialStatus::Suspended, None),
        (
            64,
            1,
            CredentialStatus::Active,
            Some(jiff::civil::date(2026, 11, 25)),
        ),
    ] {
        d.credentials.push(CredentialPolicy {
            hash: h(hash),
            id: 300 + i64::from(hash),
            person_id: person,
            kind: CredentialKind::Face,
            status,
            valid_from: None,
            valid_until: until,
        });
    }
    d
}

#[test]
fn face_and_card_door_grants_only_with_the_card_holders_own_face() {
    let mut w = World::new(face_and_card_data());
    for p in [1, 2] {
        assert!(w.try_(10, In, p, at(0)).granted);
    }
    // No face check at all: refused, face required (also through plain `decide`).
    let d = w.try_(50, In, 1, at(1));
    assert_eq!(
        (d.granted, d.reason, d.person_id, d.credential_kind),
        (
            false,
            ReasonCode::FaceRequired,
            Some(1),
            Some(CredentialKind::Card)
        )
    );
    assert_eq!(
        w.try_face(50, In, 1, None, at(2)).reason,
        ReasonCode::FaceRequired
    );
    // A face was checked and matched none of the holder's templates.
    let d = w.try_face(50, In, 1, Some(FaceEvidence::NoMatch), at(3));
    assert_eq!((d.granted, d.reason), (false, ReasonCode::FaceMismatch));
    // Person 2's face with person 1's card: the face is a valid credential, but not the
    // card holder's.
    let d = w.try_face(50, In, 1, Some(FaceEvidence::Matched(h(62))), at(4));
    assert_eq!((d.reason, d.person_id), (ReasonCode::FaceMismatch, Some(1)));
    // A hash that is not a face credential (a card's, an unknown one) is no face match.
    assert_eq!(
        w.try_face(50, In, 1, Some(FaceEvidence::Matched(h(1))), at(5))
            .reason,
        ReasonCode::FaceMismatch
    );
    assert_eq!(
        w.try_face(50, In, 1, Some(FaceEvidence::Matched(h(200))), at(6))
            .reason,
        ReasonCode::FaceMismatch
    );
    // None of these refusals moved anyone.
    assert_eq!(w.p.whereabouts(1).unwrap().zone_id, Some(LOBBY));
    // The holder's own, active face: granted, and the card is the credential of record.
    let d = w.try_face(50, In, 1, Some(FaceEvidence::Matched(h(61))), at(7));
    assert!(d.granted, "{d:?}");
    assert_eq!(
        (d.reason, d.person_id, d.credential_kind),
        (ReasonCode::Granted, Some(1), Some(CredentialKind::Card))
    );
    assert_eq!(w.p.whereabouts(1).unwrap().zone_id, Some(HANDLING));
    // Person 2 with their own card and face: granted too.
    assert!(
        w.try_face(50, In, 2, Some(FaceEvidence::Matched(h(62))), at(8))
            .granted
    );
}

#[test]
fn face_and_card_door_refuses_a_withdrawn_or_expired_face_credential() {
    let mut w = World::new(face_and_card_data());
    assert!(w.try_(10, In, 1, at(0)).granted);
    // Person 1's own face, but that face credential is suspended, or expired yesterday.
    assert_eq!(
        w.try_face(50, In, 1, Some(FaceEvidence::Matched(h(63))), at(1))
            .reason,
        ReasonCode::FaceMismatch
    );
    assert_eq!(
        w.try_face(50, In, 1, Some(FaceEvidence::Matched(h(64))), at(2))
            .reason,
        ReasonCode::FaceMismatch
    );
    assert!(
        w.try_face(50, In, 1, Some(FaceEvidence::Matched(h(61))), at(3))
            .granted
    );
}

#[test]
fn face_check_comes_after_credential_and_pin_and_before_zone_rules() {
    let mut d = face_and_card_data();
    d.groups[0].person_ids = vec![1, 2, 4, 5, 6];
    let mut w = World::new(d);
    // The card itself is checked first: a lost card is refused as such, face or not.
    assert_eq!(
        w.try_face(50, In, 99, None, at(0)).reason,
        ReasonCode::CredentialSuspended
    );
    // The face is checked before the access groups: person 3 has none, but without a face
    // the reason is the missing face.
    assert_eq!(
        w.try_face(50, In, 3, None, at(1)).reason,
        ReasonCode::FaceRequired
    );
    // ...and before the temperature.
    let req = AccessRequest {
        door_id: 50,
        direction: In,
        credential: Some(h(1)),
        pin_ok: None,
        temperature_dc: Some(390),
    };
    let d = decide_with_face(&w.snap, &w.p, &req, Some(FaceEvidence::NoMatch), at(2));
    assert_eq!(d.reason, ReasonCode::FaceMismatch);
    let d = decide_with_face(
        &w.snap,
        &w.p,
        &req,
        Some(FaceEvidence::Matched(h(61))),
        at(2),
    );
    assert_eq!(d.reason, ReasonCode::TemperatureOverLimit);
}

#[test]
fn other_reader_modes_ignore_face_evidence() {
    let mut w = World::new(face_and_card_data());
    // Door 10 and 20 are card doors: a failed face check there changes nothing.
    let d = w.try_face(10, In, 1, Some(FaceEvidence::NoMatch), at(0));
    assert!(d.granted, "{d:?}");
    let d = w.try_face(20, In, 1, Some(FaceEvidence::Matched(h(62))), at(1));
    assert!(d.granted, "{d:?}");
}

#[test]
fn face_reason_codes_are_stable_and_labelled() {
    use monban_core::text::Code;
    assert_eq!(ReasonCode::FaceMismatch.code(), "face_mismatch");
    assert_eq!(ReasonCode::FaceRequired.code(), "face_required");
    assert_eq!(ReasonCode::FaceMismatch.label_ja(), "顔が一致しない");
    assert_eq!(ReasonCode::FaceRequired.label_ja(), "顔認証が必要");
    assert_eq!(
        ReasonCode::parse_code("reason", "face_mismatch").unwrap(),
        ReasonCode::FaceMismatch
    );
    assert_eq!(
        serde_json::to_string(&ReasonCode::FaceRequired).unwrap(),
        "\"face_required\""
    );
}
