//! The OSDP control panel: one bus (a serial line or a pty), several readers on it by address.
//!
//! libosdp drives the protocol (polling, Secure Channel, CRC and MAC checks, retries) on a
//! dedicated thread that refreshes it every few milliseconds. This module adds what a door
//! controller needs on top: card reads mapped to [`CardId`]s, with any read that did not arrive
//! under an active Secure Channel refused; a per-reader rate limit against floods; online,
//! Secure Channel and tamper changes as events; LED and buzzer feedback; and key changes.
//!
//! Secure Channel is required by default (`EnforceSecure`: a reader that cannot establish it
//! with its own SCBK is held offline). Install mode — accepting the default key SCBK-D once to
//! give a new reader its own key — is only used when a [`ReaderConfig`] asks for it, which only
//! the `monban osdp install-key` command does.

use std::collections::HashMap;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use libosdp::{
    ControlPanel, ControlPanelBuilder, OsdpCardFormats, OsdpCommand, OsdpCommandBuzzer,
    OsdpCommandKeyset, OsdpCommandLed, OsdpEvent, OsdpFlag, OsdpLedColor, OsdpLedParams,
    OsdpStatusReportType, PdInfoBuilder,
};
use monban_core::model::Id;
use monban_core::{CardId, Direction};
use tokio::sync::mpsc;

use crate::card::{self, CardFormat};
use crate::keys::Scbk;
use crate::transport::ChannelFactory;

/// How often the control panel thread runs libosdp (it must be at least every 50 ms).
pub const REFRESH: Duration = Duration::from_millis(2);
/// Card reads accepted per reader in a burst, and per second after it.
pub const CARD_BURST: u32 = 4;
/// Key presses accepted per reader per second.
pub const KEY_RATE: u32 = 20;

/// One reader (PD) on the bus.
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    /// Name; also the reader's entry in the key store.
    pub name: String,
    /// OSDP address, 0–126.
    pub address: u8,
    /// The door it reads for.
    pub door_id: Id,
    /// Which way a person using it goes.
    pub direction: Direction,
    /// Whether this reader asks for a PIN after the card (card + PIN doors).
    pub pin: bool,
    /// Its Secure Channel base key.
    pub scbk: Scbk,
    /// Install mode: accept the default key SCBK-D once and set `scbk` in the reader. Only by
    /// explicit operator action.
    pub install_mode: bool,
}

/// Errors starting a bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("OSDPリーダーの設定が不正です: {0}。アドレス（0〜126、重複なし）と名前を確認してください / invalid OSDP reader configuration: {0}; check addresses (0-126, unique) and names")]
    Config(String),
    #[error(
        "OSDPコントロールパネルを開始できません: {0} / cannot start the OSDP control panel: {0}"
    )]
    Setup(String),
    #[error("OSDPバスは停止しています。コントローラーを再起動してください / the OSDP bus has stopped; restart the controller")]
    Stopped,
    #[error("リーダー {0} が新しい鍵でセキュアチャネルを確立しませんでした。鍵は変更されていません（保留中の鍵は鍵ファイルに残ります） / reader {0} did not establish Secure Channel with the new key; the key was not changed (the pending key stays in the key file)")]
    KeyNotConfirmed(String),
}

/// What a reader reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    /// A card was read, under Secure Channel, and mapped.
    Card(CardId),
    /// Keys pressed (ASCII digits, `*`/`#` or 0x7F/0x0D).
    Keys(Vec<u8>),
    /// The reader started (`true`) or stopped answering.
    Online(bool),
    /// Secure Channel became active (`true`) or inactive.
    Secure(bool),
    /// The reader's tamper switch opened (`true`) or closed.
    Tamper(bool),
    /// The reader's power failed (`false`) or was restored.
    Power(bool),
}

/// A reader event with the reader's index in the bus configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusEvent {
    pub reader: usize,
    pub event: ReaderEvent,
}

/// Feedback shown to the person at a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    /// Green LED and one short beep.
    Granted,
    /// Red LED and three beeps.
    Denied,
    /// Amber flashing LED: type your PIN.
    PinPrompt,
}

enum Cmd {
    Feedback(usize, Feedback),
    KeySet(usize, Scbk),
}

/// Status of one reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReaderStatus {
    pub online: bool,
    pub secure: bool,
    /// How many times Secure Channel has become active since the bus started.
    pub sc_sessions: u64,
    /// Card reads dropped (no Secure Channel, bad data, flood).
    pub dropped: u64,
    /// Key changes confirmed: a fresh Secure Channel session under the new key.
    pub keys_confirmed: u64,
}

