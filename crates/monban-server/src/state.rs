//! Shared server state: the store, settings, the live event channel and the login throttle.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use monban_core::text::Code;
use monban_core::AccessEvent;
use monban_store::events::NewAccessEvent;
use monban_store::{events, facility, people, Store};
use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::config::ServerConfig;
use crate::error::ApiError;

/// An access event as the console shows it: names resolved, reason in both languages.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    /// When the door saw it (RFC 3339).
    pub occurred_at: String,
    pub door_id: i64,
    pub door_name: String,
    /// `in` or `out`.
    pub direction: String,
    pub person_id: Option<i64>,
    pub person_name: Option<String>,
    pub granted: bool,
    /// Stable reason code, e.g. `granted`, `outside_schedule`.
    pub reason: String,
    pub reason_ja: String,
    pub reason_en: String,
    pub zone_after: Option<i64>,
}

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<ServerConfig>,
    events_tx: broadcast::Sender<EventView>,
    throttle: Arc<Mutex<HashMap<IpAddr, (u32, Instant)>>>,
    /// Signs audit-log checkpoints; `None` when no signing key is configured.
    pub checkpointer: Option<Arc<crate::audit::Checkpointer>>,
    /// Door controllers: current snapshot, pushes to connected controllers.
    pub controllers: crate::gateway::Hub,
    /// The My Number vault; locked until [`AppState::with_vault`] gives an opened one.
    pub vault: monban_vault::Vault,
    /// Face recognition (models and template key); `None` when the models are not installed.
    pub face: Option<Arc<monban_face::FaceService>>,
}

/// Length of the per-address login throttle window.
const THROTTLE_WINDOW: Duration = Duration::from_secs(300);

impl AppState {
    /// New state over an open store.
    pub fn new(store: Store, config: ServerConfig) -> Self {
        let (events_tx, _) = broadcast::channel(1024);
        let store_for_vault = store.clone();
        Self {
            store,
            config: Arc::new(config),
            events_tx,
            throttle: Arc::new(Mutex::new(HashMap::new())),
            checkpointer: None,
            controllers: crate::gateway::Hub::new(),
            vault: monban_vault::Vault::locked(
                store_for_vault,
                "鍵が設定されていません / no master key configured",
            ),
            face: None,
        }
    }

    /// Uses an opened vault (see `monban_vault::Vault::open`).
    pub fn with_vault(mut self, vault: monban_vault::Vault) -> Self {
        self.vault = vault;
        self
    }

    /// Enables face enrollment with loaded models (see `monban_face::FaceService::open`).
    pub fn with_face(mut self, face: monban_face::FaceService) -> Self {
        self.face = Some(Arc::new(face));
        self
    }

    /// Adds the audit-log checkpoint signer.
    pub fn with_checkpointer(mut self, c: crate::audit::Checkpointer) -> Self {
        self.checkpointer = Some(Arc::new(c));
        self
    }

    /// Sends an already stored event to live subscribers.
    pub fn publish(&self, view: EventView) {
        let _ = self.events_tx.send(view);
    }

    /// Whether anyone listens to live events (names are resolved only then).
    pub fn has_subscribers(&self) -> bool {
        self.events_tx.receiver_count() > 0
    }

    /// Subscribes to live access events.
    pub fn subscribe(&self) -> broadcast::Receiver<EventView> {
        self.events_tx.subscribe()
    }

    /// Stores an access event (updating presence) and sends it to live subscribers.
    /// Returns `None` for a duplicate of an event already stored.
    pub async fn record_access_event(
        &self,
        e: &NewAccessEvent,
    ) -> Result<Option<EventView>, ApiError> {
        let mut w = self.store.begin_write().await?;
        let stored = events::record_access_event(&mut w, e).await?;
        w.commit().await?;
        let Some(ev) = stored else { return Ok(None) };
        let view = self.event_view(&ev).await?;
        // No subscribers is fine: the event is stored.
        let _ = self.events_tx.send(view.clone());
        Ok(Some(view))
    }

    /// Resolves names for an event.
    pub async fn event_view(&self, ev: &AccessEvent) -> Result<EventView, ApiError> {
        let door_name = match facility::get_door(&self.store, ev.door_id).await {
            Ok(d) => d.name,
            Err(_) => format!("#{}", ev.door_id),
        };
        let person_name = match ev.person_id {
            Some(p) => people::get_person(&self.store, p)
                .await
                .ok()
                .map(|p| p.name_kanji),
            None => None,
        };
        Ok(EventView {
            id: ev.id,
            occurred_at: ev.occurred_at.to_string(),
            door_id: ev.door_id,
            door_name,
            direction: ev.direction.code().into(),
            person_id: ev.person_id,
            person_name,
            granted: ev.granted,
            reason: ev.reason.code().into(),
            reason_ja: ev.reason.label_ja().into(),
            reason_en: ev.reason.label_en().into(),
            zone_after: ev.zone_after,
        })
    }

    /// Counts a failed login from `ip`.
    pub fn throttle_failure(&self, ip: IpAddr) {
        let Ok(mut map) = self.throttle.lock() else {
            return;
        };
        let now = Instant::now();
        let entry = map.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) > THROTTLE_WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
        if map.len() > 10_000 {
            map.retain(|_, (_, t)| now.duration_since(*t) <= THROTTLE_WINDOW);
        }
    }

    /// Seconds `ip` must wait before trying to log in again, if it is throttled.
    pub fn throttled(&self, ip: IpAddr) -> Option<u64> {
        let map = self.throttle.lock().ok()?;
        let (count, start) = map.get(&ip)?;
        let elapsed = Instant::now().duration_since(*start);
        if *count >= self.config.throttle_per_ip && elapsed <= THROTTLE_WINDOW {
            Some((THROTTLE_WINDOW - elapsed).as_secs().max(1))
        } else {
            None
        }
    }
}
