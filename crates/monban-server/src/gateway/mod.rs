//! The controller gateway: a TLS listener that door controllers keep a link to.
//!
//! - Enrolment and revocation: each controller has its own secret token (only its SHA-256 is
//!   stored) and the gateway's certificate fingerprint; an unknown, revoked or wrong-token
//!   controller is refused.
//! - Snapshots: the policy is built from the store (no names: persons as ids, credentials as
//!   HMAC-SHA256 keyed hashes), signed with the server's Ed25519 key and pushed whenever it
//!   changes.
//! - Ingest: uploaded records are stored exactly once (deduplicated on controller id and
//!   sequence number) with presence, audit entries and gap alarms in one transaction per batch,
//!   and acknowledged only after the commit. Malformed, oversized and replayed messages are
//!   answered with an error and logged; the link stays up.

mod snapshot;
pub mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use monban_core::model::Id;
use monban_core::PolicySnapshot;
use monban_proto::{
    ControllerMsg, DoorRecord, Enrolment, PresenceEntry, RecordBody, ServerMsg, SignedSnapshot,
    MAX_BATCH, MAX_CONTROLLER_FRAME, PROTO_VERSION,
};
use monban_store::controllers::{self, Controller, IngestBody, IngestRecord, Ingested};
use monban_store::{events, Store, StoreError};
use rand::RngCore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, watch, OnceCell};

use crate::state::AppState;

/// Errors of the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("TLS証明書を準備できません: {0} / cannot prepare the gateway TLS certificate: {0}")]
    Tls(String),
    #[error("コントローラー用ポート {addr} で待ち受けできません: {source}。MONBAN_GATEWAY_BIND で別のアドレスを指定してください / cannot listen for controllers on {addr}: {source}; choose another address with MONBAN_GATEWAY_BIND")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("スナップショットを作成できません: {0} / cannot build the policy snapshot: {0}")]
    Snapshot(String),
}

struct Keys {
    signing: SigningKey,
    credential: Vec<u8>,
}

#[derive(Clone)]
struct Current {
    signed: Arc<SignedSnapshot>,
    policy: Arc<PolicySnapshot>,
    content: [u8; 32],
}

/// Something to send to every connected controller.
#[derive(Debug, Clone)]
enum Push {
    Msg(ServerMsg),
    Kick(Id),
}

struct HubInner {
    keys: OnceCell<Keys>,
    current: tokio::sync::Mutex<Option<Current>>,
    snap_tx: watch::Sender<Option<Arc<SignedSnapshot>>>,
    push_tx: broadcast::Sender<Push>,
    connected: std::sync::Mutex<HashMap<Id, u64>>,
    endpoint: std::sync::Mutex<Option<(SocketAddr, String)>>,
}

/// The gateway's shared state, held in [`AppState`]. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

