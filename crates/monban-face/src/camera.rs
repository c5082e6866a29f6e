//! Camera sources for face readers.
//!
//! [`ImageSequenceCamera`] plays a directory of still images (sorted by file name) as frames:
//! for tests, simulation and replaying captures. A live video device (V4L2 on Linux) is not
//! implemented yet: it would implement the same [`Camera`] trait.

use std::path::{Path, PathBuf};

use image::RgbImage;

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
