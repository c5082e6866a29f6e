//! Camera sources for face readers.
//!
//! * [`VideoCamera`]: a live video device (V4L2 on Linux, `/dev/videoN`) or any input ffmpeg
//!   reads (a video file, a stream URL), through an `ffmpeg` child process that writes PPM frames
//!   to a pipe.
//! * [`ImageSequenceCamera`] plays a directory of still images (sorted by file name) as frames:
//!   for tests, simulation and replaying captures.
//! * [`MemoryCamera`]: frames already in memory.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use image::RgbImage;

use crate::image_io::{MAX_PIXELS, MAX_SIDE};
use crate::FaceError;

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Position in the sequence, from 0.
    pub seq: u64,
    pub image: RgbImage,
}

/// A source of frames.
pub trait Camera: Send {
    /// The next frame, or `None` when the source is exhausted.
    fn next_frame(&mut self) -> Result<Option<Frame>, FaceError>;

    /// Up to `n` frames.
    fn take_frames(&mut self, n: usize) -> Result<Vec<Frame>, FaceError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match self.next_frame()? {
                Some(f) => out.push(f),
                None => break,
            }
        }
        Ok(out)
    }
}

/// Frames from the JPEG/PNG files of a directory, or from a list of files, in order.
#[derive(Debug, Clone)]
pub struct ImageSequenceCamera {
    files: Vec<PathBuf>,
    next: usize,
    looping: bool,
}

