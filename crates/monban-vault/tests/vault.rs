//! Storage-level tests of the vault on SQLite and on a real PostgreSQL: each reveal gate
//! refuses alone and is audited; deletion shreds; reports match what was done; rotation and a
//! wrong master key behave.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use monban_core::Direction;
use monban_store::{testing, Store};
use monban_vault::crypto::{self, Key32};
use monban_vault::{
    Actor, DocType, ExportInput, ExportRecipient, MyNumber, Refusal, SettingsChange,
    StaticKeyProvider, Vault, VaultError,
};
use sqlx::Row;

fn refused(r: Result<impl std::fmt::Debug, VaultError>, want: Refusal) {
    match r {
        Err(VaultError::Refused(got)) => assert_eq!(got, want),
        other => panic!("expected refusal {want:?}, got {other:?}"),
    }
}

async fn last_denial(store: &Store) -> (String, String, Option<String>) {
    let log = access_log(store).await;
    let (a, o, r, _) = log.last().unwrap().clone();
    assert_eq!(o, "denied");
    (a, o, r)
}

async fn gates(store: Store) {
    let w = world(store).await;
    let mut rng = rand::thread_rng();
    let n = MyNumber::generate(&mut rng);
    let rec = w
        .vault
        .register(
            &w.handler,
            new_record(w.employee, &n, DocType::WithholdingSlip),
        )
        .await
        .unwrap();
    assert_eq!(rec.number_display(), "登録済み / registered");
    let hs = enrol(&w, &w.handler).await;
    let admin_secret = enrol(&w, &w.admin).await;

    // Everything present: the reveal works and is audited.
    let code = fresh_code(&w, &hs);
    let r = w
        .vault
        .reveal(&w.handler, rec.id, "withholding_slip", &code)
        .await
        .unwrap();
    assert!(r.number == n, "revealed number differs");
    let log = access_log(&w.store).await;
    assert_eq!(log.last().unwrap().0, "reveal");
    assert_eq!(log.last().unwrap().1, "ok");
    assert_eq!(log.last().unwrap().3.as_deref(), Some("withholding_slip"));

    // 1. Role missing alone: an administrator with TOTP, presence and a lawful purpose.
    let code = fresh_code(&w, &admin_secret);
    refused(
        w.vault
            .reveal(&w.admin, rec.id, "withholding_slip", &code)
            .await,
        Refusal::Role,
    );
    assert_eq!(last_denial(&w.store).await.2.as_deref(), Some("role"));

    // 2. Purpose missing alone: unknown purpose, and a lawful one not registered for the record.
    let code = fresh_code(&w, &hs);
    refused(
        w.vault.reveal(&w.handler, rec.id, "marketing", &code).await,
        Refusal::PurposeUnknown,
    );
    assert_eq!(
        last_denial(&w.store).await.2.as_deref(),
        Some("purpose_unknown")
    );
    refused(
        w.vault.reveal(&w.handler, rec.id, "disaster", &code).await,
        Refusal::PurposeNotAllowed,
    );
    assert_eq!(
        last_denial(&w.store).await.2.as_deref(),
        Some("purpose_not_allowed")
    );

    // 3. Fresh second factor missing alone: wrong, expired, replayed, malformed.
    let good = fresh_code(&w, &hs);
    let wrong = if good == "000000" { "111111" } else { "000000" };
    refused(
        w.vault
            .reveal(&w.handler, rec.id, "withholding_slip", wrong)
            .await,
        Refusal::TotpInvalid,
    );
    assert_eq!(
        last_denial(&w.store).await.2.as_deref(),
        Some("totp_invalid")
    );
    let expired = monban_vault::totp::code_at(
        &hs,
        monban_vault::totp::step_of({
            use monban_vault::Clock;
            w.clock.now().as_second()
        }) - 5,
    );
    if expired != good {
        refused(
            w.vault
                .reveal(&w.handler, rec.id, "withholding_slip", &expired)
                .await,
            Refusal::TotpInvalid,
        );
    }
    w.vault
        .reveal(&w.handler, rec.id, "withholding_slip", &good)
        .await
        .unwrap();
    refused(
        w.vault
            .reveal(&w.handler, rec.id, "withholding_slip", &good)
            .await,
        Refusal::TotpReplayed,
    );
    assert_eq!(
        last_denial(&w.store).await.2.as_deref(),
        Some("totp_replayed")
    );
    refused(
        w.vault
            .reveal(&w.handler, rec.id, "withholding_slip", "12ab")
            .await,
        Refusal::TotpMalformed,
    );
    // An officer who never enrolled.
    refused(
        w.vault
            .reveal(&w.officer, rec.id, "withholding_slip", "123456")
            .await,
        Refusal::TotpNotEnrolled,
    );
    assert_eq!(
        last_denial(&w.store).await.2.as_deref(),
        Some("totp_not_enrolled")
    );

    // 4. Presence missing alone: the handler steps out into the general area.
    pass(&w, w.handler_person, w.handling_door, Direction::Out).await;
    let code = fresh_code(&w, &hs);
    refused(
        w.vault
            .reveal(&w.handler, rec.id, "withholding_slip", &code)
            .await,
        Refusal::OutsideArea,
    );
    assert_eq!(
        last_denial(&w.store).await.2.as_deref(),
        Some("outside_area")
    );
    // The TOTP code was consumed by the refused attempt.
    pass(&w, w.handler_person, w.handling_door, Direction::In).await;
    refused(
        w.vault
            .reveal(&w.handler, rec.id, "withholding_slip", &code)
            .await,
        Refusal::TotpReplayed,
    );
    // Five wrong codes so far: wait out the failure window.
    w.clock.advance(16 * 60);
    // Unlinked operator: presence cannot be checked.
    w.vault
        .link_operator(&Actor::cli(), w.handler.operator_id.unwrap(), None, None)
        .await
        .unwrap();
    let code = fresh_code(&w, &hs);
    refused(
        w.vault
            .reveal(&w.handler, rec.id, "withholding_slip", &code)
            .await,
        Refusal::NotLinked,
    );
    // With presence turned off for the site, the same operator (linked, outside) may reveal.
    w.vault
        .link_operator(
            &Actor::cli(),
            w.handler.operator_id.unwrap(),
            Some(w.handler_person),
            Some(w.site),
        )
        .await
        .unwrap();
    pass(&w, w.handler_person, w.handling_door, Direction::Out).await;
    w.vault
        .update_settings(
            &w.officer,
            &SettingsChange {
                site_presence: vec![(w.site, Some(false))],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let code = fresh_code(&w, &hs);
    w.vault
        .reveal(&w.handler, rec.id, "withholding_slip", &code)
        .await
        .unwrap();
    // A handler may not change settings; the refusal is audited.
    refused(
        w.vault
            .update_settings(&w.handler, &SettingsChange::default())
            .await,
        Refusal::OfficerOnly,
    );

    // Too many wrong codes block further attempts.
    for _ in 0..6 {
        let _ = w
            .vault
            .reveal(&w.handler, rec.id, "withholding_slip", wrong)
            .await;
    }
    let code = fresh_code(&w, &hs);
    refused(
        w.vault
            .reveal(&w.handler, rec.id, "withholding_slip", &code)
            .await,
        Refusal::TotpLocked,
    );

    // Every refusal above is in the access log with a reason, and the log holds no number.
    let log = access_log(&w.store).await;
    let denials = log.iter().filter(|l| l.1 == "denied").count();
    assert!(denials >= 14, "{denials}");
    assert!(log
        .iter()
        .filter(|l| l.1 == "denied")
        .all(|l| l.2.is_some()));
}

#[tokio::test]
async fn gates_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    gates(testing::sqlite(dir.path()).await.unwrap()).await;
}

#[tokio::test]
async fn gates_postgres() {
    gates(testing::postgres().await.unwrap()).await;
}

async fn lifecycle(store: Store) {
    let w = world(store).await;
    let mut rng = rand::thread_rng();
    let hs = enrol(&w, &w.handler).await;
    let n1 = MyNumber::generate(&mut rng);
    let n2 = MyNumber::generate(&mut rng);
    let dep = create_person(&w.store, "山田 花子", "E2").await;
    let mut r1 = new_record(w.employee, &n1, DocType::DependentsDeclaration);
    r1.basis_date = Some(jiff::civil::date(2017, 1, 20));
    let r1 = w.vault.register(&w.handler, r1).await.unwrap();
    assert_eq!(r1.due_date, Some(jiff::civil::date(2025, 1, 11)));
    let mut r2 = new_record(dep, &n2, DocType::SocialInsurance);
    r2.basis_date = Some(jiff::civil::date(2030, 3, 31));
    let r2 = w.vault.register(&w.handler, r2).await.unwrap();

    // Duplicates are found through the blind index.
    let again = w
        .vault
        .register(
            &w.handler,
            new_record(w.employee, &n1, DocType::DependentsDeclaration),
        )
        .await;
    assert!(matches!(again, Err(VaultError::Conflict(_))));
    let other = w
        .vault
        .register(&w.handler, new_record(dep, &n1, DocType::SocialInsurance))
        .await;
    assert!(matches!(other, Err(VaultError::Conflict(_))));

    // Due for deletion on 2026-01-01: only r1.
    let due = w
        .vault
        .due_for_deletion(&w.officer, jiff::civil::date(2026, 1, 1))
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|d| d.record.id).collect::<Vec<_>>(),
        vec![r1.id]
    );
    assert_eq!(due[0].days_overdue, 355);

    // Capture the wrapped key and ciphertext before deletion.
    let row = sqlx::query("SELECT wrapped_dek, number_ct FROM vault_records WHERE id = $1")
        .bind(r1.id)
        .fetch_one(w.store.pool())
        .await
        .unwrap();
    let wrapped: Vec<u8> = row.get("wrapped_dek");
    let ct: Vec<u8> = row.get("number_ct");

    // Deletion: requested by the handler, refused to the handler, confirmed by an officer.
    let d = w
        .vault
        .request_deletion(&w.handler, r1.id, "保存期間満了")
        .await
        .unwrap();
    assert_eq!(
        w.vault
            .due_for_deletion(&w.officer, jiff::civil::date(2026, 1, 1))
            .await
            .unwrap()[0]
            .pending_request,
        Some(d.id)
    );
    refused(
        w.vault.confirm_deletion(&w.handler, d.id).await,
        Refusal::OfficerOnly,
    );
    let done = w.vault.confirm_deletion(&w.officer, d.id).await.unwrap();
    assert_eq!(done.status, "done");
    assert_eq!(done.method.as_deref(), Some("crypto_shred"));
    assert_eq!(
        done.confirmed_by,
        w.officer.operator_id.map(|i| format!("operator:{i}"))
    );
    refused(
        w.vault.confirm_deletion(&w.officer2, d.id).await,
        Refusal::AlreadyDone,
    );

    // The record cannot be decrypted any more: the vault refuses, the row holds no key nor
    // ciphertext, and even the master key cannot open what the row held, for the data key is gone.
    let code = fresh_code(&w, &hs);
    refused(
        w.vault
            .reveal(&w.handler, r1.id, "withholding_slip", &code)
            .await,
        Refusal::RecordDeleted,
    );
    let row = sqlx::query(
        "SELECT wrapped_dek, number_ct, blind_index, status FROM vault_records WHERE id = $1",
    )
    .bind(r1.id)
    .fetch_one(w.store.pool())
    .await
    .unwrap();
    assert!(row.get::<Option<Vec<u8>>, _>("wrapped_dek").is_none());
    assert!(row.get::<Option<Vec<u8>>, _>("number_ct").is_none());
    assert!(row.get::<Option<String>, _>("blind_index").is_none());
    assert_eq!(row.get::<String, _>("status"), "deleted");
    // The old ciphertext is useless under the master key (it was never encrypted with it).
    for v in 0..4 {
        assert!(crypto::open(&w.master, &crypto::field_aad(r1.id, "my_number", v), &ct).is_err());
    }
    // Sanity: before deletion, the captured pair was decryptable with the master key.
    let dek = crypto::unwrap_key(&w.master, 1, &format!("record:{}", r1.id), &wrapped).unwrap();
    assert!(crypto::open(&dek, &crypto::field_aad(r1.id, "my_number", 1), &ct).is_ok());
    drop(dek);
    // No row anywhere in the vault still holds the wrapped key.
    let still: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM vault_records WHERE wrapped_dek = $1")
            .bind(&wrapped)
            .fetch_one(w.store.pool())
            .await
            .unwrap();
    assert_eq!(still, 0);

    // Self-confirmation is refused under the standard profile, allowed under the small-business one.
    let d2 = w
        .vault
        .request_deletion(&w.officer, r2.id, "退職")
        .await
        .unwrap();
    refused(
        w.vault.confirm_deletion(&w.officer, d2.id).await,
        Refusal::SamePerson,
    );
    w.vault
        .update_settings(
            &w.officer2,
            &SettingsChange {
                sme_profile: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    w.vault.confirm_deletion(&w.officer, d2.id).await.unwrap();

    // Ledger matches the actions: two records, both deleted, with officer and method; one reveal
    // never happened for r1, and r1 had no export.
    let ledger = w.vault.ledger(&w.officer).await.unwrap();
    assert_eq!(ledger.len(), 2);
    let l1 = ledger.iter().find(|l| l.record.id == r1.id).unwrap();
    assert!(l1.record.deleted);
    assert_eq!(l1.deletion_method.as_deref(), Some("crypto_shred"));
    assert_eq!(l1.reveals, 0);
    assert_eq!(l1.officers.len(), 2);
    assert_eq!(l1.access.len(), 3);
    assert_eq!(l1.employee_number.as_deref(), Some("E1"));
    let csv = monban_vault::report::ledger_csv(&ledger);
    assert_eq!(&csv[..3], &[0xEF, 0xBB, 0xBF]);
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.contains("扶養控除等（異動）申告書"));
    assert!(text.contains("削除済み"));
    assert!(w
        .vault
        .due_for_deletion(&w.officer, jiff::civil::date(2040, 1, 1))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn lifecycle_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    lifecycle(testing::sqlite(dir.path()).await.unwrap()).await;
}

#[tokio::test]
async fn lifecycle_postgres() {
    lifecycle(testing::postgres().await.unwrap()).await;
}

async fn export(store: Store) {
    let w = world(store).await;
    let mut rng = rand::thread_rng();
    let hs = enrol(&w, &w.handler).await;
    let n = MyNumber::generate(&mut rng);
    let rec = w
        .vault
        .register(
            &w.handler,
            new_record(w.employee, &n, DocType::WithholdingSlip),
        )
        .await
        .unwrap();
    let identity = age::x25519::Identity::generate();
    let input = ExportInput {
        record_ids: vec![rec.id],
        purpose: "withholding_slip".into(),
        destination: "○○税理士事務所".into(),
        recipient: ExportRecipient::AgePublicKey(identity.to_public().to_string()),
    };
    // Passphrase exports need the small-business profile.
    let pp = ExportInput {
        recipient: ExportRecipient::Passphrase,
        ..input.clone()
    };
    refused(
        w.vault.request_export(&w.handler, &pp).await,
        Refusal::PassphraseNotAllowed,
    );
    let e = w.vault.request_export(&w.handler, &input).await.unwrap();
    // Not approved yet: no file.
    let code = fresh_code(&w, &hs);
    refused(
        w.vault.produce_export(&w.handler, e.id, &code, None).await,
        Refusal::NotApproved,
    );
    refused(
        w.vault.approve_export(&w.handler, e.id).await,
        Refusal::OfficerOnly,
    );
    w.vault.approve_export(&w.officer, e.id).await.unwrap();
    let code = fresh_code(&w, &hs);
    let f = w
        .vault
        .produce_export(&w.handler, e.id, &code, None)
        .await
        .unwrap();
    assert_eq!(f.record_count, 1);
    // The file is age-encrypted: no clear digits, and the identity opens it.
    let digits = n.expose();
    assert!(!f.bytes.windows(12).any(|x| x == digits.as_bytes()));
    let dec = age::Decryptor::new(&f.bytes[..]).unwrap();
    let mut r = dec
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .unwrap();
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut r, &mut plain).unwrap();
    assert_eq!(&plain[..3], &[0xEF, 0xBB, 0xBF]);
    assert!(plain.windows(12).any(|x| x == digits.as_bytes()));
    // Made once only; recorded with who, what, when, how many, where.
    let code = fresh_code(&w, &hs);
    refused(
        w.vault.produce_export(&w.handler, e.id, &code, None).await,
        Refusal::AlreadyDone,
    );
    let ex = &w.vault.list_exports().await.unwrap()[0];
    assert_eq!(ex.status, "produced");
    assert_eq!(ex.record_count, Some(1));
    assert_eq!(ex.destination, "○○税理士事務所");
    assert!(ex.approved_by.is_some() && ex.produced_at.is_some());
    assert_eq!(ex.file_sha256.as_deref(), Some(f.sha256.as_str()));
    let ledger = w.vault.ledger(&w.officer).await.unwrap();
    assert_eq!(ledger[0].exports, 1);
}

