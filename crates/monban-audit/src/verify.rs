//! Offline export verification and export writing.
//!
//! An export is JSON Lines, one entry per line in sequence order:
//! `{"seq":<n>,"leaf":"<standard base64 of the canonical leaf bytes>"}` (no other fields; the
//! leaf string must not contain JSON escapes). It is checked against signed checkpoint notes
//! and trusted verifier keys: every checkpoint signature, sequence continuity from 0, each
//! leaf's encoding and embedded sequence number, the recomputed root at every checkpoint size,
//! and that the export reaches the largest checkpoint. The first problem is reported with its
//! line and sequence number. Streaming: one line buffer and one leaf buffer are reused.

use std::fmt::Write as _;
use std::io::{BufRead, BufWriter, Read, Write};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;

use crate::checkpoint::{self, Checkpoint, CheckpointError};
use crate::leaf::{self, LeafError, LeafView, MAX_LEAF_LEN};
use crate::merkle::{leaf_hash, Hash, StoreError, TreeState, EMPTY_ROOT};
use crate::note::VerifierKey;
use crate::store::LeafSource;

/// Longest export line accepted, in bytes (a maximal leaf in base64 plus the JSON around it).
pub const MAX_LINE_LEN: usize = MAX_LEAF_LEN / 3 * 4 + 128;

/// Errors while writing an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading leaves for the export failed: {0}")]
    Store(#[from] StoreError),
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What is wrong with one export line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    #[error("line is empty")]
    Empty,
    #[error("line is longer than {MAX_LINE_LEN} bytes")]
    TooLong,
    #[error("line is not {{\"seq\":<n>,\"leaf\":\"<base64>\"}}: {0}")]
    BadJson(String),
    #[error("leaf is not standard base64")]
    BadBase64,
    #[error(
        "expected seq {expected}, found seq {found}: an entry was deleted, inserted or moved here"
    )]
    SequenceMismatch { expected: u64, found: u64 },
    #[error("line says seq {line_seq} but the leaf inside says seq {leaf_seq}")]
    LeafSeqMismatch { line_seq: u64, leaf_seq: u64 },
    #[error("leaf encoding is invalid: {0}")]
    BadLeaf(LeafError),
}

/// Why an export failed verification. [`VerifyError::location`] gives the first bad entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no checkpoints given: nothing in the export is authenticated")]
    NoCheckpoints,
    #[error("checkpoint #{index}: {source}")]
    Checkpoint {
        index: usize,
        source: CheckpointError,
    },
    #[error("checkpoints #{first} and #{second} both have tree size {size} but different roots: the log forked")]
    ConflictingCheckpoints {
        first: usize,
        second: usize,
        size: u64,
    },
    #[error("line {line} (seq {seq}): {problem}")]
    Line {
        line: u64,
        seq: u64,
        problem: LineProblem,
    },
    #[error("entries seq {from_seq}..={to_seq} (lines {}..={}) do not hash to the signed checkpoint #{checkpoint} at tree size {size}: an entry in that range was modified, or entries were inserted, removed or reordered", from_seq + 1, to_seq + 1)]
    RootMismatch {
        checkpoint: usize,
        size: u64,
        from_seq: u64,
        to_seq: u64,
    },
    #[error(
        "signed checkpoint #{checkpoint} for the empty tree has a root other than SHA-256(\"\")"
    )]
    BadEmptyCheckpoint { checkpoint: usize },
    #[error("export is truncated: it has {entries} entries but checkpoint #{checkpoint} covers {size}; seq {entries} is the first missing entry")]
    Truncated {
        checkpoint: usize,
        entries: u64,
        size: u64,
    },
    #[error("line {} (seq {seq}) and after: {count} entries are not covered by any checkpoint", seq + 1)]
    UnsignedTail { seq: u64, count: u64 },
    #[error("reading export line {line} failed: {message}")]
    Io { line: u64, message: String },
}

impl VerifyError {
    /// `(line, seq)` of the first bad entry, if the failure concerns entries. For a root
    /// mismatch this is the first entry of the range that failed to match.
    pub fn location(&self) -> Option<(u64, u64)> {
        match self {
            VerifyError::Line { line, seq, .. } => Some((*line, *seq)),
            VerifyError::RootMismatch { from_seq, .. } => Some((from_seq + 1, *from_seq)),
            VerifyError::Truncated { entries, .. } => Some((entries + 1, *entries)),
            VerifyError::UnsignedTail { seq, .. } => Some((seq + 1, *seq)),
            _ => None,
        }
    }
}

