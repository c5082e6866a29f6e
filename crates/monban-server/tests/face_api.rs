//! `POST /api/persons/{id}/face` over real HTTP: enrollment from base64 photos, bad photos named
//! by index, permissions, and the route refusing politely when the models are not loaded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use monban_core::OperatorRole;
use monban_face::model::default_cache_dir;
use monban_server::{password, AppState, Bound, ServerConfig};
use monban_store::people::{self, PersonInput};
use monban_store::{operators, testing, Store};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const PW: &str = "correct horse battery staple";

fn assets() -> bool {
    let ok = default_cache_dir().join("photos/person_a_1.jpg").is_file()
        && default_cache_dir()
            .join("models/face_recognition_sface_2021dec_int8bq.onnx")
            .is_file();
    if !ok {
        let msg = "face assets missing: run scripts/fetch-face-assets.sh";
        if std::env::var("MONBAN_REQUIRE_FACE_ASSETS").as_deref() == Ok("1") {
            panic!("{msg} (MONBAN_REQUIRE_FACE_ASSETS=1)");
        }
        eprintln!("SKIPPED face_api: {msg}");
    }
    ok
}

async fn start(with_face: bool) -> (String, Store, i64, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::sqlite(dir.path()).await.unwrap();
    let mut w = store.begin_write().await.unwrap();
    for (u, r) in [
        ("admin", OperatorRole::Administrator),
        ("auditor", OperatorRole::Auditor),
    ] {
        operators::create_operator(&mut w, u, u, r, &password::hash(PW).unwrap(), false)
            .await
            .unwrap();
    }
    let p = people::create_person(
        &mut w,
        &PersonInput::employee("F001", "顔 太郎", "カオ タロウ"),
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
    let bound = Bound::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = bound.local_addr();
    let cfg = ServerConfig::new(addr, dir.path().to_path_buf(), String::new());
    let mut state = AppState::new(store.clone(), cfg);
    if with_face {
        state = state.with_face(
            monban_face::FaceService::open(&store, dir.path())
                .await
                .unwrap(),
        );
    }
    tokio::spawn(bound.serve(state, std::future::pending()));
    (format!("http://{addr}"), store, p.id, dir)
}

async fn login(base: &str, user: &str) -> (Client, String, String) {
    let http = Client::new();
    let r = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": user, "password": PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let body: Value = r.json().await.unwrap();
    (
        http,
        cookie,
        body["csrf_token"].as_str().unwrap().to_string(),
    )
}

async fn post(
    base: &str,
    s: &(Client, String, String),
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r =
        s.0.post(format!("{base}{path}"))
            .header("cookie", &s.1)
            .header("x-csrf-token", &s.2)
            .json(&body)
            .send()
            .await
            .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn b64(name: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(default_cache_dir().join("photos").join(name)).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolls_a_face_over_the_api() {
    if !assets() {
        return;
    }
    let (base, store, pid, _dir) = start(true).await;
    let admin = login(&base, "admin").await;
    let path = format!("/api/persons/{pid}/face");
    // Two photos (one is ~240 KB of base64: over the API's general body limit).
    let (st, body) = post(
        &base,
        &admin,
        &path,
        json!({"photos": [b64("person_b_1.jpg"), b64("person_b_2.jpg")]}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert_eq!(body["photos"].as_array().unwrap().len(), 2);
    assert_eq!(body["photos_kept"], 0);
    let tref = body["template_ref"].as_str().unwrap().to_string();
    let cred = people::get_credential(&store, body["credential_id"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(cred.face_template_ref.as_deref(), Some(tref.as_str()));
    let (seq, _) = monban_store::audit::head(&store).await.unwrap();
    let last = monban_store::audit::entry(&store, seq - 1).await.unwrap();
    assert_eq!(last.action, "face.enroll");
    assert!(last.actor.starts_with("operator:"));
    // Bad photos: named by index, nothing stored.
    let (st, body) = post(
        &base,
        &admin,
        &path,
        json!({"photos": [b64("person_b_1.jpg"), "bm90IGFuIGltYWdl"]}),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "photos[1]");
    let (st, body) = post(&base, &admin, &path, json!({"photos": ["***"]})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (st, _) = post(&base, &admin, &path, json!({"photos": []})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, _) = post(
        &base,
        &admin,
        "/api/persons/999999/face",
        json!({"photos": [b64("person_b_1.jpg")]}),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // An auditor may not enroll.
    let auditor = login(&base, "auditor").await;
    let (st, _) = post(
        &base,
        &auditor,
        &path,
        json!({"photos": [b64("person_b_1.jpg")]}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM face_templates")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn without_models_the_route_says_what_to_do() {
    let (base, _store, pid, _dir) = start(false).await;
    let admin = login(&base, "admin").await;
    let (st, body) = post(
        &base,
        &admin,
        &format!("/api/persons/{pid}/face"),
        json!({"photos": ["AAAA"]}),
    )
    .await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.to_string().contains("fetch-face-assets.sh"), "{body}");
}
