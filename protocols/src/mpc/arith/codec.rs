//! Byte encoding of the arith messages.
//!
//! Every message starts with a one-byte tag naming its type, then `u32`
//! little-endian counts, then fixed-size entries: field elements as 8-byte
//! little-endian canonical values, `u32` words little-endian. Decoding checks,
//! in this order and before allocating anything proportional to a count: the
//! tag, that the header is complete, that the total length equals exactly what
//! the counts imply, then every field element is canonical (< p). Errors name
//! the message kind, counts and indices, never a value.

use mpc_core::field::Fp;
use thiserror::Error;

/// Bytes of one encoded field element.
pub const FP_BYTES: usize = 8;

/// Structural decoding errors shared by all arith messages.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    /// Shorter than the header.
    #[error("{kind} message of {len} bytes is shorter than its {header}-byte header")]
    Truncated {
        /// Message kind.
        kind: &'static str,
        /// Bytes received.
        len: usize,
        /// Header length.
        header: usize,
    },
    /// The tag names another message type.
    #[error("expected a {kind} message (tag {expected:#04x}), got tag {got:#04x}")]
    WrongTag {
        /// Message kind expected.
        kind: &'static str,
        /// Tag expected.
        expected: u8,
        /// Tag received.
        got: u8,
    },
    /// The length does not match the counts in the header.
    #[error("{kind} message has {got} bytes, but its header implies {expected}")]
    Length {
        /// Message kind.
        kind: &'static str,
        /// Length implied by the header.
        expected: usize,
        /// Length received.
        got: usize,
    },
    /// The header declares more entries than could ever be sent.
    #[error("{kind} message declares a count that overflows its length")]
    Overflow {
        /// Message kind.
        kind: &'static str,
    },
    /// A field element is not canonical (≥ p).
    #[error("{kind} message: field element {index} is not canonical")]
    NonCanonical {
        /// Message kind.
        kind: &'static str,
        /// Index of the element.
        index: usize,
    },
    /// A list that must be strictly increasing is not.
    #[error("{kind} message: index list is not strictly increasing at position {index}")]
    Unsorted {
        /// Message kind.
        kind: &'static str,
        /// Position in the list.
        index: usize,
    },
}

/// A message of an arith protocol.
pub trait ArithMessage: Sized {
    /// Message kind, for errors.
    const KIND: &'static str;
    /// Exact number of bytes [`ArithMessage::encode`] produces.
    fn encoded_len(&self) -> usize;
    /// The wire bytes.
    fn encode(&self) -> Vec<u8>;
    /// Structural decoding (tag, exact length, canonical elements).
    /// Counts are checked against the batch by the receiving state machine.
    fn decode(bytes: &[u8]) -> Result<Self, CodecError>;
}

/// A cursor over a message whose total length has been checked.
pub(crate) struct Reader<'a> {
    kind: &'static str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Checks the tag and that at least `header` bytes are present.
    pub(crate) fn new(
        kind: &'static str,
        tag: u8,
        header: usize,
        bytes: &'a [u8],
    ) -> Result<Reader<'a>, CodecError> {
        if bytes.len() < header {
            return Err(CodecError::Truncated {
                kind,
                len: bytes.len(),
                header,
            });
        }
        let got = bytes.first().copied().unwrap_or_default();
        if got != tag {
            return Err(CodecError::WrongTag {
                kind,
                expected: tag,
                got,
            });
        }
        Ok(Reader {
            kind,
            bytes,
            pos: 1,
        })
    }

    /// Checks the total length against `expected` (computed with checked
    /// arithmetic by the caller; `None` means it overflowed).
    pub(crate) fn expect_total(&self, expected: Option<usize>) -> Result<(), CodecError> {
        let kind = self.kind;
        let expected = expected.ok_or(CodecError::Overflow { kind })?;
        if expected != self.bytes.len() {
            return Err(CodecError::Length {
                kind,
                expected,
                got: self.bytes.len(),
            });
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let kind = self.kind;
        let end = self
            .pos
            .checked_add(n)
            .ok_or(CodecError::Overflow { kind })?;
        let s = self.bytes.get(self.pos..end).ok_or(CodecError::Length {
            kind,
            expected: end,
            got: self.bytes.len(),
        })?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array::<4>()?))
    }

    pub(crate) fn count(&mut self) -> Result<usize, CodecError> {
        Ok(self.u32()? as usize)
    }

    pub(crate) fn u32_vec(&mut self, n: usize) -> Result<Vec<u32>, CodecError> {
        let kind = self.kind;
        let s = self.take(n.checked_mul(4).ok_or(CodecError::Overflow { kind })?)?;
        Ok(s.chunks_exact(4)
            .map(|c| {
                let mut a = [0u8; 4];
                a.copy_from_slice(c);
                u32::from_le_bytes(a)
            })
            .collect())
    }

    pub(crate) fn fp_vec(&mut self, n: usize) -> Result<Vec<Fp>, CodecError> {
        let kind = self.kind;
        let s = self.take(
            n.checked_mul(FP_BYTES)
                .ok_or(CodecError::Overflow { kind })?,
        )?;
        s.chunks_exact(FP_BYTES)
            .enumerate()
            .map(|(index, c)| {
                Fp::from_canonical(le_u64(c)).ok_or(CodecError::NonCanonical { kind, index })
            })
            .collect()
    }

    /// Every byte must have been consumed.
    pub(crate) fn finish(self) -> Result<(), CodecError> {
        if self.pos != self.bytes.len() {
            return Err(CodecError::Length {
                kind: self.kind,
                expected: self.pos,
                got: self.bytes.len(),
            });
        }
        Ok(())
    }
}

fn le_u64(c: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(c);
    u64::from_le_bytes(a)
}

/// Appends field elements.
pub(crate) fn put_fps(out: &mut Vec<u8>, xs: &[Fp]) {
    for x in xs {
        out.extend_from_slice(&x.value().to_le_bytes());
    }
}

/// Appends a count (the caller keeps counts ≤ [`super::MAX_BATCH`] · 64 < 2^32).
pub(crate) fn put_count(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}
