//! The door-rule routes over real HTTP on a real SQLite file: zone rules, lockdown, interlocks,
//! forgiving an anti-passback violation, alarms, and the what-if question ("would person P
//! pass door D at time T, and if not, why"), with roles, CSRF and bad input refused without
//! changing anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use monban_core::{Direction, ReasonCode};
use monban_store::events::{self, NewAccessEvent};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A weekday morning in Tokyo.
const AT: &str = "2026-11-26T10:00:00+09:00";

struct Office {
    site: i64,
    office: i64,
    handling: i64,
    front: i64,
    inner: i64,
    person: i64,
}

async fn office(a: &Session) -> Office {
    let (site, office, handling, front) = facility(a).await;
    let inner: Value = a
        .post(
            "/api/doors",
            json!({"site_id": site, "name": "取扱区域扉", "from_zone_id": office, "to_zone_id": handling, "reader_mode": "card"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let p: Value = a
        .post("/api/persons", json!({"kind": "employee", "employee_number": "E1", "name_kanji": "山田 太郎", "name_kana": "ヤマダ タロウ"}))
        .await
        .json()
        .await
        .unwrap();
    let person = p["id"].as_i64().unwrap();
    let c = a
        .post(
            "/api/credentials",
            json!({"person_id": person, "kind": "card", "card_id": "0114A00000000001"}),
        )
        .await;
    assert_eq!(c.status(), StatusCode::CREATED);
    let g = a
        .post(
            "/api/access-groups",
            json!({"name": "全員", "schedule": {"name": "常時", "windows": [{"days": ["mon","tue","wed","thu","fri","sat","sun","holiday"], "start": "00:00", "end": "24:00"}]}, "zone_ids": [office, handling], "person_ids": [person]}),
        )
        .await;
    assert_eq!(g.status(), StatusCode::CREATED, "{:?}", g.text().await);
    Office {
        site,
        office,
        handling,
        front,
        inner: inner["id"].as_i64().unwrap(),
        person,
    }
}

async fn whatif(a: &Session, person: i64, door: i64, dir: &str, extra: Value) -> Value {
    let mut body = json!({"person_id": person, "door_id": door, "direction": dir, "at": AT});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let r = a.post("/api/whatif", body).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn reason(a: &Session, o: &Office, door: i64, dir: &str) -> String {
    whatif(a, o.person, door, dir, json!({})).await["reason"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn rules(a: &Session, zone: i64) -> Value {
    let r = a.get(&format!("/api/zones/{zone}/rules")).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn put_rules(a: &Session, zone: i64, body: Value) -> reqwest::Response {
    a.send(
        reqwest::Method::PUT,
        &format!("/api/zones/{zone}/rules"),
        Some(body),
    )
    .await
}

async fn audit_size(s: &Server) -> u64 {
    monban_store::audit::head(&s.store).await.unwrap().0
}

#[tokio::test]
async fn whatif_rules_lockdown_and_forgive() {
    let s = start().await;
    let a = login(&s, "admin").await;
    let o = office(&a).await;

    // What-if: the door would open, with the reason in Japanese and English.
    let w = whatif(&a, o.person, o.front, "in", json!({})).await;
    assert_eq!(w["granted"], true, "{w}");
    assert_eq!(w["reason"], "granted");
    assert_eq!(w["reason_ja"], "許可");
    assert!(w["snapshot_version"].as_u64().unwrap() > 0);
    // A fever at a reader that measures temperature (default limit 37.5 °C).
    let w = whatif(&a, o.person, o.front, "in", json!({"temperature_c": 38.2})).await;
    assert_eq!(w["reason"], "temperature_over_limit");
    let w = whatif(&a, o.person, o.front, "in", json!({"temperature_c": 36.4})).await;
    assert_eq!(w["granted"], true);
    // Not in the office: the handling area's (hard) anti-passback refuses entry.
    assert_eq!(reason(&a, &o, o.inner, "in").await, "anti_passback");

    // Rules: defaults for the class, then changed; snapshots follow at once.
    let r = rules(&a, o.handling).await;
    assert_eq!(r["anti_passback"], "hard", "{r}");
    let mut off = r.clone();
    off["anti_passback"] = json!("off");
    let before = audit_size(&s).await;
    let put = put_rules(&a, o.handling, off.clone()).await;
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(rules(&a, o.handling).await, off);
    assert!(audit_size(&s).await > before, "rule change audited");
    assert_eq!(reason(&a, &o, o.inner, "in").await, "granted");
    // Two-person rule on the handling area: one person alone waits for a second.
    let mut two = off.clone();
    two["two_person"] = json!(true);
    assert_eq!(
        put_rules(&a, o.handling, two).await.status(),
        StatusCode::OK
    );
    assert_eq!(reason(&a, &o, o.inner, "in").await, "two_person_pending");
    assert_eq!(
        put_rules(&a, o.handling, off.clone()).await.status(),
        StatusCode::OK
    );

    // Bad rules are refused and change nothing.
    for bad in [
        json!({"anti_passback": "sometimes"}),
        json!({"anti_passback": "off", "colour": "red"}),
        json!("hard"),
    ] {
        let r = put_rules(&a, o.handling, bad.clone()).await;
        assert!(
            r.status() == StatusCode::UNPROCESSABLE_ENTITY || r.status() == StatusCode::BAD_REQUEST,
            "{bad}: {}",
            r.status()
        );
        assert_eq!(rules(&a, o.handling).await, off, "{bad}");
    }
    let r = a.raw_post("/api/whatif", "{not json").await;
    assert!(r.status().is_client_error());
    problem(
        put_rules(&a, 999_999, off.clone()).await,
        StatusCode::NOT_FOUND,
        None,
    )
    .await;

    // Lockdown of the office: entry refused, exit always allowed; lifted, entry again.
    let before = audit_size(&s).await;
    let r = a
        .post(
            "/api/lockdown",
            json!({"zone_id": o.office, "active": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(audit_size(&s).await > before, "lockdown audited");
    assert_eq!(reason(&a, &o, o.front, "in").await, "lockdown");
    assert_ne!(reason(&a, &o, o.front, "out").await, "lockdown");
    // Lockdown of the office covers the handling area inside it.
    assert_eq!(reason(&a, &o, o.inner, "in").await, "lockdown");
    let r = a
        .post(
            "/api/lockdown",
            json!({"zone_id": o.office, "active": false}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(reason(&a, &o, o.front, "in").await, "granted");
    // A whole site.
    a.post("/api/lockdown", json!({"site_id": o.site, "active": true}))
        .await;
    assert_eq!(reason(&a, &o, o.front, "in").await, "lockdown");
    a.post("/api/lockdown", json!({"site_id": o.site, "active": false}))
        .await;
    assert_eq!(reason(&a, &o, o.front, "in").await, "granted");
    for bad in [
        json!({"active": true}),
        json!({"zone_id": o.office, "site_id": o.site, "active": true}),
    ] {
        problem(
            a.post("/api/lockdown", bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("zone_id"),
        )
        .await;
    }
    assert_eq!(reason(&a, &o, o.front, "in").await, "granted");

    // Forgive: with hard anti-passback on the office, a person the system believes is inside
    // cannot enter again; an operator forgives them and the next pass is accepted.
    let mut hard = rules(&a, o.office).await;
    hard["anti_passback"] = json!("hard");
    assert_eq!(put_rules(&a, o.office, hard).await.status(), StatusCode::OK);
    let mut w = s.store.begin_write().await.unwrap();
    events::record_access_event(
        &mut w,
        &NewAccessEvent {
            occurred_at: jiff::Timestamp::now(),
            door_id: o.front,
            direction: Direction::In,
            person_id: Some(o.person),
            credential_kind: Some(monban_core::CredentialKind::Card),
            granted: true,
            reason: ReasonCode::Granted,
            source: "test".into(),
            source_seq: Some(1),
        },
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
    let w = whatif(&a, o.person, o.front, "in", json!({})).await;
    assert_eq!(w["reason"], "anti_passback");
    assert_eq!(w["current_zone_id"], o.office);
    let before = audit_size(&s).await;
    let r = a
        .post(&format!("/api/persons/{}/forgive", o.person), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(audit_size(&s).await > before, "forgiving is audited");
    let w = whatif(&a, o.person, o.front, "in", json!({})).await;
    assert_eq!(w["reason"], "granted", "{w}");
    assert_eq!(w["current_zone_id"], Value::Null);
    problem(
        a.post("/api/persons/999999/forgive", json!({})).await,
        StatusCode::NOT_FOUND,
        None,
    )
    .await;

    // What-if bad input.
    for (body, field) in [
        (
            json!({"person_id": o.person, "door_id": o.front, "direction": "sideways"}),
            Some("direction"),
        ),
        (
            json!({"person_id": o.person, "door_id": o.front, "direction": "in", "at": "yesterday"}),
            Some("at"),
        ),
    ] {
        problem(
            a.post("/api/whatif", body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            field,
        )
        .await;
    }
    problem(
        a.post(
            "/api/whatif",
            json!({"person_id": 999_999, "door_id": o.front, "direction": "in"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        None,
    )
    .await;
    // An unknown door is an answer, not an error.
    let w = whatif(&a, o.person, 999_999, "in", json!({})).await;
    assert_eq!(w["reason"], "unknown_door");
}

#[tokio::test]
async fn interlocks_alarms_and_roles() {
    let s = start().await;
    let a = login(&s, "admin").await;
    let o = office(&a).await;

    let r = a
        .post(
            "/api/interlocks",
            json!({"name": "前室", "door_ids": [o.front, o.inner]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Bad interlocks: one door, an unknown door, a door already in a group, no name.
    problem(
        a.post(
            "/api/interlocks",
            json!({"name": "一枚", "door_ids": [o.front]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("door_ids"),
    )
    .await;
    let r = a
        .post(
            "/api/interlocks",
            json!({"name": "幽霊", "door_ids": [o.front, 999_999]}),
        )
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = a
        .post(
            "/api/interlocks",
            json!({"name": "二重", "door_ids": [o.front, o.inner]}),
        )
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    problem(
        a.post(
            "/api/interlocks",
            json!({"name": "", "door_ids": [o.front, o.inner]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("name"),
    )
    .await;

    // Alarms: a stored alarm is listed with its Japanese label and the person's name.
    let mut w = s.store.begin_write().await.unwrap();
    monban_store::controllers::record_server_alarm(
        &mut w,
        Some(o.inner),
        monban_core::AlarmCode::AntiPassback,
        Some(o.person),
        "テスト",
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
    let list: Vec<Value> = a.get("/api/alarms?limit=10").await.json().await.unwrap();
    let al = list
        .iter()
        .find(|x| x["code"] == "anti_passback")
        .expect("alarm listed");
    assert_eq!(al["person_name"], "山田 太郎");
    assert_eq!(al["door_id"], o.inner);
    assert!(al["label_ja"].as_str().unwrap().contains("共連れ"));
    assert!(a
        .get("/api/alarms?limit=abc")
        .await
        .status()
        .is_client_error());

    // Roles: an auditor may look but not change rules, lock down or forgive; without the CSRF
    // token nothing changes either.
    let au = login(&s, "auditor").await;
    assert_eq!(
        au.get(&format!("/api/zones/{}/rules", o.office))
            .await
            .status(),
        StatusCode::OK
    );
    let before = rules(&a, o.office).await;
    let mut changed = before.clone();
    changed["anti_passback"] = json!("off");
    assert_eq!(
        put_rules(&au, o.office, changed.clone()).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        au.post(
            "/api/lockdown",
            json!({"zone_id": o.office, "active": true})
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        au.post(&format!("/api/persons/{}/forgive", o.person), json!({}))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let no_csrf = a
        .http
        .put(format!("{}/api/zones/{}/rules", a.base, o.office))
        .header("cookie", &a.cookie)
        .json(&changed)
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    assert_eq!(rules(&a, o.office).await, before);
    assert_ne!(reason(&a, &o, o.front, "in").await, "lockdown");
    // Not logged in at all.
    let anon = reqwest::get(format!("{}/api/alarms", s.base))
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
}
