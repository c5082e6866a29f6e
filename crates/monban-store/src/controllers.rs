//! Door controllers and what they report: enrolment and revocation, the doors each controller
//! runs, exactly-once ingest of their journaled records (deduplicated on controller id and
//! sequence number, with an alarm for every gap), door alarms, the zone rules, interlock groups
//! and lockdowns that go into policy snapshots, and the raw policy rows snapshots are built from.
//!
//! These tables are the `controllers` component; call [`migrate`] once before use.

use std::collections::HashSet;

use jiff::Timestamp;
use monban_core::model::Id;
use monban_core::text::{Code, FieldError};
use monban_core::{
    AccessEvent, AlarmCode, CredentialKind, CredentialStatus, Direction, PersonKind, ReasonCode,
    ZoneClass, ZoneRules,
};
use rand::RngCore;
use sqlx::any::AnyRow;

use crate::audit::{append, append_batch, multi_insert, rows_per_statement, AuditRecord};
use crate::events::{self, NewAccessEvent, SeqTable};
use crate::migrate::{apply_component, Migration};
use crate::row::*;
use crate::{now_micros, Store, StoreError, WriteTx};

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "controllers",
    sql: r#"
CREATE TABLE controllers (
    id {id},
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_seen BIGINT,
    stored_seq BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE controller_doors (
    controller_id BIGINT NOT NULL REFERENCES controllers(id) ON DELETE CASCADE,
    door_id BIGINT NOT NULL REFERENCES doors(id),
    PRIMARY KEY (controller_id, door_id)
);
CREATE TABLE door_alarms (
    id {id},
    occurred_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    door_id BIGINT,
    code TEXT NOT NULL,
    person_id BIGINT,
    detail TEXT NOT NULL,
    source TEXT NOT NULL,
    source_seq BIGINT,
    UNIQUE (source, source_seq)
);
CREATE INDEX door_alarms_time ON door_alarms(occurred_at);
CREATE TABLE zone_rules (
    zone_id BIGINT PRIMARY KEY REFERENCES zones(id) ON DELETE CASCADE,
    rules_json TEXT NOT NULL
);
CREATE TABLE interlock_groups (
    id {id},
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE interlock_doors (
    group_id BIGINT NOT NULL REFERENCES interlock_groups(id) ON DELETE CASCADE,
    door_id BIGINT NOT NULL UNIQUE REFERENCES doors(id),
    PRIMARY KEY (group_id, door_id)
);
CREATE TABLE lockdowns (
    scope TEXT NOT NULL,
    scope_id BIGINT NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (scope, scope_id)
);
CREATE TABLE controller_keys (
    name TEXT PRIMARY KEY,
    value {blob} NOT NULL
)
"#,
}];

/// Creates or upgrades this module's tables.
pub async fn migrate(store: &Store) -> Result<(), StoreError> {
    apply_component(store, "controllers", MIGRATIONS).await
}

/// An enrolled controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    pub id: Id,
    pub name: String,
    pub door_ids: Vec<Id>,
    pub revoked: bool,
    pub created_at: Timestamp,
    pub last_seen: Option<Timestamp>,
    /// Highest sequence number stored from it.
    pub stored_seq: i64,
    token_hash: String,
}

