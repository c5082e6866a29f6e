//! Access events and presence (who is in which zone now), which every stored event updates in
//! the same transaction.

use jiff::Timestamp;
use monban_core::model::Id;
use monban_core::text::Code;
use monban_core::{AccessEvent, CredentialKind, Direction, ReasonCode};
use sqlx::any::AnyRow;

use crate::row::*;
use crate::{now_micros, Store, StoreError, WriteTx};

/// An event to store. `source` names where it came from (`simulator`, `controller:<id>`, …)
/// and `source_seq` its sequence number there; the pair is unique, so a repeated upload is
/// stored once.
#[derive(Debug, Clone)]
pub struct NewAccessEvent {
    pub occurred_at: Timestamp,
    pub door_id: Id,
    pub direction: Direction,
    pub person_id: Option<Id>,
    pub credential_kind: Option<CredentialKind>,
    pub granted: bool,
    pub reason: ReasonCode,
    pub source: String,
    pub source_seq: Option<i64>,
}

const EV_COLS: &str = "id, occurred_at, recorded_at, door_id, direction, person_id, credential_kind, granted, reason, zone_after";

fn event_from(r: &AnyRow) -> Result<AccessEvent, StoreError> {
    let credential_kind = match opt_text(r, "credential_kind")? {
        Some(k) => Some(
            CredentialKind::parse_code("credential_kind", &k)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        ),
        None => None,
    };
    Ok(AccessEvent {
        id: i64_(r, "id")?,
        occurred_at: ts(r, "occurred_at")?,
        recorded_at: ts(r, "recorded_at")?,
        door_id: i64_(r, "door_id")?,
        direction: code(r, "direction")?,
        person_id: opt_i64(r, "person_id")?,
        credential_kind,
        granted: bool_(r, "granted")?,
        reason: code(r, "reason")?,
        zone_after: opt_i64(r, "zone_after")?,
    })
}

/// Stores an event and, if it let a person through, moves them in the presence table.
/// Returns `None` if an event with the same source and sequence number was stored before.
pub async fn record_access_event(
    w: &mut WriteTx,
    e: &NewAccessEvent,
) -> Result<Option<AccessEvent>, StoreError> {
    if let Some(seq) = e.source_seq {
        let dup: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM access_events WHERE source = $1 AND source_seq = $2",
        )
        .bind(&e.source)
        .bind(seq)
        .fetch_optional(w.conn())
        .await?;
        if dup.is_some() {
            return Ok(None);
        }
    }
    let door = sqlx::query("SELECT from_zone_id, to_zone_id FROM doors WHERE id = $1")
        .bind(e.door_id)
        .fetch_optional(w.conn())
        .await?
        .ok_or_else(|| StoreError::not_found("door", e.door_id))?;
    let zone_after = if e.granted {
        match e.direction {
            Direction::In => Some(i64_(&door, "to_zone_id")?),
            Direction::Out => opt_i64(&door, "from_zone_id")?,
        }
    } else {
        None
    };
    let recorded_at = now_micros();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO access_events (occurred_at, recorded_at, door_id, direction, person_id, credential_kind, granted, reason, zone_after, source, source_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(e.occurred_at.as_microsecond())
    .bind(recorded_at)
    .bind(e.door_id)
    .bind(e.direction.code())
    .bind(e.person_id)
    .bind(e.credential_kind.map(|k| k.code()))
    .bind(i64::from(e.granted))
    .bind(e.reason.code())
    .bind(zone_after)
    .bind(&e.source)
    .bind(e.source_seq)
    .fetch_one(w.conn())
    .await?;
    crate::audit::append(
        w,
        &crate::audit::AuditRecord {
            source: e.source.clone(),
            actor: e
                .person_id
                .map_or_else(|| "unknown".to_string(), |p| format!("person:{p}")),
            action: "door.access".into(),
            target: format!("door:{}", e.door_id),
            outcome: if e.granted {
                "ok".into()
            } else {
                format!("denied:{}", e.reason.code())
            },
            request_id: None,
            device_time: Some(e.occurred_at),
            details: vec![
                ("direction".into(), e.direction.code().into()),
                ("event_id".into(), id.to_string()),
                (
                    "credential".into(),
                    e.credential_kind.map(|k| k.code()).unwrap_or("none").into(),
                ),
                (
                    "source_seq".into(),
                    e.source_seq.map(|s| s.to_string()).unwrap_or_default(),
                ),
            ],
        },
    )
    .await?;
    if let (true, Some(pid)) = (e.granted, e.person_id) {
        let since = e.occurred_at.as_microsecond();
        let updated = sqlx::query(
            "UPDATE presence SET zone_id = $1, since = $2, last_event_id = $3 WHERE person_id = $4",
        )
        .bind(zone_after)
        .bind(since)
        .bind(id)
        .bind(pid)
        .execute(w.conn())
        .await?;
        if updated.rows_affected() == 0 {
            sqlx::query("INSERT INTO presence (person_id, zone_id, since, last_event_id) VALUES ($1, $2, $3, $4)")
                .bind(pid)
                .bind(zone_after)
                .bind(since)
                .bind(id)
                .execute(w.conn())
                .await?;
        }
    }
    Ok(Some(AccessEvent {
        id,
        occurred_at: e.occurred_at,
        recorded_at: Timestamp::from_microsecond(recorded_at)
            .map_err(|x| StoreError::Corrupt(x.to_string()))?,
        door_id: e.door_id,
        direction: e.direction,
        person_id: e.person_id,
        credential_kind: e.credential_kind,
        granted: e.granted,
        reason: e.reason,
        zone_after,
    }))
}

