//! Presence (who is in which zone now), recent events, the live event stream (SSE), and the
//! holiday calendar.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::stream::Stream;
use monban_core::holiday;
use monban_core::operator::Permission;
use monban_core::text::{Code, FieldError};
use monban_store::{events, facility, people};
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::{AppState, EventView};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(presence))
        .routes(routes!(list_events))
        .routes(routes!(event_stream))
        .routes(routes!(holidays))
        .routes(routes!(health))
}

/// A person inside a zone.
#[derive(Serialize, ToSchema)]
pub struct PresentPerson {
    pub person_id: i64,
    pub name: String,
    pub department: Option<String>,
    /// When they entered (RFC 3339).
    pub since: String,
}

/// A zone and who is in it.
#[derive(Serialize, ToSchema)]
pub struct ZonePresence {
    pub zone_id: i64,
    pub zone_name: String,
    pub class: String,
    pub class_ja: String,
    pub class_en: String,
    pub occupancy_limit: Option<u32>,
    pub count: usize,
    pub persons: Vec<PresentPerson>,
}

/// Who is in each zone now.
#[utoipa::path(get, path = "/api/presence", tag = "monitor", security(("session" = [])), responses((status = 200, body = [ZonePresence]), (status = 401, body = Problem)))]
async fn presence(State(st): State<AppState>, a: Authed) -> ApiResult<Json<Vec<ZonePresence>>> {
    a.require(Permission::ViewMonitoring)?;
    let zones = facility::list_zones(&st.store, None).await?;
    let here = events::presence(&st.store).await?;
    let mut out = Vec::with_capacity(zones.len());
    for z in zones {
        let mut persons = Vec::new();
        for p in here.iter().filter(|p| p.zone_id == Some(z.id)) {
            let (name, department) = match people::get_person(&st.store, p.person_id).await {
                Ok(person) => (person.name_kanji, person.department),
                Err(_) => (format!("#{}", p.person_id), None),
            };
            persons.push(PresentPerson {
                person_id: p.person_id,
                name,
                department,
                since: p.since.to_string(),
            });
        }
        out.push(ZonePresence {
            zone_id: z.id,
            zone_name: z.name,
            class: z.class.code().into(),
            class_ja: z.class.label_ja().into(),
            class_en: z.class.label_en().into(),
            occupancy_limit: z.occupancy_limit,
            count: persons.len(),
            persons,
        });
    }
    Ok(Json(out))
}

/// Paging for events.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// At most 500; default 50.
    pub limit: Option<i64>,
    /// Only events with an id below this.
    pub before: Option<i64>,
}

/// Recent access events, newest first.
#[utoipa::path(get, path = "/api/events", tag = "monitor", params(EventQuery), security(("session" = [])), responses((status = 200, body = [EventView])))]
async fn list_events(
    State(st): State<AppState>,
    a: Authed,
    Query(q): Query<EventQuery>,
) -> ApiResult<Json<Vec<EventView>>> {
    a.require(Permission::ViewMonitoring)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let evs = events::recent_events(&st.store, limit, q.before).await?;
    let mut out = Vec::with_capacity(evs.len());
    for e in &evs {
        out.push(st.event_view(e).await?);
    }
    Ok(Json(out))
}

/// Live access events as Server-Sent Events (`event: access`, data: an EventView as JSON).
#[utoipa::path(get, path = "/api/events/stream", tag = "monitor", security(("session" = [])),
    responses((status = 200, description = "text/event-stream of `access` events", content_type = "text/event-stream"), (status = 401, body = Problem)))]
async fn event_stream(
    State(st): State<AppState>,
    a: Authed,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    a.require(Permission::ViewMonitoring)?;
    let rx = st.subscribe();
    let stream = BroadcastStream::new(rx).filter_map(|msg| match msg {
        Ok(view) => Event::default()
            .event("access")
            .id(view.id.to_string())
            .json_data(&view)
            .ok()
            .map(Ok),
        // A slow client missed some events: tell it to reload rather than silently skip.
        Err(_) => Some(Ok(Event::default().event("lagged").data("reload"))),
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Year to list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HolidayQuery {
    pub year: i16,
}

/// A national holiday.
#[derive(Serialize, ToSchema)]
pub struct HolidayOut {
    pub date: String,
    pub name_ja: String,
    pub name_en: String,
}

/// Japanese national holidays of a year (computed; 2000–2099).
#[utoipa::path(get, path = "/api/holidays", tag = "monitor", params(HolidayQuery), security(("session" = [])), responses((status = 200, body = [HolidayOut]), (status = 422, body = Problem)))]
async fn holidays(a: Authed, Query(q): Query<HolidayQuery>) -> ApiResult<Json<Vec<HolidayOut>>> {
    a.require(Permission::ViewMonitoring)?;
    if !(2000..=2099).contains(&q.year) {
        return Err(ApiError::Invalid(FieldError::new(
            "year",
            "年は2000〜2099の範囲で指定してください / year must be 2000 to 2099",
        )));
    }
    Ok(Json(
        holiday::holidays_in_year(q.year)
            .into_iter()
            .map(|(d, h)| HolidayOut {
                date: d.to_string(),
                name_ja: h.name_ja.into(),
                name_en: h.name_en.into(),
            })
            .collect(),
    ))
}

/// Health check.
#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub database: String,
}

/// Whether the server and its database answer. Needs no login.
#[utoipa::path(get, path = "/api/health", tag = "monitor", responses((status = 200, body = Health)))]
async fn health(State(st): State<AppState>) -> ApiResult<Json<Health>> {
    events::count_events(&st.store).await?;
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        database: format!("{:?}", st.store.backend()).to_lowercase(),
    }))
}
