//! The controller agent: decides locally from the last verified snapshot, journals every
//! decision and alarm before the door acts, and keeps a link to the server that uploads the
//! journal, receives snapshots, presence and forgiveness, and reconnects for as long as it takes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use monban_core::model::Id;
use monban_core::{
    decide_with_face, AccessRequest, AlarmCode, CardId, CredentialHash, CredentialKind, Decision,
    Direction, FaceEvidence, PolicySnapshot, PresenceState, ReasonCode,
};
use monban_proto::{
    credential_hash, ControllerMsg, DoorRecord, Enrolment, RecordBody, ServerMsg, SignedSnapshot,
    MAX_BATCH, MAX_SERVER_FRAME, PROTO_VERSION,
};
use tokio::sync::{broadcast, mpsc, Notify};

use crate::door::{DoorInput, DoorIo};
use crate::journal::{sync_dir, write_atomic, write_atomic_with, Journal, JournalError};
use crate::link;

/// How long a granted door stays unlocked.
pub const UNLOCK_SECS: u64 = 5;

/// Errors of the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Proto(#[from] monban_proto::ProtoError),
    #[error("状態ディレクトリ {0} に登録情報がありません。先に `monban controller enrol` を実行してください / no enrolment in {0}; run `monban controller enrol` first")]
    NotEnrolled(PathBuf),
    #[error("{0}")]
    Other(String),
}

/// A credential read at a door with everything the reader found; see [`Agent::present_with`].
#[derive(Debug, Clone, Copy)]
pub struct Presentation<'a> {
    pub door_id: Id,
    pub direction: Direction,
    pub kind: CredentialKind,
    /// The card's ID (hex) or the face template reference.
    pub value: &'a str,
    /// The PIN typed, if the reader has a keypad.
    pub pin: Option<&'a str>,
    /// At a face+card door: the reader's 1:1 face check (`None`: none was made).
    pub face: Option<FaceEvidence>,
    /// Body temperature in tenths of °C, if the reader measured one.
    pub temperature_dc: Option<i16>,
    /// The time to decide at (simulations); the controller clock otherwise.
    pub at: Option<Timestamp>,
}

/// One journaled record, as observers (tests, the demo) see it.
pub type Outcome = DoorRecord;

struct Local {
    snap: Option<Arc<PolicySnapshot>>,
    key: Vec<u8>,
    presence: PresenceState,
    journal: Journal,
    doors: Vec<Id>,
}

struct Inner {
    dir: PathBuf,
    enrolment: Enrolment,
    local: Mutex<Local>,
    new_records: Notify,
    outcomes: broadcast::Sender<Outcome>,
    connected: AtomicBool,
    /// Held while a snapshot is received and installed, so that a new link session (after the
    /// old one was cut) never writes the incoming file while the old session's install is
    /// still reading it.
    snapshot_gate: Arc<tokio::sync::Mutex<()>>,
}

/// The incoming snapshot file while it is being received: removed if the receipt is cut off
/// (the task cancelled or the link broken) before it is handed to the install.
struct IncomingFile {
    path: PathBuf,
    handed_over: bool,
}