/// Verification settings.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions<'a> {
    /// Keys whose signatures authenticate checkpoints.
    pub trusted: &'a [VerifierKey],
    /// If set, every checkpoint's origin must equal it.
    pub origin: Option<&'a str>,
    /// Accept entries after the largest checkpoint (they are then reported, not verified).
    pub allow_unsigned_tail: bool,
    /// Fully decode every leaf (strict encoding check); otherwise only version and seq.
    pub check_leaf_encoding: bool,
}

impl<'a> VerifyOptions<'a> {
    /// Strict defaults: no unsigned tail, full leaf decoding, any origin.
    pub fn new(trusted: &'a [VerifierKey]) -> Self {
        VerifyOptions {
            trusted,
            origin: None,
            allow_unsigned_tail: false,
            check_leaf_encoding: true,
        }
    }
}

/// Outcome of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries read.
    pub entries: u64,
    /// Root over all entries read.
    pub root: Hash,
    /// Distinct checkpoints verified.
    pub checkpoints: usize,
    /// The largest verified checkpoint.
    pub latest: Checkpoint,
    /// Entries after the latest checkpoint (only non-zero with `allow_unsigned_tail`).
    pub unsigned_tail: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportLine<'a> {
    seq: u64,
    #[serde(borrow)]
    leaf: &'a str,
}

/// Fast path for the exact form [`format_export_line`] writes: `(seq, base64 bytes)`.
/// Anything else goes through serde_json (same acceptance, better error messages).
fn parse_canonical_line(line: &[u8]) -> Option<(u64, &[u8])> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    let mut seq = 0u64;
    for &d in &rest[..digits] {
        seq = seq.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    let rest = rest[digits..].strip_prefix(b",\"leaf\":\"")?;
    let b64 = rest.strip_suffix(b"\"}")?;
    // Only base64 characters (no quote or backslash), checked without a per-byte branch.
    let plain = b64.chunks(64).all(|chunk| {
        chunk.iter().fold(true, |ok, &b| {
            ok & (b.is_ascii_alphanumeric() | (b == b'+') | (b == b'/') | (b == b'='))
        })
    });
    plain.then_some((seq, b64))
}

