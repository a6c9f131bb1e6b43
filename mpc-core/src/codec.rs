//! The message codec: one trait ([`Message`]), one error type
//! ([`CodecError`]), one cursor ([`Reader`]) and one set of decoding rules
//! for every message that crosses a trust boundary — the versioned frames of
//! [`crate::wire`], the 2PC engine's messages and the sub-protocol messages
//! they carry (OT, arithmetic, comparison), and the bulk vectors inside them.
//!
//! # The rules
//!
//! [`Message::decode_with`] (and [`Message::decode`], with the default
//! [`Limits`]) is the only decoder; implementations provide
//! [`Message::read`] and [`Message::validate`] and never reorder these
//! steps:
//!
//! 1. **Size cap**: a message longer than [`Message::max_len`] is refused
//!    before any byte is read.
//! 2. **Version first**, for top-level frames ([`Message::VERSION`] is
//!    `Some`): `version: u16 big-endian`, compared before the body is
//!    touched.
//! 3. **Structure** ([`Message::read`]): tags, counts and exact lengths. A
//!    declared count is checked against the bytes that are actually there
//!    ([`Reader::take`], [`Reader::expect_remaining`]) *before* anything
//!    proportional to it is allocated; bincode bodies decode under an
//!    allocation cap ([`Reader::bincode`]). Field elements must be canonical
//!    (< p), padding bits zero.
//! 4. **No trailing bytes**: the whole input must have been read.
//! 5. **[`Message::validate`] last**: checks on the decoded value (vector
//!    lengths against [`Limits::max_dim`], string sizes, sorted lists,
//!    instance numbers, …).
//!
//! Counts that depend on protocol state (the batch a message belongs to) are
//! checked afterwards by the receiving state machine. Errors describe
//! structure (kinds, sizes, indices), never contents.
//!
//! Encodings: [`Message::encode`] is exact ([`Message::encoded_len`]) and
//! canonical — whatever decodes re-encodes to the same bytes. Two layouts
//! exist behind the one trait: the wire frames are bincode 2 (serde,
//! `config::standard()`) after the version header; everything inside the
//! 2PC engine is hand-written (a one-byte tag, little-endian `u32` counts,
//! fixed-width entries: [`FP_BYTES`]-byte field elements, 32-byte points,
//! 16-byte OT blocks, LSB-first bits), which is what bulk OT data needs.
//! Bulk vectors inside bincode frames travel as byte strings and are parsed
//! by the layer that knows their length ([`decode_field_bytes`],
//! [`bytes_to_f32s`], [`bytes_to_i32s`]).

use core::ops::AddAssign;

use bincode::enc::write::{SizeWriter, Writer};
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::field::Fp;

/// Bytes of one encoded field element (little-endian, canonical).
pub const FP_BYTES: usize = 8;
/// Bytes of the version header of a top-level frame.
pub const VERSION_BYTES: usize = 2;
/// Default maximum frame size: 64 MiB.
pub const DEFAULT_MAX_FRAME: usize = 64 << 20;
/// Default maximum model dimension: 2^21 coordinates.
pub const DEFAULT_MAX_DIM: usize = 1 << 21;

/// Decoder limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame body in bytes.
    pub max_frame: usize,
    /// Largest vector dimension.
    pub max_dim: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: DEFAULT_MAX_FRAME,
            max_dim: DEFAULT_MAX_DIM,
        }
    }
}

