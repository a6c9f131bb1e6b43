//! Byte layout of the comparison messages (they implement
//! [`mpc_core::codec::Message`]; decoding follows its rules).
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

use mpc_core::codec::{self, CodecError, FP_BYTES, Reader};
use mpc_core::field::Fp;

use super::bits::BitVec;

/// Bytes of a section header.
pub const COUNT_BYTES: usize = 4;

/// Encoded size of a bit section.
pub(crate) fn bits_len(b: &BitVec) -> usize {
    COUNT_BYTES + b.byte_len()
}

/// Encoded size of a field section.
pub(crate) fn fps_len(v: &[Fp]) -> usize {
    COUNT_BYTES + FP_BYTES * v.len()
}

/// Appends a bit section.
pub(crate) fn put_bits(out: &mut Vec<u8>, b: &BitVec) {
    codec::put_count(out, b.len());
    b.write_bytes(out);
}

/// Appends a field section.
pub(crate) fn put_fps(out: &mut Vec<u8>, v: &[Fp]) {
    codec::put_count(out, v.len());
    codec::put_fps(out, v);
}

/// Reads a bit section.
pub(crate) fn bits(r: &mut Reader<'_>) -> Result<BitVec, CodecError> {
    let n = r.count()?;
    let s = r.take(n.div_ceil(8))?;
    BitVec::from_bytes(s, n).ok_or(CodecError::Padding { kind: r.kind() })
}

/// Reads a field section.
pub(crate) fn fps(r: &mut Reader<'_>) -> Result<Vec<Fp>, CodecError> {
    let n = r.count()?;
    r.fps(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use mpc_core::codec::Message;
    use proptest::prelude::*;

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
