//! Byte transports for the OSDP bus: a serial device (RS-485 adapter), a pseudo-terminal
//! pair (tests and simulation) and a Unix socket, all non-blocking as libosdp requires.
//!
//! A pty has no wire speed, so [`Paced`] can emulate one: it releases received bytes and
//! finishes writes at the time an 8N1 line at the given baud rate would (10 bit times a byte).

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use libosdp::{Channel, ChannelError};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::termios::{self, OptionalActions};

/// Errors opening a transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("シリアルデバイス {path} を開けません: {source}。デバイス名と権限（dialoutグループ）を確認してください / cannot open serial device {path}: {source}; check the device name and permissions (dialout group)")]
    Open { path: PathBuf, source: Errno },
    #[error("シリアル設定に失敗しました（{0}）。{1}ボーに対応したアダプターか確認してください / cannot configure the serial line ({0}); check the adapter supports {1} baud")]
    Termios(Errno, u32),
    #[error("疑似端末を作れません: {0} / cannot create a pseudo-terminal: {0}")]
    Pty(Errno),
    #[error("Unixソケット {path} に接続できません: {source} / cannot connect to Unix socket {path}: {source}")]
    Unix {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Opens (or reopens) the bus's byte channel; called again when the control panel restarts.
pub type ChannelFactory = Box<dyn FnMut() -> Result<Box<dyn Channel>, String> + Send>;

/// A factory for a serial device, reopened on every control panel restart (a USB RS-485
/// adapter that was unplugged comes back).
pub fn serial_factory(path: PathBuf, baud: u32) -> ChannelFactory {
    Box::new(move || {
        open_serial(&path, baud)
            .map(|c| Box::new(c) as Box<dyn Channel>)
            .map_err(|e| e.to_string())
    })
}

/// A factory for an open descriptor (pty master), optionally paced at `baud`.
pub fn fd_factory(ch: FdChannel, baud: Option<u32>) -> ChannelFactory {
    Box::new(move || {
        let c = ch.try_clone().map_err(|e| e.to_string())?;
        Ok(match baud {
            Some(b) => Box::new(Paced::new(c, b)) as Box<dyn Channel>,
            None => Box::new(c) as Box<dyn Channel>,
        })
    })
}

static NEXT_ID: AtomicI32 = AtomicI32::new(1);

fn next_id() -> i32 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

fn map_errno(e: Errno) -> ChannelError {
    // EIO: the other side of a pty is closed (a reader restarting); not fatal.
    if e == Errno::AGAIN || e == Errno::INTR || e == Errno::IO {
        ChannelError::WouldBlock
    } else {
        ChannelError::TransportError
    }
}

/// A non-blocking file descriptor: a tty, a serial device or a pty master.
#[derive(Debug)]
pub struct FdChannel {
    id: i32,
    fd: Option<OwnedFd>,
    /// Kept open so the pty never hangs up while a reader process restarts.
    hold: Option<OwnedFd>,
}

impl FdChannel {
    fn new(fd: OwnedFd, hold: Option<OwnedFd>) -> Self {
        Self {
            id: next_id(),
            fd: Some(fd),
            hold,
        }
    }

    /// Another channel on the same open file (a `dup`), for a restarted control panel.
    pub fn try_clone(&self) -> std::io::Result<Self> {
        let fd = match &self.fd {
            Some(fd) => fd.try_clone()?,
            None => return Err(std::io::Error::other("channel closed")),
        };
        let hold = match &self.hold {
            Some(h) => Some(h.try_clone()?),
            None => None,
        };
        Ok(Self::new(fd, hold))
    }
}

impl Channel for FdChannel {
    fn get_id(&self) -> i32 {
        self.id
    }
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ChannelError> {
        let Some(fd) = &self.fd else {
            return Err(ChannelError::TransportError);
        };
        match rustix::io::read(fd.as_fd(), buf) {
            Ok(n) => Ok(n),
            Err(e) => match map_errno(e) {
                ChannelError::WouldBlock => Ok(0),
                other => Err(other),
            },
        }
    }
    fn write(&mut self, buf: &[u8]) -> Result<usize, ChannelError> {
        let Some(fd) = &self.fd else {
            return Err(ChannelError::TransportError);
        };
        rustix::io::write(fd.as_fd(), buf).map_err(map_errno)
    }
    fn flush(&mut self) -> Result<(), ChannelError> {
        Ok(())
    }
    fn close(&mut self) -> Result<(), ChannelError> {
        self.fd = None;
        self.hold = None;
        Ok(())
    }
}

fn make_raw(fd: &OwnedFd, baud: Option<u32>) -> Result<(), TransportError> {
    let b = baud.unwrap_or(0);
    let mut t = termios::tcgetattr(fd).map_err(|e| TransportError::Termios(e, b))?;
    t.make_raw();
    if let Some(baud) = baud {
        t.set_speed(baud)
            .map_err(|e| TransportError::Termios(e, baud))?;
    }
    termios::tcsetattr(fd, OptionalActions::Now, &t).map_err(|e| TransportError::Termios(e, b))
}

/// Opens a serial device (e.g. `/dev/ttyUSB0`) raw, 8N1, at `baud`.
pub fn open_serial(path: &Path, baud: u32) -> Result<FdChannel, TransportError> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| TransportError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    make_raw(&fd, Some(baud))?;
    Ok(FdChannel::new(fd, None))
}