/// Decoding errors of every message. They describe structure only (kinds,
/// sizes, indices), never contents.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    /// Longer than the message's size cap.
    #[error("{kind} message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Message kind.
        kind: &'static str,
        /// Bytes received.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Ends before a part its header (or its type) declares.
    #[error("{kind} message is truncated: {got} bytes, at least {need} expected")]
    Truncated {
        /// Message kind.
        kind: &'static str,
        /// Bytes needed (`usize::MAX`: a declared size that overflows).
        need: usize,
        /// Bytes received.
        got: usize,
    },
    /// Another protocol version.
    #[error("protocol version {got} is not supported (this build speaks {expected})")]
    Version {
        /// Version received.
        got: u16,
        /// Version expected.
        expected: u16,
    },
    /// A tag that names no message of this kind.
    #[error("{kind} message has unexpected tag {tag:#04x}")]
    Tag {
        /// Message kind.
        kind: &'static str,
        /// Tag received.
        tag: u8,
    },
    /// The size differs from what the header implies.
    #[error("{kind} message has {got} bytes, expected {expected}")]
    Length {
        /// Message kind.
        kind: &'static str,
        /// Size implied by the header (`usize::MAX`: it overflows).
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// Bytes after the message.
    #[error("{extra} trailing bytes after the {kind} message")]
    Trailing {
        /// Message kind.
        kind: &'static str,
        /// Extra bytes.
        extra: usize,
    },
    /// A vector, list or string longer than its limit.
    #[error("field `{field}` has {len} entries; limit is {max}")]
    Dimension {
        /// Field name.
        field: &'static str,
        /// Entries.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A field element that is not canonical (≥ p).
    #[error("{kind} message: field element {index} is not canonical")]
    NonCanonical {
        /// Message kind.
        kind: &'static str,
        /// Index of the element in its vector.
        index: usize,
    },
    /// Padding bits after the last packed bit are not zero.
    #[error("{kind} message: padding bits are not zero")]
    Padding {
        /// Message kind.
        kind: &'static str,
    },
    /// Anything else that makes the message invalid (a body that does not
    /// decode, an invalid point, an unsorted list, a bad parameter).
    #[error("malformed {kind} message: {detail}")]
    Malformed {
        /// Message kind.
        kind: &'static str,
        /// What is wrong (structural).
        detail: String,
    },
}

impl CodecError {
    /// A [`CodecError::Malformed`].
    pub fn malformed(kind: &'static str, detail: impl Into<String>) -> CodecError {
        CodecError::Malformed {
            kind,
            detail: detail.into(),
        }
    }
}

/// A message with its encoding and its validating decoder. See the module
/// docs for the rules; implementations provide the required items and never
/// override [`Message::encode`], [`Message::decode`] or
/// [`Message::decode_with`].
pub trait Message: Sized {
    /// Message kind, for errors.
    const KIND: &'static str;
    /// `Some(v)` for a top-level frame: the encoding starts with `v` as a
    /// big-endian `u16`, checked first on decoding.
    const VERSION: Option<u16> = None;

    /// Largest accepted encoding, checked before anything is read.
    fn max_len(limits: &Limits) -> usize {
        limits.max_frame
    }

    /// Exact number of bytes [`Message::encode`] produces (version header
    /// included).
    fn encoded_len(&self) -> usize;

    /// Appends the encoding after the version header (the whole encoding of
    /// an unversioned message).
    fn write(&self, out: &mut Vec<u8>);

    /// Structural decoding of what [`Message::write`] produces: tags,
    /// counts, exact lengths, canonical elements; nothing is allocated in
    /// proportion to a count before the bytes for it are known to be there.
    /// Bytes left in `r` are an error of the caller ([`Reader::finish`]).
    fn read(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, CodecError>;

    /// Checks on the decoded value (lengths against `limits`, invariants);
    /// runs last.
    fn validate(&self, limits: &Limits) -> Result<(), CodecError> {
        let _ = limits;
        Ok(())
    }

    /// The encoding.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        if let Some(v) = Self::VERSION {
            out.extend_from_slice(&v.to_be_bytes());
        }
        self.write(&mut out);
        out
    }

    /// [`Message::decode_with`] under the default [`Limits`].
    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        Self::decode_with(bytes, &Limits::default())
    }

    /// Size cap, version, [`Message::read`], no trailing bytes,
    /// [`Message::validate`] — in this order.
    fn decode_with(bytes: &[u8], limits: &Limits) -> Result<Self, CodecError> {
        let max = Self::max_len(limits);
        if bytes.len() > max {
            return Err(CodecError::TooLarge {
                kind: Self::KIND,
                len: bytes.len(),
                max,
            });
        }
        let mut r = Reader::new(Self::KIND, bytes);
        if let Some(expected) = Self::VERSION {
            let got = u16::from_be_bytes(r.array::<VERSION_BYTES>()?);
            if got != expected {
                return Err(CodecError::Version { got, expected });
            }
        }
        let msg = Self::read(&mut r, limits)?;
        r.finish()?;
        msg.validate(limits)?;
        Ok(msg)
    }
}