impl Controller {
    /// Whether `token_hash` (SHA-256 hex of the presented token) matches, in constant time.
    pub fn token_matches(&self, token_hash: &str) -> bool {
        let (a, b) = (self.token_hash.as_bytes(), token_hash.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// The `source` of its events.
    pub fn source(&self) -> String {
        source_of(self.id)
    }
}

/// The `source` of a controller's events and alarms: `controller:<id>`.
pub fn source_of(id: Id) -> String {
    format!("controller:{id}")
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn check_doors(w: &mut WriteTx, door_ids: &[Id]) -> Result<(), StoreError> {
    if door_ids.is_empty() {
        return Err(StoreError::Invalid(FieldError::new(
            "door_ids",
            "扉を1つ以上指定してください / give at least one door",
        )));
    }
    for (i, d) in door_ids.iter().enumerate() {
        let ok: Option<i64> = sqlx::query_scalar("SELECT id FROM doors WHERE id = $1")
            .bind(*d)
            .fetch_optional(w.conn())
            .await?;
        if ok.is_none() {
            return Err(StoreError::Invalid(FieldError::new(
                format!("door_ids[{i}]"),
                format!("扉 {d} がありません / door {d} does not exist"),
            )));
        }
    }
    Ok(())
}

/// Enrols a controller for `door_ids`. Returns it with its secret token (shown once; only its
/// hash is kept). `token_hash` hashes the token as the link does.
pub async fn create_controller(
    w: &mut WriteTx,
    name: &str,
    door_ids: &[Id],
    token_hash: impl Fn(&str) -> String,
) -> Result<(Controller, String), StoreError> {
    let name = monban_core::text::required("name", name, 100).map_err(StoreError::Invalid)?;
    let mut doors = door_ids.to_vec();
    doors.sort_unstable();
    doors.dedup();
    check_doors(w, &doors).await?;
    let token = random_hex(32);
    let now = now_micros();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO controllers (name, token_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(&name)
    .bind(token_hash(&token))
    .bind(now)
    .fetch_one(w.conn())
    .await
    .map_err(|e| {
        StoreError::unique(
            e,
            "name",
            "同じ名前のコントローラーがあります / a controller with this name exists",
        )
    })?;
    for d in &doors {
        sqlx::query("INSERT INTO controller_doors (controller_id, door_id) VALUES ($1, $2)")
            .bind(id)
            .bind(*d)
            .execute(w.conn())
            .await?;
    }
    let c = Controller {
        id,
        name,
        door_ids: doors,
        revoked: false,
        created_at: Timestamp::from_microsecond(now).unwrap_or(Timestamp::UNIX_EPOCH),
        last_seen: None,
        stored_seq: 0,
        token_hash: String::new(),
    };
    Ok((c, token))
}

/// Issues a new token for a controller (the old one stops working) and lifts any revocation.
pub async fn rotate_token(
    w: &mut WriteTx,
    id: Id,
    token_hash: impl Fn(&str) -> String,
) -> Result<String, StoreError> {
    let token = random_hex(32);
    let n = sqlx::query("UPDATE controllers SET token_hash = $1, revoked = 0 WHERE id = $2")
        .bind(token_hash(&token))
        .bind(id)
        .execute(w.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::not_found("controller", id));
    }
    Ok(token)
}

/// Revokes a controller: it is refused from now on.
pub async fn revoke(w: &mut WriteTx, id: Id) -> Result<(), StoreError> {
    let n = sqlx::query("UPDATE controllers SET revoked = 1 WHERE id = $1")
        .bind(id)
        .execute(w.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::not_found("controller", id));
    }
    Ok(())
}

const CTL_COLS: &str = "id, name, token_hash, revoked, created_at, last_seen, stored_seq";

async fn controller_from(s: &Store, r: &AnyRow) -> Result<Controller, StoreError> {
    let id = i64_(r, "id")?;
    let door_ids: Vec<i64> = sqlx::query_scalar(
        "SELECT door_id FROM controller_doors WHERE controller_id = $1 ORDER BY door_id",
    )
    .bind(id)
    .fetch_all(s.pool())
    .await?;
    Ok(Controller {
        id,
        name: text(r, "name")?,
        door_ids,
        revoked: bool_(r, "revoked")?,
        created_at: ts(r, "created_at")?,
        last_seen: opt_i64(r, "last_seen")?.and_then(|v| Timestamp::from_microsecond(v).ok()),
        stored_seq: i64_(r, "stored_seq")?,
        token_hash: text(r, "token_hash")?,
    })
}

/// All controllers.
pub async fn list_controllers(s: &Store) -> Result<Vec<Controller>, StoreError> {
    let rows = s
        .fetch_all(sqlx::query(&format!(
            "SELECT {CTL_COLS} FROM controllers ORDER BY id"
        )))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(controller_from(s, r).await?);
    }
    Ok(out)
}

/// One controller.
pub async fn get_controller(s: &Store, id: Id) -> Result<Controller, StoreError> {
    let r = s
        .fetch_optional(
            sqlx::query(&format!("SELECT {CTL_COLS} FROM controllers WHERE id = $1")).bind(id),
        )
        .await?
        .ok_or_else(|| StoreError::not_found("controller", id))?;
    controller_from(s, &r).await
}

/// Notes that a controller was heard from.
pub async fn touch(s: &Store, id: Id) -> Result<(), StoreError> {
    sqlx::query("UPDATE controllers SET last_seen = $1 WHERE id = $2")
        .bind(now_micros())
        .bind(id)
        .execute(s.pool())
        .await?;
    Ok(())
}

/// A record uploaded by a controller, as the store takes it.
#[derive(Debug, Clone)]
pub struct IngestRecord {
    pub seq: i64,
    pub at: Timestamp,
    pub body: IngestBody,
}

/// The content of an [`IngestRecord`].
#[derive(Debug, Clone)]
pub enum IngestBody {
    Access {
        door_id: Id,
        direction: Direction,
        person_id: Option<Id>,
        credential_kind: Option<CredentialKind>,
        granted: bool,
        reason: ReasonCode,
        alarm: Option<AlarmCode>,
    },
    Alarm {
        door_id: Option<Id>,
        code: AlarmCode,
        person_id: Option<Id>,
        detail: String,
    },
}

/// A stored door alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoorAlarm {
    pub id: Id,
    pub occurred_at: Timestamp,
    pub door_id: Option<Id>,
    pub code: AlarmCode,
    pub person_id: Option<Id>,
    pub detail: String,
    pub source: String,
    pub source_seq: Option<i64>,
}

