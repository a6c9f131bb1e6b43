//! Server B's share parsers: `RingShareB::from_wire`, `decode_field_bytes`,
//! `bytes_to_f32s`.
//!
//! Input layout (little-endian):
//!
//! ```text
//! dim: u32 | ell: u8 | frac: u8 | split: u16 | payload...
//! ```
//!
//! `payload[..split]` are the ring-share bytes b, the rest the carry-share bytes
//! κ_B. If the top bit of `split` is set, `dim` is replaced by `b.len() / 3`
//! so that most inputs get past the length check; otherwise the raw `dim`
//! (any u32) exercises the length arithmetic. (ℓ, f) that `FixedParams::new`
//! rejects fall back to the defaults.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpc_core::FixedParams;
use mpc_core::share::{
    FIELD_BYTES, RING_SHARE_BYTES, RingShareB, decode_field_bytes, encode_field_bytes,
};
use mpc_core::wire::{bytes_to_f32s, f32s_to_bytes};
use mpc_core::{Fp, Seed};

fuzz_target!(|data: &[u8]| {
    let [d0, d1, d2, d3, ell, frac, s0, s1, payload @ ..] = data else {
        return;
    };
    let raw_dim = u32::from_le_bytes([*d0, *d1, *d2, *d3]) as usize;
    let split = u16::from_le_bytes([*s0, *s1]);
    let derive_dim = split & 0x8000 != 0;
    let split = usize::from(split & 0x7fff).min(payload.len());
    let (b, kappa) = payload.split_at(split);
    let dim = if derive_dim {
        b.len() / RING_SHARE_BYTES
    } else {
        raw_dim
    };

    let params = FixedParams::new(u32::from(*ell), u32::from(*frac)).unwrap_or_default();

    if let Ok(share) = RingShareB::from_wire(b, kappa, dim, params) {
        assert_eq!(share.dim(), dim);
        let (b2, kappa2) = share.to_wire();
        assert_eq!(b2, b, "ring shares do not round-trip");
        assert_eq!(kappa2, kappa, "carry shares do not round-trip");
        // Lifting arbitrary (valid) shares must not panic either.
        let lifted = share.lift(params);
        let mut acc = vec![Fp::ZERO; dim];
        share
            .add_lifted(&mut acc, params)
            .expect("matching lengths");
        assert_eq!(acc, lifted);
        if dim > 0 {
            assert!(share.add_lifted(&mut [], params).is_err());
        }
        // And A's half of the same dimension (from a fixed seed).
        let a = mpc_core::share::lift_a(params, &Seed([7; 32]), 1, 2, dim);
        assert_eq!(a.len(), dim);
    }

    for len in [raw_dim, kappa.len() / FIELD_BYTES] {
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