/// A cursor over the bytes of one message. Every read checks that the
/// bytes are there first; errors carry the message kind.
#[derive(Debug)]
pub struct Reader<'a> {
    kind: &'static str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`, a message of kind `kind`.
    pub fn new(kind: &'static str, bytes: &'a [u8]) -> Reader<'a> {
        Reader {
            kind,
            bytes,
            pos: 0,
        }
    }

    /// The message kind errors name.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let truncated = |need| CodecError::Truncated {
            kind: self.kind,
            need,
            got: self.bytes.len(),
        };
        let end = self.pos.checked_add(n).ok_or(truncated(usize::MAX))?;
        let s = self.bytes.get(self.pos..end).ok_or(truncated(end))?;
        self.pos = end;
        Ok(s)
    }

    /// The next `N` bytes.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, CodecError> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A little-endian `u32` count.
    pub fn count(&mut self) -> Result<usize, CodecError> {
        Ok(self.u32()? as usize)
    }

    /// A one-byte tag that must be `expected`.
    pub fn tag(&mut self, expected: u8) -> Result<(), CodecError> {
        match self.u8()? {
            t if t == expected => Ok(()),
            tag => Err(CodecError::Tag {
                kind: self.kind,
                tag,
            }),
        }
    }

    /// Checks that exactly `n` bytes remain (`None`: the size computed from
    /// the header overflowed); the error names the whole message's sizes.
    pub fn expect_remaining(&self, n: Option<usize>) -> Result<(), CodecError> {
        let expected = n.and_then(|n| n.checked_add(self.pos));
        if expected != Some(self.bytes.len()) {
            return Err(CodecError::Length {
                kind: self.kind,
                expected: expected.unwrap_or(usize::MAX),
                got: self.bytes.len(),
            });
        }
        Ok(())
    }

    /// `n` canonical field elements (their bytes are taken before the
    /// vector is allocated); error indices count within this vector.
    pub fn fps(&mut self, n: usize) -> Result<Vec<Fp>, CodecError> {
        let kind = self.kind;
        let s = self.take(n.saturating_mul(FP_BYTES))?;
        fps_from(kind, s)
    }

    /// `n` little-endian `u32`s.
    pub fn u32s(&mut self, n: usize) -> Result<Vec<u32>, CodecError> {
        let s = self.take(n.saturating_mul(4))?;
        Ok(s.chunks_exact(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w.copy_from_slice(c);
                u32::from_le_bytes(w)
            })
            .collect())
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = self.bytes.get(self.pos..).unwrap_or_default();
        self.pos = self.bytes.len();
        s
    }

    /// An inner message filling the rest: decoded whole, with its own kind,
    /// rules and validation.
    pub fn message<M: Message>(&mut self, limits: &Limits) -> Result<M, CodecError> {
        M::decode_with(self.rest(), limits)
    }

    /// A bincode-2 (serde, standard config) value from the bytes that are
    /// left; reads only what the value takes.
    ///
    /// bincode allocates a string or byte vector at its *declared* length
    /// before reading it, so without a cap a 20-byte frame declaring a
    /// 2^62-byte string aborts the process (found by `fuzz/` target
    /// `wire_decode`). The cap is compared with bincode's claims, which count
    /// each decoded value at its in-memory size (a one-byte varint `u64`
    /// claims 8), so an honest body claims at most 8× its length: small
    /// bodies (all control messages) get an 8× cap, bodies up to
    /// [`DEFAULT_MAX_FRAME`] a fixed 2 × 64 MiB.
    pub fn bincode<T: DeserializeOwned>(&mut self) -> Result<T, CodecError> {
        let body = self.bytes.get(self.pos..).unwrap_or_default();
        let (value, used) = decode_bincode(body).map_err(|e| CodecError::Malformed {
            kind: self.kind,
            detail: e.to_string(),
        })?;
        self.take(used)?;
        Ok(value)
    }

    /// Errors unless every byte has been read.
    pub fn finish(self) -> Result<(), CodecError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(CodecError::Trailing {
                kind: self.kind,
                extra,
            }),
        }
    }
}