impl Drop for IncomingFile {
    fn drop(&mut self) {
        if !self.handed_over {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A running controller. Cheap to clone.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

/// What `monban controller status` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub controller_id: Id,
    pub journal_head: u64,
    pub acked: u64,
    pub snapshot_version: u64,
    pub connected: bool,
    pub doors: Vec<Id>,
}

const ENROLMENT_FILE: &str = "enrolment.json";
/// The last verified snapshot, in [`SignedSnapshot::write_stored`]'s form.
const SNAPSHOT_FILE: &str = "snapshot.bin";
/// Where earlier versions kept it (the link's JSON form); read when there is no
/// [`SNAPSHOT_FILE`], converted to it once verified, then removed.
const LEGACY_SNAPSHOT_FILE: &str = "snapshot.json";
const DOORS_FILE: &str = "doors.json";

fn other(e: impl std::fmt::Display) -> AgentError {
    AgentError::Other(e.to_string())
}

/// Saves an enrolment code in `dir` (created if needed). `gateway` overrides the address in
/// the code.
pub fn enrol(dir: &Path, code: &str, gateway: Option<&str>) -> Result<Enrolment, AgentError> {
    let mut e = Enrolment::from_code(code)?;
    if let Some(g) = gateway {
        e.gateway = g.to_string();
    }
    e.verifying_key()?;
    std::fs::create_dir_all(dir).map_err(other)?;
    let json = serde_json::to_vec_pretty(&e).map_err(other)?;
    write_atomic(&dir.join(ENROLMENT_FILE), &json)?;
    Ok(e)
}

/// Reads journal and acknowledgement counters without changing anything (safe while the
/// agent runs). A directory without an enrolment is refused rather than shown as empty.
pub fn inspect(dir: &Path) -> Result<(u64, u64), AgentError> {
    if !dir.join(ENROLMENT_FILE).is_file() {
        return Err(AgentError::NotEnrolled(dir.to_path_buf()));
    }
    let acked = std::fs::read_to_string(dir.join("acked"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0u64);
    let buf = std::fs::read(dir.join("journal.log")).unwrap_or_default();
    let mut pos = 0usize;
    let mut head = acked;
    while let Some(hdr) = buf.get(pos..pos + 8) {
        let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        let Some(body) = buf.get(pos + 8..pos + 8 + len) else {
            break;
        };
        if crc32fast::hash(body) != crc {
            break;
        }
        match serde_json::from_slice::<DoorRecord>(body) {
            Ok(r) => head = head.max(r.seq),
            Err(_) => break,
        }
        pos += 8 + len;
    }
    Ok((head, acked))
}

/// Where a snapshot arriving on the link is written before it is verified.
const INCOMING_SNAPSHOT_FILE: &str = "snapshot.incoming";

/// The snapshot stored in `dir`, if there is one, verified and indexed: the stored form
/// (streamed, see [`monban_proto::read_stored`]), else an earlier version's JSON file.
fn read_stored_snapshot(
    dir: &Path,
    key: &ed25519_dalek::VerifyingKey,
) -> Option<Result<PolicySnapshot, AgentError>> {
    if let Ok(f) = std::fs::File::open(dir.join(SNAPSHOT_FILE)) {
        return Some(monban_proto::read_stored(f, key).map_err(AgentError::from));
    }
    let bytes = std::fs::read(dir.join(LEGACY_SNAPSHOT_FILE)).ok()?;
    Some((|| {
        let signed = serde_json::from_slice::<SignedSnapshot>(&bytes).map_err(other)?;
        let snap = PolicySnapshot::build(signed.verify(key)?).map_err(other)?;
        // Converted once: from now on it loads in the stored form, streamed.
        write_atomic_with(&dir.join(SNAPSHOT_FILE), |w| signed.write_stored(w))?;
        let _ = std::fs::remove_file(dir.join(LEGACY_SNAPSHOT_FILE));
        Ok(snap)
    })())
}

impl Agent {
    /// Opens the agent in `dir` (enrolled before): recovers the journal and loads the last
    /// snapshot if its signature verifies.
    pub fn open(dir: &Path) -> Result<Self, AgentError> {
        let text = std::fs::read(dir.join(ENROLMENT_FILE))
            .map_err(|_| AgentError::NotEnrolled(dir.to_path_buf()))?;
        let enrolment: Enrolment = serde_json::from_slice(&text).map_err(other)?;
        let journal = Journal::open(dir)?;
        let doors: Vec<Id> = std::fs::read(dir.join(DOORS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let (outcomes, _) = broadcast::channel(4096);
        let agent = Self {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                enrolment,
                local: Mutex::new(Local {
                    snap: None,
                    key: Vec::new(),
                    presence: PresenceState::new(),
                    journal,
                    doors,
                }),
                new_records: Notify::new(),
                outcomes,
                connected: AtomicBool::new(false),
                snapshot_gate: Arc::new(tokio::sync::Mutex::new(())),
            }),
        };
        // Left by a controller stopped while receiving: never verified, never used.
        let _ = std::fs::remove_file(dir.join(INCOMING_SNAPSHOT_FILE));
        let key = agent.inner.enrolment.verifying_key()?;
        if let Some(stored) = read_stored_snapshot(dir, &key) {
            match stored.and_then(|s| agent.install(s).map(|_| ())) {
                Ok(()) => {}
                Err(e) => {
                    tracing::error!(error = %e, "stored snapshot refused; waiting for a new one")
                }
            }
        }
        Ok(agent)
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        self.inner
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The enrolment.
    pub fn enrolment(&self) -> &Enrolment {
        &self.inner.enrolment
    }

    /// Current counters.
    pub fn status(&self) -> Status {
        let l = self.local();
        Status {
            controller_id: self.inner.enrolment.controller_id,
            journal_head: l.journal.head(),
            acked: l.journal.acked(),
            snapshot_version: l.snap.as_ref().map(|s| s.version()).unwrap_or(0),
            connected: self.inner.connected.load(Ordering::Relaxed),
            doors: l.doors.clone(),
        }
    }

    /// Every journaled record, as it is journaled.
    pub fn subscribe(&self) -> broadcast::Receiver<Outcome> {
        self.inner.outcomes.subscribe()
    }

    /// Verifies and puts in use a snapshot held in memory (simulators and tests; it is not
    /// stored, so it lasts until the next start). An unsigned, wrongly signed or older snapshot
    /// is refused and the current one kept. Returns the version in use afterwards. Snapshots
    /// from the link go through [`Agent::install_stored`].
    pub fn install_snapshot(&self, s: &SignedSnapshot) -> Result<u64, AgentError> {
        let key = self.inner.enrolment.verifying_key()?;
        let data = s.verify(&key)?;
        self.check_newer(data.version)?;
        self.install(PolicySnapshot::build(data).map_err(other)?)
    }

    /// Verifies and installs the stored-form snapshot at `path` (as received from the link),
    /// indexing it as it is read; once it is in use it becomes the stored snapshot. Refused
    /// (and the file removed) like [`Agent::install_snapshot`].
    pub fn install_stored(&self, path: &Path) -> Result<u64, AgentError> {
        let result = (|| {
            let key = self.inner.enrolment.verifying_key()?;
            let mut f = std::fs::File::open(path).map_err(other)?;
            let snap = monban_proto::read_stored(&mut f, &key)?;
            self.check_newer(snap.version())?;
            // Durable before it takes the stored snapshot's name.
            f.sync_all().map_err(other)?;
            let stored = self.inner.dir.join(SNAPSHOT_FILE);
            std::fs::rename(path, &stored).map_err(other)?;
            sync_dir(&self.inner.dir);
            let _ = std::fs::remove_file(self.inner.dir.join(LEGACY_SNAPSHOT_FILE));
            self.install(snap)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(path);
        }
        result
    }

    fn check_newer(&self, version: u64) -> Result<(), AgentError> {
        let current = self.local().snap.as_ref().map(|s| s.version()).unwrap_or(0);
        if version < current {
            return Err(other(format!(
                "古いスナップショット（{version}）は使いません / refusing snapshot {version} older than {current}"
            )));
        }
        Ok(())
    }

    /// Puts a verified snapshot in use.
    fn install(&self, snap: PolicySnapshot) -> Result<u64, AgentError> {
        let cred_key = hex::decode(snap.credential_key()).map_err(other)?;
        let mut l = self.local();
        if snap.version() < l.snap.as_ref().map(|s| s.version()).unwrap_or(0) {
            return Err(other(
                "古いスナップショットは使いません / refusing an older snapshot",
            ));
        }
        let v = snap.version();
        l.snap = Some(Arc::new(snap));
        l.key = cred_key;
        Ok(v)
    }

    fn journal(
        &self,
        l: &mut Local,
        at: Timestamp,
        body: RecordBody,
    ) -> Result<DoorRecord, AgentError> {
        let rec = l.journal.append(at.as_microsecond(), body)?;
        let _ = self.inner.outcomes.send(rec.clone());
        self.inner.new_records.notify_one();
        Ok(rec)
    }

    /// Decides a credential read at a door, journals it (and a two-person companion's entry)
    /// and returns the decision. Never touches the network. Carries no face evidence; a
    /// face+card door needs [`Agent::present_with`].
    #[allow(clippy::too_many_arguments)]
    pub fn present(
        &self,
        door_id: Id,
        direction: Direction,
        kind: CredentialKind,
        value: &str,
        pin: Option<&str>,
        temperature_dc: Option<i16>,
        at: Option<Timestamp>,
    ) -> Result<Decision, AgentError> {
        self.present_with(&Presentation {
            door_id,
            direction,
            kind,
            value,
            pin,
            face: None,
            temperature_dc,
            at,
        })
    }

    /// The keyed hash the snapshot knows a credential by (a card's normalised ID, a face
    /// template reference), so a face reader can hash its gallery's template references and
    /// compare them with [`Agent::face_hashes_for_card`]. `None` without a snapshot or for an
    /// unreadable card.
    pub fn credential_hash(&self, kind: CredentialKind, value: &str) -> Option<CredentialHash> {
        let l = self.local();
        l.snap.as_ref()?;
        hash_credential(&l.key, kind, value)
    }

    /// The keyed hashes of the face templates of the holder of a card, for the 1:1 check at a
    /// face+card door. Empty for an unknown card or a holder without a face credential. The
    /// controller learns no name or template this way: only hashes it already holds.
    pub fn face_hashes_for_card(&self, card: &str) -> Vec<CredentialHash> {
        let l = self.local();
        let Some(snap) = l.snap.as_ref() else {
            return Vec::new();
        };
        hash_credential(&l.key, CredentialKind::Card, card)
            .and_then(|h| snap.person_of(&h))
            .map(|pid| snap.face_hashes_of(pid).to_vec())
            .unwrap_or_default()
    }

    /// Like [`Agent::present`], with everything the reader found, face evidence included: at a
    /// face+card door the decision engine refuses a read without a face check
    /// (`face_required`) or with a face that is not the card holder's (`face_mismatch`), and
    /// the refusal is journaled and uploaded like every other decision.
    pub fn present_with(&self, p: &Presentation<'_>) -> Result<Decision, AgentError> {
        let Presentation {
            door_id,
            direction,
            kind,
            value,
            pin,
            face,
            temperature_dc,
            at,
        } = *p;
        let at = at.unwrap_or_else(Timestamp::now);
        let mut l = self.local();
        let snap = l.snap.clone();
        let (d, version) = match &snap {
            None => (
                Decision {
                    granted: false,
                    reason: ReasonCode::UnknownCredential,
                    person_id: None,
                    credential_kind: None,
                    companion: None,
                    alarm: None,
                },
                0,
            ),
            Some(snap) => {
                let hash = hash_credential(&l.key, kind, value);
                let pin_ok = pin.map(|p| {
                    hash.and_then(|h| snap.person_of(&h))
                        .and_then(|pid| snap.pin_hash_of(pid))
                        .is_some_and(|phc| verify_pin(p, phc))
                });
                let req = AccessRequest {
                    door_id,
                    direction,
                    credential: hash,
                    pin_ok,
                    temperature_dc,
                };
                let d = decide_with_face(snap, &l.presence, &req, face, at);
                l.presence.apply(snap, &req, &d, at);
                if d.granted {
                    l.presence.set_door_open(door_id, true);
                }
                (d, snap.version())
            }
        };
        self.journal(
            &mut l,
            at,
            RecordBody::Access {
                door_id,
                direction,
                person_id: d.person_id,
                credential_kind: d.credential_kind,
                granted: d.granted,
                reason: d.reason,
                alarm: d.alarm,
                snapshot_version: version,
            },
        )?;
        if let Some(c) = d.companion {
            self.journal(
                &mut l,
                at,
                RecordBody::Access {
                    door_id,
                    direction,
                    person_id: Some(c),
                    credential_kind: None,
                    granted: true,
                    reason: ReasonCode::Granted,
                    alarm: None,
                    snapshot_version: version,
                },
            )?;
        }
        Ok(d)
    }

    /// Journals a door alarm.
    pub fn alarm(
        &self,
        door_id: Option<Id>,
        code: AlarmCode,
        detail: &str,
    ) -> Result<(), AgentError> {
        let mut l = self.local();
        self.journal(
            &mut l,
            Timestamp::now(),
            RecordBody::Alarm {
                door_id,
                code,
                person_id: None,
                detail: detail.to_string(),
            },
        )?;
        Ok(())
    }

    fn set_door_open(&self, door_id: Id, open: bool) {
        self.local().presence.set_door_open(door_id, open);
    }

    fn held_open_limit(&self, door_id: Id) -> u64 {
        self.local()
            .snap
            .as_ref()
            .and_then(|s| s.door(door_id).map(|d| u64::from(d.held_open_limit_secs)))
            .unwrap_or(30)
    }

    /// Runs one door: reads its inputs, decides, drives the lock, raises door alarms
    /// (forced open, held open, tamper, power, reader). Returns when the hardware goes away.
    pub async fn run_door<D: DoorIo>(self, mut io: D) {
        let door = io.door_id();
        let mut unlocked_until: Option<tokio::time::Instant> = None;
        let mut open_since: Option<tokio::time::Instant> = None;
        let mut held_raised = false;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        io.set_unlocked(false);
        loop {
            let input = tokio::select! {
                i = io.next_input() => match i { Some(i) => Some(i), None => break },
                _ = tick.tick() => None,
            };
            let now = tokio::time::Instant::now();
            let result = match input {
                None => Ok(()),
                Some(DoorInput::Read {
                    direction,
                    kind,
                    value,
                    pin,
                    temperature_dc,
                    at,
                }) => self
                    .present(
                        door,
                        direction,
                        kind,
                        &value,
                        pin.as_deref(),
                        temperature_dc,
                        at,
                    )
                    .map(|d| {
                        if d.granted {
                            unlocked_until = Some(unlock(&mut io, now));
                        }
                    }),
                Some(DoorInput::FaceCardRead {
                    direction,
                    card,
                    face,
                    temperature_dc,
                    at,
                }) => self
                    .present_with(&Presentation {
                        door_id: door,
                        direction,
                        kind: CredentialKind::Card,
                        value: &card,
                        pin: None,
                        face,
                        temperature_dc,
                        at,
                    })
                    .map(|d| {
                        if d.granted {
                            unlocked_until = Some(unlock(&mut io, now));
                        }
                    }),
                Some(DoorInput::ExitButton) => {
                    self.set_door_open(door, true);
                    unlocked_until = Some(unlock(&mut io, now));
                    Ok(())
                }
                Some(DoorInput::Contact { open: true }) => {
                    open_since = Some(now);
                    held_raised = false;
                    self.set_door_open(door, true);
                    if unlocked_until.is_none() {
                        self.alarm(Some(door), AlarmCode::ForcedOpen, "")
                    } else {
                        Ok(())
                    }
                }
                Some(DoorInput::Contact { open: false }) => {
                    open_since = None;
                    if unlocked_until.is_none() {
                        self.set_door_open(door, false);
                    }
                    Ok(())
                }
                Some(DoorInput::Tamper) => self.alarm(Some(door), AlarmCode::Tamper, ""),
                Some(DoorInput::Power { on }) => self.alarm(
                    Some(door),
                    if on {
                        AlarmCode::PowerRestored
                    } else {
                        AlarmCode::PowerLoss
                    },
                    "",
                ),
                Some(DoorInput::Reader { online }) => self.alarm(
                    Some(door),
                    if online {
                        AlarmCode::ReaderOnline
                    } else {
                        AlarmCode::ReaderOffline
                    },
                    "",
                ),
            };
            if let Err(e) = result {
                // Without a journal the door stays locked: fail secure, loudly.
                tracing::error!(door, error = %e, "journal failure; door kept locked");
                io.set_unlocked(false);
                unlocked_until = None;
            }
            if unlocked_until.is_some_and(|u| now >= u) {
                unlocked_until = None;
                io.set_unlocked(false);
                if open_since.is_none() {
                    self.set_door_open(door, false);
                }
            }
            if let Some(since) = open_since {
                let limit = self.held_open_limit(door);
                if !held_raised && now.duration_since(since) > Duration::from_secs(limit) {
                    held_raised = true;
                    if let Err(e) = self.alarm(Some(door), AlarmCode::HeldOpen, "") {
                        tracing::error!(door, error = %e, "journal failure");
                    }
                }
            }
        }
    }

    /// Keeps the link to the server up forever: connects, uploads the journal, receives
    /// snapshots and presence; on any failure waits a little and tries again.
    pub async fn run_link(self) {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.session().await {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(e) => tracing::warn!(error = %e, "controller link down; retrying"),
            }
            self.inner.connected.store(false, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(3));
        }
    }

    async fn session(&self) -> Result<(), AgentError> {
        let e = &self.inner.enrolment;
        let (mut rd, mut wr) = link::connect(&e.gateway, &e.cert_sha256).await?;
        let (head, snapshot_version) = {
            let l = self.local();
            (
                l.journal.head(),
                l.snap.as_ref().map(|s| s.version()).unwrap_or(0),
            )
        };
        link::send(
            &mut wr,
            &ControllerMsg::Hello {
                proto: PROTO_VERSION,
                controller_id: e.controller_id,
                token: e.token.clone(),
                snapshot_version,
                journal_head: head,
            },
        )
        .await?;
        let first: ServerMsg = link::recv(&mut rd, MAX_SERVER_FRAME).await?;
        match first {
            ServerMsg::Welcome {
                doors, stored_seq, ..
            } => {
                let mut l = self.local();
                if stored_seq > l.journal.head() {
                    tracing::warn!(
                        stored_seq,
                        head = l.journal.head(),
                        "server has more records than this journal"
                    );
                }
                l.journal.ack(stored_seq)?;
                if l.doors != doors {
                    l.doors = doors;
                    let json = serde_json::to_vec(&l.doors).map_err(other)?;
                    write_atomic(&self.inner.dir.join(DOORS_FILE), &json)?;
                }
            }
            ServerMsg::Refused { code, message } => {
                return Err(other(format!("refused ({code}): {message}")));
            }
            m => return Err(other(format!("unexpected first message {m:?}"))),
        }
        self.inner.connected.store(true, Ordering::Relaxed);
        tracing::info!(controller = e.controller_id, "controller link up");
        let (tx, mut rx) = mpsc::channel::<Result<ServerMsg, AgentError>>(64);
        let agent = self.clone();
        let reader = tokio::spawn(async move {
            loop {
                let m = match link::recv::<ServerMsg, _>(&mut rd, MAX_SERVER_FRAME).await {
                    Ok(ServerMsg::Snapshot { version, signature }) => {
                        agent.receive_snapshot(&mut rd, version, &signature).await
                    }
                    m => m.map(Some),
                };
                let stop = m.is_err();
                let m = match m {
                    Ok(None) => continue,
                    Ok(Some(m)) => Ok(m),
                    Err(e) => Err(e),
                };
                if tx.send(m).await.is_err() || stop {
                    break;
                }
            }
        });
        let result = self.session_loop(&mut wr, &mut rx).await;
        reader.abort();
        result
    }

    /// Takes in an announced snapshot: its payload frame is written to disk as it arrives
    /// (never held in memory), then verified, indexed and installed off the async workers.
    /// A refused snapshot is logged and the previous one kept; only a broken link is an error.
    async fn receive_snapshot<R: tokio::io::AsyncRead + Unpin>(
        &self,
        rd: &mut R,
        version: u64,
        signature: &str,
    ) -> Result<Option<ServerMsg>, AgentError> {
        use base64::Engine;
        // An undecodable signature still has its frame read, so the link stays in step; the
        // all-zero signature it is stored with cannot verify.
        let sig: [u8; 64] = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 64]);
        let header = monban_proto::stored_header(version, &sig)?;
        let gate = self.inner.snapshot_gate.clone().lock_owned().await;
        let mut incoming = IncomingFile {
            path: self.inner.dir.join(INCOMING_SNAPSHOT_FILE),
            handed_over: false,
        };
        // Cut off or refused: nothing of it is kept (the guard removes the file).
        link::recv_raw_to_file(rd, MAX_SERVER_FRAME, &header, &incoming.path).await?;
        incoming.handed_over = true;
        let path = incoming.path.clone();
        let agent = self.clone();
        // The install runs to its end even if this session is cut meanwhile; it keeps the gate.
        let install = move || {
            let _gate = gate;
            agent.install_stored(&path)
        };
        match tokio::task::spawn_blocking(install).await {
            Ok(Ok(v)) => tracing::info!(version = v, "snapshot installed"),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "snapshot refused; keeping the previous one")
            }
            Err(e) => tracing::error!(error = %e, "snapshot install failed"),
        }
        Ok(None)
    }

