//! Sites, zones and doors: the physical layout.

use monban_core::model::{check_no_zone_cycle, Id, DEFAULT_HELD_OPEN_SECS};
use monban_core::text::{self, Code, FieldError};
use monban_core::{Door, ReaderMode, Site, Zone, ZoneClass};
use sqlx::any::AnyRow;

use crate::row::*;
use crate::{now_micros, Store, StoreError, WriteTx};

/// Fields of a site as a user gives them.
#[derive(Debug, Clone)]
pub struct SiteInput {
    pub name: String,
    pub time_zone: Option<String>,
}

/// Default time zone for new sites.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Tokyo";

fn site_from(r: &AnyRow) -> Result<Site, StoreError> {
    Ok(Site {
        id: i64_(r, "id")?,
        name: text(r, "name")?,
        time_zone: text(r, "time_zone")?,
    })
}

fn check_time_zone(tz: &str) -> Result<(), StoreError> {
    jiff::tz::TimeZone::get(tz).map(|_| ()).map_err(|_| {
        StoreError::Invalid(FieldError::new(
            "time_zone",
            format!("タイムゾーン「{tz}」が見つかりません。例: Asia/Tokyo / unknown time zone {tz:?}; use an IANA name such as Asia/Tokyo"),
        ))
    })
}

