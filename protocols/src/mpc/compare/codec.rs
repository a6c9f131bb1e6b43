//! Byte encoding of the comparison messages.
//!
//! A message is a one-byte tag naming its type, then sections. A bit section
//! is a `u32` little-endian bit count and the bits packed LSB-first
//! (`ceil(count/8)` bytes, padding bits zero); a field section is a `u32`
//! element count and 8-byte little-endian canonical elements. Composite
//! protocols (ReLU, count) prefix the inner message with their own tag.
//!
//! Decoding is structural and strict: the tag, that every declared section
//! fits in the bytes that remain (checked *before* allocating), zero padding,
//! canonical field elements, and no trailing bytes. The counts are then
//! checked against the batch by the receiving state machine. Errors name the
//! message kind and sizes, never contents.

use mpc_core::field::Fp;
use thiserror::Error;

use super::bits::BitVec;

/// Bytes of one encoded field element.
pub const FP_BYTES: usize = 8;
/// Bytes of a section header.
pub const COUNT_BYTES: usize = 4;

/// Structural decoding errors shared by the comparison messages.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    /// The message is empty or shorter than what its header declares.
    #[error("{kind} message is truncated: {got} bytes, at least {need} expected")]
    Truncated {
        /// Message kind.
        kind: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes received.
        got: usize,
    },
    /// The tag names no message of this protocol.
    #[error("{kind} message has unknown tag {tag:#04x}")]
    Tag {
        /// Message kind expected.
        kind: &'static str,
        /// Tag received.
        tag: u8,
    },
    /// Bytes after the last section.
    #[error("{kind} message has {extra} trailing bytes")]
    Trailing {
        /// Message kind.
        kind: &'static str,
        /// Extra bytes.
        extra: usize,
    },
    /// A field element is not canonical (≥ p).
    #[error("{kind} message: field element {index} is not canonical")]
    NonCanonical {
        /// Message kind.
        kind: &'static str,
        /// Index of the element.
        index: usize,
    },
    /// Padding bits after the last packed bit are not zero.
    #[error("{kind} message: padding bits are not zero")]
    Padding {
        /// Message kind.
        kind: &'static str,
    },
}

/// A message of a comparison protocol: typed, with an exact encoded size.
pub trait Message: Sized {
    /// Message family, for errors.
    const KIND: &'static str;
    /// Exact number of bytes [`Message::encode`] produces.
    fn encoded_len(&self) -> usize;
    /// Appends the wire bytes to `out`.
    fn encode_into(&self, out: &mut Vec<u8>);
    /// The wire bytes.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }
    /// Structural decoding (tag, exact length, padding, canonical elements).
    fn decode(bytes: &[u8]) -> Result<Self, CodecError>;
    /// Name of this message's variant, for errors.
    fn name(&self) -> &'static str;
}

/// Encoded size of a bit section.
pub(crate) fn bits_len(b: &BitVec) -> usize {
    COUNT_BYTES + b.byte_len()
}

/// Encoded size of a field section.
pub(crate) fn fps_len(v: &[Fp]) -> usize {
    COUNT_BYTES + FP_BYTES * v.len()
}

fn put_count(out: &mut Vec<u8>, n: usize) {
    // Every constructor bounds section sizes by `u32::MAX` (see `MAX_BATCH`).
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_le_bytes());
}

/// Appends a bit section.
pub(crate) fn put_bits(out: &mut Vec<u8>, b: &BitVec) {
    put_count(out, b.len());
    b.write_bytes(out);
}

/// Appends a field section.
pub(crate) fn put_fps(out: &mut Vec<u8>, v: &[Fp]) {
    put_count(out, v.len());
    for x in v {
        out.extend_from_slice(&x.value().to_le_bytes());
    }
}

