//! API tests against a real server on a real SQLite file (and PostgreSQL where noted), over
//! real HTTP: logins, role checks, CSRF, lockout, and each kind of bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use monban_core::OperatorRole;
use monban_server::{password, AppState, Bound, ServerConfig};
use monban_store::{operators, testing};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn crud_happy_path() {
    let s = start().await;
    let a = login(&s, "admin").await;
    let (_site, office, handling, _door) = facility(&a).await;
    let p = a.post("/api/persons", json!({"kind": "employee", "employee_number": "E1", "name_kanji": "山田 太郎", "name_kana": "ヤマダ タロウ", "department": "人事部", "valid_from": "2026-04-01"})).await;
    assert_eq!(p.status(), StatusCode::CREATED);
    let p: Value = p.json().await.unwrap();
    let pid = p["id"].as_i64().unwrap();
    let c = a
        .post(
            "/api/credentials",
            json!({"person_id": pid, "kind": "card", "card_id": "01:14:a0:00:00:00:00:01"}),
        )
        .await;
    assert_eq!(c.status(), StatusCode::CREATED);
    let c: Value = c.json().await.unwrap();
    assert_eq!(c["card_id"], "0114A00000000001");
    let pin = a
        .post(
            "/api/credentials",
            json!({"person_id": pid, "kind": "pin", "pin": "４８２１"}),
        )
        .await;
    assert_eq!(pin.status(), StatusCode::CREATED);
    let pin: Value = pin.json().await.unwrap();
    assert_eq!(pin["has_pin"], true);
    assert!(
        pin.get("pin").is_none() && !pin.to_string().contains("4821"),
        "PIN never returned: {pin}"
    );
    let g = a
        .post(
            "/api/access-groups",
            json!({"name": "取扱担当", "schedule": {"name": "平日", "windows": [{"days": ["mon","tue","wed","thu","fri"], "start": "08:00", "end": "20:00"}], "exceptions": [{"date": "2026-12-29", "closed": true, "label": "年末年始"}]}, "zone_ids": [office, handling], "person_ids": [pid]}),
        )
        .await;
    assert_eq!(g.status(), StatusCode::CREATED);
    let g: Value = g.json().await.unwrap();
    assert_eq!(g["zone_ids"], json!([office, handling]));
    assert_eq!(g["schedule"]["time_zone"], "Asia/Tokyo");
    let upd = a.send(reqwest::Method::PUT, &format!("/api/persons/{pid}"), Some(json!({"kind": "employee", "employee_number": "E1", "name_kanji": "山田 太郎", "name_kana": "ヤマダ タロウ", "department": "総務部"}))).await;
    assert_eq!(upd.status(), StatusCode::OK);
    let got: Value = a
        .get(&format!("/api/persons/{pid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["department"], "総務部");
    let st = a
        .send(
            reqwest::Method::PUT,
            &format!("/api/credentials/{}/status", c["id"]),
            Some(json!({"status": "lost"})),
        )
        .await;
    assert_eq!(st.status(), StatusCode::NO_CONTENT);
    let hol: Vec<Value> = a.get("/api/holidays?year=2026").await.json().await.unwrap();
    assert!(
        hol.iter()
            .any(|h| h["date"] == "2026-09-22" && h["name_ja"] == "国民の休日"),
        "{hol:?}"
    );
    assert_eq!(count(&a, "/api/presence").await, 2);
    let del = a
        .send(
            reqwest::Method::DELETE,
            &format!("/api/persons/{pid}"),
            None,
        )
        .await;
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    assert_eq!(count(&a, "/api/persons").await, 0);
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let s = start().await;
    let a = login(&s, "admin").await;
    let (site, office, handling, door) = facility(&a).await;
    let p: Value = a.post("/api/persons", json!({"kind": "employee", "employee_number": "E1", "name_kanji": "山田", "name_kana": "ヤマダ"})).await.json().await.unwrap();
    let pid = p["id"].as_i64().unwrap();
    assert_eq!(
        a.post(
            "/api/credentials",
            json!({"person_id": pid, "kind": "card", "card_id": "0114A00000000001"})
        )
        .await
        .status(),
        StatusCode::CREATED
    );

    // Malformed JSON.
    problem(
        a.raw_post("/api/persons", "{\"kind\": \"employee\",").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("body"),
    )
    .await;
    // Not JSON at all.
    let r = a
        .http
        .post(format!("{}/api/persons", a.base))
        .header("cookie", &a.cookie)
        .header("x-csrf-token", &a.csrf)
        .body("kind=employee")
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNPROCESSABLE_ENTITY, Some("body")).await;
    // Unknown field.
    let v = problem(a.post("/api/persons", json!({"kind": "employee", "employee_number": "E2", "name_kanji": "x", "name_kana": "エックス", "nickname": "x"})).await, StatusCode::UNPROCESSABLE_ENTITY, None).await;
    assert!(v["detail"].as_str().unwrap().contains("nickname"), "{v}");
    // Wrong type names the field.
    problem(
        a.post(
            "/api/zones",
            json!({"site_id": "one", "name": "x", "class": "general"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("site_id"),
    )
    .await;
    // Over-long string.
    problem(a.post("/api/persons", json!({"kind": "employee", "employee_number": "E3", "name_kanji": "長".repeat(101), "name_kana": "ナガ"})).await, StatusCode::UNPROCESSABLE_ENTITY, Some("name_kanji")).await;
    // Oversized body.
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(300 * 1024));
    problem(
        a.raw_post("/api/sites", &big).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("body"),
    )
    .await;
    // Invalid dates: not a date, and an impossible one.
    problem(a.post("/api/persons", json!({"kind": "employee", "employee_number": "E4", "name_kanji": "x", "name_kana": "エックス", "valid_from": "2026-02-30"})).await, StatusCode::UNPROCESSABLE_ENTITY, Some("valid_from")).await;
    problem(a.post("/api/persons", json!({"kind": "employee", "employee_number": "E4", "name_kanji": "x", "name_kana": "エックス", "valid_until": "tomorrow"})).await, StatusCode::UNPROCESSABLE_ENTITY, Some("valid_until")).await;
    // Validity ending before it starts.
    problem(a.post("/api/persons", json!({"kind": "employee", "employee_number": "E4", "name_kanji": "x", "name_kana": "エックス", "valid_from": "2026-05-01", "valid_until": "2026-04-01"})).await, StatusCode::UNPROCESSABLE_ENTITY, Some("valid_until")).await;
    // Unknown enum value.
    problem(
        a.post(
            "/api/zones",
            json!({"site_id": site, "name": "倉庫", "class": "secret"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("class"),
    )
    .await;
    // Invalid time windows: end before start, bad time, empty days.
    let sched = |w: Value| json!({"name": "g", "schedule": {"name": "s", "windows": [w]}, "zone_ids": [office]});
    problem(
        a.post(
            "/api/access-groups",
            sched(json!({"days": ["mon"], "start": "18:00", "end": "09:00"})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("schedule.windows[0].end"),
    )
    .await;
    problem(
        a.post(
            "/api/access-groups",
            sched(json!({"days": ["mon"], "start": "25:00", "end": "10:00"})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("schedule.windows[0].start"),
    )
    .await;
    problem(
        a.post(
            "/api/access-groups",
            sched(json!({"days": [], "start": "09:00", "end": "10:00"})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("schedule.windows[0].days"),
    )
    .await;
    // Duplicate card identifier, written differently.
    problem(
        a.post(
            "/api/credentials",
            json!({"person_id": pid, "kind": "card", "card_id": "01-14-a0-00-00-00-00-01"}),
        )
        .await,
        StatusCode::CONFLICT,
        Some("card_id"),
    )
    .await;
    // Malformed card identifier.
    problem(
        a.post(
            "/api/credentials",
            json!({"person_id": pid, "kind": "card", "card_id": "XYZ"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("card_id"),
    )
    .await;
    // PIN shorter than 4 digits, and non-digits.
    problem(
        a.post(
            "/api/credentials",
            json!({"person_id": pid, "kind": "pin", "pin": "123"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("pin"),
    )
    .await;
    problem(
        a.post(
            "/api/credentials",
            json!({"person_id": pid, "kind": "pin", "pin": "12a4"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("pin"),
    )
    .await;
    // A zone cycle.
    problem(a.send(reqwest::Method::PUT, &format!("/api/zones/{office}"), Some(json!({"site_id": site, "parent_id": handling, "name": "執務室", "class": "general"}))).await, StatusCode::UNPROCESSABLE_ENTITY, Some("parent_id")).await;
    // Deleting a zone that a door uses.
    problem(
        a.send(
            reqwest::Method::DELETE,
            &format!("/api/zones/{office}"),
            None,
        )
        .await,
        StatusCode::CONFLICT,
        Some("id"),
    )
    .await;
    // A door into the zone it comes from.
    problem(a.post("/api/doors", json!({"site_id": site, "name": "変な扉", "from_zone_id": office, "to_zone_id": office, "reader_mode": "card"})).await, StatusCode::UNPROCESSABLE_ENTITY, Some("to_zone_id")).await;
    // Not found.
    problem(
        a.get("/api/persons/999999").await,
        StatusCode::NOT_FOUND,
        None,
    )
    .await;

    // Nothing changed.
    assert_eq!(count(&a, "/api/persons").await, 1);
    assert_eq!(count(&a, "/api/credentials").await, 1);
    assert_eq!(count(&a, "/api/access-groups").await, 0);
    assert_eq!(count(&a, "/api/zones").await, 2);
    assert_eq!(count(&a, "/api/doors").await, 1);
    let z: Value = a
        .get(&format!("/api/zones/{office}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(z["parent_id"], Value::Null);
    let _ = door;
}

#[tokio::test]
async fn sessions_roles_and_csrf() {
    let s = start().await;
    // No session.
    let anon = Client::new();
    let r = anon
        .get(format!("{}/api/persons", s.base))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNAUTHORIZED, None).await;
    let r = anon
        .get(format!("{}/api/events/stream", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A forged cookie.
    let r = anon
        .get(format!("{}/api/auth/me", s.base))
        .header("cookie", "monban_session=deadbeef")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let a = login(&s, "admin").await;
    // Missing or wrong CSRF token on a change.
    let r = a
        .http
        .post(format!("{}/api/sites", a.base))
        .header("cookie", &a.cookie)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::FORBIDDEN, None).await;
    let r = a
        .http
        .post(format!("{}/api/sites", a.base))
        .header("cookie", &a.cookie)
        .header("x-csrf-token", "nope")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::FORBIDDEN, None).await;
    assert_eq!(count(&a, "/api/sites").await, 0);

    // The auditor reads but cannot change; reception cannot manage people or operators.
    let au = login(&s, "auditor").await;
    assert_eq!(au.get("/api/persons").await.status(), StatusCode::OK);
    problem(au.post("/api/persons", json!({"kind": "employee", "employee_number": "E9", "name_kanji": "x", "name_kana": "エックス"})).await, StatusCode::FORBIDDEN, None).await;
    problem(
        au.post("/api/sites", json!({"name": "x"})).await,
        StatusCode::FORBIDDEN,
        None,
    )
    .await;
    let re = login(&s, "reception").await;
    problem(re.get("/api/operators").await, StatusCode::FORBIDDEN, None).await;
    assert_eq!(count(&a, "/api/persons").await, 0);

    // Operators: create, then the new one must log in with the given password.
    let r = a.post("/api/operators", json!({"username": "handler1", "display_name": "担当者", "role": "handler", "password": "short"})).await;
    problem(r, StatusCode::UNPROCESSABLE_ENTITY, Some("password")).await;
    let r = a.post("/api/operators", json!({"username": "handler1", "display_name": "担当者", "role": "handler", "password": ADMIN_PW})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let h = login(&s, "handler1").await;
    let me: Value = h.get("/api/auth/me").await.json().await.unwrap();
    assert_eq!(me["operator"]["role_ja"], "事務取扱担当者");

    // Logout ends the session.
    let r = h
        .send(reqwest::Method::POST, "/api/auth/logout", None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        h.get("/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn lockout_and_one_time_passwords() {
    let s = start().await;
    let http = Client::new();
    let try_login = |pw: &'static str| {
        let http = http.clone();
        let url = format!("{}/api/auth/login", s.base);
        async move {
            http.post(url)
                .json(&json!({"username": "auditor", "password": pw}))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..4 {
        problem(try_login("wrong").await, StatusCode::UNAUTHORIZED, None).await;
    }
    // The fifth failure locks the account; then even the right password is refused.
    problem(try_login("wrong").await, StatusCode::LOCKED, None).await;
    problem(try_login(ADMIN_PW).await, StatusCode::LOCKED, None).await;
    let locked = operators::operator_by_username(&s.store, "auditor")
        .await
        .unwrap()
        .unwrap();
    assert!(locked.locked_until.is_some());
    // Unknown users get the same answer as wrong passwords.
    let r = http
        .post(format!("{}/api/auth/login", s.base))
        .json(&json!({"username": "ghost", "password": "x"}))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNAUTHORIZED, None).await;

    // An operator with a one-time password must change it before doing anything else.
    let mut w = s.store.begin_write().await.unwrap();
    operators::create_operator(
        &mut w,
        "newbie",
        "新人",
        OperatorRole::Reception,
        &password::hash(ADMIN_PW).unwrap(),
        true,
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
    let n = login(&s, "newbie").await;
    problem(n.get("/api/persons").await, StatusCode::FORBIDDEN, None).await;
    problem(
        n.post(
            "/api/auth/password",
            json!({"current_password": ADMIN_PW, "new_password": "short"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("new_password"),
    )
    .await;
    problem(
        n.post(
            "/api/auth/password",
            json!({"current_password": "wrong", "new_password": "a much longer password"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("current_password"),
    )
    .await;
    assert_eq!(
        n.post(
            "/api/auth/password",
            json!({"current_password": ADMIN_PW, "new_password": "a much longer password"})
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(n.get("/api/persons").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn login_throttle_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::sqlite(dir.path()).await.unwrap();
    let bound = Bound::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = bound.local_addr();
    let mut cfg = ServerConfig::new(addr, dir.path().to_path_buf(), String::new());
    cfg.throttle_per_ip = 3;
    tokio::spawn(bound.serve(AppState::new(store, cfg), std::future::pending()));
    let http = Client::new();
    for _ in 0..3 {
        let r = http
            .post(format!("http://{addr}/api/auth/login"))
            .json(&json!({"username": "nobody", "password": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = http
        .post(format!("http://{addr}/api/auth/login"))
        .json(&json!({"username": "nobody", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("retry-after").is_some());
    problem(r, StatusCode::TOO_MANY_REQUESTS, None).await;
}

#[tokio::test]
async fn openapi_lists_every_route() {
    let s = start().await;
    let doc: Value = Client::new()
        .get(format!("{}/api/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/api/auth/login", "post"),
        ("/api/auth/logout", "post"),
        ("/api/auth/me", "get"),
        ("/api/auth/password", "post"),
        ("/api/sites", "get"),
        ("/api/sites", "post"),
        ("/api/sites/{id}", "get"),
        ("/api/zones", "get"),
        ("/api/zones", "post"),
        ("/api/zones/{id}", "get"),
        ("/api/zones/{id}", "put"),
        ("/api/zones/{id}", "delete"),
        ("/api/doors", "get"),
        ("/api/doors", "post"),
        ("/api/doors/{id}", "get"),
        ("/api/doors/{id}", "delete"),
        ("/api/persons", "get"),
        ("/api/persons", "post"),
        ("/api/persons/{id}", "get"),
        ("/api/persons/{id}", "put"),
        ("/api/persons/{id}", "delete"),
        ("/api/credentials", "get"),
        ("/api/credentials", "post"),
        ("/api/credentials/{id}", "delete"),
        ("/api/credentials/{id}/status", "put"),
        ("/api/access-groups", "get"),
        ("/api/access-groups", "post"),
        ("/api/access-groups/{id}", "get"),
        ("/api/access-groups/{id}", "put"),
        ("/api/access-groups/{id}", "delete"),
        ("/api/operators", "get"),
        ("/api/operators", "post"),
        ("/api/operators/{id}", "put"),
        ("/api/presence", "get"),
        ("/api/events", "get"),
        ("/api/events/stream", "get"),
        ("/api/holidays", "get"),
        ("/api/health", "get"),
        ("/api/audit/checkpoint", "get"),
        ("/api/audit/checkpoint", "post"),
        ("/api/audit/proof/inclusion", "get"),
        ("/api/audit/proof/consistency", "get"),
        ("/api/audit/entries", "get"),
        ("/api/controllers", "get"),
        ("/api/controllers", "post"),
        ("/api/controllers/{id}/revoke", "post"),
        ("/api/controllers/{id}/code", "post"),
        ("/api/zones/{id}/rules", "get"),
        ("/api/zones/{id}/rules", "put"),
        ("/api/interlocks", "post"),
        ("/api/lockdown", "post"),
        ("/api/alarms", "get"),
        ("/api/persons/{id}/forgive", "post"),
        ("/api/whatif", "post"),
    ];
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    // Every documented operation is a real route: it answers, never the 404 fallback or 405.
    // (Routes are registered through utoipa-axum, so a route cannot exist undocumented.)
    let mut documented = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            documented += 1;
            let url = format!("{}{}", s.base, fill_params(path));
            let r = Client::new()
                .request(method.to_uppercase().parse().unwrap(), url)
                .send()
                .await
                .unwrap();
            assert_ne!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
            assert_ne!(
                r.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
        }
    }
    assert!(documented >= expected.len());
}

#[tokio::test]
async fn api_works_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::postgres().await.unwrap();
    let s = start_with(store, dir).await;
    let a = login(&s, "admin").await;
    let (_site, _office, _handling, _door) = facility(&a).await;
    let p = a
        .post(
            "/api/persons",
            json!({"kind": "visitor", "name_kanji": "来訪 花子", "name_kana": "ライホウ ハナコ"}),
        )
        .await;
    assert_eq!(p.status(), StatusCode::CREATED);
    let pid = p.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert_eq!(
        a.post(
            "/api/credentials",
            json!({"person_id": pid, "kind": "card", "card_id": "04A1B2C3"})
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    problem(
        a.post(
            "/api/credentials",
            json!({"person_id": pid, "kind": "card", "card_id": "04a1b2c3"}),
        )
        .await,
        StatusCode::CONFLICT,
        Some("card_id"),
    )
    .await;
    assert_eq!(count(&a, "/api/credentials").await, 1);
}

#[tokio::test]
async fn operator_actions_are_audited_and_provable() {
    use base64::Engine as _;
    let s = start().await;
    let a = login(&s, "admin").await;
    let r = a.post("/api/persons", json!({"kind": "employee", "employee_number": "E1", "name_kanji": "山田", "name_kana": "ヤマダ"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().get("x-request-id").is_some());
    let _ = Client::new()
        .post(format!("{}/api/auth/login", s.base))
        .json(&json!({"username": "admin", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    let au = login(&s, "auditor").await;
    let entries: Vec<Value> = au
        .get("/api/audit/entries?limit=500")
        .await
        .json()
        .await
        .unwrap();
    let create = entries
        .iter()
        .find(|e| e["action"] == "person.create")
        .expect("person.create audited");
    assert_eq!(create["actor"], "operator:1");
    assert_eq!(create["source"], "api");
    assert_eq!(create["request_id"].as_str().unwrap().len(), 16, "{create}");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "auth.login_failed" && e["outcome"] == "denied:bad_password"),
        "{entries:?}"
    );
    assert!(entries
        .iter()
        .any(|e| e["action"] == "auth.login" && e["actor"] == "operator:2"));
    // Reception may not read the audit log.
    let re = login(&s, "reception").await;
    problem(
        re.get("/api/audit/entries").await,
        StatusCode::FORBIDDEN,
        None,
    )
    .await;
    // An inclusion proof for the person.create entry verifies against the root.
    let seq = create["seq"].as_u64().unwrap();
    let p: Value = au
        .get(&format!("/api/audit/proof/inclusion?seq={seq}"))
        .await
        .json()
        .await
        .unwrap();
    let b = |v: &Value| -> [u8; 32] {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };
    let proof: Vec<[u8; 32]> = p["proof"].as_array().unwrap().iter().map(b).collect();
    monban_audit::merkle::verify_inclusion(
        seq,
        p["size"].as_u64().unwrap(),
        &b(&p["leaf_hash"]),
        &proof,
        &b(&p["root"]),
    )
    .unwrap();
    let c: Value = au
        .get("/api/audit/proof/consistency?from=1")
        .await
        .json()
        .await
        .unwrap();
    assert!(c["proof"].as_array().is_some());
    problem(
        au.get("/api/audit/proof/inclusion?seq=999999").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("seq"),
    )
    .await;
}

#[tokio::test]
async fn changes_fail_closed_when_the_audit_log_cannot_record() {
    let s = start().await;
    let a = login(&s, "admin").await;
    assert_eq!(count(&a, "/api/persons").await, 0);
    // Break the audit log's node table: appends now fail.
    sqlx::query("ALTER TABLE audit_nodes RENAME TO audit_nodes_broken")
        .execute(s.store.pool())
        .await
        .unwrap();
    let r = a.post("/api/persons", json!({"kind": "employee", "employee_number": "E1", "name_kanji": "山田", "name_kana": "ヤマダ"})).await;
    let v = problem(r, StatusCode::SERVICE_UNAVAILABLE, None).await;
    assert!(
        v["detail"].as_str().unwrap().contains("取り消しました"),
        "the operator is told: {v}"
    );
    sqlx::query("ALTER TABLE audit_nodes_broken RENAME TO audit_nodes")
        .execute(s.store.pool())
        .await
        .unwrap();
    assert_eq!(
        count(&a, "/api/persons").await,
        0,
        "the change was rolled back"
    );
}

/// Replaces every `{param}` in an OpenAPI path with `1`.
fn fill_params(path: &str) -> String {
    let mut out = String::new();
    let mut skip = false;
    for c in path.chars() {
        match c {
            '{' => {
                skip = true;
                out.push('1');
            }
            '}' => skip = false,
            _ if skip => {}
            _ => out.push(c),
        }
    }
    out
}