/// A running bus. Dropping it stops the control panel thread.
pub struct Bus {
    readers: Vec<ReaderConfig>,
    cmd: std_mpsc::Sender<Cmd>,
    status: Arc<Mutex<Vec<ReaderStatus>>>,
    doors: Mutex<HashMap<Id, mpsc::Receiver<BusEvent>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A handle that sends feedback and reads status; cheap to clone.
#[derive(Clone)]
pub struct BusHandle {
    cmd: std_mpsc::Sender<Cmd>,
    status: Arc<Mutex<Vec<ReaderStatus>>>,
    readers: Arc<Vec<ReaderConfig>>,
}

impl std::fmt::Debug for BusHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusHandle")
            .field("readers", &self.readers.len())
            .finish()
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    cap: f64,
    dropped_since_warn: u64,
    last_warn: Option<Instant>,
}

impl Bucket {
    fn new(rate: u32, cap: u32) -> Self {
        Self {
            tokens: f64::from(cap),
            last: Instant::now(),
            rate: f64::from(rate),
            cap: f64::from(cap),
            dropped_since_warn: 0,
            last_warn: None,
        }
    }
    fn take(&mut self, now: Instant) -> bool {
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.cap);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn led(color: OsdpLedColor, on: u8, off: u8, timer: u16) -> OsdpCommand {
    OsdpCommand::Led(OsdpCommandLed {
        reader: 0,
        led_number: 0,
        temporary: OsdpLedParams {
            control_code: 2,
            on_count: on,
            off_count: off,
            on_color: color,
            off_color: OsdpLedColor::None,
            timer_count: timer,
        },
        permanent: OsdpLedParams::default(),
    })
}

fn buzzer(on: u8, off: u8, reps: u8) -> OsdpCommand {
    OsdpCommand::Buzzer(OsdpCommandBuzzer {
        reader: 0,
        control_code: 2,
        on_count: on,
        off_count: off,
        rep_count: reps,
    })
}

/// The OSDP commands that show `f` (exposed for documentation and tests).
pub fn feedback_commands(f: Feedback) -> Vec<OsdpCommand> {
    match f {
        Feedback::Granted => vec![led(OsdpLedColor::Green, 20, 0, 30), buzzer(2, 0, 1)],
        Feedback::Denied => vec![led(OsdpLedColor::Red, 20, 0, 30), buzzer(2, 2, 3)],
        Feedback::PinPrompt => vec![led(OsdpLedColor::Amber, 3, 3, 100)],
    }
}

fn pd_info(r: &ReaderConfig) -> Result<PdInfoBuilder, BusError> {
    let flags = if r.install_mode {
        OsdpFlag::empty()
    } else {
        OsdpFlag::EnforceSecure
    };
    Ok(PdInfoBuilder::new()
        .name(&r.name)
        .and_then(|b| b.address(i32::from(r.address)))
        .and_then(|b| b.baud_rate(115200))
        .map_err(|e| BusError::Config(e.to_string()))?
        .flag(flags)
        .secure_channel_key(r.scbk.bytes()))
}

impl Bus {
    /// Starts a control panel on `channel` for `readers`.
    pub fn start(mut open: ChannelFactory, readers: Vec<ReaderConfig>) -> Result<Self, BusError> {
        crate::log_bridge::install();
        let mut seen = std::collections::HashSet::new();
        for r in &readers {
            if r.address > 126 || !seen.insert(r.address) {
                return Err(BusError::Config(format!("address {}", r.address)));
            }
        }
        if readers.is_empty() {
            return Err(BusError::Config("no readers".into()));
        }
        for r in &readers {
            pd_info(r)?;
        }
        let mut senders = HashMap::new();
        let mut receivers = HashMap::new();
        for r in &readers {
            if let std::collections::hash_map::Entry::Vacant(e) = senders.entry(r.door_id) {
                let (tx, rx) = mpsc::channel(64);
                e.insert(tx);
                receivers.insert(r.door_id, rx);
            }
        }
        let (cmd_tx, cmd_rx) = std_mpsc::channel();
        let status = Arc::new(Mutex::new(vec![ReaderStatus::default(); readers.len()]));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let thread = {
            let mut readers = readers.clone();
            let status = status.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("osdp-cp".into())
                .spawn(move || {
                    let mut ready = Some(ready_tx);
                    let mut st = State::new(readers.len());
                    let mut backoff = Duration::from_secs(2);
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        for (r, k) in readers.iter_mut().zip(st.apply.iter_mut()) {
                    if let Some(k) = k.take() {
                        r.scbk = k;
                    }
                }
                let cp = build_cp(&mut open, &readers);
                        match cp {
                            Ok(cp) => {
                                if let Some(r) = ready.take() {
                                    let _ = r.send(Ok(()));
                                }
                                let restart = run(cp, &readers, &senders, &cmd_rx, &status, &stop, &mut st, backoff);
                                if restart {
                                    backoff = (backoff * 2).min(Duration::from_secs(60));
                                    tracing::info!("OSDPコントロールパネルを再起動して消えたリーダーを再接続 / restarting the OSDP control panel to reconnect lost readers");
                                } else {
                                    backoff = Duration::from_secs(2);
                                }
                            }
                            Err(e) => {
                                if let Some(r) = ready.take() {
                                    let _ = r.send(Err(e));
                                    return;
                                }
                                tracing::warn!(error = %e, "OSDPバスを開けません。再試行します / cannot open the OSDP bus; retrying");
                                std::thread::sleep(backoff);
                            }
                        }
                    }
                })
                .map_err(|e| BusError::Setup(e.to_string()))?
        };
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(BusError::Setup(e)),
            Err(_) => return Err(BusError::Stopped),
        }
        Ok(Self {
            readers,
            cmd: cmd_tx,
            status,
            doors: Mutex::new(receivers),
            stop,
            thread: Some(thread),
        })
    }

    /// A handle for feedback and status.
    pub fn handle(&self) -> BusHandle {
        BusHandle {
            cmd: self.cmd.clone(),
            status: self.status.clone(),
            readers: Arc::new(self.readers.clone()),
        }
    }

    /// The events of one door's readers; `None` if taken already or no reader serves it.
    pub fn take_door_events(&self, door_id: Id) -> Option<mpsc::Receiver<BusEvent>> {
        self.doors.lock().ok()?.remove(&door_id)
    }

    /// The configured readers.
    pub fn readers(&self) -> &[ReaderConfig] {
        &self.readers
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl BusHandle {
    /// Shows feedback on a reader (non-blocking).
    pub fn feedback(&self, reader: usize, f: Feedback) {
        let _ = self.cmd.send(Cmd::Feedback(reader, f));
    }

    /// The reader's status.
    pub fn status(&self, reader: usize) -> ReaderStatus {
        self.status
            .lock()
            .ok()
            .and_then(|s| s.get(reader).copied())
            .unwrap_or_default()
    }

    /// The configured readers.
    pub fn readers(&self) -> &[ReaderConfig] {
        &self.readers
    }

    /// Index of the reader named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.readers.iter().position(|r| r.name == name)
    }

    /// Waits until the reader is online with Secure Channel active.
    pub async fn wait_secure(&self, reader: usize, timeout: Duration) -> bool {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let s = self.status(reader);
            if s.online && s.secure {
                return true;
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends the reader a new SCBK (KEYSET, under the current Secure Channel) and waits until a
    /// new Secure Channel session is established — which libosdp starts with the new key once
    /// the reader acknowledged it. The caller stores the key as pending before, and promotes it
    /// only when this returns `Ok`.
    pub async fn set_key(
        &self,
        reader: usize,
        key: Scbk,
        timeout: Duration,
    ) -> Result<(), BusError> {
        let name = self
            .readers
            .get(reader)
            .map(|r| r.name.clone())
            .unwrap_or_default();
        let before = self.status(reader);
        if !(before.online && before.secure) {
            return Err(BusError::KeyNotConfirmed(name));
        }
        self.cmd
            .send(Cmd::KeySet(reader, key))
            .map_err(|_| BusError::Stopped)?;
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let s = self.status(reader);
            if s.online && s.secure && s.keys_confirmed > before.keys_confirmed {
                return Ok(());
            }
            if tokio::time::Instant::now() >= until {
                return Err(BusError::KeyNotConfirmed(name));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn build_cp(open: &mut ChannelFactory, readers: &[ReaderConfig]) -> Result<ControlPanel, String> {
    let infos: Vec<PdInfoBuilder> = readers
        .iter()
        .map(pd_info)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let channel = open()?;
    ControlPanelBuilder::new()
        .add_channel(channel, infos)
        .build()
        .map_err(|e| e.to_string())
}

/// What survives a control panel restart.
struct State {
    cards: Vec<Bucket>,
    keys: Vec<Bucket>,
    last: Vec<ReaderStatus>,
    tamper: Vec<bool>,
    power: Vec<bool>,
    /// Since when a reader that had been online is offline.
    lost_since: Vec<Option<Instant>>,
    /// Control panel restarts so far.
    restarts: u32,
    /// A key sent with KEYSET, applied to the configuration at the next restart.
    new_key: Vec<Option<(Scbk, Instant)>>,
    /// Readers whose next Secure Channel session confirms a new key.
    confirm: Vec<bool>,
    /// New keys to put in the configuration before the next restart.
    apply: Vec<Option<Scbk>>,
}

impl State {
    fn new(n: usize) -> Self {
        Self {
            cards: (0..n)
                .map(|_| Bucket::new(CARD_BURST, CARD_BURST))
                .collect(),
            keys: (0..n).map(|_| Bucket::new(KEY_RATE, KEY_RATE)).collect(),
            last: vec![ReaderStatus::default(); n],
            tamper: vec![false; n],
            power: vec![true; n],
            lost_since: vec![None; n],
            restarts: 0,
            new_key: vec![None; n],
            confirm: vec![false; n],
            apply: vec![None; n],
        }
    }
}

/// Runs one control panel until stopped (`false`) or until a reader that had been online has
/// been lost for `retry` (`true`: restart it). libosdp waits five minutes before polling an
/// offline reader again; a restart brings a power-cycled reader back within seconds.
#[allow(clippy::too_many_arguments)]
fn run(
    mut cp: ControlPanel,
    readers: &[ReaderConfig],
    senders: &HashMap<Id, mpsc::Sender<BusEvent>>,
    cmds: &std_mpsc::Receiver<Cmd>,
    status: &Arc<Mutex<Vec<ReaderStatus>>>,
    stop: &std::sync::atomic::AtomicBool,
    st: &mut State,
    retry: Duration,
) -> bool {
    let inbox: Arc<Mutex<Vec<(i32, OsdpEvent)>>> = Arc::new(Mutex::new(Vec::new()));
    {
        let inbox = inbox.clone();
        cp.set_event_callback(move |pd, ev| {
            if let Ok(mut q) = inbox.lock() {
                // Bounded: a flood beyond this is dropped here, before any parsing.
                if q.len() < 256 {
                    q.push((pd, ev));
                } else {
                    tracing::warn!(
                        pd,
                        "OSDPイベントが多すぎるため破棄 / OSDP event queue full; event dropped"
                    );
                }
            }
            0
        });
    }
    let n = readers.len();
    let State {
        cards,
        keys,
        last,
        tamper,
        power,
        lost_since,
        restarts,
        new_key,
        confirm,
        apply,
    } = st;
    let started = Instant::now();
    let restarted = *restarts > 0;
    *restarts += 1;
    let emit = |reader: usize, event: ReaderEvent| {
        let Some(r) = readers.get(reader) else { return };
        if let Some(tx) = senders.get(&r.door_id) {
            if tx.try_send(BusEvent { reader, event }).is_err() {
                tracing::warn!(reader = %r.name, "ドアが読み取りを処理しきれないため破棄 / door is not keeping up; reader event dropped");
            }
        }
    };
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        cp.refresh();
        while let Ok(c) = cmds.try_recv() {
            let (pd, list) = match c {
                Cmd::Feedback(pd, f) => (pd, feedback_commands(f)),
                Cmd::KeySet(pd, k) => {
                    let cmd = OsdpCommand::KeySet(OsdpCommandKeyset::new_scbk(k.bytes()));
                    if let Some(slot) = new_key.get_mut(pd) {
                        *slot = Some((k, Instant::now()));
                    }
                    (pd, vec![cmd])
                }
            };
            for cmd in list {
                if pd >= n || cp.send_command(pd as i32, cmd).is_err() {
                    tracing::warn!(pd, "OSDPコマンドを送れません（リーダーがオフライン） / cannot queue OSDP command (reader offline?)");
                }
            }
        }
        let now = Instant::now();
        for (i, prev) in last.iter_mut().enumerate() {
            let mut online = cp.is_online(i as i32);
            let mut secure = cp.is_sc_active(i as i32);
            if confirm[i] && online && secure {
                confirm[i] = false;
                prev.keys_confirmed += 1;
                tracing::info!(reader = %readers[i].name, "新しい鍵でセキュアチャネル確立 / Secure Channel established with the new key");
            }
            // A restarted control panel needs a moment to reach readers that were fine: do not
            // report them offline meanwhile.
            if restarted
                && prev.online
                && !online
                && now.duration_since(started) < Duration::from_secs(5)
            {
                online = prev.online;
                secure = prev.secure;
            }
            let mut s = *prev;
            if online != prev.online {
                let name = &readers[i].name;
                if online {
                    tracing::info!(reader = %name, "OSDPリーダーがオンライン / OSDP reader online");
                } else {
                    tracing::warn!(reader = %name, "OSDPリーダーが応答しません / OSDP reader offline");
                }
                emit(i, ReaderEvent::Online(online));
            }
            if secure != prev.secure {
                emit(i, ReaderEvent::Secure(secure));
                if secure {
                    s.sc_sessions += 1;
                }
            }
            s.online = online;
            s.secure = secure;
            *prev = s;
            if online {
                lost_since[i] = None;
            } else if s.sc_sessions > 0 && lost_since[i].is_none() {
                lost_since[i] = Some(now);
            }
        }
        // After KEYSET, restart under the new key: a new session proves the reader took it,
        // and later restarts use it.
        let mut rekey = false;
        for (i, slot) in new_key.iter_mut().enumerate() {
            if slot
                .as_ref()
                .is_some_and(|(_, t)| now.duration_since(*t) > Duration::from_secs(1))
            {
                if let Some((k, _)) = slot.take() {
                    apply[i] = Some(k);
                    confirm[i] = true;
                    rekey = true;
                }
            }
        }
        if rekey {
            return true;
        }
        if now.duration_since(started) > retry
            && lost_since
                .iter()
                .flatten()
                .any(|t| now.duration_since(*t) > retry)
        {
            return true;
        }
        let events: Vec<(i32, OsdpEvent)> = inbox
            .lock()
            .map(|mut q| q.drain(..).collect())
            .unwrap_or_default();
        for (pd, ev) in events {
            let Ok(i) = usize::try_from(pd) else { continue };
            let Some(r) = readers.get(i) else { continue };
            let secure = last.get(i).is_some_and(|s| s.secure);
            match ev {
                OsdpEvent::CardRead(c) => {
                    let drop_it = |last: &mut Vec<ReaderStatus>, why: &str| {
                        tracing::warn!(reader = %r.name, why, "カード読み取りを破棄 / card read dropped");
                        if let Some(s) = last.get_mut(i) {
                            s.dropped += 1;
                        }
                    };
                    if !secure {
                        drop_it(last, "no Secure Channel");
                        continue;
                    }
                    if !cards[i].take(now) {
                        let b = &mut cards[i];
                        b.dropped_since_warn += 1;
                        if b.last_warn
                            .is_none_or(|t| now.duration_since(t) > Duration::from_secs(1))
                        {
                            tracing::warn!(reader = %r.name, dropped = b.dropped_since_warn, "カード読み取りが多すぎるため破棄 / card read flood; reads dropped");
                            b.last_warn = Some(now);
                            b.dropped_since_warn = 0;
                        }
                        if let Some(s) = last.get_mut(i) {
                            s.dropped += 1;
                        }
                        continue;
                    }
                    let fmt = match c.format {
                        OsdpCardFormats::Wiegand => CardFormat::Wiegand,
                        OsdpCardFormats::Unspecified => CardFormat::Raw,
                    };
                    match card::card_id(fmt, c.nr_bits, &c.data) {
                        Ok(id) => {
                            tracing::info!(reader = %r.name, card = %id.masked(), "カード読み取り / card read");
                            emit(i, ReaderEvent::Card(id));
                        }
                        Err(e) => drop_it(last, &e.to_string()),
                    }
                }
                OsdpEvent::KeyPress(k) => {
                    if !secure {
                        tracing::warn!(reader = %r.name, "セキュアチャネル外のキー入力を破棄 / key press without Secure Channel dropped");
                        continue;
                    }
                    if !keys[i].take(now) || k.data.len() > 16 {
                        tracing::warn!(reader = %r.name, "キー入力が多すぎるため破棄 / key press flood dropped");
                        continue;
                    }
                    emit(i, ReaderEvent::Keys(k.data));
                }
                OsdpEvent::Status(s) if s.type_ == OsdpStatusReportType::Local => {
                    let t = s.nr_entries > 0 && s.report[0] != 0;
                    let p = !(s.nr_entries > 1 && s.report[1] != 0);
                    if t != tamper[i] {
                        tamper[i] = t;
                        tracing::warn!(reader = %r.name, tamper = t, "リーダーのタンパー / reader tamper");
                        emit(i, ReaderEvent::Tamper(t));
                    }
                    if p != power[i] {
                        power[i] = p;
                        emit(i, ReaderEvent::Power(p));
                    }
                }
                other => {
                    tracing::warn!(reader = %r.name, event = ?std::mem::discriminant(&other), "未対応のOSDPイベントを無視 / unhandled OSDP event ignored");
                }
            }
        }
        if let Ok(mut s) = status.lock() {
            s.clone_from(last);
        }
        std::thread::sleep(REFRESH);
    }
    false
}