/// What one ingest stored.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Access events newly stored (duplicates left out).
    pub events: Vec<AccessEvent>,
    /// Alarms newly stored, including gap alarms.
    pub alarms: Vec<DoorAlarm>,
    /// Records that were already stored.
    pub duplicates: usize,
    /// Highest sequence number stored for the controller after this batch.
    pub stored_seq: i64,
}

/// An alarm to store.
#[derive(Debug, Clone)]
struct NewAlarm {
    at: Timestamp,
    door_id: Option<Id>,
    code: AlarmCode,
    person_id: Option<Id>,
    detail: String,
    source: String,
    seq: Option<i64>,
}

const ALARM_INSERT: &str = "INSERT INTO door_alarms (occurred_at, recorded_at, door_id, code, person_id, detail, source, source_seq) VALUES ";
const ALARM_COLS: usize = 8;

/// Inserts alarms with multi-row statements; returns them with their ids, in the order given.
async fn insert_alarms(w: &mut WriteTx, alarms: &[NewAlarm]) -> Result<Vec<DoorAlarm>, StoreError> {
    let recorded_at = now_micros();
    let mut out = Vec::with_capacity(alarms.len());
    let max_rows = rows_per_statement(w.backend(), ALARM_COLS);
    for run in events::insert_runs(alarms.iter().map(|a| a.seq.is_some()), max_rows) {
        let chunk = &alarms[run];
        let sql = multi_insert(w.backend(), ALARM_INSERT, ALARM_COLS, chunk.len())
            + " RETURNING id, source, source_seq";
        let mut q = sqlx::query(&sql);
        for a in chunk {
            q = q
                .bind(a.at.as_microsecond())
                .bind(recorded_at)
                .bind(a.door_id)
                .bind(a.code.code())
                .bind(a.person_id)
                .bind(a.detail.as_str())
                .bind(a.source.as_str())
                .bind(a.seq);
        }
        let returned = q.fetch_all(w.conn()).await?;
        let ids = events::ids_by_key(chunk.len(), &returned, |i| {
            chunk[i].seq.map(|s| (chunk[i].source.as_str(), s))
        })?;
        for (a, id) in chunk.iter().zip(ids) {
            out.push(DoorAlarm {
                id,
                occurred_at: a.at,
                door_id: a.door_id,
                code: a.code,
                person_id: a.person_id,
                detail: a.detail.clone(),
                source: a.source.clone(),
                source_seq: a.seq,
            });
        }
    }
    Ok(out)
}

/// The `door.alarm` audit record of a stored alarm.
fn alarm_audit(a: &DoorAlarm) -> AuditRecord {
    let mut details = vec![("alarm".to_string(), a.code.code().to_string())];
    if let Some(p) = a.person_id {
        details.push(("person".into(), format!("person:{p}")));
    }
    if !a.detail.is_empty() {
        details.push(("detail".into(), a.detail.clone()));
    }
    if let Some(s) = a.source_seq {
        details.push(("seq".into(), s.to_string()));
    }
    AuditRecord {
        source: a.source.clone(),
        actor: a
            .person_id
            .map(|p| format!("person:{p}"))
            .unwrap_or_else(|| a.source.clone()),
        action: "door.alarm".into(),
        target: a
            .door_id
            .map(|d| format!("door:{d}"))
            .unwrap_or_else(|| a.source.clone()),
        // The audit log knows ok / error / denied:<reason>; an alarm is an error condition
        // whose code is in `details`.
        outcome: "error".into(),
        request_id: None,
        device_time: Some(a.occurred_at),
        details,
    }
}