/// A pseudo-terminal pair: the control panel keeps the master, a reader (or a simulated one)
/// opens [`PtyPair::slave_path`].
#[derive(Debug)]
pub struct PtyPair {
    /// The master side, as a channel for the control panel.
    pub master: FdChannel,
    /// Path of the slave side, e.g. `/dev/pts/7`.
    pub slave_path: PathBuf,
}

/// Creates a pty pair, both sides raw.
pub fn open_pty() -> Result<PtyPair, TransportError> {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
        .map_err(TransportError::Pty)?;
    grantpt(&master).map_err(TransportError::Pty)?;
    unlockpt(&master).map_err(TransportError::Pty)?;
    let name = ptsname(&master, Vec::new()).map_err(TransportError::Pty)?;
    let slave_path = PathBuf::from(name.to_string_lossy().into_owned());
    let slave = rustix::fs::open(
        &slave_path,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(TransportError::Pty)?;
    make_raw(&slave, None)?;
    make_raw(&master, None)?;
    rustix::io::ioctl_fionbio(&master, true).map_err(TransportError::Pty)?;
    Ok(PtyPair {
        master: FdChannel::new(master, Some(slave)),
        slave_path,
    })
}

/// Opens a slave pty (or any tty) non-blocking and raw, for a simulated reader.
pub fn open_tty(path: &Path) -> Result<FdChannel, TransportError> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| TransportError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    make_raw(&fd, None)?;
    Ok(FdChannel::new(fd, None))
}

/// A Unix stream socket (e.g. to a serial-over-network bridge or a simulator).
#[derive(Debug)]
pub struct UnixChannel {
    id: i32,
    stream: UnixStream,
}

/// Connects to a Unix socket, non-blocking.
pub fn open_unix(path: &Path) -> Result<UnixChannel, TransportError> {
    let err = |source| TransportError::Unix {
        path: path.to_path_buf(),
        source,
    };
    let stream = UnixStream::connect(path).map_err(err)?;
    stream.set_nonblocking(true).map_err(err)?;
    Ok(UnixChannel {
        id: next_id(),
        stream,
    })
}

impl Channel for UnixChannel {
    fn get_id(&self) -> i32 {
        self.id
    }
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ChannelError> {
        use std::io::Read;
        match self.stream.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
    fn write(&mut self, buf: &[u8]) -> Result<usize, ChannelError> {
        use std::io::Write;
        Ok(self.stream.write(buf)?)
    }
    fn flush(&mut self) -> Result<(), ChannelError> {
        Ok(())
    }
    fn close(&mut self) -> Result<(), ChannelError> {
        Ok(())
    }
}

/// Emulates the wire time of an 8N1 line at `baud` over a transport without one (a pty).
#[derive(Debug)]
pub struct Paced<C> {
    inner: C,
    byte_time: Duration,
    rx: VecDeque<(Instant, u8)>,
    last_release: Instant,
}

impl<C: Channel> Paced<C> {
    /// Wraps `inner` at `baud` bits per second.
    pub fn new(inner: C, baud: u32) -> Self {
        Self {
            inner,
            byte_time: Duration::from_nanos(10_000_000_000 / u64::from(baud.max(300))),
            rx: VecDeque::new(),
            last_release: Instant::now(),
        }
    }
}

impl<C: Channel> Channel for Paced<C> {
    fn get_id(&self) -> i32 {
        self.inner.get_id()
    }
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ChannelError> {
        let mut tmp = [0u8; 512];
        let n = self.inner.read(&mut tmp)?;
        let now = Instant::now();
        for b in &tmp[..n] {
            // Each byte is on the wire for one byte time after the one before it.
            let at = self.last_release.max(now) + self.byte_time;
            self.last_release = at;
            self.rx.push_back((at, *b));
        }
        let mut k = 0;
        while k < buf.len() {
            match self.rx.front() {
                Some((at, b)) if *at <= now => {
                    buf[k] = *b;
                    k += 1;
                    self.rx.pop_front();
                }
                _ => break,
            }
        }
        Ok(k)
    }
    fn write(&mut self, buf: &[u8]) -> Result<usize, ChannelError> {
        let n = self.inner.write(buf)?;
        // Half duplex: the control panel transmits for the whole frame before it listens.
        std::thread::sleep(self.byte_time * n as u32);
        Ok(n)
    }
    fn flush(&mut self) -> Result<(), ChannelError> {
        self.inner.flush()
    }
    fn close(&mut self) -> Result<(), ChannelError> {
        self.inner.close()
    }
}
