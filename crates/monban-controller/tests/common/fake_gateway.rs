//! A stand-in for the server's controller gateway, for tests and benchmarks that must control
//! exactly what reaches a controller: TLS with the server's own certificate code, a welcome
//! to any controller, every upload acknowledged, and whatever it is told to send — good
//! snapshots the way the real gateway sends them, and broken ones.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use monban_controller::link;
use monban_proto::{ControllerMsg, ServerMsg, SignedSnapshot, MAX_CONTROLLER_FRAME, PROTO_VERSION};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, Mutex};

/// What the gateway sends next.
pub enum Send {
    /// A snapshot as the real gateway sends it: announcement, then the payload as a raw frame.
    Snapshot(SignedSnapshot),
    /// The announcement and the frame's length, then only the first `n` payload bytes, and
    /// the connection closed.
    Cut(SignedSnapshot, usize),
    /// These bytes as they are.
    Raw(Vec<u8>),
    /// The connection closed (the controller reconnects).
    Close,
}

/// A running gateway.
pub struct FakeGateway {
    /// `host:port`.
    pub addr: String,
    /// SHA-256 of its certificate, hex, for the enrolment.
    pub cert_sha256: String,
    /// Sends to the connected controller (or the next to connect).
    pub tx: mpsc::UnboundedSender<Send>,
    /// Connections accepted so far.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeGateway {
    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Starts a gateway on loopback with its certificate in `dir`, on a thread and runtime of its
/// own (so it can be started from inside a test's runtime or from plain `main`).
pub fn start(dir: &std::path::Path) -> FakeGateway {
    let (config, sha) = monban_server::gateway::tls::load_or_create(dir).unwrap();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    let rx = Arc::new(Mutex::new(rx));
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = connections.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let Ok(tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // One controller at a time: the script belongs to it.
                serve(tls, &rx).await;
            }
        });
    });
    FakeGateway {
        addr,
        cert_sha256: sha,
        tx,
        connections,
    }
}

async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    tls: S,
    script: &Mutex<mpsc::UnboundedReceiver<Send>>,
) {
    let (mut rd, mut wr) = tokio::io::split(tls);
    let Ok(ControllerMsg::Hello {
        controller_id,
        journal_head,
        ..
    }) = link::recv(&mut rd, MAX_CONTROLLER_FRAME).await
    else {
        return;
    };
    let welcome = ServerMsg::Welcome {
        proto: PROTO_VERSION,
        controller_id,
        doors: vec![1, 2, 3],
        stored_seq: journal_head,
    };
    if link::send(&mut wr, &welcome).await.is_err() {
        return;
    }
    let mut script = script.lock().await;
    loop {
        tokio::select! {
            m = link::recv::<ControllerMsg, _>(&mut rd, MAX_CONTROLLER_FRAME) => {
                let reply = match m {
                    Ok(ControllerMsg::Records { msg_id, records }) => ServerMsg::Ack {
                        msg_id,
                        upto_seq: records.last().map_or(0, |r| r.seq),
                    },
                    Ok(ControllerMsg::Ping { msg_id }) => ServerMsg::Pong { msg_id },
                    Ok(ControllerMsg::Hello { .. }) => continue,
                    Err(_) => return,
                };
                if link::send(&mut wr, &reply).await.is_err() {
                    return;
                }
            }
            s = script.recv() => {
                let ok = match s {
                    None | Some(Send::Close) => return,
                    Some(Send::Snapshot(s)) => send_snapshot(&mut wr, &s, s.payload.len()).await,
                    Some(Send::Cut(s, n)) => {
                        let _ = send_snapshot(&mut wr, &s, n).await;
                        return;
                    }
                    Some(Send::Raw(b)) => wr.write_all(&b).await.is_ok() && wr.flush().await.is_ok(),
                };
                if !ok {
                    return;
                }
            }
        }
    }
}

/// The announcement, the frame length of the whole payload, and its first `n` bytes.
async fn send_snapshot<W: tokio::io::AsyncWrite + Unpin>(
    wr: &mut W,
    s: &SignedSnapshot,
    n: usize,
) -> bool {
    let prefix = monban_proto::raw_frame_prefix(s.payload.len()).unwrap();
    link::send(wr, &s.announcement()).await.is_ok()
        && wr.write_all(&prefix).await.is_ok()
        && wr.write_all(&s.payload[..n]).await.is_ok()
        && wr.flush().await.is_ok()
}