/// Stores one alarm and its audit leaf.
async fn insert_alarm(w: &mut WriteTx, alarm: NewAlarm) -> Result<DoorAlarm, StoreError> {
    let stored = insert_alarms(w, std::slice::from_ref(&alarm))
        .await?
        .pop()
        .ok_or_else(|| StoreError::Corrupt("an inserted alarm was not returned".into()))?;
    append(w, &alarm_audit(&stored)).await?;
    Ok(stored)
}

/// An audit leaf to append, in record order: a new event or a new alarm (by index).
enum Leaf {
    Event(usize),
    Alarm(usize),
}

/// Stores a batch of records from controller `controller_id` exactly once, in `w`: each new
/// access event updates presence and becomes an audit entry; each alarm is stored and audited;
/// a record already stored (same controller and sequence number) is skipped; a jump in sequence
/// numbers past the highest stored is recorded as a `sequence_gap` alarm. `door_ids` are the
/// controller's doors: a record for any other door is refused.
///
/// The batch is stored as if its records were stored one by one in order (same rows, same
/// audit leaves in the same order, same final presence), but with a few statements per batch:
/// one read of the sequence numbers already stored and of the doors, multi-row inserts of the
/// events and alarms, one audit append, one presence upsert.
pub async fn ingest(
    w: &mut WriteTx,
    controller_id: Id,
    door_ids: &[Id],
    records: &[IngestRecord],
) -> Result<Ingested, StoreError> {
    let source = source_of(controller_id);
    let decision_source = format!("{source}/decision");
    let gap_source = format!("gateway/{source}");
    let mut stored_seq: i64 =
        sqlx::query_scalar("SELECT stored_seq FROM controllers WHERE id = $1")
            .bind(controller_id)
            .fetch_optional(w.conn())
            .await?
            .ok_or_else(|| StoreError::not_found("controller", controller_id))?;
    let runs: HashSet<Id> = door_ids.iter().copied().collect();

    // What is already stored, and where the doors lead: one read each for the whole batch.
    let mut access_seqs = Vec::new();
    let mut alarm_seqs = Vec::new();
    let mut access_doors = Vec::new();
    for r in records.iter().filter(|r| r.seq >= 1) {
        match &r.body {
            IngestBody::Access { door_id, .. } => {
                access_seqs.push(r.seq);
                if runs.contains(door_id) {
                    access_doors.push(*door_id);
                }
            }
            IngestBody::Alarm { .. } => alarm_seqs.push(r.seq),
        }
    }
    let mut seen_events =
        events::stored_seqs(w, SeqTable::AccessEvents, &source, &access_seqs).await?;
    let mut seen_alarms =
        events::stored_seqs(w, SeqTable::DoorAlarms, &source, &alarm_seqs).await?;
    let zones = events::door_zones(w, &access_doors).await?;

    // Decide everything in record order, without writing: the first bad record refuses the
    // batch before anything is stored.
    let mut new_events: Vec<(NewAccessEvent, Option<Id>)> = Vec::new();
    let mut new_alarms: Vec<NewAlarm> = Vec::new();
    let mut leaves: Vec<Leaf> = Vec::new();
    let mut duplicates = 0;
    for r in records {
        if r.seq < 1 {
            return Err(StoreError::Invalid(FieldError::new(
                "seq",
                "シーケンス番号は1以上です / sequence numbers start at 1",
            )));
        }
        let door = match &r.body {
            IngestBody::Access { door_id, .. } => Some(*door_id),
            IngestBody::Alarm { door_id, .. } => *door_id,
        };
        if let Some(d) = door {
            if !runs.contains(&d) {
                return Err(StoreError::Invalid(FieldError::new(
                    "door_id",
                    format!("扉 {d} はこのコントローラーの担当ではありません / door {d} is not run by this controller"),
                )));
            }
        }
        let is_new = match &r.body {
            IngestBody::Access {
                door_id,
                direction,
                person_id,
                credential_kind,
                granted,
                reason,
                alarm,
            } => {
                if seen_events.insert(r.seq) {
                    let zone_after = zones
                        .get(door_id)
                        .ok_or_else(|| StoreError::not_found("door", *door_id))?
                        .zone_after(*direction, *granted);
                    new_events.push((
                        NewAccessEvent {
                            occurred_at: r.at,
                            door_id: *door_id,
                            direction: *direction,
                            person_id: *person_id,
                            credential_kind: *credential_kind,
                            granted: *granted,
                            reason: *reason,
                            source: source.clone(),
                            source_seq: Some(r.seq),
                        },
                        zone_after,
                    ));
                    leaves.push(Leaf::Event(new_events.len() - 1));
                    if let Some(a) = alarm {
                        new_alarms.push(NewAlarm {
                            at: r.at,
                            door_id: Some(*door_id),
                            code: *a,
                            person_id: *person_id,
                            detail: format!("{} ({})", a.label_ja(), a.label_en()),
                            source: decision_source.clone(),
                            seq: Some(r.seq),
                        });
                        leaves.push(Leaf::Alarm(new_alarms.len() - 1));
                    }
                    true
                } else {
                    false
                }
            }
            IngestBody::Alarm {
                door_id,
                code,
                person_id,
                detail,
            } => {
                if seen_alarms.insert(r.seq) {
                    new_alarms.push(NewAlarm {
                        at: r.at,
                        door_id: *door_id,
                        code: *code,
                        person_id: *person_id,
                        detail: detail.clone(),
                        source: source.clone(),
                        seq: Some(r.seq),
                    });
                    leaves.push(Leaf::Alarm(new_alarms.len() - 1));
                    true
                } else {
                    false
                }
            }
        };
        if !is_new {
            duplicates += 1;
            continue;
        }
        if r.seq > stored_seq.saturating_add(1) {
            let (from, to) = (stored_seq + 1, r.seq - 1);
            new_alarms.push(NewAlarm {
                at: r.at,
                door_id: None,
                code: AlarmCode::SequenceGap,
                person_id: None,
                detail: format!(
                    "シーケンス番号 {from}〜{to} が届いていません / sequence numbers {from} to {to} are missing"
                ),
                source: gap_source.clone(),
                seq: None,
            });
            leaves.push(Leaf::Alarm(new_alarms.len() - 1));
        }
        stored_seq = stored_seq.max(r.seq);
    }

    // Write: events, alarms, their audit leaves in record order, presence, the controller.
    let rows: Vec<(&NewAccessEvent, Option<Id>)> =
        new_events.iter().map(|(e, z)| (e, *z)).collect();
    let stored_events = events::insert_events(w, &rows).await?;
    let stored_alarms = insert_alarms(w, &new_alarms).await?;
    let mut audit = Vec::with_capacity(leaves.len());
    for leaf in &leaves {
        audit.push(match *leaf {
            Leaf::Event(i) => events::access_audit(&new_events[i].0, stored_events[i].id),
            Leaf::Alarm(i) => alarm_audit(&stored_alarms[i]),
        });
    }
    if !audit.is_empty() {
        append_batch(w, &audit).await?;
    }
    events::move_presence(w, &stored_events).await?;
    sqlx::query("UPDATE controllers SET stored_seq = $1, last_seen = $2 WHERE id = $3")
        .bind(stored_seq)
        .bind(now_micros())
        .bind(controller_id)
        .execute(w.conn())
        .await?;
    Ok(Ingested {
        events: stored_events,
        alarms: stored_alarms,
        duplicates,
        stored_seq,
    })
}

