//! A synthetic deployment of any size, for benchmarks and memory measurements: `persons`
//! cardholders with one card each, 1,000 doors, 100 zones (every tenth a 管理区域, the one after
//! it a 取扱区域) and 10 access groups, half on business hours, half always.
//!
//! Nothing here is real data: card IDs are `0114` followed by the person's id in hex, and the
//! credential key is a fixed test key.

use monban_core::schedule::Schedule;
use monban_core::snapshot::{CredentialPolicy, DoorPolicy, GroupPolicy, HolderPolicy, ZonePolicy};
use monban_core::{
    CredentialKind, CredentialStatus, PersonKind, PolicyData, ReaderMode, ZoneClass, ZoneRules,
};

use crate::credential_hash;

/// Doors in the synthetic deployment.
pub const DOORS: i64 = 1_000;
/// Zones in the synthetic deployment.
pub const ZONES: i64 = 100;
/// The synthetic deployment's credential key.
pub const KEY: &[u8] = b"bench-key-bench-key-bench-key-32";

/// The card ID of person `id`.
pub fn card(id: i64) -> String {
    format!("0114{id:012X}")
}

/// The policy of a synthetic deployment with `persons` cardholders (ids 1..=persons).
pub fn policy(persons: i64) -> PolicyData {
    let zones = (1..=ZONES)
        .map(|z| {
            let class = match z % 10 {
                0 => ZoneClass::Management,
                1 => ZoneClass::Handling,
                _ => ZoneClass::General,
            };
            ZonePolicy {
                id: z,
                site_id: 1,
                parent_id: (z > 1).then_some(1),
                class,
                occupancy_limit: Some(10_000),
                rules: ZoneRules::defaults_for(class),
            }
        })
        .collect();
    let doors = (1..=DOORS)
        .map(|d| DoorPolicy {
            id: d,
            site_id: 1,
            from_zone_id: (d % ZONES != 0).then_some(1),
            to_zone_id: (d % ZONES) + 1,
            reader_mode: ReaderMode::Card,
            held_open_limit_secs: 30,
            interlock_group: None,
        })
        .collect();
    let holders = (1..=persons)
        .map(|id| HolderPolicy {
            id,
            kind: PersonKind::Employee,
            active: true,
            valid_from: None,
            valid_until: None,
            pin_hash: None,
        })
        .collect();
    let credentials = (1..=persons)
        .map(|id| CredentialPolicy {
            hash: credential_hash(KEY, CredentialKind::Card, &card(id)),
            id,
            person_id: id,
            kind: CredentialKind::Card,
            status: CredentialStatus::Active,
            valid_from: None,
            valid_until: None,
        })
        .collect();
    let groups = (0..10)
        .map(|g| GroupPolicy {
            id: g + 1,
            schedule: if g % 2 == 0 {
                Schedule::business_hours()
            } else {
                Schedule::always()
            },
            zone_ids: (1..=ZONES).filter(|z| z % 10 == g || *z == 1).collect(),
            person_ids: (1..=persons).filter(|p| p % 10 == g).collect(),
        })
        .collect();
    PolicyData {
        version: 1,
        built_at_us: 0,
        time_zone: "Asia/Tokyo".into(),
        credential_key: hex::encode(KEY),
        zones,
        doors,
        holders,
        credentials,
        groups,
        lockdown_zones: vec![],
        lockdown_sites: vec![],
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn synthetic_policy_grants_a_member_at_a_door_of_its_group() {
        let snap = monban_core::PolicySnapshot::build(policy(50)).unwrap();
        assert_eq!(snap.credential_count(), 50);
        // Person 11 is in group 2 (11 % 10 == 1), whose zones include 1 and 11 (always open);
        // they are in zone 1, from where door 10 leads into zone 11 (a 取扱区域).
        let mut presence = monban_core::PresenceState::new();
        presence.set(11, Some(1), jiff::Timestamp::UNIX_EPOCH);
        let req = monban_core::AccessRequest {
            door_id: 10,
            direction: monban_core::Direction::In,
            credential: Some(credential_hash(KEY, CredentialKind::Card, &card(11))),
            pin_ok: None,
            temperature_dc: None,
        };
        let at: jiff::Timestamp = "2026-11-26T03:00:00Z".parse().unwrap();
        let d = monban_core::decide(&snap, &presence, &req, at);
        assert!(d.granted, "{:?}", d.reason);
        // Person 12 (group 3) has no grant for zone 11.
        presence.set(12, Some(1), jiff::Timestamp::UNIX_EPOCH);
        let req = monban_core::AccessRequest {
            credential: Some(credential_hash(KEY, CredentialKind::Card, &card(12))),
            ..req
        };
        assert!(!monban_core::decide(&snap, &presence, &req, at).granted);
    }
}
