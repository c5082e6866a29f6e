//! Audit-log benchmark: durable appends (batched, each batch one committed transaction) on
//! SQLite or PostgreSQL, then inclusion and consistency proofs read from the database.
//!
//! `cargo run --release -p monban-store --example audit_bench -- sqlite 200000 1000`
//! `cargo run --release -p monban-store --example audit_bench -- postgres 200000 1000`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use monban_store::audit::{self, AuditRecord};
use monban_store::testing;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite");
    let total: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let batch: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let store = match backend {
        "postgres" => testing::postgres().await.unwrap(),
        _ => testing::sqlite(dir.path()).await.unwrap(),
    };
    let rec = |i: u64| AuditRecord {
        source: "controller:bench".into(),
        actor: format!("person:{}", i % 100_000),
        action: "door.access".into(),
        target: format!("door:{}", i % 1000),
        outcome: "ok".into(),
        device_time: Some(jiff::Timestamp::now()),
        details: vec![
            ("direction".into(), "in".into()),
            ("event_id".into(), i.to_string()),
        ],
        ..AuditRecord::default()
    };
    let start = Instant::now();
    let mut done = 0;
    while done < total {
        let n = batch.min(total - done);
        let records: Vec<AuditRecord> = (done..done + n).map(rec).collect();
        let mut w = store.begin_write().await.unwrap();
        audit::append_batch(&mut w, &records).await.unwrap();
        w.commit().await.unwrap();
        done += n;
        if done % (total / 10).max(1) == 0 {
            eprint!("\r{done}/{total}");
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!();
    println!(
        "{backend}: appended {total} leaves in batches of {batch}: {secs:.2} s, {:.0} leaves/s",
        total as f64 / secs
    );

    let (size, root) = audit::head(&store).await.unwrap();
    let n = 1000u64;
    let start = Instant::now();
    for i in 0..n {
        let seq = (i * 7919) % size;
        let proof = audit::inclusion_proof(&store, seq, size).await.unwrap();
        assert!(!proof.is_empty() || size == 1);
    }
    let incl = start.elapsed().as_secs_f64() / n as f64;
    let start = Instant::now();
    for i in 0..n {
        let from = 1 + (i * 104_729) % (size - 1);
        audit::consistency_proof(&store, from, size).await.unwrap();
    }
    let cons = start.elapsed().as_secs_f64() / n as f64;
    let r = audit::root_at(&store, size).await.unwrap();
    assert_eq!(r, root);
    println!("{backend}: tree of {size} leaves: inclusion proof {:.3} ms, consistency proof {:.3} ms (mean of {n}, read from the database)", incl * 1e3, cons * 1e3);
}
