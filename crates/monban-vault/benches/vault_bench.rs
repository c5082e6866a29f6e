//! Vault benchmarks: AES-256-GCM envelope encryption and decryption throughput, a reveal through
//! every gate (role, purpose, TOTP, presence, decrypt, audit) on SQLite, and re-wrapping 100,000
//! data keys on master-key rotation (SQLite, and PostgreSQL when `MONBAN_TEST_PG_URL` or the
//! default test server is reachable).
//!
//! Run: `cargo bench -p monban-vault --bench vault_bench` (set `VAULT_BENCH_RECORDS` to change
//! the rotation size).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use monban_core::{
    Direction, OperatorRole, PersonKind, PersonStatus, ReaderMode, ReasonCode, ZoneClass,
};
use monban_store::events::{self, NewAccessEvent};
use monban_store::facility::{self, DoorInput, SiteInput, ZoneInput};
use monban_store::people::{self, PersonInput};
use monban_store::{operators, testing, Store};
use monban_vault::crypto::{self, Key32};
use monban_vault::{
    Actor, Clock, DocType, IdentityCheckDoc, ManualClock, MyNumber, NewRecord, NumberCheckDoc,
    Relation, StaticKeyProvider, Vault,
};

fn crypto_throughput() {
    let master = Key32::random();
    let n = 100_000;
    let mut rng = rand::thread_rng();
    let numbers: Vec<MyNumber> = (0..n).map(|_| MyNumber::generate(&mut rng)).collect();
    let t = Instant::now();
    let mut sealed = Vec::with_capacity(n);
    for (i, num) in numbers.iter().enumerate() {
        let dek = Key32::random();
        let ct = crypto::seal(
            &dek,
            &crypto::field_aad(i as i64, "my_number", 1),
            &num.ascii()[..],
        )
        .unwrap();
        let w = crypto::wrap_key(&master, 1, &format!("record:{i}"), &dek).unwrap();
        sealed.push((w, ct));
    }
    let enc = t.elapsed();
    let t = Instant::now();
    for (i, (w, ct)) in sealed.iter().enumerate() {
        let dek = crypto::unwrap_key(&master, 1, &format!("record:{i}"), w).unwrap();
        let pt = crypto::open(&dek, &crypto::field_aad(i as i64, "my_number", 1), ct).unwrap();
        let _ = MyNumber::parse(std::str::from_utf8(&pt).unwrap()).unwrap();
    }
    let dec = t.elapsed();
    println!(
        "envelope encrypt (new data key + seal + wrap): {n} records in {:.3} s = {:.0} records/s ({:.2} µs each)",
        enc.as_secs_f64(),
        n as f64 / enc.as_secs_f64(),
        enc.as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "envelope decrypt (unwrap + open + validate): {n} records in {:.3} s = {:.0} records/s ({:.2} µs each)",
        dec.as_secs_f64(),
        n as f64 / dec.as_secs_f64(),
        dec.as_secs_f64() * 1e6 / n as f64
    );
}

struct Setup {
    vault: Vault,
    clock: Arc<ManualClock>,
    handler: Actor,
    secret: Vec<u8>,
    employee: i64,
    master: Key32,
}

