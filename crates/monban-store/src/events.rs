//! Access events and presence (who is in which zone now), which every stored event updates in
//! the same transaction.

use std::collections::{HashMap, HashSet};

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
///
/// This is the batch path of [`crate::controllers::ingest`] for one event: the same duplicate
/// check, door lookup, insert, `door.access` audit leaf and presence move.
pub async fn record_access_event(
    w: &mut WriteTx,
    e: &NewAccessEvent,
) -> Result<Option<AccessEvent>, StoreError> {
    if let Some(seq) = e.source_seq {
        if !stored_seqs(w, SeqTable::AccessEvents, &e.source, &[seq])
            .await?
            .is_empty()
        {
            return Ok(None);
        }
    }
    let zones = door_zones(w, &[e.door_id]).await?;
    let door = zones
        .get(&e.door_id)
        .ok_or_else(|| StoreError::not_found("door", e.door_id))?;
    let zone_after = door.zone_after(e.direction, e.granted);
    let ev = insert_events(w, &[(e, zone_after)])
        .await?
        .pop()
        .ok_or_else(|| StoreError::Corrupt("an inserted access event was not returned".into()))?;
    crate::audit::append(w, &access_audit(e, ev.id)).await?;
    move_presence(w, std::slice::from_ref(&ev)).await?;
    Ok(Some(ev))
}

/// The tables whose rows are unique on (source, source_seq).
#[derive(Debug, Clone, Copy)]
pub(crate) enum SeqTable {
    AccessEvents,
    DoorAlarms,
}

impl SeqTable {
    fn name(self) -> &'static str {
        match self {
            SeqTable::AccessEvents => "access_events",
            SeqTable::DoorAlarms => "door_alarms",
        }
    }
}

/// Which of `seqs` are already stored in `table` for `source`, in one query when the numbers
/// are dense (`BETWEEN` on the unique index) or a few `IN` lists when they are scattered.
pub(crate) async fn stored_seqs(
    w: &mut WriteTx,
    table: SeqTable,
    source: &str,
    seqs: &[i64],
) -> Result<HashSet<i64>, StoreError> {
    let mut out = HashSet::new();
    let (Some(lo), Some(hi)) = (seqs.iter().min(), seqs.iter().max()) else {
        return Ok(out);
    };
    let span = hi.abs_diff(*lo).saturating_add(1);
    let table = table.name();
    if span <= 2 * seqs.len() as u64 + 64 {
        let found: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT source_seq FROM {table} WHERE source = $1 AND source_seq BETWEEN $2 AND $3"
        ))
        .bind(source)
        .bind(*lo)
        .bind(*hi)
        .fetch_all(w.conn())
        .await?;
        out.extend(found);
    } else {
        let mut distinct = seqs.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        for chunk in distinct.chunks(crate::audit::rows_per_statement(w.backend(), 1)) {
            let sql = format!(
                "SELECT source_seq FROM {table} WHERE source = $1 AND source_seq IN ({})",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query_scalar(&sql).bind(source);
            for s in chunk {
                q = q.bind(*s);
            }
            let found: Vec<i64> = q.fetch_all(w.conn()).await?;
            out.extend(found);
        }
    }
    Ok(out)
}

/// `$from, $from+1, …` (`n` placeholders).
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a door leads: the zone on each side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DoorZones {
    pub from: Option<Id>,
    pub to: Id,
}

impl DoorZones {
    /// Where a person is after passing: the far side when granted, nowhere new when not.
    pub fn zone_after(self, direction: Direction, granted: bool) -> Option<Id> {
        if !granted {
            return None;
        }
        match direction {
            Direction::In => Some(self.to),
            Direction::Out => self.from,
        }
    }
}

/// The zones of `door_ids`, in one query per 500 doors; doors that do not exist are absent.
pub(crate) async fn door_zones(
    w: &mut WriteTx,
    door_ids: &[Id],
) -> Result<HashMap<Id, DoorZones>, StoreError> {
    let mut ids = door_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT id, from_zone_id, to_zone_id FROM doors WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for d in chunk {
            q = q.bind(*d);
        }
        for r in q.fetch_all(w.conn()).await? {
            out.insert(
                i64_(&r, "id")?,
                DoorZones {
                    from: opt_i64(&r, "from_zone_id")?,
                    to: i64_(&r, "to_zone_id")?,
                },
            );
        }
    }
    Ok(out)
}

/// Consecutive runs of `keyed` rows, at most `max` long; an unkeyed row is a run of its own.
/// Rows are inserted run by run in order, so generated ids follow row order, and each run's
/// `RETURNING` rows can be matched to their rows by key (or, alone, trivially).
pub(crate) fn insert_runs(
    keyed: impl IntoIterator<Item = bool>,
    max: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut i = 0;
    for k in keyed {
        if !k {
            if start < i {
                runs.push(start..i);
            }
            runs.push(i..i + 1);
            start = i + 1;
        } else if i + 1 - start == max {
            runs.push(start..i + 1);
            start = i + 1;
        }
        i += 1;
    }
    if start < i {
        runs.push(start..i);
    }
    runs
}

const EVENT_INSERT: &str = "INSERT INTO access_events (occurred_at, recorded_at, door_id, direction, person_id, credential_kind, granted, reason, zone_after, source, source_seq) VALUES ";
const EVENT_COLS: usize = 11;