#[tokio::test]
async fn export_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    export(testing::sqlite(dir.path()).await.unwrap()).await;
}

#[tokio::test]
async fn export_postgres() {
    export(testing::postgres().await.unwrap()).await;
}

async fn keys_and_rotation(store: Store) {
    let w = world(store.clone()).await;
    let mut rng = rand::thread_rng();
    let hs = enrol(&w, &w.handler).await;
    let n = MyNumber::generate(&mut rng);
    let rec = w
        .vault
        .register(
            &w.handler,
            new_record(w.employee, &n, DocType::WithholdingSlip),
        )
        .await
        .unwrap();

    // A wrong master key: the vault opens locked with a clear error; reads of metadata work.
    let wrong = Vault::open(store.clone(), &StaticKeyProvider(Key32::random()))
        .await
        .unwrap();
    assert!(!wrong.is_unlocked());
    let reason = wrong.status().locked_reason.unwrap();
    assert!(
        reason.contains("マスター鍵が一致しません") && reason.contains("wrong master key"),
        "{reason}"
    );
    assert_eq!(wrong.list_records(None).await.unwrap().len(), 1);
    let code = fresh_code(&w, &hs);
    assert!(matches!(
        wrong
            .reveal(&w.handler, rec.id, "withholding_slip", &code)
            .await,
        Err(VaultError::Locked(_))
    ));

    // Rotation re-wraps, the vault keeps working, the old key no longer opens it.
    let new_master = Key32::random();
    let rep = w
        .vault
        .rotate_master(&Actor::cli(), new_master.clone(), None, "static")
        .await
        .unwrap();
    assert_eq!(rep.records, 1);
    assert_eq!(rep.new_version, 2);
    let code = fresh_code(&w, &hs);
    let r = w
        .vault
        .reveal(&w.handler, rec.id, "withholding_slip", &code)
        .await
        .unwrap();
    assert!(r.number == n);
    let old = Vault::open(store.clone(), &StaticKeyProvider(w.master.clone()))
        .await
        .unwrap();
    assert!(!old.is_unlocked());
    let new = Vault::open(store.clone(), &StaticKeyProvider(new_master))
        .await
        .unwrap();
    assert!(new.is_unlocked());
    assert_eq!(new.status().key_version, Some(2));
    // The blind index survives rotation (duplicates still found).
    assert!(matches!(
        new.register(
            &w.handler,
            new_record(w.employee, &n, DocType::WithholdingSlip)
        )
        .await,
        Err(VaultError::Conflict(_))
    ));
}

