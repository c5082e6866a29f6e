//! Persons, their credentials, and the access groups that grant them zones.

use jiff::civil::Date;
use monban_core::model::{check_validity, Id};
use monban_core::schedule::Schedule;
use monban_core::text::{self, Code, FieldError};
use monban_core::{
    AccessGroup, CardId, Credential, CredentialKind, CredentialStatus, Person, PersonKind,
    PersonStatus,
};
use sqlx::any::AnyRow;

use crate::row::*;
use crate::{now_micros, Store, StoreError, WriteTx};

/// Fields of a person as a user gives them.
#[derive(Debug, Clone)]
pub struct PersonInput {
    pub kind: PersonKind,
    pub employee_number: Option<String>,
    pub name_kanji: String,
    pub name_kana: String,
    pub department: Option<String>,
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
    pub status: PersonStatus,
}

impl PersonInput {
    /// An active employee with no department and no validity limits.
    pub fn employee(
        employee_number: impl Into<String>,
        name_kanji: impl Into<String>,
        name_kana: impl Into<String>,
    ) -> Self {
        Self {
            kind: PersonKind::Employee,
            employee_number: Some(employee_number.into()),
            name_kanji: name_kanji.into(),
            name_kana: name_kana.into(),
            department: None,
            valid_from: None,
            valid_until: None,
            status: PersonStatus::Active,
        }
    }
}

const PERSON_COLS: &str =
    "id, kind, employee_number, name_kanji, name_kana, department, valid_from, valid_until, status";

fn person_from(r: &AnyRow) -> Result<Person, StoreError> {
    Ok(Person {
        id: i64_(r, "id")?,
        kind: code(r, "kind")?,
        employee_number: opt_text(r, "employee_number")?,
        name_kanji: text(r, "name_kanji")?,
        name_kana: text(r, "name_kana")?,
        department: opt_text(r, "department")?,
        valid_from: opt_date(r, "valid_from")?,
        valid_until: opt_date(r, "valid_until")?,
        status: code(r, "status")?,
    })
}

/// Validates and normalises a person's fields.
fn clean_person(p: &PersonInput) -> Result<PersonInput, StoreError> {
    let inv = StoreError::Invalid;
    let name_kanji = text::required("name_kanji", &p.name_kanji, 100).map_err(inv)?;
    let name_kana = text::kana("name_kana", &p.name_kana).map_err(inv)?;
    let employee_number = match &p.employee_number {
        Some(n) if !n.trim().is_empty() => {
            let n = text::required("employee_number", n, 32).map_err(inv)?;
            if !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(inv(FieldError::new(
                    "employee_number",
                    "社員番号は英数字・ハイフン・下線で入力してください / an employee number may contain letters, digits, '-' and '_' only",
                )));
            }
            Some(n)
        }
        _ => None,
    };
    if p.kind == PersonKind::Employee && employee_number.is_none() {
        return Err(inv(FieldError::new(
            "employee_number",
            "従業員には社員番号が必要です / employees need an employee number",
        )));
    }
    let department = match &p.department {
        Some(d) if !d.trim().is_empty() => Some(text::required("department", d, 100).map_err(inv)?),
        _ => None,
    };
    check_validity(p.valid_from, p.valid_until).map_err(inv)?;
    Ok(PersonInput {
        kind: p.kind,
        employee_number,
        name_kanji,
        name_kana,
        department,
        valid_from: p.valid_from,
        valid_until: p.valid_until,
        status: p.status,
    })
}

const DUP_EMPLOYEE: &str =
    "この社員番号は既に登録されています / this employee number is already registered";

fn person_of(id: Id, p: PersonInput) -> Person {
    Person {
        id,
        kind: p.kind,
        employee_number: p.employee_number,
        name_kanji: p.name_kanji,
        name_kana: p.name_kana,
        department: p.department,
        valid_from: p.valid_from,
        valid_until: p.valid_until,
        status: p.status,
    }
}

/// Registers a person.
pub async fn create_person(w: &mut WriteTx, input: &PersonInput) -> Result<Person, StoreError> {
    let p = clean_person(input)?;
    let now = now_micros();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO persons (kind, employee_number, name_kanji, name_kana, department, valid_from, valid_until, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(p.kind.code())
    .bind(p.employee_number.clone())
    .bind(&p.name_kanji)
    .bind(&p.name_kana)
    .bind(p.department.clone())
    .bind(date_text(p.valid_from))
    .bind(date_text(p.valid_until))
    .bind(p.status.code())
    .bind(now)
    .bind(now)
    .fetch_one(w.conn())
    .await
    .map_err(|e| StoreError::unique(e, "employee_number", DUP_EMPLOYEE))?;
    Ok(person_of(id, p))
}

/// Changes a person.
pub async fn update_person(
    w: &mut WriteTx,
    id: Id,
    input: &PersonInput,
) -> Result<Person, StoreError> {
    let p = clean_person(input)?;
    let r = sqlx::query(
        "UPDATE persons SET kind = $1, employee_number = $2, name_kanji = $3, name_kana = $4, department = $5, valid_from = $6, valid_until = $7, status = $8, updated_at = $9 WHERE id = $10",
    )
    .bind(p.kind.code())
    .bind(p.employee_number.clone())
    .bind(&p.name_kanji)
    .bind(&p.name_kana)
    .bind(p.department.clone())
    .bind(date_text(p.valid_from))
    .bind(date_text(p.valid_until))
    .bind(p.status.code())
    .bind(now_micros())
    .bind(id)
    .execute(w.conn())
    .await
    .map_err(|e| StoreError::unique(e, "employee_number", DUP_EMPLOYEE))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("person", id));
    }
    Ok(person_of(id, p))
}