fn fps_from(kind: &'static str, bytes: &[u8]) -> Result<Vec<Fp>, CodecError> {
    bytes
        .chunks_exact(FP_BYTES)
        .enumerate()
        .map(|(index, c)| {
            let mut w = [0u8; FP_BYTES];
            w.copy_from_slice(c);
            Fp::from_canonical(u64::from_le_bytes(w))
                .ok_or(CodecError::NonCanonical { kind, index })
        })
        .collect()
}

/// Appends field elements, [`FP_BYTES`] little-endian bytes each.
pub fn put_fps(out: &mut Vec<u8>, xs: &[Fp]) {
    out.reserve(xs.len() * FP_BYTES);
    for x in xs {
        out.extend_from_slice(&x.value().to_le_bytes());
    }
}

/// Appends a little-endian `u32` count (callers bound their counts by
/// `u32::MAX`; larger values saturate and then fail to decode).
pub fn put_count(out: &mut Vec<u8>, n: usize) {
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_le_bytes());
}

// ---------------------------------------------------------------- bincode

fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Bodies up to this size decode with the small allocation cap.
const SMALL_BODY: usize = 8 << 10;

fn decode_bincode<T: DeserializeOwned>(
    body: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    let config = bincode_config();
    if body.len() <= SMALL_BODY {
        bincode::serde::decode_from_slice(body, config.with_limit::<{ 8 * SMALL_BODY }>())
    } else if body.len() <= DEFAULT_MAX_FRAME {
        bincode::serde::decode_from_slice(body, config.with_limit::<{ 2 * DEFAULT_MAX_FRAME }>())
    } else {
        // Only reachable with `Limits::max_frame` above the default; frames
        // never exceed 4 GiB (u32 length prefix).
        bincode::serde::decode_from_slice(body, config.with_limit::<{ u32::MAX as usize }>())
    }
}

/// Appends to a `Vec`; never fails.
struct Append<'a>(&'a mut Vec<u8>);

impl Writer for Append<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// Size of the bincode encoding of `value`.
pub fn bincode_len<T: Serialize>(value: &T) -> usize {
    let mut size = SizeWriter::default();
    match bincode::serde::encode_into_writer(value, &mut size, bincode_config()) {
        Ok(()) => size.bytes_written,
        Err(_) => 0,
    }
}

/// Appends the bincode encoding of `value`.
///
/// Infallible for the message types it is used on: the writer never fails,
/// and bincode's serde encoder fails only on sequences of unknown length or
/// a `Serialize` impl's custom error, which derived impls over `Vec`,
/// `String`, arrays, options and integers never produce. Were it to fail
/// anyway, nothing is appended (the peer then refuses a truncated frame) —
/// [`bincode_len`] reports 0 bytes for such a value, so the two agree.
pub fn put_bincode<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    let start = out.len();
    if bincode::serde::encode_into_writer(value, Append(out), bincode_config()).is_err() {
        debug_assert!(false, "bincode encoding failed");
        out.truncate(start);
    }
}

// ------------------------------------------------------- bulk byte vectors

const FIELD_VECTOR: &str = "field vector";
const F32_VECTOR: &str = "f32 vector";
const I32_VECTOR: &str = "i32 vector";

/// Field elements as [`FP_BYTES`]-byte little-endian words.
pub fn encode_field_bytes(v: &[Fp]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * FP_BYTES);
    put_fps(&mut out, v);
    out
}

/// Parses exactly `len` canonical field elements.
pub fn decode_field_bytes(bytes: &[u8], len: usize) -> Result<Vec<Fp>, CodecError> {
    let mut r = Reader::new(FIELD_VECTOR, bytes);
    r.expect_remaining(len.checked_mul(FP_BYTES))?;
    r.fps(len)
}

