//! An in-memory policy snapshot: everything [`decide`](crate::decide) needs, indexed for fast
//! look-ups, with schedules compiled once.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::decision::PolicyView;
use crate::model::{AccessGroup, Credential, Door, Id, Person, Zone};
use crate::schedule::{CompiledSchedule, ScheduleError, ScheduleVerdict};
use crate::CardId;

/// A consistent copy of the policy, built from stored data.
#[derive(Debug, Clone)]
pub struct PolicySnapshot {
    time_zone: TimeZone,
    doors: HashMap<Id, Door>,
    zones: HashMap<Id, Zone>,
    persons: HashMap<Id, Person>,
    cards: HashMap<CardId, Credential>,
    groups: Vec<AccessGroup>,
    groups_by_person: HashMap<Id, Vec<usize>>,
    compiled: Vec<CompiledSchedule>,
}

impl PolicySnapshot {
    /// Builds a snapshot. `time_zone` is the site's; each group's schedule uses its own.
    pub fn new(
        time_zone: TimeZone,
        doors: Vec<Door>,
        zones: Vec<Zone>,
        persons: Vec<Person>,
        credentials: Vec<Credential>,
        groups: Vec<AccessGroup>,
    ) -> Result<Self, ScheduleError> {
        let compiled = groups
            .iter()
            .map(|g| g.schedule.compile())
            .collect::<Result<Vec<_>, _>>()?;
        let mut groups_by_person: HashMap<Id, Vec<usize>> = HashMap::new();
        for (i, g) in groups.iter().enumerate() {
            for p in &g.person_ids {
                groups_by_person.entry(*p).or_default().push(i);
            }
        }
        Ok(Self {
            time_zone,
            doors: doors.into_iter().map(|d| (d.id, d)).collect(),
            zones: zones.into_iter().map(|z| (z.id, z)).collect(),
            persons: persons.into_iter().map(|p| (p.id, p)).collect(),
            cards: credentials
                .into_iter()
                .filter_map(|c| c.card_id.clone().map(|k| (k, c)))
                .collect(),
            groups,
            groups_by_person,
            compiled,
        })
    }

    /// All doors.
    pub fn doors(&self) -> impl Iterator<Item = &Door> {
        self.doors.values()
    }
}

impl PolicyView for PolicySnapshot {
    fn door(&self, id: Id) -> Option<&Door> {
        self.doors.get(&id)
    }
    fn zone(&self, id: Id) -> Option<&Zone> {
        self.zones.get(&id)
    }
    fn credential_by_card(&self, card: &CardId) -> Option<&Credential> {
        self.cards.get(card)
    }
    fn person(&self, id: Id) -> Option<&Person> {
        self.persons.get(&id)
    }
    fn groups_of(&self, person_id: Id) -> Vec<&AccessGroup> {
        self.groups_by_person
            .get(&person_id)
            .map(|ix| ix.iter().filter_map(|i| self.groups.get(*i)).collect())
            .unwrap_or_default()
    }
    fn schedule_verdict(&self, group: &AccessGroup, at: Timestamp) -> ScheduleVerdict {
        self.groups
            .iter()
            .position(|g| g.id == group.id)
            .and_then(|i| self.compiled.get(i))
            .map(|c| c.evaluate(at))
            .unwrap_or(ScheduleVerdict::OutsideSchedule)
    }
    fn local_date(&self, at: Timestamp) -> jiff::civil::Date {
        self.time_zone.to_datetime(at).date()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::credential::{CredentialKind, CredentialStatus};
    use crate::decision::{decide, AccessRequest, ReasonCode};
    use crate::event::Direction;
    use crate::model::{PersonKind, PersonStatus, ReaderMode, ZoneClass};
    use crate::schedule::Schedule;

    fn snapshot(schedule: Schedule, cred_status: CredentialStatus) -> PolicySnapshot {
        let zone = Zone {
            id: 1,
            site_id: 1,
            parent_id: None,
            name: "執務室".into(),
            class: ZoneClass::General,
            occupancy_limit: None,
        };
        let door = Door {
            id: 10,
            site_id: 1,
            name: "入口".into(),
            from_zone_id: None,
            to_zone_id: 1,
            reader_mode: ReaderMode::Card,
            held_open_limit_secs: 30,
        };
        let person = Person {
            id: 5,
            kind: PersonKind::Employee,
            employee_number: Some("E1".into()),
            name_kanji: "山田".into(),
            name_kana: "ヤマダ".into(),
            department: None,
            valid_from: None,
            valid_until: None,
            status: PersonStatus::Active,
        };
        let cred = Credential {
            id: 7,
            person_id: 5,
            kind: CredentialKind::Card,
            card_id: Some(CardId::parse("c", "0102030405060708").unwrap()),
            pin_hash: None,
            face_template_ref: None,
            valid_from: None,
            valid_until: None,
            status: cred_status,
        };
        let group = AccessGroup {
            id: 3,
            name: "全員".into(),
            schedule,
            zone_ids: vec![1],
            person_ids: vec![5],
        };
        PolicySnapshot::new(
            TimeZone::get("Asia/Tokyo").unwrap(),
            vec![door],
            vec![zone],
            vec![person],
            vec![cred],
            vec![group],
        )
        .unwrap()
    }

    fn req(card: &str) -> AccessRequest {
        AccessRequest {
            door_id: 10,
            direction: Direction::In,
            card: Some(CardId::parse("c", card).unwrap()),
            pin_ok: None,
        }
    }

    #[test]
    fn decides_with_reasons() {
        // 2026-11-26 (Thursday) 10:00 JST
        let weekday_10am: Timestamp = "2026-11-26T01:00:00Z".parse().unwrap();
        // 2026-11-23 (Monday, 勤労感謝の日) 10:00 JST
        let holiday_10am: Timestamp = "2026-11-23T01:00:00Z".parse().unwrap();
        // Thursday 23:00 JST
        let weekday_night: Timestamp = "2026-11-26T14:00:00Z".parse().unwrap();
        let s = snapshot(Schedule::business_hours(), CredentialStatus::Active);
        assert_eq!(
            decide(&s, &req("0102030405060708"), weekday_10am).reason,
            ReasonCode::Granted
        );
        assert_eq!(
            decide(&s, &req("0102030405060708"), holiday_10am).reason,
            ReasonCode::Holiday
        );
        assert_eq!(
            decide(&s, &req("0102030405060708"), weekday_night).reason,
            ReasonCode::OutsideSchedule
        );
        assert_eq!(
            decide(&s, &req("0102030405060709"), weekday_10am).reason,
            ReasonCode::UnknownCredential
        );
        let s = snapshot(Schedule::always(), CredentialStatus::Lost);
        let d = decide(&s, &req("0102030405060708"), weekday_10am);
        assert!(!d.granted);
        assert_eq!(d.reason, ReasonCode::CredentialSuspended);
        assert_eq!(d.person_id, Some(5));
    }
}