/// The most recent events, newest first; only those with id below `before` when given.
pub async fn recent_events(
    s: &Store,
    limit: i64,
    before: Option<Id>,
) -> Result<Vec<AccessEvent>, StoreError> {
    let rows = match before {
        Some(b) => {
            let q = format!(
                "SELECT {EV_COLS} FROM access_events WHERE id < $1 ORDER BY id DESC LIMIT $2"
            );
            s.fetch_all(sqlx::query(&q).bind(b).bind(limit)).await?
        }
        None => {
            let q = format!("SELECT {EV_COLS} FROM access_events ORDER BY id DESC LIMIT $1");
            s.fetch_all(sqlx::query(&q).bind(limit)).await?
        }
    };
    rows.iter().map(event_from).collect()
}

/// Number of stored events.
pub async fn count_events(s: &Store) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM access_events")
        .fetch_one(s.pool())
        .await?)
}

/// One person's whereabouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceEntry {
    pub person_id: Id,
    /// `None` when the person has left the site.
    pub zone_id: Option<Id>,
    pub since: Timestamp,
}

/// Everyone currently inside some zone.
pub async fn presence(s: &Store) -> Result<Vec<PresenceEntry>, StoreError> {
    let rows = s
        .fetch_all(sqlx::query("SELECT person_id, zone_id, since FROM presence WHERE zone_id IS NOT NULL ORDER BY zone_id, since"))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(PresenceEntry {
                person_id: i64_(r, "person_id")?,
                zone_id: opt_i64(r, "zone_id")?,
                since: ts(r, "since")?,
            })
        })
        .collect()
}

/// Where one person is now.
pub async fn presence_of(s: &Store, person_id: Id) -> Result<Option<PresenceEntry>, StoreError> {
    let r = s
        .fetch_optional(
            sqlx::query("SELECT person_id, zone_id, since FROM presence WHERE person_id = $1")
                .bind(person_id),
        )
        .await?;
    r.map(|r| {
        Ok(PresenceEntry {
            person_id: i64_(&r, "person_id")?,
            zone_id: opt_i64(&r, "zone_id")?,
            since: ts(&r, "since")?,
        })
    })
    .transpose()
}

/// Reads a setting.
pub async fn setting(s: &Store, key: &str) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(s.pool())
            .await?,
    )
}

/// Writes a setting.
pub async fn set_setting(w: &mut WriteTx, key: &str, value: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM settings WHERE key = $1")
        .bind(key)
        .execute(w.conn())
        .await?;
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2)")
        .bind(key)
        .bind(value)
        .execute(w.conn())
        .await?;
    Ok(())
}