fn alarm_from(r: &AnyRow) -> Result<DoorAlarm, StoreError> {
    Ok(DoorAlarm {
        id: i64_(r, "id")?,
        occurred_at: ts(r, "occurred_at")?,
        door_id: opt_i64(r, "door_id")?,
        code: code(r, "code")?,
        person_id: opt_i64(r, "person_id")?,
        detail: text(r, "detail")?,
        source: text(r, "source")?,
        source_seq: opt_i64(r, "source_seq")?,
    })
}

/// Recent alarms, newest first.
pub async fn recent_alarms(s: &Store, limit: i64) -> Result<Vec<DoorAlarm>, StoreError> {
    s.fetch_all(sqlx::query("SELECT id, occurred_at, door_id, code, person_id, detail, source, source_seq FROM door_alarms ORDER BY id DESC LIMIT $1").bind(limit))
        .await?
        .iter()
        .map(alarm_from)
        .collect()
}

/// Records an alarm raised by the server itself (e.g. by an operator action).
pub async fn record_server_alarm(
    w: &mut WriteTx,
    door_id: Option<Id>,
    code: AlarmCode,
    person_id: Option<Id>,
    detail: &str,
) -> Result<DoorAlarm, StoreError> {
    insert_alarm(
        w,
        NewAlarm {
            at: Timestamp::now(),
            door_id,
            code,
            person_id,
            detail: detail.to_string(),
            source: "system".into(),
            seq: None,
        },
    )
    .await
}

