//! C2SP tlog checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed tree head of the
//! audit log. Body: origin line, decimal tree size, base64 root hash, optional extension lines,
//! each ending in a newline; signed as a [`crate::note`]. Also [`CheckpointIssuer`], which never
//! signs a checkpoint inconsistent with the last one it signed.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::merkle::{self, Hash, ProofError, EMPTY_ROOT};
use crate::note::{self, Note, NoteError, Signer, VerifierKey};

/// Why a checkpoint was rejected or could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint line {line}: {reason}")]
    Line { line: usize, reason: &'static str },
    #[error("checkpoint text must end with a newline")]
    NotTerminated,
    #[error("checkpoint text has {0} lines; it needs origin, tree size and root hash")]
    TooFewLines(usize),
    #[error("checkpoint origin is {found:?}, expected {expected:?}")]
    WrongOrigin { expected: String, found: String },
    #[error("checkpoint: {0}")]
    Note(#[from] NoteError),
    #[error("refusing to sign: new tree size {new} is smaller than the last signed size {last}")]
    Shrinks { last: u64, new: u64 },
    #[error("refusing to sign: the tree at size {new} is not consistent with the last signed checkpoint at size {last}: {source}")]
    Inconsistent {
        last: u64,
        new: u64,
        source: ProofError,
    },
}

/// A checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Log identity, e.g. `monban.example/audit`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// Root hash at `size`.
    pub root: Hash,
    /// Extension lines (without newlines), normally none.
    pub extensions: Vec<String>,
}

fn line_err(line: usize, reason: &'static str) -> CheckpointError {
    CheckpointError::Line { line, reason }
}

fn check_line(line_no: usize, line: &str) -> Result<(), CheckpointError> {
    if line.is_empty() {
        return Err(line_err(line_no, "line is empty"));
    }
    if line.chars().any(|c| (c as u32) < 0x20) {
        return Err(line_err(line_no, "line contains a control character"));
    }
    Ok(())
}

/// Parses a tree size: ASCII decimal, no sign, no leading zeros, fits in u64.
fn parse_size(s: &str) -> Result<u64, CheckpointError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(line_err(2, "tree size is not a decimal number"));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(line_err(2, "tree size has a leading zero"));
    }
    s.parse::<u64>()
        .map_err(|_| line_err(2, "tree size does not fit in 64 bits"))
}

impl Checkpoint {
    /// The note text: `origin\nsize\nbase64(root)\n[extension\n]*`.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint body strictly: ends with a newline, non-empty lines, at least three,
    /// size without sign or leading zeros, root exactly 32 bytes in standard base64.
    pub fn parse_text(text: &str) -> Result<Self, CheckpointError> {
        let Some(body) = text.strip_suffix('\n') else {
            return Err(CheckpointError::NotTerminated);
        };
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(CheckpointError::TooFewLines(lines.len()));
        }
        for (i, l) in lines.iter().enumerate() {
            check_line(i + 1, l)?;
        }
        let size = parse_size(lines[1])?;
        let root = B64
            .decode(lines[2])
            .map_err(|_| line_err(3, "root hash is not standard base64"))?;
        let root: Hash = root
            .as_slice()
            .try_into()
            .map_err(|_| line_err(3, "root hash is not 32 bytes"))?;
        Ok(Checkpoint {
            origin: lines[0].to_owned(),
            size,
            root,
            extensions: lines[3..].iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    /// Validates the fields for signing (the same rules [`Checkpoint::parse_text`] enforces).
    pub fn validate(&self) -> Result<(), CheckpointError> {
        check_line(1, &self.origin)?;
        for (i, e) in self.extensions.iter().enumerate() {
            check_line(i + 4, e)?;
        }
        Ok(())
    }

    /// Signs this checkpoint into a note.
    pub fn sign(&self, signer: &Signer) -> Result<String, CheckpointError> {
        self.validate()?;
        Ok(signer.sign(&self.to_text())?)
    }
}

/// A checkpoint whose note was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The parsed body.
    pub checkpoint: Checkpoint,
    /// The verified note.
    pub note: Note,
}

/// Verifies a checkpoint note against trusted keys and parses its body. If `origin` is given,
/// the checkpoint's origin must equal it.
pub fn open(
    msg: &[u8],
    origin: Option<&str>,
    trusted: &[VerifierKey],
) -> Result<SignedCheckpoint, CheckpointError> {
    let note = note::open(msg, trusted)?;
    let checkpoint = Checkpoint::parse_text(&note.text)?;
    if let Some(o) = origin {
        if checkpoint.origin != o {
            return Err(CheckpointError::WrongOrigin {
                expected: o.to_owned(),
                found: checkpoint.origin,
            });
        }
    }
    Ok(SignedCheckpoint { checkpoint, note })
}

/// Parses a checkpoint note's syntax and body without checking signatures (for tools and
/// fuzzing; never trust the result).
pub fn parse_unverified(msg: &[u8]) -> Result<Checkpoint, CheckpointError> {
    let n = note::parse(msg)?;
    Checkpoint::parse_text(&n.text)
}

/// Signs checkpoints for one origin, refusing any checkpoint inconsistent with the last one it
/// signed.
#[derive(Debug, Clone)]
pub struct CheckpointIssuer {
    signer: Signer,
    origin: String,
    last: Option<Checkpoint>,
}

impl CheckpointIssuer {
    /// An issuer for `origin`. `last` is the latest checkpoint previously signed for it
    /// (load it from storage; pass `None` only for a new log).
    pub fn new(
        signer: Signer,
        origin: &str,
        last: Option<Checkpoint>,
    ) -> Result<Self, CheckpointError> {
        check_line(1, origin)?;
        if let Some(l) = &last {
            if l.origin != origin {
                return Err(CheckpointError::WrongOrigin {
                    expected: origin.to_owned(),
                    found: l.origin.clone(),
                });
            }
        }
        Ok(CheckpointIssuer {
            signer,
            origin: origin.to_owned(),
            last,
        })
    }

    /// The origin this issuer signs for.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The last checkpoint signed (or loaded).
    pub fn last(&self) -> Option<&Checkpoint> {
        self.last.as_ref()
    }

    /// The verifier key for this issuer's signatures.
    pub fn verifier_key(&self) -> VerifierKey {
        self.signer.verifier_key()
    }

    /// Signs the checkpoint for `(size, root)`. `proof` must be the consistency proof from the
    /// last signed size to `size` (empty if there is no last checkpoint, or its size is 0 or
    /// equal to `size`). Refuses to sign if the tree shrank or the proof does not verify.
    pub fn issue(
        &mut self,
        size: u64,
        root: Hash,
        proof: &[Hash],
    ) -> Result<String, CheckpointError> {
        if size == 0 && root != EMPTY_ROOT {
            return Err(CheckpointError::Inconsistent {
                last: 0,
                new: 0,
                source: ProofError::BadEmptyRoot,
            });
        }
        if let Some(last) = &self.last {
            if size < last.size {
                return Err(CheckpointError::Shrinks {
                    last: last.size,
                    new: size,
                });
            }
            if last.size > 0 {
                merkle::verify_consistency(last.size, size, &last.root, &root, proof).map_err(
                    |source| CheckpointError::Inconsistent {
                        last: last.size,
                        new: size,
                        source,
                    },
                )?;
            }
        }
        let cp = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
            extensions: Vec::new(),
        };
        let note = cp.sign(&self.signer)?;
        self.last = Some(cp);
        Ok(note)
    }
}
