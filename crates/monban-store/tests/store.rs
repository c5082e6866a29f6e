//! Storage tests. Every scenario runs on SQLite and on a real PostgreSQL server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jiff::civil::date;
use monban_core::schedule::Schedule;
use monban_core::{
    CardId, CredentialKind, CredentialStatus, Direction, OperatorRole, PersonKind, PersonStatus,
    ReaderMode, ReasonCode, ZoneClass,
};
use monban_store::events::{self, NewAccessEvent};
use monban_store::facility::{self, DoorInput, SiteInput, ZoneInput};
use monban_store::people::{self, AccessGroupInput, CredentialInput, PersonInput};
use monban_store::{operators, testing, Backend, Store, StoreError};

/// Opens one store per backend. The temp dir must outlive the SQLite store.
async fn both() -> (tempfile::TempDir, Vec<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = testing::sqlite(dir.path()).await.unwrap();
    let pg = testing::postgres().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sqlite.backend(), Backend::Sqlite);
    assert_eq!(pg.backend(), Backend::Postgres);
    (dir, vec![sqlite, pg])
}

struct Layout {
    site: i64,
    outside_door: i64,
    office: i64,
    handling: i64,
}

async fn layout(s: &Store) -> Layout {
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
    let z = |name: &str, parent, class| ZoneInput {
        site_id: site.id,
        parent_id: parent,
        name: name.into(),
        class,
        occupancy_limit: None,
    };
    let office = facility::create_zone(&mut w, &z("執務室", None, ZoneClass::General))
        .await
        .unwrap();
    let handling =
        facility::create_zone(&mut w, &z("取扱区域", Some(office.id), ZoneClass::Handling))
            .await
            .unwrap();
    let door = facility::create_door(
        &mut w,
        &DoorInput {
            site_id: site.id,
            name: "正面".into(),
            from_zone_id: None,
            to_zone_id: office.id,
            reader_mode: ReaderMode::Card,
            held_open_limit_secs: None,
        },
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
    Layout {
        site: site.id,
        outside_door: door.id,
        office: office.id,
        handling: handling.id,
    }
}

fn employee(n: &str) -> PersonInput {
    PersonInput {
        kind: PersonKind::Employee,
        employee_number: Some(n.into()),
        name_kanji: "山田 太郎".into(),
        name_kana: "ヤマダ タロウ".into(),
        department: Some("総務部".into()),
        valid_from: Some(date(2026, 4, 1)),
        valid_until: None,
        status: PersonStatus::Active,
    }
}

fn card(person_id: i64, id: &str) -> CredentialInput {
    CredentialInput {
        person_id,
        kind: CredentialKind::Card,
        card_id: Some(CardId::parse("card_id", id).unwrap()),
        pin_hash: None,
        face_template_ref: None,
        valid_from: None,
        valid_until: None,
        status: CredentialStatus::Active,
    }
}

#[tokio::test]
async fn facility_round_trip_and_tree_rules() {
    let (_d, stores) = both().await;
    for s in &stores {
        let l = layout(s).await;
        let zones = facility::list_zones(s, Some(l.site)).await.unwrap();
        assert_eq!(zones.len(), 2, "{:?}", s.backend());
        let h = facility::get_zone(s, l.handling).await.unwrap();
        assert_eq!(
            (h.class, h.parent_id),
            (ZoneClass::Handling, Some(l.office))
        );

        // A cycle: the office cannot become a child of its own child.
        let mut w = s.begin_write().await.unwrap();
        let err = facility::update_zone(
            &mut w,
            l.office,
            &ZoneInput {
                site_id: l.site,
                parent_id: Some(l.handling),
                name: "執務室".into(),
                class: ZoneClass::General,
                occupancy_limit: None,
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(f) if f.field == "parent_id"),
            "{err}"
        );
        drop(w);
        assert_eq!(
            facility::get_zone(s, l.office).await.unwrap().parent_id,
            None,
            "nothing changed"
        );

        // A zone that a door uses cannot be deleted, nor one with children.
        let mut w = s.begin_write().await.unwrap();
        let err = facility::delete_zone(&mut w, l.office).await.unwrap_err();
        assert!(matches!(err, StoreError::InUse(_)), "{err}");
        drop(w);
        let mut w = s.begin_write().await.unwrap();
        facility::delete_zone(&mut w, l.handling).await.unwrap();
        w.commit().await.unwrap();
        assert!(matches!(
            facility::get_zone(s, l.handling).await,
            Err(StoreError::NotFound { .. })
        ));

        // Duplicate names within a site are refused.
        let mut w = s.begin_write().await.unwrap();
        let err = facility::create_zone(
            &mut w,
            &ZoneInput {
                site_id: l.site,
                parent_id: None,
                name: "執務室".into(),
                class: ZoneClass::General,
                occupancy_limit: None,
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(f) if f.field == "name"),
            "{err}"
        );
        // An unknown time zone is refused.
        let err = facility::create_site(
            &mut w,
            &SiteInput {
                name: "大阪".into(),
                time_zone: Some("Asia/Osaka".into()),
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(f) if f.field == "time_zone"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn persons_and_credentials() {
    let (_d, stores) = both().await;
    for s in &stores {
        let mut w = s.begin_write().await.unwrap();
        let p = people::create_person(&mut w, &employee("E0001"))
            .await
            .unwrap();
        let c = people::create_credential(&mut w, &card(p.id, "01 14 A0 00 00 00 00 01"))
            .await
            .unwrap();
        w.commit().await.unwrap();
        assert_eq!(c.card_id.as_ref().unwrap().as_str(), "0114A00000000001");
        let back = people::get_person(s, p.id).await.unwrap();
        assert_eq!(back, p);
        assert_eq!(back.valid_from, Some(date(2026, 4, 1)));

        // The same card again (written differently) is a conflict, and nothing is added.
        let mut w = s.begin_write().await.unwrap();
        let err = people::create_credential(&mut w, &card(p.id, "0114a00000000001"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(f) if f.field == "card_id"),
            "{err}"
        );
        drop(w);
        assert_eq!(
            people::list_credentials(s, Some(p.id)).await.unwrap().len(),
            1
        );

        // Duplicate employee number.
        let mut w = s.begin_write().await.unwrap();
        let err = people::create_person(&mut w, &employee("E0001"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(f) if f.field == "employee_number"),
            "{err}"
        );
        drop(w);

        // Bad kana, over-long name, validity ending before it starts.
        let mut w = s.begin_write().await.unwrap();
        let mut bad = employee("E0002");
        bad.name_kana = "山田".into();
        assert!(
            matches!(people::create_person(&mut w, &bad).await, Err(StoreError::Invalid(f)) if f.field == "name_kana")
        );
        let mut bad = employee("E0003");
        bad.name_kanji = "長".repeat(101);
        assert!(
            matches!(people::create_person(&mut w, &bad).await, Err(StoreError::Invalid(f)) if f.field == "name_kanji")
        );
        let mut bad = employee("E0004");
        bad.valid_until = Some(date(2026, 3, 1));
        assert!(
            matches!(people::create_person(&mut w, &bad).await, Err(StoreError::Invalid(f)) if f.field == "valid_until")
        );
        drop(w);
        assert_eq!(
            people::list_persons(s, None, 100, 0).await.unwrap().len(),
            1
        );

        // Search by kana and department.
        assert_eq!(
            people::list_persons(s, Some("ヤマダ"), 10, 0)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            people::list_persons(s, Some("経理"), 10, 0)
                .await
                .unwrap()
                .len(),
            0
        );

        // Status change and lookup by card.
        let mut w = s.begin_write().await.unwrap();
        people::set_credential_status(&mut w, c.id, CredentialStatus::Lost)
            .await
            .unwrap();
        w.commit().await.unwrap();
        let found = people::credential_by_card(s, &CardId::parse("c", "0114A00000000001").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.status, CredentialStatus::Lost);

        // Deleting the person deletes the credentials.
        let mut w = s.begin_write().await.unwrap();
        people::delete_person(&mut w, p.id).await.unwrap();
        w.commit().await.unwrap();
        assert!(people::list_credentials(s, None).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn access_groups_keep_schedules() {
    let (_d, stores) = both().await;
    for s in &stores {
        let l = layout(s).await;
        let mut w = s.begin_write().await.unwrap();
        let p = people::create_person(&mut w, &employee("E0100"))
            .await
            .unwrap();
        w.commit().await.unwrap();
        let mut w = s.begin_write().await.unwrap();
        let id = people::create_access_group(
            &mut w,
            &AccessGroupInput {
                name: "取扱担当".into(),
                schedule: Schedule::business_hours(),
                zone_ids: vec![l.handling, l.handling],
                person_ids: vec![p.id],
            },
        )
        .await
        .unwrap();
        // An unknown zone in a group names the list entry.
        let err = people::create_access_group(
            &mut w,
            &AccessGroupInput {
                name: "x".into(),
                schedule: Schedule::always(),
                zone_ids: vec![l.office, 999_999],
                person_ids: vec![],
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(f) if f.field == "zone_ids[1]"),
            "{err}"
        );
        drop(w);
        // The failed create rolled back everything in that transaction, including the first group.
        assert!(people::list_access_groups(s).await.unwrap().is_empty());

        let mut w = s.begin_write().await.unwrap();
        let id2 = people::create_access_group(
            &mut w,
            &AccessGroupInput {
                name: "取扱担当".into(),
                schedule: Schedule::business_hours(),
                zone_ids: vec![l.handling],
                person_ids: vec![p.id],
            },
        )
        .await
        .unwrap();
        w.commit().await.unwrap();
        assert!(id2 >= id);
        let g = people::get_access_group(s, id2).await.unwrap();
        assert_eq!(g.schedule, Schedule::business_hours());
        assert_eq!(g.zone_ids, vec![l.handling]);
        assert_eq!(g.person_ids, vec![p.id]);

        // An invalid schedule is refused with the field path.
        let mut sched = Schedule::business_hours();
        sched.windows[0].end = sched.windows[0].start;
        let mut w = s.begin_write().await.unwrap();
        let err = people::update_access_group(
            &mut w,
            id2,
            &AccessGroupInput {
                name: "取扱担当".into(),
                schedule: sched,
                zone_ids: vec![],
                person_ids: vec![],
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(f) if f.field.starts_with("schedule.windows[0]")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn events_update_presence_and_deduplicate() {
    let (_d, stores) = both().await;
    for s in &stores {
        let l = layout(s).await;
        let mut w = s.begin_write().await.unwrap();
        let p = people::create_person(&mut w, &employee("E0200"))
            .await
            .unwrap();
        w.commit().await.unwrap();
        let ev = |dir, granted, seq| NewAccessEvent {
            occurred_at: jiff::Timestamp::now(),
            door_id: l.outside_door,
            direction: dir,
            person_id: Some(p.id),
            credential_kind: Some(CredentialKind::Card),
            granted,
            reason: if granted {
                ReasonCode::Granted
            } else {
                ReasonCode::OutsideSchedule
            },
            source: "controller:test".into(),
            source_seq: Some(seq),
        };
        let mut w = s.begin_write().await.unwrap();
        let first = events::record_access_event(&mut w, &ev(Direction::In, true, 1))
            .await
            .unwrap()
            .unwrap();
        w.commit().await.unwrap();
        assert_eq!(first.zone_after, Some(l.office));
        let here = events::presence_of(s, p.id).await.unwrap().unwrap();
        assert_eq!(here.zone_id, Some(l.office));

        // The same (source, seq) again is stored once.
        let mut w = s.begin_write().await.unwrap();
        assert!(
            events::record_access_event(&mut w, &ev(Direction::In, true, 1))
                .await
                .unwrap()
                .is_none()
        );
        // A denied attempt does not move the person.
        events::record_access_event(&mut w, &ev(Direction::Out, false, 2))
            .await
            .unwrap()
            .unwrap();
        w.commit().await.unwrap();
        assert_eq!(events::count_events(s).await.unwrap(), 2);
        assert_eq!(
            events::presence_of(s, p.id).await.unwrap().unwrap().zone_id,
            Some(l.office)
        );
        assert_eq!(events::presence(s).await.unwrap().len(), 1);

        // Leaving the site clears presence.
        let mut w = s.begin_write().await.unwrap();
        events::record_access_event(&mut w, &ev(Direction::Out, true, 3))
            .await
            .unwrap()
            .unwrap();
        w.commit().await.unwrap();
        assert_eq!(
            events::presence_of(s, p.id).await.unwrap().unwrap().zone_id,
            None
        );
        assert!(events::presence(s).await.unwrap().is_empty());
        let recent = events::recent_events(s, 10, None).await.unwrap();
        assert_eq!(recent.len(), 3);
        assert!(recent[0].id > recent[1].id, "newest first");
        assert_eq!(recent[1].reason, ReasonCode::OutsideSchedule);

        // A door with history cannot be deleted.
        let mut w = s.begin_write().await.unwrap();
        assert!(matches!(
            facility::delete_door(&mut w, l.outside_door).await,
            Err(StoreError::InUse(_))
        ));
    }
}

#[tokio::test]
async fn operators_sessions_and_lockout_state() {
    let (_d, stores) = both().await;
    for s in &stores {
        let mut w = s.begin_write().await.unwrap();
        let op = operators::create_operator(
            &mut w,
            "sato",
            "佐藤",
            OperatorRole::Handler,
            "$argon2id$fake",
            true,
        )
        .await
        .unwrap();
        w.commit().await.unwrap();
        let mut w = s.begin_write().await.unwrap();
        let err =
            operators::create_operator(&mut w, "sato", "別人", OperatorRole::Auditor, "$x", false)
                .await
                .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(f) if f.field == "username"),
            "{err}"
        );
        drop(w);
        let mut w = s.begin_write().await.unwrap();
        assert!(
            matches!(operators::create_operator(&mut w, "x", "短い", OperatorRole::Auditor, "$x", false).await, Err(StoreError::Invalid(f)) if f.field == "username")
        );
        operators::record_login_failure(&mut w, op.id, None)
            .await
            .unwrap();
        operators::record_login_failure(&mut w, op.id, Some(i64::MAX))
            .await
            .unwrap();
        w.commit().await.unwrap();
        let auth = operators::operator_by_username(s, "sato")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((auth.failed_logins, auth.locked_until), (2, Some(i64::MAX)));
        assert!(auth.operator.must_change_password);
        assert_eq!(auth.operator.role, OperatorRole::Handler);

        let mut w = s.begin_write().await.unwrap();
        operators::record_login_success(&mut w, op.id)
            .await
            .unwrap();
        operators::create_session(
            &mut w,
            "hash-live",
            op.id,
            "csrf",
            monban_store::now_micros() + 60_000_000,
        )
        .await
        .unwrap();
        operators::create_session(
            &mut w,
            "hash-old",
            op.id,
            "csrf",
            monban_store::now_micros() - 1,
        )
        .await
        .unwrap();
        w.commit().await.unwrap();
        assert!(operators::session(s, "hash-live").await.unwrap().is_some());
        assert!(
            operators::session(s, "hash-old").await.unwrap().is_none(),
            "expired sessions are not live"
        );
        let mut w = s.begin_write().await.unwrap();
        assert_eq!(operators::purge_sessions(&mut w).await.unwrap(), 1);
        // Disabling an operator ends their sessions.
        operators::update_operator(&mut w, op.id, "佐藤", OperatorRole::Handler, true)
            .await
            .unwrap();
        w.commit().await.unwrap();
        assert!(operators::session(s, "hash-live").await.unwrap().is_none());
        assert_eq!(operators::count_operators(s).await.unwrap(), 1);
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_bad_urls_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let a = testing::sqlite(dir.path()).await.unwrap();
    a.close().await;
    // Reopening applies nothing twice.
    let b = testing::sqlite(dir.path()).await.unwrap();
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations WHERE component = 'core'")
            .fetch_one(b.pool())
            .await
            .unwrap();
    assert_eq!(n, monban_store::migrate::latest_version());
    let url = testing::fresh_pg_url().await.unwrap();
    Store::open(&url).await.unwrap().close().await;
    let pg = Store::open(&url).await.unwrap();
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations WHERE component = 'core'")
            .fetch_one(pg.pool())
            .await
            .unwrap();
    assert_eq!(n, monban_store::migrate::latest_version());

    // A database from a newer Monban is refused rather than damaged.
    sqlx::query("INSERT INTO schema_migrations (component, version, name, applied_at) VALUES ('core', 9999, 'future', 0)").execute(pg.pool()).await.unwrap();
    let err = Store::open(&url).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found: 9999, .. }),
        "{err}"
    );

    for bad in [
        "sqlite:///nonexistent-dir/for/monban/x.sqlite3?mode=rwc",
        "postgres://nobody:secret@127.0.0.1:1/none",
        "mysql://localhost/x",
    ] {
        let err = Store::open(bad).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Open { .. }), "{bad}: {msg}");
        assert!(!msg.contains("secret"), "password leaked: {msg}");
    }
}

#[tokio::test]
async fn audit_log_appends_proves_and_detects_tampering() {
    use monban_audit::merkle::{leaf_hash, verify_consistency, verify_inclusion};
    use monban_store::audit::{self, AuditRecord};
    let (_d, stores) = both().await;
    for s in &stores {
        let rec = |i: usize| AuditRecord {
            source: "api".into(),
            actor: "operator:1".into(),
            action: "person.create".into(),
            target: format!("person:{i}"),
            outcome: "ok".into(),
            ..AuditRecord::default()
        };
        // A rolled-back transaction leaves no entry.
        let mut w = s.begin_write().await.unwrap();
        audit::append(&mut w, &rec(0)).await.unwrap();
        drop(w);
        assert_eq!(audit::head(s).await.unwrap().0, 0);
        for i in 0..37 {
            let mut w = s.begin_write().await.unwrap();
            let seq = audit::append(&mut w, &rec(i)).await.unwrap();
            assert_eq!(seq, i as u64);
            w.commit().await.unwrap();
        }
        let mut w = s.begin_write().await.unwrap();
        let r = audit::append_batch(&mut w, &(37..50).map(rec).collect::<Vec<_>>())
            .await
            .unwrap();
        w.commit().await.unwrap();
        assert_eq!(r, 37..50);
        let (size, root) = audit::head(s).await.unwrap();
        assert_eq!(size, 50);
        assert_eq!(audit::root_at(s, 50).await.unwrap(), root);
        // Every entry is provably included, every pair of sizes consistent.
        let all = audit::leaves(s, 0, 50).await.unwrap();
        for (seq, bytes) in &all {
            let proof = audit::inclusion_proof(s, *seq, size).await.unwrap();
            verify_inclusion(*seq, size, &leaf_hash(bytes), &proof, &root).unwrap();
        }
        for a in [1u64, 7, 16, 33] {
            let ra = audit::root_at(s, a).await.unwrap();
            let proof = audit::consistency_proof(s, a, size).await.unwrap();
            verify_consistency(a, size, &ra, &root, &proof).unwrap();
        }
        assert_eq!(audit::entry(s, 12).await.unwrap().target, "person:12");
        audit::fsck(s).await.unwrap();

        // Tampering with one stored entry is found and named.
        let mut bytes = all[20].1.clone();
        let n = bytes.len();
        bytes[n - 3] ^= 0x01;
        sqlx::query("UPDATE audit_leaves SET leaf = $1 WHERE seq = 20")
            .bind(bytes)
            .execute(s.pool())
            .await
            .unwrap();
        let err = audit::fsck(s).await.unwrap_err();
        assert!(
            matches!(err, audit::FsckError::Bad { seq: 20, .. }),
            "{err}"
        );
        // Deleting one is found too.
        sqlx::query("UPDATE audit_leaves SET leaf = $1 WHERE seq = 20")
            .bind(all[20].1.clone())
            .execute(s.pool())
            .await
            .unwrap();
        audit::fsck(s).await.unwrap();
        sqlx::query("DELETE FROM audit_leaves WHERE seq = 31")
            .execute(s.pool())
            .await
            .unwrap();
        let err = audit::fsck(s).await.unwrap_err();
        assert!(
            matches!(err, audit::FsckError::Bad { seq: 31, .. }),
            "{err}"
        );
    }
}

#[tokio::test]
async fn every_door_event_is_an_audit_entry() {
    use monban_store::audit;
    let (_d, stores) = both().await;
    for s in &stores {
        let l = layout(s).await;
        let before = audit::head(s).await.unwrap().0;
        let mut w = s.begin_write().await.unwrap();
        events::record_access_event(
            &mut w,
            &NewAccessEvent {
                occurred_at: jiff::Timestamp::now(),
                door_id: l.outside_door,
                direction: Direction::In,
                person_id: None,
                credential_kind: Some(CredentialKind::Card),
                granted: false,
                reason: ReasonCode::UnknownCredential,
                source: "controller:c1".into(),
                source_seq: Some(9),
            },
        )
        .await
        .unwrap();
        w.commit().await.unwrap();
        let (after, _) = audit::head(s).await.unwrap();
        assert_eq!(after, before + 1);
        let e = audit::entry(s, before).await.unwrap();
        assert_eq!(e.action, "door.access");
        assert_eq!(e.target, format!("door:{}", l.outside_door));
        assert_eq!(e.source, "controller:c1");
        assert_eq!(e.outcome.to_string(), "denied:unknown_credential");
        assert!(e.device_time.is_some());
    }
}