/// The rules of a zone: stored ones, or the defaults for its class.
pub async fn zone_rules(s: &Store, zone_id: Id, class: ZoneClass) -> Result<ZoneRules, StoreError> {
    let json: Option<String> =
        sqlx::query_scalar("SELECT rules_json FROM zone_rules WHERE zone_id = $1")
            .bind(zone_id)
            .fetch_optional(s.pool())
            .await?;
    match json {
        Some(j) => serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(e.to_string())),
        None => Ok(ZoneRules::defaults_for(class)),
    }
}

/// Sets the rules of a zone.
pub async fn set_zone_rules(
    w: &mut WriteTx,
    zone_id: Id,
    rules: &ZoneRules,
) -> Result<(), StoreError> {
    let ok: Option<i64> = sqlx::query_scalar("SELECT id FROM zones WHERE id = $1")
        .bind(zone_id)
        .fetch_optional(w.conn())
        .await?;
    if ok.is_none() {
        return Err(StoreError::not_found("zone", zone_id));
    }
    let json = serde_json::to_string(rules).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query("DELETE FROM zone_rules WHERE zone_id = $1")
        .bind(zone_id)
        .execute(w.conn())
        .await?;
    sqlx::query("INSERT INTO zone_rules (zone_id, rules_json) VALUES ($1, $2)")
        .bind(zone_id)
        .bind(json)
        .execute(w.conn())
        .await?;
    Ok(())
}

/// Creates an interlock group of doors (each door in at most one group).
pub async fn create_interlock(
    w: &mut WriteTx,
    name: &str,
    door_ids: &[Id],
) -> Result<Id, StoreError> {
    let name = monban_core::text::required("name", name, 100).map_err(StoreError::Invalid)?;
    if door_ids.len() < 2 {
        return Err(StoreError::Invalid(FieldError::new(
            "door_ids",
            "インターロックには扉が2つ以上必要です / an interlock needs at least two doors",
        )));
    }
    check_doors(w, door_ids).await?;
    let id: i64 =
        sqlx::query_scalar("INSERT INTO interlock_groups (name) VALUES ($1) RETURNING id")
            .bind(&name)
            .fetch_one(w.conn())
            .await
            .map_err(|e| {
                StoreError::unique(
                    e,
                    "name",
                    "同じ名前のインターロックがあります / an interlock with this name exists",
                )
            })?;
    for d in door_ids {
        sqlx::query("INSERT INTO interlock_doors (group_id, door_id) VALUES ($1, $2)")
            .bind(id)
            .bind(*d)
            .execute(w.conn())
            .await
            .map_err(|e| StoreError::unique(e, "door_ids", "扉はすでに別のインターロックに属しています / a door is already in another interlock"))?;
    }
    Ok(id)
}

/// Interlock groups: (id, name, doors).
pub async fn list_interlocks(s: &Store) -> Result<Vec<(Id, String, Vec<Id>)>, StoreError> {
    let rows = s
        .fetch_all(sqlx::query(
            "SELECT id, name FROM interlock_groups ORDER BY id",
        ))
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        let id = i64_(r, "id")?;
        let doors: Vec<i64> = sqlx::query_scalar(
            "SELECT door_id FROM interlock_doors WHERE group_id = $1 ORDER BY door_id",
        )
        .bind(id)
        .fetch_all(s.pool())
        .await?;
        out.push((id, text(r, "name")?, doors));
    }
    Ok(out)
}

/// What a lockdown covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockdownScope {
    Zone(Id),
    Site(Id),
}

/// Starts (`on`) or lifts a lockdown.
pub async fn set_lockdown(
    w: &mut WriteTx,
    scope: LockdownScope,
    on: bool,
) -> Result<(), StoreError> {
    let (kind, id, table) = match scope {
        LockdownScope::Zone(z) => ("zone", z, "zones"),
        LockdownScope::Site(s) => ("site", s, "sites"),
    };
    let ok: Option<i64> = sqlx::query_scalar(&format!("SELECT id FROM {table} WHERE id = $1"))
        .bind(id)
        .fetch_optional(w.conn())
        .await?;
    if ok.is_none() {
        return Err(StoreError::not_found(
            if kind == "zone" { "zone" } else { "site" },
            id,
        ));
    }
    sqlx::query("DELETE FROM lockdowns WHERE scope = $1 AND scope_id = $2")
        .bind(kind)
        .bind(id)
        .execute(w.conn())
        .await?;
    if on {
        sqlx::query("INSERT INTO lockdowns (scope, scope_id, since) VALUES ($1, $2, $3)")
            .bind(kind)
            .bind(id)
            .bind(now_micros())
            .execute(w.conn())
            .await?;
    }
    Ok(())
}