async fn setup(store: Store) -> Setup {
    let mut w = store.begin_write().await.unwrap();
    let site = facility::create_site(
        &mut w,
        &SiteInput {
            name: "本社".into(),
            time_zone: None,
        },
    )
    .await
    .unwrap();
    let zone = facility::create_zone(
        &mut w,
        &ZoneInput {
            site_id: site.id,
            parent_id: None,
            name: "取扱区域".into(),
            class: ZoneClass::Handling,
            occupancy_limit: None,
        },
    )
    .await
    .unwrap();
    let door = facility::create_door(
        &mut w,
        &DoorInput {
            site_id: site.id,
            name: "扉".into(),
            from_zone_id: None,
            to_zone_id: zone.id,
            reader_mode: ReaderMode::Card,
            held_open_limit_secs: None,
        },
    )
    .await
    .unwrap();
    let op = operators::create_operator(
        &mut w,
        "handler",
        "handler",
        OperatorRole::Handler,
        "$argon2id$x",
        false,
    )
    .await
    .unwrap();
    let person = |name: &str, emp: &str| PersonInput {
        kind: PersonKind::Employee,
        employee_number: Some(emp.into()),
        name_kanji: name.into(),
        name_kana: "テスト".into(),
        department: None,
        valid_from: None,
        valid_until: None,
        status: PersonStatus::Active,
    };
    let hp = people::create_person(&mut w, &person("担当", "H"))
        .await
        .unwrap();
    let emp = people::create_person(&mut w, &person("社員", "E"))
        .await
        .unwrap();
    events::record_access_event(
        &mut w,
        &NewAccessEvent {
            occurred_at: Timestamp::now(),
            door_id: door.id,
            direction: Direction::In,
            person_id: Some(hp.id),
            credential_kind: None,
            granted: true,
            reason: ReasonCode::Granted,
            source: "bench".into(),
            source_seq: None,
        },
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
    let master = Key32::random();
    let clock = Arc::new(ManualClock::new(Timestamp::now()));
    let vault = Vault::open_with_clock(store, &StaticKeyProvider(master.clone()), clock.clone())
        .await
        .unwrap();
    let handler = Actor::operator(&operators::get_operator(vault.store(), op.id).await.unwrap());
    vault
        .link_operator(&Actor::cli(), op.id, Some(hp.id), None)
        .await
        .unwrap();
    let e = vault.totp_enroll(&handler, "h").await.unwrap();
    let secret = monban_vault::totp::from_base32(&e.secret_base32)
        .unwrap()
        .to_vec();
    let code = monban_vault::totp::code_at(
        &secret,
        monban_vault::totp::step_of(clock.now().as_second()),
    );
    vault.totp_confirm(&handler, &code).await.unwrap();
    Setup {
        vault,
        clock,
        handler,
        secret,
        employee: emp.id,
        master,
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn reveal_latency() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(testing::sqlite(dir.path()).await.unwrap()).await;
    let mut rng = rand::thread_rng();
    let rec = s
        .vault
        .register(
            &s.handler,
            NewRecord {
                person_id: s.employee,
                relation: Relation::Employee,
                dependent_label: None,
                doc_type: DocType::WithholdingSlip,
                purposes: vec![],
                basis_date: None,
                number: MyNumber::generate(&mut rng),
                number_check_doc: NumberCheckDoc::MyNumberCard,
                identity_check_doc: IdentityCheckDoc::MyNumberCard,
                checked_on: jiff::civil::date(2026, 4, 1),
            },
        )
        .await
        .unwrap();
    let mut times = Vec::new();
    for _ in 0..300 {
        s.clock.advance(30);
        let code = monban_vault::totp::code_at(
            &s.secret,
            monban_vault::totp::step_of(s.clock.now().as_second()),
        );
        let t = Instant::now();
        let r = s
            .vault
            .reveal(&s.handler, rec.id, "withholding_slip", &code)
            .await
            .unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        drop(r);
    }
    let mut t2 = times.clone();
    println!(
        "reveal through all gates + audit (vault API, SQLite file, 300 reveals): p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        pct(&mut times, 0.5),
        pct(&mut t2, 0.95),
        times.iter().cloned().fold(0.0, f64::max)
    );
}

async fn rewrap(store: Store, label: &str, n: i64) {
    let s = setup(store.clone()).await;
    // Bulk-load n records with real wrapped data keys (registering one by one would measure
    // registration, not rotation).
    let t = Instant::now();
    let mut w = store.begin_write().await.unwrap();
    for i in 1..=n {
        let dek = Key32::random();
        let ct =
            crypto::seal(&dek, &crypto::field_aad(i, "my_number", 1), b"000000000000").unwrap();
        let wrapped = crypto::wrap_key(&s.master, 1, &format!("record:{i}"), &dek).unwrap();
        sqlx::query("INSERT INTO vault_records (id, person_id, relation, doc_type, purposes, status, kek_version, dek_version, wrapped_dek, number_ct, number_check_doc, identity_check_doc, checked_on, created_by, created_at) VALUES ($1, $2, 'employee', 'withholding_slip', 'withholding_slip', 'active', 1, 1, $3, $4, 'my_number_card', 'my_number_card', '2026-04-01', 'bench', 0)")
            .bind(i)
            .bind(s.employee)
            .bind(wrapped)
            .bind(ct)
            .execute(w.conn())
            .await
            .unwrap();
    }
    w.commit().await.unwrap();
    let load = t.elapsed();
    let t = Instant::now();
    let rep = s
        .vault
        .rotate_master(&Actor::cli(), Key32::random(), None, "static")
        .await
        .unwrap();
    let took = t.elapsed();
    assert_eq!(rep.records, n as u64);
    println!(
        "rotation on {label}: re-wrapped {n} data keys in {:.2} s ({:.0} records/s; bulk load took {:.2} s)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        load.as_secs_f64()
    );
    store.close().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let n: i64 = std::env::var("VAULT_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    crypto_throughput();
    rt.block_on(async {
        reveal_latency().await;
        let dir = tempfile::tempdir().unwrap();
        rewrap(testing::sqlite(dir.path()).await.unwrap(), "SQLite", n).await;
        match testing::postgres().await {
            Ok(pg) => rewrap(pg, "PostgreSQL", n).await,
            Err(e) => println!("PostgreSQL skipped: {e}"),
        }
    });
}