#[tokio::test]
async fn keys_and_rotation_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    keys_and_rotation(testing::sqlite(dir.path()).await.unwrap()).await;
}

#[tokio::test]
async fn keys_and_rotation_postgres() {
    keys_and_rotation(testing::postgres().await.unwrap()).await;
}

#[tokio::test]
async fn key_file_and_passphrase_providers() {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::sqlite(dir.path()).await.unwrap();
    let kf = monban_vault::KeyFileProvider::in_data_dir(dir.path());
    let v = Vault::open(store.clone(), &kf).await.unwrap();
    assert!(v.is_unlocked());
    // Rotation to a staged key file; a restart finds the new key.
    let staged = kf.stage_new_key().unwrap();
    v.rotate_master(&Actor::cli(), staged, None, "key_file")
        .await
        .unwrap();
    use monban_vault::KeyProvider;
    kf.promote_alternate().unwrap();
    assert!(Vault::open(store.clone(), &kf).await.unwrap().is_unlocked());
    // A missing key file for an initialised vault: locked, no new key invented.
    let other = tempfile::tempdir().unwrap();
    let missing = monban_vault::KeyFileProvider::in_data_dir(other.path());
    let locked = Vault::open(store.clone(), &missing).await.unwrap();
    assert!(!locked.is_unlocked());
    assert!(!missing.path().exists());
    // Passphrase: a different passphrase leaves the vault locked.
    let dir2 = tempfile::tempdir().unwrap();
    let store2 = testing::sqlite(dir2.path()).await.unwrap();
    let params = || argon2::Params::new(1024, 1, 1, Some(32)).unwrap();
    let p1 = monban_vault::PassphraseProvider::with_params(
        zeroize::Zeroizing::new("first passphrase 1".into()),
        params(),
    )
    .unwrap();
    let p2 = monban_vault::PassphraseProvider::with_params(
        zeroize::Zeroizing::new("other passphrase 2".into()),
        params(),
    )
    .unwrap();
    assert!(Vault::open(store2.clone(), &p1)
        .await
        .unwrap()
        .is_unlocked());
    assert!(Vault::open(store2.clone(), &p1)
        .await
        .unwrap()
        .is_unlocked());
    assert!(!Vault::open(store2.clone(), &p2)
        .await
        .unwrap()
        .is_unlocked());
}