/// Active lockdowns.
pub async fn lockdowns(s: &Store) -> Result<Vec<LockdownScope>, StoreError> {
    let rows = s
        .fetch_all(sqlx::query(
            "SELECT scope, scope_id FROM lockdowns ORDER BY scope, scope_id",
        ))
        .await?;
    rows.iter()
        .map(|r| {
            let id = i64_(r, "scope_id")?;
            Ok(if text(r, "scope")? == "site" {
                LockdownScope::Site(id)
            } else {
                LockdownScope::Zone(id)
            })
        })
        .collect()
}

/// A secret kept by the server (the snapshot signing key, the credential hashing key): the
/// stored one, or `make()` stored now.
pub async fn key_or_create(
    s: &Store,
    name: &str,
    make: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, StoreError> {
    let get = || async {
        sqlx::query_scalar::<_, Vec<u8>>("SELECT value FROM controller_keys WHERE name = $1")
            .bind(name)
            .fetch_optional(s.pool())
            .await
    };
    if let Some(v) = get().await? {
        return Ok(v);
    }
    let mut w = s.begin_write().await?;
    let _ = sqlx::query("INSERT INTO controller_keys (name, value) VALUES ($1, $2)")
        .bind(name)
        .bind(make())
        .execute(w.conn())
        .await;
    w.commit().await?;
    get()
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("key {name} missing")))
}

/// A zone row: (id, site, parent, class, occupancy limit, rules).
pub type ZoneRow = (Id, Id, Option<Id>, ZoneClass, Option<u32>, ZoneRules);
/// A door row: (id, site, from, to, reader mode code, held-open secs, interlock group).
pub type DoorRow = (Id, Id, Option<Id>, Id, String, u32, Option<Id>);
/// A person row: (id, kind, active, valid_from, valid_until).
pub type PersonRow = (
    Id,
    PersonKind,
    bool,
    Option<jiff::civil::Date>,
    Option<jiff::civil::Date>,
);

/// The rows a policy snapshot is built from.
#[derive(Debug, Default)]
pub struct PolicyRows {
    pub time_zone: Option<String>,
    pub zones: Vec<ZoneRow>,
    pub doors: Vec<DoorRow>,
    pub persons: Vec<PersonRow>,
    /// (id, person, kind, card id, pin hash, face ref, valid_from, valid_until, status)
    pub credentials: Vec<PolicyCredential>,
    /// (id, schedule JSON, zones, members)
    pub groups: Vec<(Id, String, Vec<Id>, Vec<Id>)>,
    pub lockdowns: Vec<LockdownScope>,
}

/// A credential row for snapshots.
#[derive(Debug, Clone)]
pub struct PolicyCredential {
    pub id: Id,
    pub person_id: Id,
    pub kind: CredentialKind,
    pub card_id: Option<String>,
    pub pin_hash: Option<String>,
    pub face_template_ref: Option<String>,
    pub valid_from: Option<jiff::civil::Date>,
    pub valid_until: Option<jiff::civil::Date>,
    pub status: CredentialStatus,
}

