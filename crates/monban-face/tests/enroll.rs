//! Enrollment: templates stored encrypted, a face credential created, an audit record in the
//! same transaction, photos discarded unless kept on purpose. SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use monban_core::CredentialKind;
use monban_face::recognize::DIM;
use monban_face::templates::{self, Enrollment, TemplateKey};
use monban_face::{Embedding, FaceError, FacePolicy};
use monban_store::people::{self, PersonInput};
use monban_store::{testing, Store};
use sqlx::Row;

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

async fn person(s: &Store, name: &str) -> i64 {
    let mut w = s.begin_write().await.unwrap();
    let p = people::create_person(
        &mut w,
        &PersonInput::employee(
            format!(
                "E{}",
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
            name,
            "テスト",
        ),
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
    p.id
}

fn synthetic(i: usize) -> Embedding {
    let mut v = [0.02f32; DIM];
    v[i] = 1.0;
    Embedding::from_raw(&v).unwrap()
}

async fn scenario(s: &Store) {
    templates::migrate(s).await.unwrap();
    templates::migrate(s).await.unwrap(); // idempotent
    let key = TemplateKey::random();
    let alice = person(s, "山田花子").await;
    let bob = person(s, "佐藤一郎").await;
    let (audit_before, _) = monban_store::audit::head(s).await.unwrap();
    let e = [synthetic(3), synthetic(3)];
    let enrolled = templates::enroll(
        s,
        &key,
        &Enrollment {
            person_id: alice,
            embeddings: &e,
            keep_photos: None,
            source: "cli".into(),
            actor: "system".into(),
            request_id: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(enrolled.credential.kind, CredentialKind::Face);
    assert_eq!(
        enrolled.credential.face_template_ref.as_deref(),
        Some(enrolled.template_ref.as_str())
    );
    assert_eq!(enrolled.photos_kept, 0);
    let photo = vec![vec![0xffu8, 0xd8, 1, 2, 3]];
    let kept = templates::enroll(
        s,
        &key,
        &Enrollment {
            person_id: bob,
            embeddings: &[synthetic(9)],
            keep_photos: Some(&photo),
            source: "api".into(),
            actor: "operator:1".into(),
            request_id: Some("req-1".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(kept.photos_kept, 1);
    // Audited, one record per enrollment.
    let (audit_after, _) = monban_store::audit::head(s).await.unwrap();
    assert_eq!(audit_after, audit_before + 2);
    let entry = monban_store::audit::entry(s, audit_before).await.unwrap();
    assert_eq!(entry.action, "face.enroll");
    assert_eq!(entry.target, format!("person:{alice}"));
    // Stored encrypted: the plaintext floats appear nowhere in the row.
    let row = sqlx::query("SELECT ciphertext FROM face_templates WHERE template_ref = $1")
        .bind(&enrolled.template_ref)
        .fetch_one(s.pool())
        .await
        .unwrap();
    let ct: Vec<u8> = row.try_get("ciphertext").unwrap();
    let plain = synthetic(3).to_bytes();
    assert!(!ct.windows(16).any(|w| plain.windows(16).any(|p| p == w)));
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM face_images WHERE template_ref = $1")
        .bind(&enrolled.template_ref)
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(n, 0, "no photo kept without opt-in");
    assert_eq!(
        templates::kept_photos(s, &key, &kept.template_ref)
            .await
            .unwrap()[0]
            .as_slice(),
        &photo[0][..]
    );
    // Gallery decrypts both; a wrong key is refused.
    let g = templates::load_gallery(s, &key).await.unwrap();
    assert_eq!(g.len(), 2);
    let hit = g.best(&synthetic(3)).unwrap();
    assert_eq!(hit.owner.person_id, alice);
    assert!(hit.score > 0.99);
    assert!(matches!(
        templates::load_gallery(s, &TemplateKey::random()).await,
        Err(FaceError::Template(_))
    ));
    // A revoked credential leaves the gallery.
    let mut w = s.begin_write().await.unwrap();
    people::set_credential_status(
        &mut w,
        enrolled.credential.id,
        monban_core::CredentialStatus::Revoked,
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
    assert_eq!(templates::load_gallery(s, &key).await.unwrap().len(), 1);
    // Unknown person and no photos: errors, nothing written.
    let err = templates::enroll(
        s,
        &key,
        &Enrollment {
            person_id: 999_999,
            embeddings: &[synthetic(1)],
            keep_photos: None,
            source: "cli".into(),
            actor: "system".into(),
            request_id: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        err.is_bad_input() || matches!(err, FaceError::Store(_)),
        "{err}"
    );
    let err = templates::enroll(
        s,
        &key,
        &Enrollment {
            person_id: alice,
            embeddings: &[],
            keep_photos: None,
            source: "cli".into(),
            actor: "system".into(),
            request_id: None,
        },
    )
    .await
    .unwrap_err();
    assert!(err.is_bad_input());
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM face_templates")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(count, 2);
    assert_eq!(monban_store::audit::head(s).await.unwrap().0, audit_after);
}

#[tokio::test]
async fn enrollment_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = testing::sqlite(dir.path()).await.unwrap();
    scenario(&sqlite).await;
    let pg = testing::postgres().await.unwrap_or_else(|e| panic!("{e}"));
    scenario(&pg).await;
}

#[tokio::test]
async fn enrolling_real_photos_finds_the_person() {
    if !assets_present("enroll_real") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = testing::sqlite(dir.path()).await.unwrap();
    templates::migrate(&s).await.unwrap();
    let key = TemplateKey::load_or_create(&TemplateKey::path_in(dir.path())).unwrap();
    let eng = engine();
    let mut ids = Vec::new();
    for p in ["person_a_1.jpg", "person_b_1.jpg"] {
        let pid = person(&s, p).await;
        let bytes = std::fs::read(photos_dir().join(p)).unwrap();
        let e = eng
            .embed_bytes(&bytes, FacePolicy::Single)
            .unwrap()
            .embedding;
        templates::enroll(
            &s,
            &key,
            &Enrollment {
                person_id: pid,
                embeddings: &[e],
                keep_photos: None,
                source: "cli".into(),
                actor: "system".into(),
                request_id: None,
            },
        )
        .await
        .unwrap();
        ids.push(pid);
    }
    let g = templates::load_gallery(&s, &key).await.unwrap();
    let probe = eng
        .embed(&photo("person_b_2.jpg"), FacePolicy::Largest)
        .unwrap()
        .embedding;
    let hit = g.best(&probe).unwrap();
    assert_eq!(hit.owner.person_id, ids[1]);
    assert!(eng.is_match(hit.score));
}