    async fn session_loop<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        wr: &mut W,
        rx: &mut mpsc::Receiver<Result<ServerMsg, AgentError>>,
    ) -> Result<(), AgentError> {
        let mut msg_id = 0u64;
        let mut inflight: Option<u64> = None;
        let mut ping = tokio::time::interval(Duration::from_secs(10));
        loop {
            if inflight.is_none() {
                let batch = {
                    let l = self.local();
                    l.journal.pending(l.journal.acked(), MAX_BATCH)
                };
                if !batch.is_empty() {
                    msg_id += 1;
                    link::send(
                        wr,
                        &ControllerMsg::Records {
                            msg_id,
                            records: batch,
                        },
                    )
                    .await?;
                    inflight = Some(msg_id);
                }
            }
            tokio::select! {
                m = rx.recv() => {
                    let Some(m) = m else { return Ok(()) };
                    match m? {
                        ServerMsg::Ack { msg_id: id, upto_seq } => {
                            self.local().journal.ack(upto_seq)?;
                            if inflight == Some(id) { inflight = None; }
                        }
                        // Taken in by the reader (`receive_snapshot`) and never passed on.
                        ServerMsg::Snapshot { .. } => {}
                        ServerMsg::Presence { entries, .. } => {
                            let mut l = self.local();
                            for p in entries {
                                if let Ok(since) = Timestamp::from_microsecond(p.since_us) {
                                    l.presence.set(p.person_id, p.zone_id, since);
                                }
                            }
                        }
                        ServerMsg::Forgive { person_id } => self.local().presence.forgive(person_id),
                        ServerMsg::Error { msg_id: id, code, message } => {
                            tracing::warn!(code, message, "server rejected a message");
                            if id.is_some() && id == inflight {
                                inflight = None;
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                        ServerMsg::Refused { code, message } => {
                            return Err(other(format!("refused ({code}): {message}")));
                        }
                        ServerMsg::Welcome { .. } | ServerMsg::Pong { .. } => {}
                    }
                }
                _ = self.inner.new_records.notified() => {}
                _ = ping.tick() => {
                    msg_id += 1;
                    link::send(wr, &ControllerMsg::Ping { msg_id }).await?;
                }
            }
        }
    }
}

/// Releases the lock of `io` for [`UNLOCK_SECS`] from `now`; returns when it locks again.
fn unlock<D: DoorIo>(io: &mut D, now: tokio::time::Instant) -> tokio::time::Instant {
    io.set_unlocked(true);
    now + Duration::from_secs(UNLOCK_SECS)
}

/// Hashes a credential as the server's snapshot does: cards by their normalised ID.
fn hash_credential(key: &[u8], kind: CredentialKind, value: &str) -> Option<CredentialHash> {
    let normalised = match kind {
        CredentialKind::Card => CardId::parse("card", value)
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        _ => value.to_string(),
    };
    (!normalised.is_empty()).then(|| credential_hash(key, kind, &normalised))
}

fn verify_pin(pin: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}