/// Reads everything a snapshot needs, in few queries.
pub async fn policy_rows(s: &Store) -> Result<PolicyRows, StoreError> {
    let mut out = PolicyRows {
        time_zone: sqlx::query_scalar("SELECT time_zone FROM sites ORDER BY id LIMIT 1")
            .fetch_optional(s.pool())
            .await?,
        ..PolicyRows::default()
    };
    let rules: Vec<AnyRow> = s
        .fetch_all(sqlx::query("SELECT zone_id, rules_json FROM zone_rules"))
        .await?;
    let mut rule_map = std::collections::HashMap::new();
    for r in &rules {
        let z = i64_(r, "zone_id")?;
        let rr: ZoneRules = serde_json::from_str(&text(r, "rules_json")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        rule_map.insert(z, rr);
    }
    for r in s
        .fetch_all(sqlx::query(
            "SELECT id, site_id, parent_id, class, occupancy_limit FROM zones ORDER BY id",
        ))
        .await?
        .iter()
    {
        let id = i64_(r, "id")?;
        let class: ZoneClass = code(r, "class")?;
        out.zones.push((
            id,
            i64_(r, "site_id")?,
            opt_i64(r, "parent_id")?,
            class,
            opt_i64(r, "occupancy_limit")?.map(|v| v.clamp(0, i64::from(u32::MAX)) as u32),
            rule_map
                .remove(&id)
                .unwrap_or_else(|| ZoneRules::defaults_for(class)),
        ));
    }
    for r in s
        .fetch_all(sqlx::query("SELECT d.id, d.site_id, d.from_zone_id, d.to_zone_id, d.reader_mode, d.held_open_limit_secs, i.group_id FROM doors d LEFT JOIN interlock_doors i ON i.door_id = d.id ORDER BY d.id"))
        .await?
        .iter()
    {
        out.doors.push((
            i64_(r, "id")?,
            i64_(r, "site_id")?,
            opt_i64(r, "from_zone_id")?,
            i64_(r, "to_zone_id")?,
            text(r, "reader_mode")?,
            i64_(r, "held_open_limit_secs")?.clamp(0, i64::from(u32::MAX)) as u32,
            opt_i64(r, "group_id")?,
        ));
    }
    for r in s
        .fetch_all(sqlx::query(
            "SELECT id, kind, status, valid_from, valid_until FROM persons ORDER BY id",
        ))
        .await?
        .iter()
    {
        out.persons.push((
            i64_(r, "id")?,
            code(r, "kind")?,
            text(r, "status")? == "active",
            opt_date(r, "valid_from")?,
            opt_date(r, "valid_until")?,
        ));
    }
    for r in s
        .fetch_all(sqlx::query("SELECT id, person_id, kind, card_id, pin_hash, face_template_ref, valid_from, valid_until, status FROM credentials ORDER BY id"))
        .await?
        .iter()
    {
        out.credentials.push(PolicyCredential {
            id: i64_(r, "id")?,
            person_id: i64_(r, "person_id")?,
            kind: code(r, "kind")?,
            card_id: opt_text(r, "card_id")?,
            pin_hash: opt_text(r, "pin_hash")?,
            face_template_ref: opt_text(r, "face_template_ref")?,
            valid_from: opt_date(r, "valid_from")?,
            valid_until: opt_date(r, "valid_until")?,
            status: code(r, "status")?,
        });
    }
    let mut zones_of: std::collections::HashMap<Id, Vec<Id>> = std::collections::HashMap::new();
    for r in s
        .fetch_all(sqlx::query(
            "SELECT group_id, zone_id FROM access_group_zones ORDER BY group_id, zone_id",
        ))
        .await?
        .iter()
    {
        zones_of
            .entry(i64_(r, "group_id")?)
            .or_default()
            .push(i64_(r, "zone_id")?);
    }
    let mut members_of: std::collections::HashMap<Id, Vec<Id>> = std::collections::HashMap::new();
    for r in s
        .fetch_all(sqlx::query(
            "SELECT group_id, person_id FROM access_group_members ORDER BY group_id, person_id",
        ))
        .await?
        .iter()
    {
        members_of
            .entry(i64_(r, "group_id")?)
            .or_default()
            .push(i64_(r, "person_id")?);
    }
    for r in s
        .fetch_all(sqlx::query(
            "SELECT id, schedule_json FROM access_groups ORDER BY id",
        ))
        .await?
        .iter()
    {
        let id = i64_(r, "id")?;
        out.groups.push((
            id,
            text(r, "schedule_json")?,
            zones_of.remove(&id).unwrap_or_default(),
            members_of.remove(&id).unwrap_or_default(),
        ));
    }
    out.lockdowns = lockdowns(s).await?;
    Ok(out)
}

/// Sets a person's whereabouts (an operator forgiving an anti-passback violation puts the
/// person nowhere: their next pass is accepted wherever it starts).
pub async fn clear_presence(w: &mut WriteTx, person_id: Id) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM presence WHERE person_id = $1")
        .bind(person_id)
        .execute(w.conn())
        .await?;
    Ok(())
}

/// Event counts of a controller: (number stored, lowest seq, highest seq).
pub async fn seq_summary(
    s: &Store,
    controller_id: Id,
) -> Result<(i64, Option<i64>, Option<i64>), StoreError> {
    let r = s
        .fetch_optional(
            sqlx::query("SELECT COUNT(*) AS n, MIN(source_seq) AS lo, MAX(source_seq) AS hi FROM access_events WHERE source = $1")
                .bind(source_of(controller_id)),
        )
        .await?;
    match r {
        Some(r) => Ok((i64_(&r, "n")?, opt_i64(&r, "lo")?, opt_i64(&r, "hi")?)),
        None => Ok((0, None, None)),
    }
}
