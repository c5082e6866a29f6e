//! A scripted workload (register employees' and dependents' numbers, reveal, export, delete,
//! rotate the master key, print reports), then a scan of everything it left behind — the SQLite
//! database, its WAL and shared-memory files, every log line at TRACE level (sqlx included), the
//! export file, the audit log's leaves, the reports and the Debug output of what the API hands
//! around — for any of the workload's personal numbers in clear. None may be found.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use monban_store::testing;
use monban_vault::{Actor, DocType, ExportInput, ExportRecipient, MyNumber, Relation};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn forms(n: &MyNumber) -> Vec<Vec<u8>> {
    let ascii = n.expose().as_bytes().to_vec();
    let full: String = n
        .expose()
        .chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap())
        .collect();
    let utf16: Vec<u8> = n
        .expose()
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    vec![ascii, full.into_bytes(), utf16]
}

fn find(hay: &[u8], numbers: &[MyNumber]) -> usize {
    numbers
        .iter()
        .filter(|n| {
            forms(n)
                .iter()
                .any(|f| hay.windows(f.len()).any(|w| w == &f[..]))
        })
        .count()
}

#[tokio::test]
async fn no_number_in_clear_anywhere() {
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();

    let dir = tempfile::tempdir().unwrap();
    let store = testing::sqlite(dir.path()).await.unwrap();
    let w = world(store.clone()).await;
    let hs = enrol(&w, &w.handler).await;
    let mut rng = rand::thread_rng();
    let mut numbers = Vec::new();
    let mut records = Vec::new();
    let mut debug_text = String::new();

    // 取得: 10 employees, each with a dependent.
    for i in 0..10 {
        let person = create_person(&w.store, &format!("社員{i}"), &format!("W{i}")).await;
        let n = MyNumber::generate(&mut rng);
        let mut r = new_record(person, &n, DocType::DependentsDeclaration);
        r.basis_date = Some(jiff::civil::date(2015 + i as i16, 1, 20));
        debug_text.push_str(&format!("{r:?}"));
        let rec = w.vault.register(&w.handler, r).await.unwrap();
        debug_text.push_str(&format!("{rec:?}"));
        records.push(rec.id);
        numbers.push(n);
        let d = MyNumber::generate(&mut rng);
        let mut r = new_record(person, &d, DocType::DependentsDeclaration);
        r.relation = Relation::Dependent;
        r.dependent_label = Some("配偶者".into());
        r.number_check_doc = monban_vault::NumberCheckDoc::ByEmployee;
        r.identity_check_doc = monban_vault::IdentityCheckDoc::ByEmployee;
        let rec = w.vault.register(&w.handler, r).await.unwrap();
        records.push(rec.id);
        numbers.push(d);
    }
    // A duplicate attempt (refused) and bad input: the error messages hold no number.
    let dup = w
        .vault
        .register(
            &w.handler,
            new_record(w.employee, &numbers[0], DocType::DependentsDeclaration),
        )
        .await
        .unwrap_err();
    debug_text.push_str(&format!("{dup} {dup:?}"));

    // 利用: reveals, including refused ones.
    for id in records.iter().take(6) {
        let code = fresh_code(&w, &hs);
        let r = w
            .vault
            .reveal(&w.handler, *id, "withholding_slip", &code)
            .await
            .unwrap();
        debug_text.push_str(&format!("{r:?}"));
        tracing::info!(record = r.record_id, "revealed (test log line)");
    }
    let e = w
        .vault
        .reveal(&w.admin, records[0], "withholding_slip", "000000")
        .await
        .unwrap_err();
    debug_text.push_str(&format!("{e} {e:?}"));

    // 提供: an approved, age-encrypted export.
    let id = age::x25519::Identity::generate();
    let ex = w
        .vault
        .request_export(
            &w.handler,
            &ExportInput {
                record_ids: records[..4].to_vec(),
                purpose: "withholding_slip".into(),
                destination: "年金事務所".into(),
                recipient: ExportRecipient::AgePublicKey(id.to_public().to_string()),
            },
        )
        .await
        .unwrap();
    w.vault.approve_export(&w.officer, ex.id).await.unwrap();
    let code = fresh_code(&w, &hs);
    let file = w
        .vault
        .produce_export(&w.handler, ex.id, &code, None)
        .await
        .unwrap();
    debug_text.push_str(&format!("{file:?}"));

    // 削除・廃棄: the overdue ones, then a key rotation.
    let due = w
        .vault
        .due_for_deletion(&Actor::cli(), jiff::civil::date(2026, 6, 1))
        .await
        .unwrap();
    assert!(!due.is_empty());
    for d in &due {
        let req = w
            .vault
            .request_deletion(&w.handler, d.record.id, "保存期間満了")
            .await
            .unwrap();
        w.vault.confirm_deletion(&w.officer, req.id).await.unwrap();
    }
    w.vault
        .rotate_master(
            &Actor::cli(),
            monban_vault::crypto::Key32::random(),
            None,
            "static",
        )
        .await
        .unwrap();

    // Reports.
    let ledger = monban_vault::report::ledger_csv(&w.vault.ledger(&w.officer).await.unwrap());
    let due_csv = monban_vault::report::due_csv(
        &w.vault
            .due_for_deletion(&w.officer, jiff::civil::date(2040, 1, 1))
            .await
            .unwrap(),
    );
    let status = format!("{:?} {:?}", w.vault.status(), w.vault);

    // The audit log's leaves, as stored.
    let (size, _) = monban_store::audit::head(&w.store).await.unwrap();
    assert!(size > 40, "audit log has the workload ({size})");
    let mut audit_bytes = Vec::new();
    for (_, leaf) in monban_store::audit::leaves(&w.store, 0, size)
        .await
        .unwrap()
    {
        audit_bytes.extend_from_slice(&leaf);
    }

    // Close the database so every page is on disk, then read the files.
    w.store.close().await;
    drop(w);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        files.push((p.display().to_string(), std::fs::read(&p).unwrap()));
    }
    assert!(files
        .iter()
        .any(|(p, b)| p.ends_with("monban.sqlite3") && b.len() > 10_000));

    let log_bytes = logs.0.lock().unwrap().clone();
    assert!(!log_bytes.is_empty(), "logs were captured");
    // Sanity: the scanner does find a number where one is.
    let planted = format!("x{}y", &*numbers[0].expose());
    assert_eq!(find(planted.as_bytes(), &numbers), 1);

    for (name, bytes) in files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .chain([
            ("logs", log_bytes.as_slice()),
            ("export file", file.bytes.as_slice()),
            ("audit log", audit_bytes.as_slice()),
            ("ledger csv", ledger.as_slice()),
            ("due csv", due_csv.as_slice()),
            ("debug output", debug_text.as_bytes()),
            ("status", status.as_bytes()),
        ])
    {
        assert_eq!(
            find(bytes, &numbers),
            0,
            "a personal number in clear in {name}"
        );
    }
}