/// Creates a site.
pub async fn create_site(w: &mut WriteTx, input: &SiteInput) -> Result<Site, StoreError> {
    let name =
        text::required("name", &input.name, text::MAX_TEXT_CHARS).map_err(StoreError::Invalid)?;
    let tz = input
        .time_zone
        .clone()
        .unwrap_or_else(|| DEFAULT_TIME_ZONE.into());
    check_time_zone(&tz)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sites (name, time_zone, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(&name)
    .bind(&tz)
    .bind(now_micros())
    .fetch_one(w.conn())
    .await
    .map_err(|e| {
        StoreError::unique(
            e,
            "name",
            "同じ名前の拠点があります / a site with this name exists",
        )
    })?;
    Ok(Site {
        id,
        name,
        time_zone: tz,
    })
}

/// All sites.
pub async fn list_sites(s: &Store) -> Result<Vec<Site>, StoreError> {
    s.fetch_all(sqlx::query(
        "SELECT id, name, time_zone FROM sites ORDER BY id",
    ))
    .await?
    .iter()
    .map(site_from)
    .collect()
}

/// One site.
pub async fn get_site(s: &Store, id: Id) -> Result<Site, StoreError> {
    let r = s
        .fetch_optional(sqlx::query("SELECT id, name, time_zone FROM sites WHERE id = $1").bind(id))
        .await?
        .ok_or_else(|| StoreError::not_found("site", id))?;
    site_from(&r)
}

/// Fields of a zone as a user gives them.
#[derive(Debug, Clone)]
pub struct ZoneInput {
    pub site_id: Id,
    pub parent_id: Option<Id>,
    pub name: String,
    pub class: ZoneClass,
    pub occupancy_limit: Option<u32>,
}

const ZONE_COLS: &str = "id, site_id, parent_id, name, class, occupancy_limit";

fn zone_from(r: &AnyRow) -> Result<Zone, StoreError> {
    Ok(Zone {
        id: i64_(r, "id")?,
        site_id: i64_(r, "site_id")?,
        parent_id: opt_i64(r, "parent_id")?,
        name: text(r, "name")?,
        class: code(r, "class")?,
        occupancy_limit: opt_i64(r, "occupancy_limit")?.map(|v| v.clamp(0, u32::MAX as i64) as u32),
    })
}

async fn zone_in_tx(w: &mut WriteTx, id: Id) -> Result<Option<Zone>, StoreError> {
    let q = format!("SELECT {ZONE_COLS} FROM zones WHERE id = $1");
    sqlx::query(&q)
        .bind(id)
        .fetch_optional(w.conn())
        .await?
        .as_ref()
        .map(zone_from)
        .transpose()
}

async fn check_zone_input(
    w: &mut WriteTx,
    id: Option<Id>,
    z: &ZoneInput,
) -> Result<String, StoreError> {
    let name =
        text::required("name", &z.name, text::MAX_TEXT_CHARS).map_err(StoreError::Invalid)?;
    let site: Option<i64> = sqlx::query_scalar("SELECT id FROM sites WHERE id = $1")
        .bind(z.site_id)
        .fetch_optional(w.conn())
        .await?;
    if site.is_none() {
        return Err(StoreError::Invalid(FieldError::new(
            "site_id",
            format!(
                "拠点 {} がありません / site {} does not exist",
                z.site_id, z.site_id
            ),
        )));
    }
    if let Some(p) = z.parent_id {
        match zone_in_tx(w, p).await? {
            Some(pz) if pz.site_id == z.site_id => {}
            Some(_) => return Err(StoreError::Invalid(FieldError::new(
                "parent_id",
                "親区域は同じ拠点の区域にしてください / the parent zone must be on the same site",
            ))),
            None => {
                return Err(StoreError::Invalid(FieldError::new(
                    "parent_id",
                    format!("親区域 {p} がありません / parent zone {p} does not exist"),
                )))
            }
        }
    }
    if let Some(id) = id {
        let rows = sqlx::query("SELECT id, parent_id FROM zones WHERE site_id = $1")
            .bind(z.site_id)
            .fetch_all(w.conn())
            .await?;
        let mut parents = std::collections::HashMap::new();
        for r in &rows {
            parents.insert(i64_(r, "id")?, opt_i64(r, "parent_id")?);
        }
        check_no_zone_cycle(id, z.parent_id, |x| parents.get(&x).copied().flatten())
            .map_err(StoreError::Invalid)?;
    }
    Ok(name)
}

/// Creates a zone.
pub async fn create_zone(w: &mut WriteTx, z: &ZoneInput) -> Result<Zone, StoreError> {
    let name = check_zone_input(w, None, z).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO zones (site_id, parent_id, name, class, occupancy_limit) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(z.site_id)
    .bind(z.parent_id)
    .bind(&name)
    .bind(z.class.code())
    .bind(z.occupancy_limit.map(i64::from))
    .fetch_one(w.conn())
    .await
    .map_err(|e| StoreError::unique(e, "name", "同じ拠点に同じ名前の区域があります / a zone with this name exists on this site"))?;
    Ok(Zone {
        id,
        site_id: z.site_id,
        parent_id: z.parent_id,
        name,
        class: z.class,
        occupancy_limit: z.occupancy_limit,
    })
}

/// Changes a zone. Refuses a parent that would make a cycle.
pub async fn update_zone(w: &mut WriteTx, id: Id, z: &ZoneInput) -> Result<Zone, StoreError> {
    let old = zone_in_tx(w, id)
        .await?
        .ok_or_else(|| StoreError::not_found("zone", id))?;
    if old.site_id != z.site_id {
        return Err(StoreError::Invalid(FieldError::new(
            "site_id",
            "区域の拠点は変更できません / a zone cannot move to another site",
        )));
    }
    let name = check_zone_input(w, Some(id), z).await?;
    sqlx::query("UPDATE zones SET parent_id = $1, name = $2, class = $3, occupancy_limit = $4 WHERE id = $5")
        .bind(z.parent_id)
        .bind(&name)
        .bind(z.class.code())
        .bind(z.occupancy_limit.map(i64::from))
        .bind(id)
        .execute(w.conn())
        .await
        .map_err(|e| StoreError::unique(e, "name", "同じ拠点に同じ名前の区域があります / a zone with this name exists on this site"))?;
    Ok(Zone {
        id,
        site_id: z.site_id,
        parent_id: z.parent_id,
        name,
        class: z.class,
        occupancy_limit: z.occupancy_limit,
    })
}

/// Deletes a zone that no door, child zone or access group uses.
pub async fn delete_zone(w: &mut WriteTx, id: Id) -> Result<Zone, StoreError> {
    let old = zone_in_tx(w, id)
        .await?
        .ok_or_else(|| StoreError::not_found("zone", id))?;
    let doors: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM doors WHERE from_zone_id = $1 OR to_zone_id = $2")
            .bind(id)
            .bind(id)
            .fetch_one(w.conn())
            .await?;
    if doors > 0 {
        return Err(StoreError::InUse(FieldError::new(
            "id",
            format!("この区域は{doors}個の扉で使われています。先に扉を削除するか別の区域に付け替えてください / {doors} door(s) still use this zone; delete or move them first"),
        )));
    }
    let children: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM zones WHERE parent_id = $1")
        .bind(id)
        .fetch_one(w.conn())
        .await?;
    if children > 0 {
        return Err(StoreError::InUse(FieldError::new(
            "id",
            format!("この区域には子区域が{children}個あります。先に子区域を削除してください / this zone has {children} child zone(s); delete them first"),
        )));
    }
    sqlx::query("DELETE FROM access_group_zones WHERE zone_id = $1")
        .bind(id)
        .execute(w.conn())
        .await?;
    sqlx::query("UPDATE presence SET zone_id = NULL WHERE zone_id = $1")
        .bind(id)
        .execute(w.conn())
        .await?;
    sqlx::query("DELETE FROM zones WHERE id = $1")
        .bind(id)
        .execute(w.conn())
        .await?;
    Ok(old)
}

/// All zones, optionally of one site.
pub async fn list_zones(s: &Store, site_id: Option<Id>) -> Result<Vec<Zone>, StoreError> {
    let rows = match site_id {
        Some(site) => {
            let q = format!("SELECT {ZONE_COLS} FROM zones WHERE site_id = $1 ORDER BY id");
            s.fetch_all(sqlx::query(&q).bind(site)).await?
        }
        None => {
            let q = format!("SELECT {ZONE_COLS} FROM zones ORDER BY id");
            s.fetch_all(sqlx::query(&q)).await?
        }
    };
    rows.iter().map(zone_from).collect()
}

/// One zone.
pub async fn get_zone(s: &Store, id: Id) -> Result<Zone, StoreError> {
    let q = format!("SELECT {ZONE_COLS} FROM zones WHERE id = $1");
    let r = s
        .fetch_optional(sqlx::query(&q).bind(id))
        .await?
        .ok_or_else(|| StoreError::not_found("zone", id))?;
    zone_from(&r)
}

/// Fields of a door as a user gives them.
#[derive(Debug, Clone)]
pub struct DoorInput {
    pub site_id: Id,
    pub name: String,
    pub from_zone_id: Option<Id>,
    pub to_zone_id: Id,
    pub reader_mode: ReaderMode,
    pub held_open_limit_secs: Option<u32>,
}

const DOOR_COLS: &str =
    "id, site_id, name, from_zone_id, to_zone_id, reader_mode, held_open_limit_secs";

fn door_from(r: &AnyRow) -> Result<Door, StoreError> {
    Ok(Door {
        id: i64_(r, "id")?,
        site_id: i64_(r, "site_id")?,
        name: text(r, "name")?,
        from_zone_id: opt_i64(r, "from_zone_id")?,
        to_zone_id: i64_(r, "to_zone_id")?,
        reader_mode: code(r, "reader_mode")?,
        held_open_limit_secs: i64_(r, "held_open_limit_secs")?.clamp(0, u32::MAX as i64) as u32,
    })
}

async fn check_door(w: &mut WriteTx, d: &DoorInput) -> Result<String, StoreError> {
    let name =
        text::required("name", &d.name, text::MAX_TEXT_CHARS).map_err(StoreError::Invalid)?;
    for (field, zid) in [
        ("to_zone_id", Some(d.to_zone_id)),
        ("from_zone_id", d.from_zone_id),
    ] {
        let Some(zid) = zid else { continue };
        match zone_in_tx(w, zid).await? {
            Some(z) if z.site_id == d.site_id => {}
            _ => {
                return Err(StoreError::Invalid(FieldError::new(
                    field,
                    format!(
                        "区域 {zid} はこの拠点にありません / zone {zid} does not exist on site {}",
                        d.site_id
                    ),
                )))
            }
        }
    }
    if d.from_zone_id == Some(d.to_zone_id) {
        return Err(StoreError::Invalid(FieldError::new(
            "to_zone_id",
            "扉の入口と出口は別の区域にしてください / a door must lead between two different zones",
        )));
    }
    if let Some(s) = d.held_open_limit_secs {
        if !(1..=3600).contains(&s) {
            return Err(StoreError::Invalid(FieldError::new(
                "held_open_limit_secs",
                "開放放置の上限は1〜3600秒にしてください / held_open_limit_secs must be 1 to 3600",
            )));
        }
    }
    Ok(name)
}

/// Creates a door.
pub async fn create_door(w: &mut WriteTx, d: &DoorInput) -> Result<Door, StoreError> {
    let name = check_door(w, d).await?;
    let held = d.held_open_limit_secs.unwrap_or(DEFAULT_HELD_OPEN_SECS);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO doors (site_id, name, from_zone_id, to_zone_id, reader_mode, held_open_limit_secs) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(d.site_id)
    .bind(&name)
    .bind(d.from_zone_id)
    .bind(d.to_zone_id)
    .bind(d.reader_mode.code())
    .bind(i64::from(held))
    .fetch_one(w.conn())
    .await
    .map_err(|e| StoreError::unique(e, "name", "同じ拠点に同じ名前の扉があります / a door with this name exists on this site"))?;
    Ok(Door {
        id,
        site_id: d.site_id,
        name,
        from_zone_id: d.from_zone_id,
        to_zone_id: d.to_zone_id,
        reader_mode: d.reader_mode,
        held_open_limit_secs: held,
    })
}

/// Deletes a door with no recorded events (doors with history are kept for the record).
pub async fn delete_door(w: &mut WriteTx, id: Id) -> Result<(), StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_events WHERE door_id = $1")
        .bind(id)
        .fetch_one(w.conn())
        .await?;
    if n > 0 {
        return Err(StoreError::InUse(FieldError::new(
            "id",
            format!("この扉には{n}件の入退室記録があるため削除できません（記録は保存義務があります） / this door has {n} recorded events and cannot be deleted"),
        )));
    }
    let r = sqlx::query("DELETE FROM doors WHERE id = $1")
        .bind(id)
        .execute(w.conn())
        .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("door", id));
    }
    Ok(())
}

/// All doors, optionally of one site.
pub async fn list_doors(s: &Store, site_id: Option<Id>) -> Result<Vec<Door>, StoreError> {
    let rows = match site_id {
        Some(site) => {
            let q = format!("SELECT {DOOR_COLS} FROM doors WHERE site_id = $1 ORDER BY id");
            s.fetch_all(sqlx::query(&q).bind(site)).await?
        }
        None => {
            let q = format!("SELECT {DOOR_COLS} FROM doors ORDER BY id");
            s.fetch_all(sqlx::query(&q)).await?
        }
    };
    rows.iter().map(door_from).collect()
}

/// One door.
pub async fn get_door(s: &Store, id: Id) -> Result<Door, StoreError> {
    let q = format!("SELECT {DOOR_COLS} FROM doors WHERE id = $1");
    let r = s
        .fetch_optional(sqlx::query(&q).bind(id))
        .await?
        .ok_or_else(|| StoreError::not_found("door", id))?;
    door_from(&r)
}