impl ImageSequenceCamera {
    /// Every `.jpg`, `.jpeg` and `.png` in `dir`, sorted by name.
    pub fn open(dir: &Path) -> Result<Self, FaceError> {
        let rd = std::fs::read_dir(dir).map_err(|e| FaceError::io(dir, e))?;
        let mut files = Vec::new();
        for entry in rd {
            let p = entry.map_err(|e| FaceError::io(dir, e))?.path();
            if is_image_path(&p) {
                files.push(p);
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(FaceError::Invalid(format!(
                "{} に画像がありません / no images in {}",
                dir.display(),
                dir.display()
            )));
        }
        Ok(Self::from_files(files))
    }

    /// These files in this order.
    pub fn from_files(files: Vec<PathBuf>) -> Self {
        ImageSequenceCamera {
            files,
            next: 0,
            looping: false,
        }
    }

    /// Starts again from the first image when the last has been played.
    pub fn looping(mut self, yes: bool) -> Self {
        self.looping = yes;
        self
    }
}

impl Camera for ImageSequenceCamera {
    fn next_frame(&mut self) -> Result<Option<Frame>, FaceError> {
        if self.next >= self.files.len() {
            if !self.looping || self.files.is_empty() {
                return Ok(None);
            }
            self.next = 0;
        }
        let seq = self.next as u64;
        let image = crate::image_io::open(&self.files[self.next])?;
        self.next += 1;
        Ok(Some(Frame { seq, image }))
    }
}

/// Frames already in memory (tests, or frames another component captured).
#[derive(Debug, Clone, Default)]
pub struct MemoryCamera {
    frames: std::collections::VecDeque<RgbImage>,
    seq: u64,
}

impl MemoryCamera {
    /// These frames in order.
    pub fn new(frames: Vec<RgbImage>) -> Self {
        MemoryCamera {
            frames: frames.into(),
            seq: 0,
        }
    }
}

impl Camera for MemoryCamera {
    fn next_frame(&mut self) -> Result<Option<Frame>, FaceError> {
        Ok(self.frames.pop_front().map(|image| {
            let f = Frame {
                seq: self.seq,
                image,
            };
            self.seq += 1;
            f
        }))
    }
}

/// Whether the path names a JPEG or PNG by its extension.
pub fn is_image_path(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .and_then(|e| e.to_str())
            .map(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
            .unwrap_or(false)
}

/// How a [`VideoCamera`] runs ffmpeg.
#[derive(Debug, Clone)]
pub struct VideoOptions {
    /// The ffmpeg program: `$MONBAN_FFMPEG`, else `ffmpeg` on the `PATH`.
    pub ffmpeg: PathBuf,
    /// For devices: the capture size asked of the camera (`-video_size`), e.g. 640×480.
    pub video_size: Option<(u32, u32)>,
    /// For devices: the frame rate asked of the camera (`-framerate`).
    pub framerate: Option<u32>,
    /// For devices: the camera's pixel format (`-input_format`, e.g. `mjpeg` or `yuyv422`).
    pub input_format: Option<String>,
    /// How long [`VideoCamera::open_device`]/[`VideoCamera::open_input`] wait for the first frame.
    pub first_frame_timeout: Duration,
    /// How long [`Camera::next_frame`] waits for a frame once the stream runs.
    pub frame_timeout: Duration,
}

impl Default for VideoOptions {
    fn default() -> Self {
        VideoOptions {
            ffmpeg: std::env::var_os("MONBAN_FFMPEG")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("ffmpeg")),
            video_size: None,
            framerate: None,
            input_format: None,
            first_frame_timeout: Duration::from_secs(10),
            frame_timeout: Duration::from_secs(5),
        }
    }
}

/// The first line of `ffmpeg -version`, or [`FaceError::FfmpegMissing`].
pub fn ffmpeg_version(ffmpeg: &Path) -> Result<String, FaceError> {
    let missing = || FaceError::FfmpegMissing {
        program: ffmpeg.display().to_string(),
    };
    let out = Command::new(ffmpeg)
        .arg("-version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|_| missing())?;
    if !out.status.success() {
        return Err(missing());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// Which frames a [`VideoCamera`] hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// A live camera: only the newest frame is kept, so a reader that was busy gets what the
    /// camera sees now, not what it saw seconds ago.
    Latest,
    /// A file: every frame, in order (ffmpeg waits while two are queued).
    Every,
}

#[derive(Default)]
struct Queue {
    frames: VecDeque<RgbImage>,
    /// Set by the reader thread when the stream ended: `Ok` at a clean end, `Err` with why.
    ended: Option<Result<(), String>>,
    /// Set when the camera is dropped.
    closed: bool,
}

type Shared = Arc<(Mutex<Queue>, Condvar)>;

fn lock(s: &Shared) -> MutexGuard<'_, Queue> {
    s.0.lock().unwrap_or_else(|p| p.into_inner())
}

/// Frames from a video device or any ffmpeg input, decoded by an `ffmpeg` child process.
///
/// ffmpeg is run as `ffmpeg -nostdin -loglevel error [-f v4l2 …] -i INPUT -an -sn -f image2pipe
/// -vcodec ppm -pix_fmt rgb24 -`; a thread parses the PPM frames from its standard output (frames
/// larger than 8192 px a side or 40 Mpixel are refused). Opening waits for the first frame, so a
/// device that is missing, busy or not readable fails at [`VideoCamera::open_device`] with
/// [`FaceError::CameraOpen`] and ffmpeg's own words; a missing ffmpeg is
/// [`FaceError::FfmpegMissing`]. Dropping the camera stops ffmpeg.
pub struct VideoCamera {
    source: String,
    child: Child,
    shared: Shared,
    reader: Option<JoinHandle<()>>,
    stderr_tail: Arc<Mutex<String>>,
    stderr_thread: Option<JoinHandle<()>>,
    frame_timeout: Duration,
    seq: u64,
    finished: bool,
}

impl std::fmt::Debug for VideoCamera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoCamera")
            .field("source", &self.source)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl VideoCamera {
    /// A V4L2 video device such as `/dev/video0`. Only the newest frame is handed out.
    pub fn open_device(device: &Path, opts: &VideoOptions) -> Result<Self, FaceError> {
        let source = device.display().to_string();
        if !device.exists() {
            return Err(FaceError::CameraOpen {
                source_name: source,
                detail: "デバイスがありません / no such device".into(),
            });
        }
        let mut input_args: Vec<String> = vec!["-f".into(), "v4l2".into()];
        if let Some(fmt) = &opts.input_format {
            input_args.extend(["-input_format".into(), fmt.clone()]);
        }
        if let Some((w, h)) = opts.video_size {
            input_args.extend(["-video_size".into(), format!("{w}x{h}")]);
        }
        if let Some(r) = opts.framerate {
            input_args.extend(["-framerate".into(), r.to_string()]);
        }
        Self::spawn(
            source,
            input_args,
            device.as_os_str().to_owned(),
            opts,
            Delivery::Latest,
        )
    }

    /// Any input ffmpeg can read — a video file, an image sequence pattern, a stream URL —
    /// played frame by frame, every frame in order; [`Camera::next_frame`] gives `None` at its end.
    pub fn open_input(input: &str, opts: &VideoOptions) -> Result<Self, FaceError> {
        if input.is_empty() || input.starts_with('-') {
            return Err(FaceError::Invalid(format!(
                "映像の入力名が不正です（空、または - で始まる）: {input:?} / invalid video input name (empty or starting with -): {input:?}"
            )));
        }
        Self::spawn(
            input.to_string(),
            Vec::new(),
            input.into(),
            opts,
            Delivery::Every,
        )
    }

    /// The device or input this camera reads.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn spawn(
        source: String,
        input_args: Vec<String>,
        input: std::ffi::OsString,
        opts: &VideoOptions,
        delivery: Delivery,
    ) -> Result<Self, FaceError> {
        let mut cmd = Command::new(&opts.ffmpeg);
        cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error"])
            .args(&input_args)
            .arg("-i")
            .arg(&input)
            .args(["-an", "-sn", "-f", "image2pipe", "-vcodec", "ppm"])
            .args(["-pix_fmt", "rgb24", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(FaceError::FfmpegMissing {
                    program: opts.ffmpeg.display().to_string(),
                })
            }
            Err(e) => {
                return Err(FaceError::CameraOpen {
                    source_name: source,
                    detail: format!("cannot start {}: {e}", opts.ffmpeg.display()),
                })
            }
        };
        let shared: Shared = Arc::default();
        let stderr_tail = Arc::new(Mutex::new(String::new()));
        let stderr_thread = child.stderr.take().and_then(|err| {
            let tail = stderr_tail.clone();
            std::thread::Builder::new()
                .name("ffmpeg-stderr".into())
                .spawn(move || collect_stderr(err, &tail))
                .ok()
        });
        let reader = match child.stdout.take() {
            Some(out) => {
                let sh = shared.clone();
                std::thread::Builder::new()
                    .name("ffmpeg-frames".into())
                    .spawn(move || read_frames(out, &sh, delivery))
                    .map_err(|e| e.to_string())
            }
            None => Err("no pipe to ffmpeg".to_string()),
        };
        let reader = match reader {
            Ok(r) => r,
            Err(detail) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(FaceError::CameraOpen {
                    source_name: source,
                    detail,
                });
            }
        };
        let mut cam = VideoCamera {
            source,
            child,
            shared,
            reader: Some(reader),
            stderr_tail,
            stderr_thread,
            frame_timeout: opts.frame_timeout,
            seq: 0,
            finished: false,
        };
        // Wait for the first frame: every way of failing to open shows up here.
        let deadline = Instant::now() + opts.first_frame_timeout;
        let outcome = {
            let mut q = lock(&cam.shared);
            loop {
                if !q.frames.is_empty() {
                    break Ok(());
                }
                if let Some(end) = &q.ended {
                    break Err(match end {
                        Ok(()) => "no frames".to_string(),
                        Err(e) => e.clone(),
                    });
                }
                let now = Instant::now();
                if now >= deadline {
                    break Err(format!(
                        "{} 秒以内に映像が届きません / no frame within {} s",
                        opts.first_frame_timeout.as_secs_f32(),
                        opts.first_frame_timeout.as_secs_f32()
                    ));
                }
                q = cam
                    .shared
                    .1
                    .wait_timeout(q, deadline - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        };
        match outcome {
            Ok(()) => Ok(cam),
            Err(detail) => {
                let detail = cam.with_ffmpeg_words(detail);
                Err(FaceError::CameraOpen {
                    source_name: cam.source.clone(),
                    detail,
                })
            }
        }
    }

    /// Stops ffmpeg (if it still runs) and adds its last error lines to `detail`.
    fn with_ffmpeg_words(&mut self, detail: String) -> String {
        self.stop();
        let words = self
            .stderr_tail
            .lock()
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if words.is_empty() {
            detail
        } else {
            format!("{detail}; ffmpeg: {words}")
        }
    }

    /// Kills ffmpeg and joins the helper threads (which end when its pipes close).
    fn stop(&mut self) {
        {
            let mut q = lock(&self.shared);
            q.closed = true;
            self.shared.1.notify_all();
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(t) = self.reader.take() {
            let _ = t.join();
        }
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
    }
}

impl Camera for VideoCamera {
    fn next_frame(&mut self) -> Result<Option<Frame>, FaceError> {
        if self.finished {
            return Ok(None);
        }
        let deadline = Instant::now() + self.frame_timeout;
        let outcome: Result<Option<RgbImage>, String> = {
            let mut q = lock(&self.shared);
            loop {
                if let Some(img) = q.frames.pop_front() {
                    self.shared.1.notify_all();
                    break Ok(Some(img));
                }
                match &q.ended {
                    Some(Ok(())) => break Ok(None),
                    Some(Err(e)) => break Err(e.clone()),
                    None => {}
                }
                let now = Instant::now();
                if now >= deadline {
                    break Err(format!(
                        "{} 秒間映像が届きません / no frame for {} s",
                        self.frame_timeout.as_secs_f32(),
                        self.frame_timeout.as_secs_f32()
                    ));
                }
                q = self
                    .shared
                    .1
                    .wait_timeout(q, deadline - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        };
        match outcome {
            Ok(Some(image)) => {
                let f = Frame {
                    seq: self.seq,
                    image,
                };
                self.seq += 1;
                Ok(Some(f))
            }
            Ok(None) => {
                // The pipe closed: a clean end only if ffmpeg says so.
                self.finished = true;
                match self.child.wait() {
                    Ok(st) if st.success() => Ok(None),
                    Ok(st) => {
                        let detail = self.with_ffmpeg_words(format!("ffmpeg ended: {st}"));
                        Err(FaceError::CameraStream {
                            source_name: self.source.clone(),
                            detail,
                        })
                    }
                    Err(e) => Err(FaceError::CameraStream {
                        source_name: self.source.clone(),
                        detail: e.to_string(),
                    }),
                }
            }
            Err(detail) => {
                self.finished = true;
                let detail = self.with_ffmpeg_words(detail);
                Err(FaceError::CameraStream {
                    source_name: self.source.clone(),
                    detail,
                })
            }
        }
    }
}

impl Drop for VideoCamera {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Keeps the last 2 KiB of ffmpeg's error output.
fn collect_stderr(err: impl Read, tail: &Mutex<String>) {
    let mut r = BufReader::new(err);
    let mut line = Vec::new();
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if let Ok(mut t) = tail.lock() {
                    t.push_str(String::from_utf8_lossy(&line).trim_end());
                    t.push(' ');
                    if t.len() > 2048 {
                        let cut = t.len() - 2048;
                        let cut = (cut..t.len()).find(|&i| t.is_char_boundary(i)).unwrap_or(0);
                        t.replace_range(..cut, "");
                    }
                }
            }
        }
    }
}

/// The reader thread: parses frames until the pipe closes or the camera is dropped.
fn read_frames(out: impl Read, shared: &Shared, delivery: Delivery) {
    let mut r = BufReader::with_capacity(1 << 20, out);
    loop {
        let next = read_ppm(&mut r);
        let mut q = lock(shared);
        if q.closed {
            return;
        }
        match next {
            Ok(Some(img)) => {
                match delivery {
                    Delivery::Latest => q.frames.clear(),
                    Delivery::Every => {
                        while q.frames.len() >= 2 && !q.closed {
                            q = shared.1.wait(q).unwrap_or_else(|p| p.into_inner());
                        }
                        if q.closed {
                            return;
                        }
                    }
                }
                q.frames.push_back(img);
                shared.1.notify_all();
            }
            Ok(None) => {
                q.ended = Some(Ok(()));
                shared.1.notify_all();
                return;
            }
            Err(e) => {
                q.ended = Some(Err(e));
                shared.1.notify_all();
                return;
            }
        }
    }
}

/// Reads one binary PPM (`P6`, maxval 255) frame; `Ok(None)` at a clean end of the stream (no
/// byte of a new frame read). Sizes above [`MAX_SIDE`] or [`MAX_PIXELS`] are refused before
/// anything is allocated.
pub fn read_ppm(r: &mut impl BufRead) -> Result<Option<RgbImage>, String> {
    let mut magic = [0u8; 2];
    match r.read(&mut magic[..1]) {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(e) => return Err(format!("read: {e}")),
    }
    r.read_exact(&mut magic[1..])
        .map_err(|e| format!("truncated frame header: {e}"))?;
    if &magic != b"P6" {
        return Err(format!("not a PPM frame (starts with {magic:?})"));
    }
    let w = ppm_number(r)?;
    let h = ppm_number(r)?;
    let maxval = ppm_number(r)?;
    // Exactly one whitespace byte after maxval, then the samples.
    let mut sep = [0u8; 1];
    r.read_exact(&mut sep)
        .map_err(|e| format!("truncated frame header: {e}"))?;
    if !sep[0].is_ascii_whitespace() {
        return Err("malformed PPM header".into());
    }
    if maxval != 255 {
        return Err(format!("PPM maxval {maxval}, expected 255 (rgb24)"));
    }
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS
    {
        return Err(format!(
            "frame size {w}×{h} refused (limit {MAX_SIDE} a side, {MAX_PIXELS} pixels)"
        ));
    }
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    r.read_exact(&mut buf)
        .map_err(|e| format!("truncated frame ({w}×{h}): {e}"))?;
    RgbImage::from_raw(w, h, buf)
        .map(Some)
        .ok_or_else(|| "frame buffer size mismatch".to_string())
}

/// A decimal number of a PPM header, after whitespace and `#` comments.
fn ppm_number(r: &mut impl BufRead) -> Result<u32, String> {
    let mut byte = [0u8; 1];
    let mut next = |r: &mut dyn BufRead| -> Result<u8, String> {
        r.read_exact(&mut byte)
            .map_err(|e| format!("truncated frame header: {e}"))?;
        Ok(byte[0])
    };
    let mut c = next(&mut *r)?;
    loop {
        if c == b'#' {
            let mut skipped = 0;
            while c != b'\n' {
                c = next(&mut *r)?;
                skipped += 1;
                if skipped > 1024 {
                    return Err("PPM comment too long".into());
                }
            }
        } else if c.is_ascii_whitespace() {
            c = next(&mut *r)?;
        } else {
            break;
        }
    }
    let mut v: u32 = 0;
    let mut digits = 0;
    while c.is_ascii_digit() {
        digits += 1;
        if digits > 9 {
            return Err("PPM header number too long".into());
        }
        v = v * 10 + u32::from(c - b'0');
        // A whitespace byte ends the number; for maxval it is the single separator, so do not
        // read past it here.
        let buf = r.fill_buf().map_err(|e| format!("read: {e}"))?;
        match buf.first() {
            Some(&b) if b.is_ascii_digit() => {
                c = b;
                r.consume(1);
            }
            _ => return Ok(v),
        }
    }
    Err(format!("malformed PPM header (byte {c:#04x})"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn ppm(w: u32, h: u32, header: &str) -> Vec<u8> {
        let mut v = header.as_bytes().to_vec();
        v.extend((0..w * h * 3).map(|i| i as u8));
        v
    }

    #[test]
    fn reads_consecutive_frames_and_a_clean_end() {
        let mut data = ppm(2, 1, "P6\n2 1\n255\n");
        data.extend(ppm(1, 2, "P6 # ffmpeg\n# a comment\n1\t2 255\n"));
        let mut r = std::io::Cursor::new(data);
        let a = read_ppm(&mut r).unwrap().unwrap();
        assert_eq!(a.dimensions(), (2, 1));
        assert_eq!(a.as_raw(), &[0, 1, 2, 3, 4, 5]);
        let b = read_ppm(&mut r).unwrap().unwrap();
        assert_eq!(b.dimensions(), (1, 2));
        assert!(read_ppm(&mut r).unwrap().is_none());
    }

    #[test]
    fn refuses_bad_frames_without_panicking() {
        for bad in [
            &b"P5\n1 1\n255\n\0"[..],
            b"P6\n1 1\n65535\n\0\0\0\0\0\0",
            b"P6\n0 1\n255\n",
            b"P6\n9000 9000\n255\n",
            b"P6\n8000 8000\n255\n",
            b"P6\n99999999999 1\n255\n",
            b"P6\n2 2\n255\n\0\0\0",
            b"P6\n2",
            b"P6\nx 2 255\n",
            b"P",
        ] {
            let r = read_ppm(&mut std::io::Cursor::new(bad));
            assert!(r.is_err(), "{:?} gave {r:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn missing_ffmpeg_and_missing_device_are_typed_errors() {
        let opts = VideoOptions {
            ffmpeg: PathBuf::from("/nonexistent/ffmpeg"),
            ..VideoOptions::default()
        };
        let e = VideoCamera::open_input("x.mp4", &opts).unwrap_err();
        assert!(matches!(e, FaceError::FfmpegMissing { .. }), "{e}");
        assert!(e.to_string().contains("apt-get install ffmpeg"));
        assert!(ffmpeg_version(&opts.ffmpeg).is_err());
        let e = VideoCamera::open_device(Path::new("/dev/video-none-99"), &opts).unwrap_err();
        assert!(matches!(e, FaceError::CameraOpen { .. }), "{e}");
        assert!(e.to_string().contains("no such device"), "{e}");
        let e = VideoCamera::open_input("-i", &opts).unwrap_err();
        assert!(matches!(e, FaceError::Invalid(_)), "{e}");
    }
}