/// Verifies an export against checkpoint notes. Stops at the first problem.
pub fn verify_export<R: BufRead, C: AsRef<[u8]>>(
    mut export: R,
    checkpoints: &[C],
    opts: &VerifyOptions<'_>,
) -> Result<VerifyReport, VerifyError> {
    if checkpoints.is_empty() {
        return Err(VerifyError::NoCheckpoints);
    }
    // (original index, checkpoint), sorted by size, one per size.
    let mut cps: Vec<(usize, Checkpoint)> = Vec::with_capacity(checkpoints.len());
    for (index, c) in checkpoints.iter().enumerate() {
        let sc = checkpoint::open(c.as_ref(), opts.origin, opts.trusted)
            .map_err(|source| VerifyError::Checkpoint { index, source })?;
        cps.push((index, sc.checkpoint));
    }
    cps.sort_by_key(|(i, c)| (c.size, *i));
    let mut distinct: Vec<(usize, Checkpoint)> = Vec::with_capacity(cps.len());
    for (i, c) in cps {
        match distinct.last() {
            Some((j, prev)) if prev.size == c.size => {
                if prev.root != c.root {
                    return Err(VerifyError::ConflictingCheckpoints {
                        first: *j,
                        second: i,
                        size: c.size,
                    });
                }
            }
            _ => distinct.push((i, c)),
        }
    }

    let mut state = TreeState::new();
    let mut next_cp = 0usize;
    let mut matched_size = 0u64;
    // The empty-tree checkpoint, if any, is checked before reading.
    while let Some((i, c)) = distinct.get(next_cp) {
        if c.size != 0 {
            break;
        }
        if c.root != EMPTY_ROOT {
            return Err(VerifyError::BadEmptyCheckpoint { checkpoint: *i });
        }
        next_cp += 1;
    }

    let mut line_buf: Vec<u8> = Vec::with_capacity(1024);
    let mut leaf_buf: Vec<u8> = Vec::with_capacity(1024);
    let mut line_no = 0u64;
    loop {
        line_no += 1;
        let seq = line_no - 1;
        let line_err = |problem| VerifyError::Line {
            line: line_no,
            seq,
            problem,
        };
        line_buf.clear();
        let n = (&mut export)
            .take(MAX_LINE_LEN as u64 + 2)
            .read_until(b'\n', &mut line_buf)
            .map_err(|e| VerifyError::Io {
                line: line_no,
                message: e.to_string(),
            })?;
        if n == 0 {
            break;
        }
        let mut line = line_buf.as_slice();
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l;
        }
        if line.len() > MAX_LINE_LEN {
            return Err(line_err(LineProblem::TooLong));
        }
        if line.is_empty() {
            return Err(line_err(LineProblem::Empty));
        }
        let (line_seq, leaf_b64): (u64, &[u8]) = match parse_canonical_line(line) {
            Some(p) => p,
            None => {
                let p: ExportLine<'_> = serde_json::from_slice(line)
                    .map_err(|e| line_err(LineProblem::BadJson(e.to_string())))?;
                (p.seq, p.leaf.as_bytes())
            }
        };
        if line_seq != seq {
            return Err(line_err(LineProblem::SequenceMismatch {
                expected: seq,
                found: line_seq,
            }));
        }
        leaf_buf.clear();
        B64.decode_vec(leaf_b64, &mut leaf_buf)
            .map_err(|_| line_err(LineProblem::BadBase64))?;
        let leaf_seq = if opts.check_leaf_encoding {
            LeafView::parse(&leaf_buf)
                .map_err(|e| line_err(LineProblem::BadLeaf(e)))?
                .seq
        } else {
            leaf::peek_seq(&leaf_buf).map_err(|e| line_err(LineProblem::BadLeaf(e)))?
        };
        if leaf_seq != seq {
            return Err(line_err(LineProblem::LeafSeqMismatch {
                line_seq: seq,
                leaf_seq,
            }));
        }
        state.push(leaf_hash(&leaf_buf), |_, _| {});
        if let Some((i, c)) = distinct.get(next_cp) {
            if c.size == state.size() {
                if c.root != state.root() {
                    return Err(VerifyError::RootMismatch {
                        checkpoint: *i,
                        size: c.size,
                        from_seq: matched_size,
                        to_seq: c.size - 1,
                    });
                }
                matched_size = c.size;
                next_cp += 1;
            }
        }
    }

    let entries = state.size();
    if let Some((i, c)) = distinct.last() {
        if next_cp < distinct.len() {
            return Err(VerifyError::Truncated {
                checkpoint: *i,
                entries,
                size: c.size,
            });
        }
    }
    let latest = match distinct.pop() {
        Some((_, c)) => c,
        None => return Err(VerifyError::NoCheckpoints),
    };
    let unsigned_tail = entries - latest.size;
    if unsigned_tail > 0 && !opts.allow_unsigned_tail {
        return Err(VerifyError::UnsignedTail {
            seq: latest.size,
            count: unsigned_tail,
        });
    }
    Ok(VerifyReport {
        entries,
        root: state.root(),
        checkpoints: distinct.len() + 1,
        latest,
        unsigned_tail,
    })
}

/// Writes one export line for `leaf` into `line` (cleared first), newline included.
pub fn format_export_line(seq: u64, leaf: &[u8], line: &mut String) {
    line.clear();
    line.push_str("{\"seq\":");
    let _ = write!(line, "{seq}");
    line.push_str(",\"leaf\":\"");
    B64.encode_string(leaf, line);
    line.push_str("\"}\n");
}

/// Writes the export of leaves `0..size` from `source`. Returns the root hash of those leaves,
/// so the caller can check it against the checkpoint it ships alongside.
pub fn write_export<S: LeafSource + ?Sized, W: Write>(
    source: &S,
    size: u64,
    out: W,
) -> Result<Hash, ExportError> {
    let mut w = BufWriter::with_capacity(1 << 16, out);
    let mut state = TreeState::new();
    let mut line = String::with_capacity(1024);
    let mut io_err: Option<std::io::Error> = None;
    source
        .for_each_leaf(0, size, &mut |seq, leaf| {
            format_export_line(seq, leaf, &mut line);
            if let Err(e) = w.write_all(line.as_bytes()) {
                io_err = Some(e);
                return Err(StoreError::Backend("export write failed".to_owned()));
            }
            state.push(leaf_hash(leaf), |_, _| {});
            Ok(())
        })
        .map_err(|e| match io_err.take() {
            Some(io) => ExportError::Io(io),
            None => ExportError::Store(e),
        })?;
    w.flush()?;
    Ok(state.root())
}
