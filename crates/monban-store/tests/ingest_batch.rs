//! Batched controller ingest (`controllers::ingest`): deduplication within and across batches,
//! gap alarms, presence, audit leaves and refusals. Every scenario runs on SQLite and on a real
//! PostgreSQL server, and a batch is checked against the same records ingested one by one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jiff::Timestamp;
use monban_audit::{AuditEntry, Outcome};
use monban_core::text::Code;
use monban_core::{AlarmCode, CredentialKind, Direction, ReaderMode, ReasonCode, ZoneClass};
use monban_store::controllers::{self, IngestBody, IngestRecord, Ingested};
use monban_store::facility::{self, DoorInput, SiteInput, ZoneInput};
use monban_store::people::{self, PersonInput};
use monban_store::{audit, events, testing, Store, StoreError};

/// One fresh store per backend; the temp dir must outlive the SQLite store.
async fn both() -> (tempfile::TempDir, Vec<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = testing::sqlite(dir.path()).await.unwrap();
    let pg = testing::postgres().await.unwrap_or_else(|e| panic!("{e}"));
    (dir, vec![sqlite, pg])
}

/// A site with an office (entered from outside through door `a`), a handling area inside it
/// (door `b`), a door `c` the controller does not run, three people and a controller for
/// `a` and `b`.
struct Site {
    office: i64,
    handling: i64,
    a: i64,
    b: i64,
    c: i64,
    people: Vec<i64>,
    controller: i64,
}

async fn site(s: &Store) -> Site {
    controllers::migrate(s).await.unwrap();
    let mut w = s.begin_write().await.unwrap();
    let site = facility::create_site(
        &mut w,
        &SiteInput {
            name: "本社".into(),
            time_zone: None,
        },
    )
    .await
    .unwrap();
    let zone = |name: &str, parent, class| ZoneInput {
        site_id: site.id,
        parent_id: parent,
        name: name.into(),
        class,
        occupancy_limit: None,
    };
    let office = facility::create_zone(&mut w, &zone("執務室", None, ZoneClass::General))
        .await
        .unwrap();
    let handling = facility::create_zone(
        &mut w,
        &zone("取扱区域", Some(office.id), ZoneClass::Handling),
    )
    .await
    .unwrap();
    let door = |name: &str, from, to| DoorInput {
        site_id: site.id,
        name: name.into(),
        from_zone_id: from,
        to_zone_id: to,
        reader_mode: ReaderMode::Card,
        held_open_limit_secs: None,
    };
    let a = facility::create_door(&mut w, &door("正面", None, office.id))
        .await
        .unwrap();
    let b = facility::create_door(&mut w, &door("取扱", Some(office.id), handling.id))
        .await
        .unwrap();
    let c = facility::create_door(&mut w, &door("裏口", None, office.id))
        .await
        .unwrap();
    let mut people = Vec::new();
    for i in 0..3 {
        let p = people::create_person(
            &mut w,
            &PersonInput::employee(format!("E{i:04}"), "山田太郎", "ヤマダタロウ"),
        )
        .await
        .unwrap();
        people.push(p.id);
    }
    let (ctl, _) =
        controllers::create_controller(&mut w, "ctl-1", &[a.id, b.id], |t| t.to_string())
            .await
            .unwrap();
    w.commit().await.unwrap();
    Site {
        office: office.id,
        handling: handling.id,
        a: a.id,
        b: b.id,
        c: c.id,
        people,
        controller: ctl.id,
    }
}

fn at(seq: i64) -> Timestamp {
    Timestamp::from_microsecond(1_780_000_000_000_000 + seq * 1_000).unwrap()
}

fn access(seq: i64, door: i64, dir: Direction, person: Option<i64>, granted: bool) -> IngestRecord {
    IngestRecord {
        seq,
        at: at(seq),
        body: IngestBody::Access {
            door_id: door,
            direction: dir,
            person_id: person,
            credential_kind: person.map(|_| CredentialKind::Card),
            granted,
            reason: if granted {
                ReasonCode::Granted
            } else {
                ReasonCode::OutsideSchedule
            },
            alarm: None,
        },
    }
}

fn with_alarm(mut r: IngestRecord, code: AlarmCode) -> IngestRecord {
    if let IngestBody::Access { alarm, .. } = &mut r.body {
        *alarm = Some(code);
    }
    r
}

