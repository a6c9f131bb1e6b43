//! Server B's parsing of a robust upload and the servers' robust-round
//! decoders: `WorkerToB::decode` then `robust::submit::half_b` for a small
//! secure-fltrust or secure-fedavg session, and the codec's parsers of the
//! reference (`codec::bytes_to_i32s`) and of A's verifier shares
//! (`codec::decode_field_chunks`).
//!
//! Input layout: `dim: u8 | selector: u8 | payload...`. The session has
//! dimension `1 + dim % 64`; the payload is a whole wire frame (selector even)
//! or, to get past the codec, the raw bytes are cut into the upload's fields
//! (selector odd) so that `half_b`'s own checks are exercised.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpc_core::codec::{Message, bytes_to_i32s, decode_field_chunks};
use mpc_core::wire::{Aggregation, SessionInfo, TrainParams, WorkerToB};
use mpc_core::FixedParams;
use protocols::robust::submit::{RobustSetup, half_b};

fuzz_target!(|data: &[u8]| {
    let [dim, selector, payload @ ..] = data else {
        return;
    };
    let dim = 1 + usize::from(*dim % 64);
    let session = SessionInfo {
        model: "fuzz".into(),
        dim: dim as u32,
        fixed: FixedParams::default(),
        // Bit 1 of the selector: secure-fedavg (no dealt W, Z; one-sided window).
        aggregation: if selector & 2 == 0 {
            Aggregation::SecureFltrust
        } else {
            Aggregation::SecureFedAvg
        },
        clip: if selector & 2 == 0 { 0.0 } else { 1.0 },
        train: TrainParams {
            epochs: 1,
            batch_size: 1,
            lr: 0.1,
        },
        cos_threshold: None,
        k_min: 3,
    };
    let Ok(setup) = RobustSetup::new(&session) else {
        return;
    };
    let upload = if selector % 2 == 0 {
        match WorkerToB::decode(payload) {
            Ok(m) => m,
            Err(_) => return,
        }
    } else {
        // Cut the payload into the fields at data-chosen points.
        let mut rest = payload;
        let mut take = |n: usize| {
            let n = n.min(rest.len());
            let (a, b) = rest.split_at(n);
            rest = b;
            a.to_vec()
        };
        let range = 2 * setup.circuit.range_bits();
        let b = take(3 * dim);
        let kappa_b = take(8 * dim);
        let beta_b = take(8 * range);
        let proof_b = take(8 * setup.circuit.proof_len());
        let dealt = if setup.trust { dim } else { 0 };
        let w = take(8 * dealt);
        let z = take(8 * dealt);
        let s = u64::from_le_bytes(take(8).try_into().unwrap_or([0; 8]));
        WorkerToB::Robust {
            round: 1,
            worker: 0,
            b,
            kappa_b,
            beta_b,
            proof_b,
            w,
            z,
            s,
            blind: [0; 32],
        }
    };
    if let Ok(half) = half_b(&setup, upload) {
        assert_eq!(half.proof().len(), setup.circuit.proof_len());
    }
    if let Ok(g) = bytes_to_i32s(payload, dim) {
        assert_eq!(g.len(), dim);
    }
    let len = setup.circuit.verifier_len();
    if let Ok(v) = decode_field_chunks(payload, usize::from(*selector % 8), len) {
        assert!(v.iter().all(|x| x.len() == len));
    }
});
