//! Building the policy snapshot from the store: persons become opaque ids, cards and face
//! templates become keyed hashes, PINs stay Argon2id hashes; nothing else about a person leaves.

use monban_core::snapshot::{CredentialPolicy, DoorPolicy, GroupPolicy, HolderPolicy, ZonePolicy};
use monban_core::text::Code;
use monban_core::{CredentialKind, CredentialStatus, PolicyData, ReaderMode};
use monban_proto::credential_hash;
use monban_store::controllers::{policy_rows, LockdownScope};
use monban_store::{now_micros, Store};
use sha2::{Digest, Sha256};

use super::GatewayError;

fn bad(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Snapshot(e.to_string())
}

/// Reads the policy. The version is the build time in µs, and always above `prev`.
pub(super) async fn policy_data(
    store: &Store,
    key: &[u8],
    prev: u64,
) -> Result<PolicyData, GatewayError> {
    let rows = policy_rows(store).await?;
    let built_at_us = now_micros();
    let version = u64::try_from(built_at_us).unwrap_or(0).max(prev + 1);
    let mut pins = std::collections::HashMap::new();
    let mut credentials = Vec::with_capacity(rows.credentials.len());
    for c in &rows.credentials {
        let value = match c.kind {
            CredentialKind::Card => c.card_id.clone(),
            CredentialKind::Face => c.face_template_ref.clone(),
            CredentialKind::Pin => {
                if c.status == CredentialStatus::Active {
                    if let Some(h) = &c.pin_hash {
                        pins.insert(c.person_id, h.clone());
                    }
                }
                None
            }
        };
        let Some(value) = value else { continue };
        credentials.push(CredentialPolicy {
            hash: credential_hash(key, c.kind, &value),
            id: c.id,
            person_id: c.person_id,
            kind: c.kind,
            status: c.status,
            valid_from: c.valid_from,
            valid_until: c.valid_until,
        });
    }
    let mut groups = Vec::with_capacity(rows.groups.len());
    for (id, json, zone_ids, person_ids) in rows.groups {
        groups.push(GroupPolicy {
            id,
            schedule: serde_json::from_str(&json).map_err(bad)?,
            zone_ids,
            person_ids,
        });
    }
    let mut doors = Vec::with_capacity(rows.doors.len());
    for (id, site_id, from, to, mode, held, interlock) in rows.doors {
        doors.push(DoorPolicy {
            id,
            site_id,
            from_zone_id: from,
            to_zone_id: to,
            reader_mode: ReaderMode::parse_code("reader_mode", &mode).map_err(bad)?,
            held_open_limit_secs: held,
            interlock_group: interlock,
        });
    }
    Ok(PolicyData {
        version,
        built_at_us,
        time_zone: rows
            .time_zone
            .unwrap_or_else(|| monban_core::schedule::DEFAULT_TIME_ZONE.to_string()),
        credential_key: hex::encode(key),
        zones: rows
            .zones
            .into_iter()
            .map(
                |(id, site_id, parent_id, class, occupancy_limit, rules)| ZonePolicy {
                    id,
                    site_id,
                    parent_id,
                    class,
                    occupancy_limit,
                    rules,
                },
            )
            .collect(),
        doors,
        holders: rows
            .persons
            .into_iter()
            .map(|(id, kind, active, valid_from, valid_until)| HolderPolicy {
                id,
                kind,
                active,
                valid_from,
                valid_until,
                pin_hash: pins.remove(&id),
            })
            .collect(),
        credentials,
        groups,
        lockdown_zones: rows
            .lockdowns
            .iter()
            .filter_map(|l| match l {
                LockdownScope::Zone(z) => Some(*z),
                LockdownScope::Site(_) => None,
            })
            .collect(),
        lockdown_sites: rows
            .lockdowns
            .iter()
            .filter_map(|l| match l {
                LockdownScope::Site(s) => Some(*s),
                LockdownScope::Zone(_) => None,
            })
            .collect(),
    })
}

/// A hash of the policy content, ignoring version and build time: equal hashes, same policy.
pub(super) fn content_hash(data: &PolicyData) -> Result<[u8; 32], GatewayError> {
    let mut d = data.clone();
    d.version = 0;
    d.built_at_us = 0;
    let bytes = serde_json::to_vec(&d).map_err(bad)?;
    Ok(Sha256::digest(&bytes).into())
}