fn alarm(seq: i64, door: Option<i64>, code: AlarmCode) -> IngestRecord {
    IngestRecord {
        seq,
        at: at(seq),
        body: IngestBody::Alarm {
            door_id: door,
            code,
            person_id: None,
            detail: format!("alarm {seq}"),
        },
    }
}

async fn ingest(s: &Store, l: &Site, records: &[IngestRecord]) -> Result<Ingested, StoreError> {
    let mut w = s.begin_write().await?;
    let out = controllers::ingest(&mut w, l.controller, &[l.a, l.b], records).await?;
    w.commit().await?;
    Ok(out)
}

async fn audit_entries(s: &Store) -> Vec<AuditEntry> {
    let (size, _) = audit::head(s).await.unwrap();
    audit::leaves(s, 0, size)
        .await
        .unwrap()
        .iter()
        .map(|(_, b)| AuditEntry::decode(b).unwrap())
        .collect()
}

/// Entries from `from` on, as (action, the seq or gap detail they carry).
fn leaf_summary(entries: &[AuditEntry], from: usize) -> Vec<(String, String)> {
    entries[from..]
        .iter()
        .map(|e| {
            let what = e
                .details
                .get("source_seq")
                .or_else(|| e.details.get("seq"))
                .cloned()
                .unwrap_or_else(|| format!("gap:{}", e.details["detail"]));
            (e.action.clone(), what)
        })
        .collect()
}

