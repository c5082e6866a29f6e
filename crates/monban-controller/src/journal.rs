//! The controller's durable journal: every decision and alarm, appended with the next sequence
//! number and flushed to disk (`fsync`) before the door acts on it.
//!
//! File `journal.log` holds records as `[u32 length][u32 CRC-32][JSON of DoorRecord]`
//! (little-endian). A torn or corrupt tail left by a crash or power loss is cut off at open;
//! every record before it survives. File `acked` holds the highest sequence number the server
//! has confirmed as stored, replaced atomically. Records above it stay in memory until acked.
//! When everything is acked and the file has grown past [`COMPACT_BYTES`], it is emptied;
//! numbering continues from the acked number.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use monban_proto::{DoorRecord, RecordBody};

/// File size past which a fully acknowledged journal is emptied.
pub const COMPACT_BYTES: u64 = 8 * 1024 * 1024;
/// Largest single record accepted when reading back.
const MAX_RECORD: usize = 64 * 1024;

/// Journal failures: the controller cannot record, so it must not open doors.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("ジャーナル {path} を読み書きできません: {source}。ディスクの空きと権限を確認してください / cannot read or write the journal {path}: {source}; check disk space and permissions")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ジャーナルの記録を作れません: {0} / cannot encode a journal record: {0}")]
    Encode(String),
}

/// See the [module documentation](self).
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    file: File,
    len: u64,
    head: u64,
    acked: u64,
    unacked: VecDeque<DoorRecord>,
    /// Records dropped at open because they were torn or corrupt (normally 0 or 1).
    pub repaired: usize,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Journal {
    /// Opens (creating) the journal in `dir`, cutting off any torn tail.
    pub fn open(dir: &Path) -> Result<Self, JournalError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join("journal.log");
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io(&path))?;
        let acked = read_acked(dir)?;
        let mut buf = Vec::new();
        file.seek(SeekFrom::Start(0)).map_err(io(&path))?;
        file.read_to_end(&mut buf).map_err(io(&path))?;
        let mut pos = 0usize;
        let mut records = Vec::new();
        let mut repaired = 0;
        while pos < buf.len() {
            let Some(hdr) = buf.get(pos..pos + 8) else {
                repaired += 1;
                break;
            };
            let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
            let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
            let Some(body) = buf
                .get(pos + 8..pos + 8 + len)
                .filter(|_| len <= MAX_RECORD)
            else {
                repaired += 1;
                break;
            };
            if crc32fast::hash(body) != crc {
                repaired += 1;
                break;
            }
            match serde_json::from_slice::<DoorRecord>(body) {
                Ok(r) => records.push(r),
                Err(_) => {
                    repaired += 1;
                    break;
                }
            }
            pos += 8 + len;
        }
        if pos < buf.len() {
            tracing::warn!(
                bytes = buf.len() - pos,
                "journal: cut off a torn or corrupt tail"
            );
            file.set_len(pos as u64).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
        }
        let head = records.last().map(|r| r.seq).unwrap_or(0).max(acked);
        let unacked = records.into_iter().filter(|r| r.seq > acked).collect();
        Ok(Self {
            dir: dir.to_path_buf(),
            file,
            len: pos as u64,
            head,
            acked,
            unacked,
            repaired,
        })
    }

    /// Highest sequence number journaled.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Highest sequence number the server confirmed.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Records not yet confirmed.
    pub fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    /// Appends a record with the next sequence number and flushes it to disk.
    pub fn append(&mut self, at_us: i64, body: RecordBody) -> Result<DoorRecord, JournalError> {
        let rec = DoorRecord {
            seq: self.head + 1,
            at_us,
            body,
        };
        let json = serde_json::to_vec(&rec).map_err(|e| JournalError::Encode(e.to_string()))?;
        let mut frame = Vec::with_capacity(json.len() + 8);
        frame.extend_from_slice(&u32::try_from(json.len()).unwrap_or(u32::MAX).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&json).to_le_bytes());
        frame.extend_from_slice(&json);
        let path = self.dir.join("journal.log");
        self.file.write_all(&frame).map_err(io(&path))?;
        self.file.sync_data().map_err(io(&path))?;
        self.len += frame.len() as u64;
        self.head = rec.seq;
        self.unacked.push_back(rec.clone());
        Ok(rec)
    }

    /// Up to `max` unconfirmed records with a sequence number above `after`, in order.
    pub fn pending(&self, after: u64, max: usize) -> Vec<DoorRecord> {
        self.unacked
            .iter()
            .filter(|r| r.seq > after)
            .take(max)
            .cloned()
            .collect()
    }

    /// Records that the server has stored everything up to `upto`.
    pub fn ack(&mut self, upto: u64) -> Result<(), JournalError> {
        let upto = upto.min(self.head);
        if upto <= self.acked {
            return Ok(());
        }
        write_acked(&self.dir, upto)?;
        self.acked = upto;
        while self.unacked.front().is_some_and(|r| r.seq <= upto) {
            self.unacked.pop_front();
        }
        if self.unacked.is_empty() && self.len > COMPACT_BYTES {
            let path = self.dir.join("journal.log");
            self.file.set_len(0).map_err(io(&path))?;
            self.file.sync_all().map_err(io(&path))?;
            self.len = 0;
        }
        Ok(())
    }
}

fn read_acked(dir: &Path) -> Result<u64, JournalError> {
    let path = dir.join("acked");
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(s.trim().parse().unwrap_or(0)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Replaces a file atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), JournalError> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Like [`write_atomic`], with the content written by `write` (through a buffer).
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&File>) -> std::io::Result<()>,
) -> Result<(), JournalError> {
    let tmp = path.with_extension("tmp");
    let f = File::create(&tmp).map_err(io(&tmp))?;
    {
        let mut w = std::io::BufWriter::new(&f);
        write(&mut w).map_err(io(&tmp))?;
        w.flush().map_err(io(&tmp))?;
    }
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent);
    }
    Ok(())
}

/// Makes a rename in `dir` durable (best effort: not every file system can sync a directory).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn write_acked(dir: &Path, v: u64) -> Result<(), JournalError> {
    write_atomic(&dir.join("acked"), v.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use monban_core::AlarmCode;

    fn alarm() -> RecordBody {
        RecordBody::Alarm {
            door_id: Some(1),
            code: AlarmCode::Tamper,
            person_id: None,
            detail: String::new(),
        }
    }

    #[test]
    fn survives_reopen_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        for i in 0..5 {
            assert_eq!(j.append(i, alarm()).unwrap().seq, i as u64 + 1);
        }
        j.ack(2).unwrap();
        drop(j);
        // A crash mid-write leaves half a record.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("journal.log"))
            .unwrap();
        f.write_all(&[40, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(f);
        let mut j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.repaired, 1);
        assert_eq!((j.head(), j.acked(), j.unacked_len()), (5, 2, 3));
        assert_eq!(
            j.pending(3, 10).iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert_eq!(j.append(9, alarm()).unwrap().seq, 6);
        j.ack(6).unwrap();
        assert_eq!(j.unacked_len(), 0);
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!((j.head(), j.acked()), (6, 6));
    }
}
