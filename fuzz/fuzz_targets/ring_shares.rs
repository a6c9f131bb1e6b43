//! The codec's byte-vector parsers (`mpc_core::codec`): `decode_field_bytes`,
//! `bytes_to_f32s`.
//! (B's ring and carry shares are parsed by `robust::submit::half_b`: target
//! `robust_upload`.)
//!
//! Input layout (little-endian):
//!
//! ```text
//! dim: u32 | ell: u8 | frac: u8 | split: u16 | payload...
//! ```
//!
//! `payload[..split]` and the rest are parsed separately; `dim` (any u32)
//! exercises the length arithmetic. `ell` and `frac` are unused (kept so
//! that the existing corpus keeps its layout).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpc_core::codec::{
    FP_BYTES, bytes_to_f32s, decode_field_bytes, encode_field_bytes, f32s_to_bytes,
};

fuzz_target!(|data: &[u8]| {
    let [d0, d1, d2, d3, _ell, _frac, s0, s1, payload @ ..] = data else {
        return;
    };
    let raw_dim = u32::from_le_bytes([*d0, *d1, *d2, *d3]) as usize;
    let split = u16::from_le_bytes([*s0, *s1]);
    let split = usize::from(split & 0x7fff).min(payload.len());
    let (b, kappa) = payload.split_at(split);

    for len in [raw_dim, kappa.len() / FP_BYTES] {
        if let Ok(v) = decode_field_bytes(kappa, len) {
            assert_eq!(v.len(), len);
            assert_eq!(encode_field_bytes(&v), kappa);
        }
    }

    for bytes in [payload, b, kappa] {
        if let Ok(v) = bytes_to_f32s(bytes) {
            assert!(v.iter().all(|x| x.is_finite()));
            assert_eq!(f32s_to_bytes(&v), bytes);
        }
    }
});