/// Deletes a person and their credentials. Their past events keep the door and time but lose
/// the link to the person.
pub async fn delete_person(w: &mut WriteTx, id: Id) -> Result<(), StoreError> {
    let r = sqlx::query("DELETE FROM persons WHERE id = $1")
        .bind(id)
        .execute(w.conn())
        .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("person", id));
    }
    Ok(())
}

/// One person.
pub async fn get_person(s: &Store, id: Id) -> Result<Person, StoreError> {
    let q = format!("SELECT {PERSON_COLS} FROM persons WHERE id = $1");
    let r = s
        .fetch_optional(sqlx::query(&q).bind(id))
        .await?
        .ok_or_else(|| StoreError::not_found("person", id))?;
    person_from(&r)
}

/// Persons whose name, kana, employee number or department contains `search` (all if `None`).
pub async fn list_persons(
    s: &Store,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Person>, StoreError> {
    let rows = match search.map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) => {
            let like = format!("%{}%", q.replace(['%', '_'], ""));
            let sql = format!("SELECT {PERSON_COLS} FROM persons WHERE name_kanji LIKE $1 OR name_kana LIKE $1 OR employee_number LIKE $1 OR department LIKE $1 ORDER BY id LIMIT $2 OFFSET $3");
            s.fetch_all(sqlx::query(&sql).bind(like).bind(limit).bind(offset))
                .await?
        }
        None => {
            let sql = format!("SELECT {PERSON_COLS} FROM persons ORDER BY id LIMIT $1 OFFSET $2");
            s.fetch_all(sqlx::query(&sql).bind(limit).bind(offset))
                .await?
        }
    };
    rows.iter().map(person_from).collect()
}

/// Fields of a credential as a user gives them. A PIN arrives already hashed.
#[derive(Debug, Clone)]
pub struct CredentialInput {
    pub person_id: Id,
    pub kind: CredentialKind,
    pub card_id: Option<CardId>,
    pub pin_hash: Option<String>,
    pub face_template_ref: Option<String>,
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
    pub status: CredentialStatus,
}

const CRED_COLS: &str =
    "id, person_id, kind, card_id, pin_hash, face_template_ref, valid_from, valid_until, status";