/// `chunks` vectors of `len` field elements each, concatenated (e.g. A's
/// verifier shares of a batch's workers).
pub fn decode_field_chunks(
    bytes: &[u8],
    chunks: usize,
    len: usize,
) -> Result<Vec<Vec<Fp>>, CodecError> {
    let all = decode_field_bytes(bytes, chunks.saturating_mul(len))?;
    Ok(all.chunks(len.max(1)).map(<[Fp]>::to_vec).collect())
}

/// Little-endian f32 bytes of a vector.
pub fn f32s_to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Parses little-endian f32s; every value must be finite.
pub fn bytes_to_f32s(b: &[u8]) -> Result<Vec<f32>, CodecError> {
    if !b.len().is_multiple_of(4) {
        return Err(CodecError::malformed(
            F32_VECTOR,
            format!("length {} is not a multiple of 4", b.len()),
        ));
    }
    let mut out = Vec::with_capacity(b.len() / 4);
    for (i, c) in b.chunks_exact(4).enumerate() {
        let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        if !x.is_finite() {
            return Err(CodecError::malformed(
                F32_VECTOR,
                format!("entry {i} is not finite"),
            ));
        }
        out.push(x);
    }
    Ok(out)
}

/// Little-endian i32 bytes of a vector.
pub fn i32s_to_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Parses exactly `len` little-endian i32s.
pub fn bytes_to_i32s(bytes: &[u8], len: usize) -> Result<Vec<i32>, CodecError> {
    let mut r = Reader::new(I32_VECTOR, bytes);
    r.expect_remaining(len.checked_mul(4))?;
    Ok(r.u32s(len)?.into_iter().map(|w| w as i32).collect())
}

// ---------------------------------------------------------------- traffic

/// Traffic of one protocol instance (or session), from one party's point of
/// view: messages and their exact encoded sizes ([`Message::encoded_len`];
/// transport framing is not included). `rounds` is the number of sequential
/// communication steps (a simultaneous exchange counts once), the same for
/// both parties; layers that do not count rounds leave it 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes this party sent.
    pub bytes_sent: u64,
    /// Bytes this party received.
    pub bytes_received: u64,
    /// Messages this party sent.
    pub messages_sent: u64,
    /// Messages this party received.
    pub messages_received: u64,
    /// Communication rounds.
    pub rounds: u64,
}

impl Traffic {
    /// Bytes in both directions.
    pub fn total_bytes(&self) -> u64 {
        self.bytes_sent + self.bytes_received
    }

    /// Counts one message of `len` bytes sent.
    pub fn sent(&mut self, len: usize) {
        self.bytes_sent += len as u64;
        self.messages_sent += 1;
    }

    /// Counts one message of `len` bytes received.
    pub fn received(&mut self, len: usize) {
        self.bytes_received += len as u64;
        self.messages_received += 1;
    }
}

