//! Shared helpers of the API tests: a real server on a real SQLite file (or a given store),
//! logged-in sessions with their CSRF token, problem+json checks and a small facility.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use monban_core::OperatorRole;
use monban_server::{password, AppState, Bound, ServerConfig};
use monban_store::{operators, testing, Store};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

pub struct Server {
    pub base: String,
    pub store: Store,
    pub _dir: tempfile::TempDir,
}

pub const ADMIN_PW: &str = "correct horse battery staple";

pub async fn start_with(store: Store, dir: tempfile::TempDir) -> Server {
    for (user, role) in [
        ("admin", OperatorRole::Administrator),
        ("auditor", OperatorRole::Auditor),
        ("reception", OperatorRole::Reception),
    ] {
        let mut w = store.begin_write().await.unwrap();
        operators::create_operator(
            &mut w,
            user,
            user,
            role,
            &password::hash(ADMIN_PW).unwrap(),
            false,
        )
        .await
        .unwrap();
        w.commit().await.unwrap();
    }
    let bound = Bound::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = bound.local_addr();
    let mut cfg = ServerConfig::new(addr, dir.path().to_path_buf(), String::new());
    cfg.throttle_per_ip = 1000;
    let state = AppState::new(store.clone(), cfg);
    tokio::spawn(bound.serve(state, std::future::pending()));
    Server {
        base: format!("http://{addr}"),
        store,
        _dir: dir,
    }
}

pub async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::sqlite(dir.path()).await.unwrap();
    start_with(store, dir).await
}

/// A logged-in client: cookie and CSRF token.
pub struct Session {
    pub http: Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

pub async fn login(s: &Server, user: &str) -> Session {
    let http = Client::new();
    let r = http
        .post(format!("{}/api/auth/login", s.base))
        .json(&json!({"username": user, "password": ADMIN_PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    Session {
        http,
        base: s.base.clone(),
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().into(),
    }
}

impl Session {
    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Response {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send().await.unwrap()
    }
    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn raw_post(&self, path: &str, body: &str) -> Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }
}

/// Asserts a problem+json response with the given status and field, and returns it.
pub async fn problem(r: Response, status: StatusCode, field: Option<&str>) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], status.as_u16());
    assert!(
        v["detail"].as_str().unwrap().contains(" / "),
        "bilingual detail: {v}"
    );
    if let Some(f) = field {
        assert_eq!(v["field"], f, "{v}");
    }
    v
}

pub async fn count(s: &Session, path: &str) -> usize {
    s.get(path).await.json::<Vec<Value>>().await.unwrap().len()
}

/// Creates a site, two zones (office ⊃ handling) and a door; returns their ids.
pub async fn facility(a: &Session) -> (i64, i64, i64, i64) {
    let site: Value = a
        .post("/api/sites", json!({"name": "本社"}))
        .await
        .json()
        .await
        .unwrap();
    let site = site["id"].as_i64().unwrap();
    let office: Value = a
        .post(
            "/api/zones",
            json!({"site_id": site, "name": "執務室", "class": "general"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let office = office["id"].as_i64().unwrap();
    let handling = a.post("/api/zones", json!({"site_id": site, "parent_id": office, "name": "取扱区域", "class": "handling", "occupancy_limit": 4})).await;
    assert_eq!(handling.status(), StatusCode::CREATED);
    let handling: Value = handling.json().await.unwrap();
    assert_eq!(handling["class_ja"], "取扱区域");
    let door: Value = a
        .post(
            "/api/doors",
            json!({"site_id": site, "name": "正面", "to_zone_id": office, "reader_mode": "card"}),
        )
        .await
        .json()
        .await
        .unwrap();
    (
        site,
        office,
        handling["id"].as_i64().unwrap(),
        door["id"].as_i64().unwrap(),
    )
}