#[tokio::test]
async fn duplicates_within_a_batch_and_against_stored_ones_are_stored_once() {
    let (_d, stores) = both().await;
    for s in &stores {
        let l = site(s).await;
        let p = l.people[0];
        let first = ingest(
            s,
            &l,
            &[
                access(1, l.a, Direction::In, Some(p), true),
                access(2, l.b, Direction::In, Some(p), true),
                access(3, l.b, Direction::Out, Some(p), true),
            ],
        )
        .await
        .unwrap();
        assert_eq!((first.events.len(), first.duplicates), (3, 0));
        assert_eq!(first.stored_seq, 3);

        let second = ingest(
            s,
            &l,
            &[
                access(2, l.b, Direction::In, Some(p), true),
                access(3, l.b, Direction::Out, Some(p), true),
                access(4, l.a, Direction::Out, Some(p), true),
                // The same sequence number again, with other content: the first one wins.
                access(4, l.b, Direction::In, Some(p), false),
                access(5, l.a, Direction::In, Some(p), true),
                alarm(6, Some(l.a), AlarmCode::HeldOpen),
                alarm(6, Some(l.b), AlarmCode::Tamper),
                access(3, l.a, Direction::In, None, false),
            ],
        )
        .await
        .unwrap();
        assert_eq!(second.duplicates, 5);
        assert_eq!(second.stored_seq, 6);
        assert_eq!(second.events.len(), 2);
        let four = &second.events[0];
        assert_eq!(
            (four.door_id, four.direction, four.granted, four.zone_after),
            (l.a, Direction::Out, true, None)
        );
        let five = &second.events[1];
        assert_eq!((five.door_id, five.zone_after), (l.a, Some(l.office)));
        assert!(four.id > first.events[2].id && five.id > four.id);
        assert_eq!(second.alarms.len(), 1, "{:?}", second.alarms);
        assert_eq!(second.alarms[0].code, AlarmCode::HeldOpen);
        assert_eq!(second.alarms[0].source_seq, Some(6));

        // A third upload of old records mixed with a new one.
        let third = ingest(
            s,
            &l,
            &[
                alarm(6, Some(l.a), AlarmCode::HeldOpen),
                access(1, l.a, Direction::In, Some(p), true),
                access(7, l.a, Direction::Out, Some(p), true),
                access(7, l.a, Direction::Out, Some(p), true),
            ],
        )
        .await
        .unwrap();
        assert_eq!((third.events.len(), third.duplicates), (1, 3));
        assert!(third.alarms.is_empty());
        assert_eq!(third.stored_seq, 7);

        // What is in the database: six events 1..=5 and 7, one alarm, one leaf each.
        assert_eq!(
            controllers::seq_summary(s, l.controller).await.unwrap(),
            (6, Some(1), Some(7))
        );
        assert_eq!(events::count_events(s).await.unwrap(), 6);
        let alarms = controllers::recent_alarms(s, 10).await.unwrap();
        assert_eq!(alarms.len(), 1);
        assert_eq!(
            controllers::get_controller(s, l.controller)
                .await
                .unwrap()
                .stored_seq,
            7
        );
        let entries = audit_entries(s).await;
        assert_eq!(entries.len(), 7);
        let seqs: Vec<(String, String)> = leaf_summary(&entries, 0);
        let expect: Vec<(String, String)> = [
            ("door.access", "1"),
            ("door.access", "2"),
            ("door.access", "3"),
            ("door.access", "4"),
            ("door.access", "5"),
            ("door.alarm", "6"),
            ("door.access", "7"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(seqs, expect);
        // The surviving seq 4 is the first one uploaded (granted, out through the front door).
        assert_eq!(entries[3].outcome, Outcome::Ok);
        assert_eq!(entries[3].target, format!("door:{}", l.a));
        assert_eq!(
            entries[3].details["event_id"],
            second.events[0].id.to_string()
        );
    }
}

#[tokio::test]
async fn gaps_inside_a_batch_raise_alarms_in_record_order() {
    let (_d, stores) = both().await;
    for s in &stores {
        let l = site(s).await;
        let src = controllers::source_of(l.controller);
        let ev = |seq| access(seq, l.a, Direction::In, None, false);
        let done = ingest(
            s,
            &l,
            &[
                ev(1),
                ev(2),
                ev(5),
                ev(3),
                alarm(9, None, AlarmCode::PowerLoss),
                ev(4),
                ev(6),
                // Far away: the stored numbers are looked up by list, not by range.
                ev(20_000),
            ],
        )
        .await
        .unwrap();
        assert_eq!(done.events.len(), 7);
        assert_eq!(done.duplicates, 0);
        assert_eq!(done.stored_seq, 20_000);
        let got: Vec<(AlarmCode, Option<i64>, String, Timestamp, String)> = done
            .alarms
            .iter()
            .map(|a| {
                (
                    a.code,
                    a.source_seq,
                    a.source.clone(),
                    a.occurred_at,
                    a.detail.clone(),
                )
            })
            .collect();
        let gap = |from: i64, to: i64, seq: i64| {
            (
                AlarmCode::SequenceGap,
                None,
                format!("gateway/{src}"),
                at(seq),
                format!(
                    "シーケンス番号 {from}〜{to} が届いていません / sequence numbers {from} to {to} are missing"
                ),
            )
        };
        assert_eq!(
            got,
            vec![
                gap(3, 4, 5),
                (
                    AlarmCode::PowerLoss,
                    Some(9),
                    src.clone(),
                    at(9),
                    "alarm 9".to_string()
                ),
                gap(6, 8, 9),
                gap(10, 19_999, 20_000),
            ]
        );
        let ids: Vec<i64> = done.alarms.iter().map(|a| a.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        // Stored as returned.
        let mut stored = controllers::recent_alarms(s, 10).await.unwrap();
        stored.reverse();
        assert_eq!(stored, done.alarms);

        // Audit leaves in record order, each gap right after the record that revealed it.
        let entries = audit_entries(s).await;
        let g = |d: &str| ("door.alarm".to_string(), format!("gap:{d}"));
        let acc = |n: i64| ("door.access".to_string(), n.to_string());
        assert_eq!(
            leaf_summary(&entries, 0),
            vec![
                acc(1),
                acc(2),
                acc(5),
                g(&got[0].4),
                acc(3),
                ("door.alarm".into(), "9".into()),
                g(&got[2].4),
                acc(4),
                acc(6),
                acc(20_000),
                g(&got[3].4),
            ]
        );
        let gap_leaf = &entries[3];
        assert_eq!(gap_leaf.source, format!("gateway/{src}"));
        assert_eq!(gap_leaf.actor, format!("gateway/{src}"));
        assert_eq!(gap_leaf.target, format!("gateway/{src}"));
        assert_eq!(gap_leaf.outcome, Outcome::Error);
        assert_eq!(gap_leaf.details["alarm"], "sequence_gap");

        // The next batch: a gap against the stored maximum, none for a late record below it.
        let next = ingest(s, &l, &[ev(20_001), ev(7), ev(20_003)])
            .await
            .unwrap();
        assert_eq!(next.events.len(), 3);
        assert_eq!(next.alarms.len(), 1);
        assert_eq!(
            next.alarms[0].detail,
            gap(20_002, 20_002, 20_003).4,
            "{:?}",
            next.alarms
        );
        assert_eq!(next.stored_seq, 20_003);
    }
}

#[tokio::test]
async fn presence_ends_where_each_persons_last_granted_event_put_them() {
    let (_d, stores) = both().await;
    for s in &stores {
        let l = site(s).await;
        let (p1, p2, p3) = (l.people[0], l.people[1], l.people[2]);
        // p2 is already inside, so the batch updates an existing presence row for them.
        ingest(s, &l, &[access(1, l.a, Direction::In, Some(p2), true)])
            .await
            .unwrap();
        assert_eq!(
            events::presence_of(s, p2).await.unwrap().unwrap().zone_id,
            Some(l.office)
        );
        let done = ingest(
            s,
            &l,
            &[
                access(2, l.a, Direction::In, Some(p1), true),
                access(3, l.b, Direction::In, Some(p1), true),
                access(4, l.b, Direction::In, Some(p2), true),
                access(5, l.b, Direction::Out, Some(p1), true),
                access(6, l.a, Direction::Out, Some(p1), true),
                access(7, l.a, Direction::In, Some(p3), false),
                access(8, l.a, Direction::In, Some(p1), true),
                // Denied: p1 stays in the office.
                access(9, l.b, Direction::In, Some(p1), false),
                // A repeat of an earlier record moves nobody.
                access(3, l.b, Direction::In, Some(p1), true),
            ],
        )
        .await
        .unwrap();
        assert_eq!((done.events.len(), done.duplicates), (8, 1));
        let p1_at = events::presence_of(s, p1).await.unwrap().unwrap();
        assert_eq!(p1_at.zone_id, Some(l.office));
        assert_eq!(p1_at.since, at(8));
        let p2_at = events::presence_of(s, p2).await.unwrap().unwrap();
        assert_eq!(p2_at.zone_id, Some(l.handling));
        assert_eq!(p2_at.since, at(4));
        assert_eq!(events::presence_of(s, p3).await.unwrap(), None);
        assert_eq!(events::presence(s).await.unwrap().len(), 2);

        // Out of the site in the middle of a batch, and nothing after: no zone.
        ingest(
            s,
            &l,
            &[
                access(10, l.b, Direction::In, Some(p1), true),
                access(11, l.b, Direction::Out, Some(p1), true),
                access(12, l.a, Direction::Out, Some(p1), true),
                access(13, l.a, Direction::In, Some(p1), false),
            ],
        )
        .await
        .unwrap();
        let p1_at = events::presence_of(s, p1).await.unwrap().unwrap();
        assert_eq!((p1_at.zone_id, p1_at.since), (None, at(12)));
        assert_eq!(events::presence(s).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn every_event_and_alarm_has_its_audit_leaf_and_fsck_is_clean() {
    let (_d, stores) = both().await;
    for s in &stores {
        let l = site(s).await;
        // More records than one multi-row statement takes, with decision alarms and door alarms.
        let records: Vec<IngestRecord> = (1..=2_500i64)
            .map(|seq| {
                if seq % 250 == 0 {
                    return alarm(seq, Some(l.b), AlarmCode::HeldOpen);
                }
                let person = l.people[(seq % 3) as usize];
                let dir = if (seq / 3) % 2 == 0 {
                    Direction::In
                } else {
                    Direction::Out
                };
                let r = access(seq, l.a, dir, Some(person), seq % 7 != 0);
                if seq % 100 == 0 {
                    with_alarm(r, AlarmCode::AntiPassback)
                } else {
                    r
                }
            })
            .collect();
        let done = ingest(s, &l, &records).await.unwrap();
        let (n_events, n_door_alarms, n_decision) = (2_490usize, 10usize, 20usize);
        assert_eq!(done.events.len(), n_events);
        assert_eq!(done.alarms.len(), n_door_alarms + n_decision);
        let again = ingest(s, &l, &records[1_000..1_600]).await.unwrap();
        assert_eq!((again.events.len(), again.duplicates), (0, 600));

        let (size, _) = audit::head(s).await.unwrap();
        assert_eq!(size as usize, n_events + n_door_alarms + n_decision);
        let report = audit::fsck(s).await.unwrap();
        assert_eq!(report.size, size);

        // The leaves, in record order: each event's leaf names its id and sequence number,
        // a decision alarm follows its event.
        let entries = audit_entries(s).await;
        let src = controllers::source_of(l.controller);
        let mut leaf = entries.iter();
        let mut events_iter = done.events.iter();
        for r in &records {
            let e = leaf.next().unwrap();
            match &r.body {
                IngestBody::Access {
                    door_id,
                    direction,
                    person_id,
                    granted,
                    reason,
                    alarm,
                    ..
                } => {
                    let ev = events_iter.next().unwrap();
                    assert_eq!(e.action, "door.access");
                    assert_eq!(e.source, src);
                    assert_eq!(e.actor, format!("person:{}", person_id.unwrap()));
                    assert_eq!(e.target, format!("door:{door_id}"));
                    assert_eq!(e.details["event_id"], ev.id.to_string());
                    assert_eq!(e.details["source_seq"], r.seq.to_string());
                    assert_eq!(e.details["direction"], direction.code());
                    assert_eq!(e.details["credential"], "card");
                    assert_eq!(e.device_time.as_ref().unwrap().at, r.at);
                    let outcome = if *granted {
                        Outcome::Ok
                    } else {
                        Outcome::Denied(reason.code().to_string())
                    };
                    assert_eq!(e.outcome, outcome);
                    assert_eq!((ev.occurred_at, ev.granted), (r.at, *granted));
                    if let Some(a) = alarm {
                        let e = leaf.next().unwrap();
                        assert_eq!(e.action, "door.alarm");
                        assert_eq!(e.source, format!("{src}/decision"));
                        assert_eq!(e.details["alarm"], a.code());
                        assert_eq!(e.details["seq"], r.seq.to_string());
                        assert_eq!(
                            e.details["person"],
                            format!("person:{}", person_id.unwrap())
                        );
                    }
                }
                IngestBody::Alarm { code, .. } => {
                    assert_eq!(e.action, "door.alarm");
                    assert_eq!(e.source, src);
                    assert_eq!(e.details["alarm"], code.code());
                    assert_eq!(e.details["seq"], r.seq.to_string());
                }
            }
        }
        assert!(leaf.next().is_none());
        assert!(events_iter.next().is_none());
        let ids: Vec<i64> = done.events.iter().map(|e| e.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let stored = events::recent_events(s, 3_000, None).await.unwrap();
        assert_eq!(stored.len(), n_events);
        let mut stored_ids: Vec<i64> = stored.iter().map(|e| e.id).collect();
        stored_ids.reverse();
        assert_eq!(stored_ids, ids);
    }
}

#[tokio::test]
async fn a_batch_with_a_bad_record_is_refused_and_stores_nothing() {
    let (_d, stores) = both().await;
    for s in &stores {
        let l = site(s).await;
        let p = l.people[0];
        ingest(
            s,
            &l,
            &[
                access(1, l.a, Direction::In, Some(p), true),
                access(2, l.b, Direction::In, Some(p), true),
            ],
        )
        .await
        .unwrap();
        let head = audit::head(s).await.unwrap();
        let field_of = |e: StoreError| match e {
            StoreError::Invalid(f) => f.field,
            other => panic!("unexpected {other:?}"),
        };
        let bad_batches: Vec<(Vec<IngestRecord>, &str)> = vec![
            (
                vec![
                    access(3, l.b, Direction::Out, Some(p), true),
                    with_alarm(
                        access(4, l.a, Direction::Out, Some(p), true),
                        AlarmCode::AntiPassback,
                    ),
                    alarm(9, Some(l.a), AlarmCode::ForcedOpen),
                    access(10, l.c, Direction::In, Some(p), true),
                ],
                "door_id",
            ),
            // A door alarm for a door it does not run.
            (
                vec![
                    access(3, l.b, Direction::Out, Some(p), true),
                    alarm(4, Some(l.c), AlarmCode::ForcedOpen),
                ],
                "door_id",
            ),
            // Refused even when the sequence number was stored before.
            (
                vec![access(1, l.c, Direction::In, Some(p), true)],
                "door_id",
            ),
            (
                vec![
                    access(3, l.b, Direction::Out, Some(p), true),
                    access(0, l.a, Direction::In, None, false),
                ],
                "seq",
            ),
            // The first bad record decides the error.
            (
                vec![
                    access(3, l.c, Direction::In, None, false),
                    access(-1, l.a, Direction::In, None, false),
                ],
                "door_id",
            ),
        ];
        for (records, field) in bad_batches {
            let mut w = s.begin_write().await.unwrap();
            let e = controllers::ingest(&mut w, l.controller, &[l.a, l.b], &records)
                .await
                .unwrap_err();
            assert_eq!(field_of(e), field);
            drop(w);
            assert_eq!(events::count_events(s).await.unwrap(), 2);
            assert!(controllers::recent_alarms(s, 10).await.unwrap().is_empty());
            assert_eq!(audit::head(s).await.unwrap(), head);
            assert_eq!(
                controllers::get_controller(s, l.controller)
                    .await
                    .unwrap()
                    .stored_seq,
                2
            );
            let here = events::presence_of(s, p).await.unwrap().unwrap();
            assert_eq!((here.zone_id, here.since), (Some(l.handling), at(2)));
        }
        // The good records of a refused batch are not taken as duplicates later.
        let done = ingest(s, &l, &[access(3, l.b, Direction::Out, Some(p), true)])
            .await
            .unwrap();
        assert_eq!((done.events.len(), done.duplicates), (1, 0));
        assert!(done.alarms.is_empty());
        audit::fsck(s).await.unwrap();
    }
}

/// Everything observable about an ingest apart from the time it was recorded.
fn observable(done: &Ingested) -> (Vec<String>, Vec<controllers::DoorAlarm>) {
    (
        done.events
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} {:?} {:?} {:?} {} {:?} {:?}",
                    e.id,
                    e.occurred_at,
                    e.door_id,
                    e.direction,
                    e.person_id,
                    e.credential_kind,
                    e.granted,
                    e.reason,
                    e.zone_after
                )
            })
            .collect(),
        done.alarms.clone(),
    )
}

/// An audit entry without its server time.
fn entry_view(e: &AuditEntry) -> String {
    format!(
        "{} {:?} {} {} {} {} {:?} {:?}",
        e.seq, e.device_time, e.source, e.actor, e.action, e.target, e.outcome, e.details
    )
}

#[tokio::test]
async fn one_batch_stores_the_same_as_one_record_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["batched", "single"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let pairs = vec![
        (
            testing::sqlite(&dir.path().join("batched")).await,
            testing::sqlite(&dir.path().join("single")).await,
        ),
        (testing::postgres().await, testing::postgres().await),
    ];
    for (batched, single) in pairs {
        let (batched, single) = (batched.unwrap(), single.unwrap());
        let (lb, ls) = (site(&batched).await, site(&single).await);
        assert_eq!((lb.a, lb.b, &lb.people), (ls.a, ls.b, &ls.people));
        let p = &lb.people;
        let records = vec![
            access(1, lb.a, Direction::In, Some(p[0]), true),
            access(2, lb.a, Direction::In, Some(p[1]), true),
            with_alarm(
                access(4, lb.b, Direction::In, Some(p[0]), false),
                AlarmCode::TwoPersonFailed,
            ),
            access(2, lb.a, Direction::In, Some(p[1]), true),
            access(3, lb.b, Direction::In, Some(p[1]), true),
            alarm(7, Some(lb.b), AlarmCode::HeldOpen),
            with_alarm(
                access(8, lb.a, Direction::Out, Some(p[1]), true),
                AlarmCode::NeverAlone,
            ),
            alarm(7, Some(lb.b), AlarmCode::HeldOpen),
            access(5, lb.a, Direction::Out, Some(p[0]), true),
            alarm(6, None, AlarmCode::PowerRestored),
            access(9, lb.a, Direction::In, None, false),
            access(12, lb.a, Direction::In, Some(p[2]), true),
            access(10, lb.a, Direction::Out, Some(p[2]), true),
        ];
        let all = ingest(&batched, &lb, &records).await.unwrap();
        let mut one = Ingested::default();
        for r in &records {
            let d = ingest(&single, &ls, std::slice::from_ref(r)).await.unwrap();
            one.events.extend(d.events);
            one.alarms.extend(d.alarms);
            one.duplicates += d.duplicates;
            one.stored_seq = d.stored_seq;
        }
        assert_eq!(observable(&all), observable(&one));
        assert_eq!(
            (all.duplicates, all.stored_seq),
            (one.duplicates, one.stored_seq)
        );
        assert_eq!(
            (all.events.len(), all.alarms.len(), all.duplicates),
            (9, 7, 2)
        );
        let (eb, es) = (audit_entries(&batched).await, audit_entries(&single).await);
        assert_eq!(eb.len(), 16);
        assert_eq!(
            eb.iter().map(entry_view).collect::<Vec<_>>(),
            es.iter().map(entry_view).collect::<Vec<_>>()
        );
        assert_eq!(
            events::presence(&batched).await.unwrap(),
            events::presence(&single).await.unwrap()
        );
        for p in p {
            assert_eq!(
                events::presence_of(&batched, *p).await.unwrap(),
                events::presence_of(&single, *p).await.unwrap()
            );
        }
        audit::fsck(&batched).await.unwrap();
    }
}