fn credential_from(r: &AnyRow) -> Result<Credential, StoreError> {
    let card_id = match opt_text(r, "card_id")? {
        Some(c) => {
            Some(CardId::parse("card_id", &c).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        }
        None => None,
    };
    Ok(Credential {
        id: i64_(r, "id")?,
        person_id: i64_(r, "person_id")?,
        kind: code(r, "kind")?,
        card_id,
        pin_hash: opt_text(r, "pin_hash")?,
        face_template_ref: opt_text(r, "face_template_ref")?,
        valid_from: opt_date(r, "valid_from")?,
        valid_until: opt_date(r, "valid_until")?,
        status: code(r, "status")?,
    })
}

/// Issues a credential to a person. Each card identifier may belong to one credential only.
pub async fn create_credential(
    w: &mut WriteTx,
    c: &CredentialInput,
) -> Result<Credential, StoreError> {
    let inv = StoreError::Invalid;
    match c.kind {
        CredentialKind::Card if c.card_id.is_none() => {
            return Err(inv(FieldError::new("card_id", "カードIDを入力してください / card_id is required for a card")))
        }
        CredentialKind::Pin if c.pin_hash.is_none() => {
            return Err(inv(FieldError::new("pin", "暗証番号を入力してください / pin is required for a PIN credential")))
        }
        CredentialKind::Face if c.face_template_ref.is_none() => {
            return Err(inv(FieldError::new("face_template_ref", "顔テンプレートを指定してください / face_template_ref is required for a face credential")))
        }
        _ => {}
    }
    check_validity(c.valid_from, c.valid_until).map_err(inv)?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM persons WHERE id = $1")
        .bind(c.person_id)
        .fetch_optional(w.conn())
        .await?;
    if exists.is_none() {
        return Err(StoreError::not_found("person", c.person_id));
    }
    let card = if c.kind == CredentialKind::Card {
        c.card_id.as_ref().map(|x| x.as_str().to_string())
    } else {
        None
    };
    let pin = if c.kind == CredentialKind::Pin {
        c.pin_hash.clone()
    } else {
        None
    };
    let face = if c.kind == CredentialKind::Face {
        c.face_template_ref.clone()
    } else {
        None
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO credentials (person_id, kind, card_id, pin_hash, face_template_ref, valid_from, valid_until, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(c.person_id)
    .bind(c.kind.code())
    .bind(card)
    .bind(pin.clone())
    .bind(face.clone())
    .bind(date_text(c.valid_from))
    .bind(date_text(c.valid_until))
    .bind(c.status.code())
    .bind(now_micros())
    .fetch_one(w.conn())
    .await
    .map_err(|e| StoreError::unique(e, "card_id", "このカードは既に別の認証情報として登録されています / this card is already registered"))?;
    Ok(Credential {
        id,
        person_id: c.person_id,
        kind: c.kind,
        card_id: if c.kind == CredentialKind::Card {
            c.card_id.clone()
        } else {
            None
        },
        pin_hash: pin,
        face_template_ref: face,
        valid_from: c.valid_from,
        valid_until: c.valid_until,
        status: c.status,
    })
}

/// Changes a credential's status (suspend, report lost, revoke, reactivate).
pub async fn set_credential_status(
    w: &mut WriteTx,
    id: Id,
    status: CredentialStatus,
) -> Result<(), StoreError> {
    let r = sqlx::query("UPDATE credentials SET status = $1 WHERE id = $2")
        .bind(status.code())
        .bind(id)
        .execute(w.conn())
        .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("credential", id));
    }
    Ok(())
}

/// Deletes a credential.
pub async fn delete_credential(w: &mut WriteTx, id: Id) -> Result<(), StoreError> {
    let r = sqlx::query("DELETE FROM credentials WHERE id = $1")
        .bind(id)
        .execute(w.conn())
        .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("credential", id));
    }
    Ok(())
}

/// Credentials, of one person or all.
pub async fn list_credentials(
    s: &Store,
    person_id: Option<Id>,
) -> Result<Vec<Credential>, StoreError> {
    let rows = match person_id {
        Some(p) => {
            let q = format!("SELECT {CRED_COLS} FROM credentials WHERE person_id = $1 ORDER BY id");
            s.fetch_all(sqlx::query(&q).bind(p)).await?
        }
        None => {
            let q = format!("SELECT {CRED_COLS} FROM credentials ORDER BY id");
            s.fetch_all(sqlx::query(&q)).await?
        }
    };
    rows.iter().map(credential_from).collect()
}

/// One credential.
pub async fn get_credential(s: &Store, id: Id) -> Result<Credential, StoreError> {
    let q = format!("SELECT {CRED_COLS} FROM credentials WHERE id = $1");
    let r = s
        .fetch_optional(sqlx::query(&q).bind(id))
        .await?
        .ok_or_else(|| StoreError::not_found("credential", id))?;
    credential_from(&r)
}

/// The credential holding a card identifier.
pub async fn credential_by_card(
    s: &Store,
    card: &CardId,
) -> Result<Option<Credential>, StoreError> {
    let q = format!("SELECT {CRED_COLS} FROM credentials WHERE card_id = $1");
    s.fetch_optional(sqlx::query(&q).bind(card.as_str()))
        .await?
        .as_ref()
        .map(credential_from)
        .transpose()
}

/// Fields of an access group as a user gives them.
#[derive(Debug, Clone)]
pub struct AccessGroupInput {
    pub name: String,
    pub schedule: Schedule,
    pub zone_ids: Vec<Id>,
    pub person_ids: Vec<Id>,
}

async fn write_group_links(
    w: &mut WriteTx,
    id: Id,
    g: &AccessGroupInput,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM access_group_zones WHERE group_id = $1")
        .bind(id)
        .execute(w.conn())
        .await?;
    sqlx::query("DELETE FROM access_group_members WHERE group_id = $1")
        .bind(id)
        .execute(w.conn())
        .await?;
    let mut zones = g.zone_ids.clone();
    zones.sort_unstable();
    zones.dedup();
    for (i, z) in zones.iter().enumerate() {
        let ok: Option<i64> = sqlx::query_scalar("SELECT id FROM zones WHERE id = $1")
            .bind(*z)
            .fetch_optional(w.conn())
            .await?;
        if ok.is_none() {
            return Err(StoreError::Invalid(FieldError::new(
                format!("zone_ids[{i}]"),
                format!("区域 {z} がありません / zone {z} does not exist"),
            )));
        }
        sqlx::query("INSERT INTO access_group_zones (group_id, zone_id) VALUES ($1, $2)")
            .bind(id)
            .bind(*z)
            .execute(w.conn())
            .await?;
    }
    let mut persons = g.person_ids.clone();
    persons.sort_unstable();
    persons.dedup();
    for (i, p) in persons.iter().enumerate() {
        let ok: Option<i64> = sqlx::query_scalar("SELECT id FROM persons WHERE id = $1")
            .bind(*p)
            .fetch_optional(w.conn())
            .await?;
        if ok.is_none() {
            return Err(StoreError::Invalid(FieldError::new(
                format!("person_ids[{i}]"),
                format!("人物 {p} がいません / person {p} does not exist"),
            )));
        }
        sqlx::query("INSERT INTO access_group_members (group_id, person_id) VALUES ($1, $2)")
            .bind(id)
            .bind(*p)
            .execute(w.conn())
            .await?;
    }
    Ok(())
}