/// A cursor over message bytes.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    kind: &'static str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(kind: &'static str, bytes: &'a [u8]) -> Reader<'a> {
        Reader {
            kind,
            bytes,
            pos: 0,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or(CodecError::Truncated {
            kind: self.kind,
            need: usize::MAX,
            got: self.bytes.len(),
        })?;
        let s = self.bytes.get(self.pos..end).ok_or(CodecError::Truncated {
            kind: self.kind,
            need: end,
            got: self.bytes.len(),
        })?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        let s = self.take(1)?;
        Ok(s.first().copied().unwrap_or_default())
    }

    fn count(&mut self) -> Result<usize, CodecError> {
        let s = self.take(COUNT_BYTES)?;
        let mut w = [0u8; 4];
        w.copy_from_slice(s);
        Ok(u32::from_le_bytes(w) as usize)
    }

    /// A bit section.
    pub(crate) fn bits(&mut self) -> Result<BitVec, CodecError> {
        let n = self.count()?;
        let s = self.take(n.div_ceil(8))?;
        BitVec::from_bytes(s, n).ok_or(CodecError::Padding { kind: self.kind })
    }

    /// A field section.
    pub(crate) fn fps(&mut self) -> Result<Vec<Fp>, CodecError> {
        let n = self.count()?;
        let need = n.checked_mul(FP_BYTES).ok_or(CodecError::Truncated {
            kind: self.kind,
            need: usize::MAX,
            got: self.bytes.len(),
        })?;
        let s = self.take(need)?;
        s.chunks_exact(FP_BYTES)
            .enumerate()
            .map(|(index, c)| {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                Fp::from_canonical(u64::from_le_bytes(w)).ok_or(CodecError::NonCanonical {
                    kind: self.kind,
                    index,
                })
            })
            .collect()
    }

    /// The rest of the bytes (for an inner message).
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = self.bytes.get(self.pos..).unwrap_or(&[]);
        self.pos = self.bytes.len();
        s
    }

    /// Errors on trailing bytes.
    pub(crate) fn finish(self) -> Result<(), CodecError> {
        let extra = self.bytes.len().saturating_sub(self.pos);
        if extra != 0 {
            return Err(CodecError::Trailing {
                kind: self.kind,
                extra,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::Message;
    use crate::mpc::compare::count::CountMsg;
    use crate::mpc::compare::millionaire::CmpMsg;
    use crate::mpc::compare::mux::MuxMsg;
    use crate::mpc::compare::relu::ReluMsg;

    /// Decoding never panics, and whatever decodes re-encodes to the same
    /// bytes (the encoding is canonical: no slack for malleability).
    fn check<M: Message>(bytes: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(m) = M::decode(bytes) {
            prop_assert_eq!(m.encoded_len(), bytes.len());
            prop_assert_eq!(m.encode(), bytes.to_vec());
        }
        Ok(())
    }

    /// Random bytes biased towards valid headers: a known tag, then small counts.
    fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
        let tags = prop_oneof![
            Just(vec![]),
            (0x51u8..=0x53).prop_map(|t| vec![t]),
            (0x61u8..=0x63).prop_map(|t| vec![t]),
            (0x71u8..=0x72, 0x51u8..=0x63).prop_map(|(a, b)| vec![a, b]),
            (0x81u8..=0x83, 0x01u8..=0x63).prop_map(|(a, b)| vec![a, b]),
        ];
        let body = proptest::collection::vec(
            prop_oneof![
                // A small little-endian count.
                (0u8..20).prop_map(|c| vec![c, 0, 0, 0]),
                proptest::collection::vec(any::<u8>(), 0..12),
            ],
            0..6,
        );
        (tags, body).prop_map(|(mut t, b)| {
            for x in b {
                t.extend(x);
            }
            t
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn decoders_are_strict_and_never_panic(bytes in arb_bytes()) {
            check::<CmpMsg>(&bytes)?;
            check::<MuxMsg>(&bytes)?;
            check::<ReluMsg>(&bytes)?;
            check::<CountMsg>(&bytes)?;
        }

        #[test]
        fn decoders_never_panic_on_noise(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            check::<CmpMsg>(&bytes)?;
            check::<MuxMsg>(&bytes)?;
            check::<ReluMsg>(&bytes)?;
            check::<CountMsg>(&bytes)?;
        }
    }

    #[test]
    fn a_huge_declared_count_is_rejected_before_allocating() {
        let mut b = vec![0x53];
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(CmpMsg::decode(&b).is_err());
        let mut f = vec![0x63];
        f.extend_from_slice(&u32::MAX.to_le_bytes());
        f.extend_from_slice(&[0; 16]);
        assert!(MuxMsg::decode(&f).is_err());
    }
}