/// Inserts events (already deduplicated, with where each leads) with multi-row statements and
/// returns them with their ids, in the order given. Rows with a sequence number are matched to
/// their ids by (source, sequence number); the order of `RETURNING` rows is not relied on.
pub(crate) async fn insert_events(
    w: &mut WriteTx,
    rows: &[(&NewAccessEvent, Option<Id>)],
) -> Result<Vec<AccessEvent>, StoreError> {
    let recorded_at = now_micros();
    let recorded_ts =
        Timestamp::from_microsecond(recorded_at).map_err(|x| StoreError::Corrupt(x.to_string()))?;
    let mut out = Vec::with_capacity(rows.len());
    let max_rows = crate::audit::rows_per_statement(w.backend(), EVENT_COLS);
    for run in insert_runs(rows.iter().map(|(e, _)| e.source_seq.is_some()), max_rows) {
        let chunk = &rows[run];
        let sql = crate::audit::multi_insert(w.backend(), EVENT_INSERT, EVENT_COLS, chunk.len())
            + " RETURNING id, source, source_seq";
        let mut q = sqlx::query(&sql);
        for (e, zone_after) in chunk {
            q = q
                .bind(e.occurred_at.as_microsecond())
                .bind(recorded_at)
                .bind(e.door_id)
                .bind(e.direction.code())
                .bind(e.person_id)
                .bind(e.credential_kind.map(|k| k.code()))
                .bind(i64::from(e.granted))
                .bind(e.reason.code())
                .bind(*zone_after)
                .bind(e.source.as_str())
                .bind(e.source_seq);
        }
        let returned = q.fetch_all(w.conn()).await?;
        let ids = ids_by_key(chunk.len(), &returned, |i| {
            chunk[i]
                .0
                .source_seq
                .map(|s| (chunk[i].0.source.as_str(), s))
        })?;
        for ((e, zone_after), id) in chunk.iter().zip(ids) {
            out.push(AccessEvent {
                id,
                occurred_at: e.occurred_at,
                recorded_at: recorded_ts,
                door_id: e.door_id,
                direction: e.direction,
                person_id: e.person_id,
                credential_kind: e.credential_kind,
                granted: e.granted,
                reason: e.reason,
                zone_after: *zone_after,
            });
        }
    }
    Ok(out)
}

/// The ids of `n` rows just inserted with `RETURNING id, source, source_seq`, in row order:
/// matched by `key(i)` = (source, source_seq), or the only row when `n` is 1.
pub(crate) fn ids_by_key<'a>(
    n: usize,
    returned: &[AnyRow],
    key: impl Fn(usize) -> Option<(&'a str, i64)>,
) -> Result<Vec<Id>, StoreError> {
    let missing = || StoreError::Corrupt("an inserted row was not returned".into());
    if returned.len() != n {
        return Err(missing());
    }
    if n == 1 {
        return Ok(vec![i64_(&returned[0], "id")?]);
    }
    let mut by_key: HashMap<(String, i64), Id> = HashMap::with_capacity(n);
    for r in returned {
        if let Some(seq) = opt_i64(r, "source_seq")? {
            by_key.insert((text(r, "source")?, seq), i64_(r, "id")?);
        }
    }
    let mut out = Vec::with_capacity(n);
    let mut probe = (String::new(), 0i64);
    for i in 0..n {
        let (source, seq) = key(i).ok_or_else(missing)?;
        probe.0.clear();
        probe.0.push_str(source);
        probe.1 = seq;
        out.push(*by_key.get(&probe).ok_or_else(missing)?);
    }
    Ok(out)
}

/// The `door.access` audit record of a stored event.
pub(crate) fn access_audit(e: &NewAccessEvent, id: Id) -> crate::audit::AuditRecord {
    crate::audit::AuditRecord {
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
    }
}

const PRESENCE_COLS: usize = 4;

/// Moves everyone `events` (stored, in order) let through: each person ends where their last
/// granted event put them, as if the events had been applied one by one. Multi-row upserts, in
/// person order.
pub(crate) async fn move_presence(
    w: &mut WriteTx,
    events: &[AccessEvent],
) -> Result<(), StoreError> {
    let mut last: HashMap<Id, &AccessEvent> = HashMap::new();
    for ev in events {
        if let (true, Some(pid)) = (ev.granted, ev.person_id) {
            last.insert(pid, ev);
        }
    }
    if last.is_empty() {
        return Ok(());
    }
    let mut moves: Vec<(Id, &AccessEvent)> = last.into_iter().collect();
    moves.sort_unstable_by_key(|(pid, _)| *pid);
    for chunk in moves.chunks(crate::audit::rows_per_statement(w.backend(), PRESENCE_COLS)) {
        let sql = crate::audit::multi_insert(
            w.backend(),
            "INSERT INTO presence (person_id, zone_id, since, last_event_id) VALUES ",
            PRESENCE_COLS,
            chunk.len(),
        ) + " ON CONFLICT (person_id) DO UPDATE SET zone_id = excluded.zone_id, since = excluded.since, last_event_id = excluded.last_event_id";
        let mut q = sqlx::query(&sql);
        for (pid, ev) in chunk {
            q = q
                .bind(*pid)
                .bind(ev.zone_after)
                .bind(ev.occurred_at.as_microsecond())
                .bind(ev.id);
        }
        q.execute(w.conn()).await?;
    }
    Ok(())
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