#[tokio::test]
async fn bad_numbers_are_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::sqlite(dir.path()).await.unwrap();
    let w = world(store).await;
    for bad in [
        "12345678901",
        "123456789019",
        "12345678901x",
        "１２３４５６７８９０１９",
    ] {
        let e = MyNumber::parse(bad).unwrap_err();
        assert_eq!(e.field, "number");
    }
    // Full-width valid digits are accepted after normalising.
    let n = MyNumber::parse("１２３４５６７８９０１８").unwrap();
    w.vault
        .register(
            &w.handler,
            new_record(w.employee, &n, DocType::WithholdingSlip),
        )
        .await
        .unwrap();
    assert_eq!(w.vault.list_records(None).await.unwrap().len(), 1);
    // A number in a free-text field is refused.
    let mut r = new_record(
        w.employee,
        &MyNumber::generate(&mut rand::thread_rng()),
        DocType::PaymentRecord,
    );
    r.relation = monban_vault::Relation::Dependent;
    r.dependent_label = Some("長男 123456789018".into());
    assert!(matches!(
        w.vault.register(&w.handler, r).await,
        Err(VaultError::Invalid(_))
    ));
    assert_eq!(w.vault.list_records(None).await.unwrap().len(), 1);
    // Role refused and audited for registration too.
    refused(
        w.vault
            .register(
                &w.admin,
                new_record(
                    w.employee,
                    &MyNumber::generate(&mut rand::thread_rng()),
                    DocType::PaymentRecord,
                ),
            )
            .await,
        Refusal::Role,
    );
    assert_eq!(w.vault.list_records(None).await.unwrap().len(), 1);
}