fn check_group(g: &AccessGroupInput) -> Result<(String, String), StoreError> {
    let name = text::required("name", &g.name, 100).map_err(StoreError::Invalid)?;
    g.schedule.validate().map_err(|e| {
        StoreError::Invalid(FieldError::new(
            format!("schedule.{}", e.field()),
            e.to_string(),
        ))
    })?;
    let json =
        serde_json::to_string(&g.schedule).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((name, json))
}

const DUP_GROUP: &str = "同じ名前の権限グループがあります / an access group with this name exists";

/// Creates an access group.
pub async fn create_access_group(w: &mut WriteTx, g: &AccessGroupInput) -> Result<Id, StoreError> {
    let (name, json) = check_group(g)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO access_groups (name, schedule_json) VALUES ($1, $2) RETURNING id",
    )
    .bind(&name)
    .bind(&json)
    .fetch_one(w.conn())
    .await
    .map_err(|e| StoreError::unique(e, "name", DUP_GROUP))?;
    write_group_links(w, id, g).await?;
    Ok(id)
}

/// Replaces an access group's name, schedule, zones and members.
pub async fn update_access_group(
    w: &mut WriteTx,
    id: Id,
    g: &AccessGroupInput,
) -> Result<(), StoreError> {
    let (name, json) = check_group(g)?;
    let r = sqlx::query("UPDATE access_groups SET name = $1, schedule_json = $2 WHERE id = $3")
        .bind(&name)
        .bind(&json)
        .bind(id)
        .execute(w.conn())
        .await
        .map_err(|e| StoreError::unique(e, "name", DUP_GROUP))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("access group", id));
    }
    write_group_links(w, id, g).await
}

/// Deletes an access group.
pub async fn delete_access_group(w: &mut WriteTx, id: Id) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM access_group_zones WHERE group_id = $1")
        .bind(id)
        .execute(w.conn())
        .await?;
    sqlx::query("DELETE FROM access_group_members WHERE group_id = $1")
        .bind(id)
        .execute(w.conn())
        .await?;
    let r = sqlx::query("DELETE FROM access_groups WHERE id = $1")
        .bind(id)
        .execute(w.conn())
        .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("access group", id));
    }
    Ok(())
}

/// All access groups with their zones and members.
pub async fn list_access_groups(s: &Store) -> Result<Vec<AccessGroup>, StoreError> {
    let groups = s
        .fetch_all(sqlx::query(
            "SELECT id, name, schedule_json FROM access_groups ORDER BY id",
        ))
        .await?;
    let zones = s
        .fetch_all(sqlx::query(
            "SELECT group_id, zone_id FROM access_group_zones ORDER BY zone_id",
        ))
        .await?;
    let members = s
        .fetch_all(sqlx::query(
            "SELECT group_id, person_id FROM access_group_members ORDER BY person_id",
        ))
        .await?;
    let mut out = Vec::with_capacity(groups.len());
    for g in &groups {
        let id = i64_(g, "id")?;
        let schedule: Schedule = serde_json::from_str(&text(g, "schedule_json")?)
            .map_err(|e| StoreError::Corrupt(format!("access_groups.schedule_json: {e}")))?;
        let mut zone_ids = Vec::new();
        for z in &zones {
            if i64_(z, "group_id")? == id {
                zone_ids.push(i64_(z, "zone_id")?);
            }
        }
        let mut person_ids = Vec::new();
        for m in &members {
            if i64_(m, "group_id")? == id {
                person_ids.push(i64_(m, "person_id")?);
            }
        }
        out.push(AccessGroup {
            id,
            name: text(g, "name")?,
            schedule,
            zone_ids,
            person_ids,
        });
    }
    Ok(out)
}

/// One access group.
pub async fn get_access_group(s: &Store, id: Id) -> Result<AccessGroup, StoreError> {
    list_access_groups(s)
        .await?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or_else(|| StoreError::not_found("access group", id))
}