impl AddAssign for Traffic {
    fn add_assign(&mut self, rhs: Traffic) {
        self.bytes_sent += rhs.bytes_sent;
        self.bytes_received += rhs.bytes_received;
        self.messages_sent += rhs.messages_sent;
        self.messages_received += rhs.messages_received;
        self.rounds += rhs.rounds;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A toy message: tag 0x42, a count, that many field elements.
    #[derive(Debug, PartialEq)]
    struct Toy(Vec<Fp>);

    impl Message for Toy {
        const KIND: &'static str = "toy";
        const VERSION: Option<u16> = Some(7);

        fn max_len(_: &Limits) -> usize {
            64
        }

        fn encoded_len(&self) -> usize {
            VERSION_BYTES + 5 + FP_BYTES * self.0.len()
        }

        fn write(&self, out: &mut Vec<u8>) {
            out.push(0x42);
            put_count(out, self.0.len());
            put_fps(out, &self.0);
        }

        fn read(r: &mut Reader<'_>, _: &Limits) -> Result<Self, CodecError> {
            r.tag(0x42)?;
            let n = r.count()?;
            r.expect_remaining(n.checked_mul(FP_BYTES))?;
            Ok(Toy(r.fps(n)?))
        }

        fn validate(&self, limits: &Limits) -> Result<(), CodecError> {
            if self.0.len() > limits.max_dim {
                return Err(CodecError::Dimension {
                    field: "values",
                    len: self.0.len(),
                    max: limits.max_dim,
                });
            }
            Ok(())
        }
    }

    #[test]
    fn the_rules_in_order() {
        let toy = Toy(vec![Fp::reduce_u64(1), Fp::reduce_u64(2)]);
        let bytes = toy.encode();
        assert_eq!(bytes.len(), toy.encoded_len());
        assert_eq!(Toy::decode(&bytes).unwrap(), toy);

        let mut big = bytes.clone();
        big.resize(65, 0);
        assert!(matches!(
            Toy::decode(&big),
            Err(CodecError::TooLarge { len: 65, .. })
        ));
        let mut v = bytes.clone();
        v[1] = 8;
        assert_eq!(
            Toy::decode(&v).unwrap_err(),
            CodecError::Version {
                got: 8,
                expected: 7
            }
        );
        assert!(matches!(
            Toy::decode(&bytes[..1]),
            Err(CodecError::Truncated { .. })
        ));
        let mut t = bytes.clone();
        t[2] = 0x43;
        assert!(matches!(
            Toy::decode(&t),
            Err(CodecError::Tag { tag: 0x43, .. })
        ));
        // A huge declared count is a length error, before any allocation.
        let mut c = bytes.clone();
        c[3..7].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(Toy::decode(&c), Err(CodecError::Length { .. })));
        let mut nc = bytes.clone();
        nc[15..23].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            Toy::decode(&nc).unwrap_err(),
            CodecError::NonCanonical {
                kind: "toy",
                index: 1
            }
        );
        let small = Limits {
            max_frame: 64,
            max_dim: 1,
        };
        assert!(matches!(
            Toy::decode_with(&bytes, &small),
            Err(CodecError::Dimension { len: 2, .. })
        ));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut r = Reader::new("x", &[1, 2, 3]);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(
            r.finish().unwrap_err(),
            CodecError::Trailing {
                kind: "x",
                extra: 2
            }
        );
    }

    #[test]
    fn vectors_round_trip_and_reject() {
        let v = [Fp::reduce_u64(3), Fp::reduce_u64(5)];
        let mut bytes = encode_field_bytes(&v);
        assert_eq!(decode_field_bytes(&bytes, 2).unwrap(), v);
        assert!(matches!(
            decode_field_bytes(&bytes, 3),
            Err(CodecError::Length { .. })
        ));
        assert!(matches!(
            decode_field_bytes(&bytes[..15], 2),
            Err(CodecError::Length { .. })
        ));
        assert!(decode_field_bytes(&bytes, usize::MAX).is_err());
        bytes[8..].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode_field_bytes(&bytes, 2),
            Err(CodecError::NonCanonical { index: 1, .. })
        ));
        let chunks = decode_field_chunks(&encode_field_bytes(&[v, v].concat()), 2, 2).unwrap();
        assert_eq!(chunks, vec![v.to_vec(), v.to_vec()]);

        let f = [1.0f32, -2.5, 0.0];
        assert_eq!(bytes_to_f32s(&f32s_to_bytes(&f)).unwrap(), f);
        assert!(bytes_to_f32s(&f32s_to_bytes(&[f32::NAN])).is_err());
        assert!(bytes_to_f32s(&[0, 0, 0]).is_err());

        let g = [i32::MIN, -1, 0, 7];
        assert_eq!(bytes_to_i32s(&i32s_to_bytes(&g), 4).unwrap(), g);
        assert!(bytes_to_i32s(&i32s_to_bytes(&g), 3).is_err());
    }

    proptest! {
        #[test]
        fn toy_decoder_is_strict(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(m) = Toy::decode(&bytes) {
                prop_assert_eq!(m.encode(), bytes);
            }
        }
    }
}