fn random32() -> Vec<u8> {
    let mut b = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

impl Hub {
    /// A hub with no snapshot yet.
    pub fn new() -> Self {
        let (snap_tx, _) = watch::channel(None);
        let (push_tx, _) = broadcast::channel(4096);
        Self {
            inner: Arc::new(HubInner {
                keys: OnceCell::new(),
                current: tokio::sync::Mutex::new(None),
                snap_tx,
                push_tx,
                connected: std::sync::Mutex::new(HashMap::new()),
                endpoint: std::sync::Mutex::new(None),
            }),
        }
    }

    async fn keys(&self, store: &Store) -> Result<&Keys, StoreError> {
        self.inner
            .keys
            .get_or_try_init(|| async {
                controllers::migrate(store).await?;
                let signing =
                    controllers::key_or_create(store, "snapshot_signing", random32).await?;
                let credential =
                    controllers::key_or_create(store, "credential_hmac", random32).await?;
                let arr: [u8; 32] = signing
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("snapshot signing key".into()))?;
                Ok(Keys {
                    signing: SigningKey::from_bytes(&arr),
                    credential,
                })
            })
            .await
    }

    /// Makes sure the controller tables exist (call before using them).
    pub async fn ready(&self, store: &Store) -> Result<(), StoreError> {
        self.keys(store).await.map(|_| ())
    }

    /// The key credentials are hashed with.
    pub async fn credential_key(&self, store: &Store) -> Result<Vec<u8>, StoreError> {
        Ok(self.keys(store).await?.credential.clone())
    }

    /// Builds and signs a snapshot of the current policy.
    pub async fn build(
        &self,
        store: &Store,
    ) -> Result<(SignedSnapshot, PolicySnapshot, [u8; 32]), GatewayError> {
        let keys = self.keys(store).await?;
        let prev = self
            .inner
            .current
            .lock()
            .await
            .as_ref()
            .map(|c| c.signed.version)
            .unwrap_or(0);
        let data = snapshot::policy_data(store, &keys.credential, prev).await?;
        let content = snapshot::content_hash(&data)?;
        let signed = SignedSnapshot::sign(&data, &keys.signing)
            .map_err(|e| GatewayError::Snapshot(e.to_string()))?;
        let policy =
            PolicySnapshot::build(data).map_err(|e| GatewayError::Snapshot(e.to_string()))?;
        Ok((signed, policy, content))
    }

    /// Rebuilds the snapshot and, if the policy changed, pushes it to every controller.
    /// Returns the version in force.
    pub async fn refresh(&self, store: &Store) -> Result<u64, GatewayError> {
        let (signed, policy, content) = self.build(store).await?;
        let mut cur = self.inner.current.lock().await;
        if let Some(c) = cur.as_ref() {
            if c.content == content {
                return Ok(c.signed.version);
            }
        }
        let signed = Arc::new(signed);
        let v = signed.version;
        *cur = Some(Current {
            signed: signed.clone(),
            policy: Arc::new(policy),
            content,
        });
        drop(cur);
        self.inner.snap_tx.send_replace(Some(signed));
        tracing::info!(version = v, "policy snapshot updated");
        Ok(v)
    }

    /// The policy in force (building it the first time).
    pub async fn policy(&self, store: &Store) -> Result<Arc<PolicySnapshot>, GatewayError> {
        if let Some(c) = self.inner.current.lock().await.as_ref() {
            return Ok(c.policy.clone());
        }
        self.refresh(store).await?;
        self.inner
            .current
            .lock()
            .await
            .as_ref()
            .map(|c| c.policy.clone())
            .ok_or_else(|| GatewayError::Snapshot("no snapshot".into()))
    }

    async fn signed(&self, store: &Store) -> Result<Arc<SignedSnapshot>, GatewayError> {
        if let Some(c) = self.inner.current.lock().await.as_ref() {
            return Ok(c.signed.clone());
        }
        self.refresh(store).await?;
        self.inner
            .current
            .lock()
            .await
            .as_ref()
            .map(|c| c.signed.clone())
            .ok_or_else(|| GatewayError::Snapshot("no snapshot".into()))
    }

    /// Tells every controller that an operator forgave `person_id`.
    pub fn forgive(&self, person_id: Id) {
        let _ = self
            .inner
            .push_tx
            .send(Push::Msg(ServerMsg::Forgive { person_id }));
    }

    /// Drops the link of a (revoked) controller.
    pub fn kick(&self, controller_id: Id) {
        let _ = self.inner.push_tx.send(Push::Kick(controller_id));
    }

    fn push_presence(&self, entries: Vec<PresenceEntry>) {
        if !entries.is_empty() {
            let _ = self.inner.push_tx.send(Push::Msg(ServerMsg::Presence {
                full: false,
                entries,
            }));
        }
    }

    /// Connected controllers and the snapshot version each has been sent.
    pub fn connected(&self) -> HashMap<Id, u64> {
        self.inner
            .connected
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Where the gateway listens and its certificate fingerprint, once started.
    pub fn endpoint(&self) -> Option<(SocketAddr, String)> {
        self.inner.endpoint.lock().ok().and_then(|e| e.clone())
    }

    /// The enrolment a controller needs. `gateway` defaults to the listening address.
    pub async fn enrolment(
        &self,
        store: &Store,
        data_dir: &std::path::Path,
        controller_id: Id,
        token: String,
        gateway: Option<String>,
    ) -> Result<Enrolment, GatewayError> {
        let keys = self.keys(store).await?;
        let (addr, sha) = match self.endpoint() {
            Some((a, s)) => (Some(a.to_string()), s),
            None => (None, tls::fingerprint(data_dir)?),
        };
        Ok(Enrolment {
            gateway: gateway.or(addr).unwrap_or_default(),
            controller_id,
            token,
            cert_sha256: sha,
            snapshot_key: hex::encode(keys.signing.verifying_key().to_bytes()),
        })
    }
}

/// Starts the gateway on `bind`; returns the address actually bound. Snapshots are rebuilt
/// every `refresh` and pushed when the policy changed.
pub async fn start(
    state: AppState,
    bind: SocketAddr,
    refresh: Duration,
) -> Result<SocketAddr, GatewayError> {
    let hub = state.controllers.clone();
    hub.ready(&state.store).await?;
    let (config, sha) = tls::load_or_create(&state.config.data_dir)?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| GatewayError::Bind { addr: bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| GatewayError::Bind { addr: bind, source })?;
    if let Ok(mut e) = hub.inner.endpoint.lock() {
        *e = Some((addr, sha));
    }
    hub.refresh(&state.store).await?;
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let st = state.clone();
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    let acceptor = acceptor.clone();
                    let st = st.clone();
                    tokio::spawn(async move {
                        let tls = match tokio::time::timeout(
                            Duration::from_secs(10),
                            acceptor.accept(tcp),
                        )
                        .await
                        {
                            Ok(Ok(t)) => t,
                            Ok(Err(e)) => {
                                tracing::warn!(%peer, error = %e, "controller TLS handshake failed");
                                return;
                            }
                            Err(_) => return,
                        };
                        let (rd, wr) = tokio::io::split(tls);
                        if let Err(e) = serve_link(st, rd, wr, peer).await {
                            tracing::info!(%peer, error = %e, "controller link closed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "gateway accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    let st = state.clone();
    tokio::spawn(async move {
        let mut t = tokio::time::interval(refresh);
        t.tick().await;
        loop {
            t.tick().await;
            if let Err(e) = st.controllers.refresh(&st.store).await {
                tracing::warn!(error = %e, "snapshot refresh failed");
            }
        }
    });
    tracing::info!(%addr, "controller gateway listening");
    Ok(addr)
}

enum Frame {
    Msg(Vec<u8>),
    Oversized(usize),
}

/// Frames beyond this are not even skipped: the link is closed.
const MAX_SKIP: usize = 64 * 1024 * 1024;

async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Frame> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let n = monban_proto::frame_len(len);
    if n > MAX_CONTROLLER_FRAME {
        if n > MAX_SKIP {
            return Err(std::io::Error::other(format!("frame of {n} bytes")));
        }
        let mut left = n;
        let mut buf = vec![0u8; 64 * 1024];
        while left > 0 {
            let k = left.min(buf.len());
            r.read_exact(&mut buf[..k]).await?;
            left -= k;
        }
        return Ok(Frame::Oversized(n));
    }
    let mut buf = vec![0u8; n];
    r.read_exact(&mut buf).await?;
    Ok(Frame::Msg(buf))
}

async fn send<W: AsyncWrite + Unpin>(w: &mut W, msg: &ServerMsg) -> std::io::Result<()> {
    let frame = monban_proto::encode(msg).map_err(std::io::Error::other)?;
    w.write_all(&frame).await?;
    w.flush().await
}

/// Sends a snapshot: its announcement, then its payload as one raw frame (no copy, no base64).
async fn send_snapshot<W: AsyncWrite + Unpin>(
    w: &mut W,
    s: &SignedSnapshot,
) -> std::io::Result<()> {
    let frame = monban_proto::encode(&s.announcement()).map_err(std::io::Error::other)?;
    w.write_all(&frame).await?;
    let prefix = monban_proto::raw_frame_prefix(s.payload.len()).map_err(std::io::Error::other)?;
    w.write_all(&prefix).await?;
    w.write_all(&s.payload).await?;
    w.flush().await
}

fn refused(code: &str, message: &str) -> ServerMsg {
    ServerMsg::Refused {
        code: code.into(),
        message: message.into(),
    }
}

async fn authenticate(state: &AppState, hello: &ControllerMsg) -> Result<Controller, ServerMsg> {
    let ControllerMsg::Hello {
        proto,
        controller_id,
        token,
        ..
    } = hello
    else {
        return Err(refused(
            "hello_expected",
            "最初に hello を送ってください / send hello first",
        ));
    };
    if *proto != PROTO_VERSION {
        return Err(refused("protocol", &format!("プロトコル版 {proto} には対応していません。コントローラーを更新してください / protocol version {proto} is not supported (server speaks {PROTO_VERSION}); update the controller")));
    }
    let c = match controllers::get_controller(&state.store, *controller_id).await {
        Ok(c) => c,
        Err(_) => return Err(refused("unknown", "未登録のコントローラーです。サーバーで登録してください / unknown controller; enrol it on the server")),
    };
    if c.revoked {
        return Err(refused("revoked", "このコントローラーは失効しています。再登録が必要です / this controller has been revoked; enrol it again"));
    }
    if !c.token_matches(&monban_proto::token_hash(token)) {
        return Err(refused("bad_token", "認証情報が違います。登録コードを再発行してください / wrong credential; issue a new enrolment code"));
    }
    Ok(c)
}

async fn serve_link<R, W>(
    state: AppState,
    mut rd: R,
    mut wr: W,
    peer: SocketAddr,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let hub = state.controllers.clone();
    let hello = match tokio::time::timeout(Duration::from_secs(10), read_frame(&mut rd)).await {
        Ok(Ok(Frame::Msg(b))) => serde_json::from_slice::<ControllerMsg>(&b).ok(),
        _ => None,
    };
    let Some(hello) = hello else {
        tracing::warn!(%peer, "controller sent no valid hello");
        send(
            &mut wr,
            &refused(
                "hello_expected",
                "最初に hello を送ってください / send hello first",
            ),
        )
        .await?;
        return Ok(());
    };
    let controller = match authenticate(&state, &hello).await {
        Ok(c) => c,
        Err(msg) => {
            tracing::warn!(%peer, ?msg, "controller refused");
            send(&mut wr, &msg).await?;
            return Ok(());
        }
    };
    let id = controller.id;
    let their_version = match hello {
        ControllerMsg::Hello {
            snapshot_version, ..
        } => snapshot_version,
        _ => 0,
    };
    send(
        &mut wr,
        &ServerMsg::Welcome {
            proto: PROTO_VERSION,
            controller_id: id,
            doors: controller.door_ids.clone(),
            stored_seq: u64::try_from(controller.stored_seq).unwrap_or(0),
        },
    )
    .await?;
    let mut snap_rx = hub.inner.snap_tx.subscribe();
    let mut push_rx = hub.inner.push_tx.subscribe();
    let signed = hub
        .signed(&state.store)
        .await
        .map_err(std::io::Error::other)?;
    if signed.version != their_version {
        send_snapshot(&mut wr, &signed).await?;
    }
    snap_rx.mark_unchanged();
    let entries = events::presence(&state.store)
        .await
        .map_err(std::io::Error::other)?
        .into_iter()
        .map(|p| PresenceEntry {
            person_id: p.person_id,
            zone_id: p.zone_id,
            since_us: p.since.as_microsecond(),
        })
        .collect();
    send(
        &mut wr,
        &ServerMsg::Presence {
            full: true,
            entries,
        },
    )
    .await?;
    if let Ok(mut m) = hub.inner.connected.lock() {
        m.insert(id, signed.version);
    }
    tracing::info!(controller = id, %peer, "controller connected");
    let (ftx, mut frx) = mpsc::channel::<std::io::Result<Frame>>(8);
    let reader = tokio::spawn(async move {
        loop {
            let f = read_frame(&mut rd).await;
            let stop = f.is_err();
            if ftx.send(f).await.is_err() || stop {
                break;
            }
        }
    });
    let result = link_loop(
        &state,
        &controller,
        &mut wr,
        &mut frx,
        &mut snap_rx,
        &mut push_rx,
    )
    .await;
    reader.abort();
    if let Ok(mut m) = hub.inner.connected.lock() {
        m.remove(&id);
    }
    result
}

async fn link_loop<W: AsyncWrite + Unpin>(
    state: &AppState,
    controller: &Controller,
    wr: &mut W,
    frx: &mut mpsc::Receiver<std::io::Result<Frame>>,
    snap_rx: &mut watch::Receiver<Option<Arc<SignedSnapshot>>>,
    push_rx: &mut broadcast::Receiver<Push>,
) -> std::io::Result<()> {
    let id = controller.id;
    let mut last_msg = 0u64;
    loop {
        tokio::select! {
            f = frx.recv() => {
                let Some(f) = f else { return Ok(()) };
                let bytes = match f? {
                    Frame::Oversized(n) => {
                        tracing::warn!(controller = id, bytes = n, "oversized controller message rejected");
                        send(wr, &ServerMsg::Error { msg_id: None, code: "oversized".into(), message: format!("メッセージが大きすぎます（上限{MAX_CONTROLLER_FRAME}バイト） / message of {n} bytes exceeds {MAX_CONTROLLER_FRAME}") }).await?;
                        continue;
                    }
                    Frame::Msg(b) => b,
                };
                let msg = match serde_json::from_slice::<ControllerMsg>(&bytes) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(controller = id, error = %e, "malformed controller message rejected");
                        send(wr, &ServerMsg::Error { msg_id: None, code: "malformed".into(), message: format!("メッセージの形式が正しくありません: {e} / malformed message: {e}") }).await?;
                        continue;
                    }
                };
                let msg_id = match &msg {
                    ControllerMsg::Records { msg_id, .. } | ControllerMsg::Ping { msg_id } => *msg_id,
                    ControllerMsg::Hello { .. } => {
                        send(wr, &ServerMsg::Error { msg_id: None, code: "unexpected".into(), message: "hello は最初だけです / hello only once".into() }).await?;
                        continue;
                    }
                };
                if msg_id <= last_msg {
                    tracing::warn!(controller = id, msg_id, last_msg, "replayed controller message rejected");
                    send(wr, &ServerMsg::Error { msg_id: Some(msg_id), code: "replay".into(), message: "再送・重複したメッセージです / replayed message".into() }).await?;
                    continue;
                }
                last_msg = msg_id;
                match msg {
                    ControllerMsg::Ping { msg_id } => send(wr, &ServerMsg::Pong { msg_id }).await?,
                    ControllerMsg::Records { msg_id, records } => {
                        if records.len() > MAX_BATCH {
                            send(wr, &ServerMsg::Error { msg_id: Some(msg_id), code: "oversized".into(), message: format!("一度に送れる記録は{MAX_BATCH}件までです / at most {MAX_BATCH} records per batch") }).await?;
                            continue;
                        }
                        match ingest(state, controller, &records).await {
                            Ok(done) => {
                                let upto = records.iter().map(|r| r.seq).max().unwrap_or(0);
                                send(wr, &ServerMsg::Ack { msg_id, upto_seq: upto }).await?;
                                tracing::debug!(controller = id, new = done.events.len(), dup = done.duplicates, upto, "ingested");
                            }
                            Err(e) => {
                                tracing::warn!(controller = id, error = %e, "ingest failed");
                                send(wr, &ServerMsg::Error { msg_id: Some(msg_id), code: "rejected".into(), message: e.to_string() }).await?;
                            }
                        }
                    }
                    ControllerMsg::Hello { .. } => {}
                }
            }
            changed = snap_rx.changed() => {
                if changed.is_err() { return Ok(()) }
                let s = snap_rx.borrow_and_update().clone();
                if let Some(s) = s {
                    send_snapshot(wr, &s).await?;
                    if let Ok(mut m) = state.controllers.inner.connected.lock() {
                        m.insert(id, s.version);
                    }
                }
            }
            p = push_rx.recv() => match p {
                Ok(Push::Msg(m)) => send(wr, &m).await?,
                Ok(Push::Kick(k)) if k == id => {
                    send(wr, &refused("revoked", "このコントローラーは失効しました / this controller has been revoked")).await?;
                    return Ok(());
                }
                Ok(Push::Kick(_)) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Missed presence changes: send everyone's whereabouts again.
                    let entries = events::presence(&state.store).await.map_err(std::io::Error::other)?
                        .into_iter()
                        .map(|p| PresenceEntry { person_id: p.person_id, zone_id: p.zone_id, since_us: p.since.as_microsecond() })
                        .collect();
                    send(wr, &ServerMsg::Presence { full: true, entries }).await?;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
        }
    }
}

/// Converts wire records to the store's form.
pub fn to_ingest(records: &[DoorRecord]) -> Vec<IngestRecord> {
    records
        .iter()
        .map(|r| IngestRecord {
            seq: i64::try_from(r.seq).unwrap_or(i64::MAX),
            at: jiff::Timestamp::from_microsecond(r.at_us).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            body: match &r.body {
                RecordBody::Access {
                    door_id,
                    direction,
                    person_id,
                    credential_kind,
                    granted,
                    reason,
                    alarm,
                    ..
                } => IngestBody::Access {
                    door_id: *door_id,
                    direction: *direction,
                    person_id: *person_id,
                    credential_kind: *credential_kind,
                    granted: *granted,
                    reason: *reason,
                    alarm: *alarm,
                },
                RecordBody::Alarm {
                    door_id,
                    code,
                    person_id,
                    detail,
                } => IngestBody::Alarm {
                    door_id: *door_id,
                    code: *code,
                    person_id: *person_id,
                    detail: detail.clone(),
                },
            },
        })
        .collect()
}

/// Stores a batch from `controller` exactly once in one transaction, then shows new events on
/// the console and sends presence changes to every controller.
pub async fn ingest(
    state: &AppState,
    controller: &Controller,
    records: &[DoorRecord],
) -> Result<Ingested, StoreError> {
    let recs = to_ingest(records);
    let mut w = state.store.begin_write().await?;
    let done = controllers::ingest(&mut w, controller.id, &controller.door_ids, &recs).await?;
    w.commit().await?;
    for a in &done.alarms {
        tracing::warn!(controller = controller.id, door = ?a.door_id, person = ?a.person_id, code = %a.code, detail = %a.detail, "door alarm");
    }
    let mut presence = Vec::new();
    for ev in &done.events {
        if let (true, Some(p)) = (ev.granted, ev.person_id) {
            presence.push(PresenceEntry {
                person_id: p,
                zone_id: ev.zone_after,
                since_us: ev.occurred_at.as_microsecond(),
            });
        }
    }
    state.controllers.push_presence(presence);
    if state.has_subscribers() {
        for ev in &done.events {
            if let Ok(v) = state.event_view(ev).await {
                state.publish(v);
            }
        }
    }
    Ok(done)
}
