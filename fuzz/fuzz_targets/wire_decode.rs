//! Every wire message family through the codec's decoder
//! (`mpc_core::codec::Message::decode_with`).
//!
//! The input is a whole frame body (version header included). For each family
//! and for two decoder limits (the defaults and tiny ones) the decoder must
//! return `Ok` or `Err`, never panic or allocate without bound. A successful
//! decode must re-encode to a frame of exactly `encoded_len` bytes that
//! decodes again and re-encodes to the same bytes (round-trip stability), is
//! no longer than the input (bincode's encoding is minimal, so re-encoding can
//! only drop redundancy), and the bulk byte fields are then run through their
//! parsers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpc_core::codec::{
    FP_BYTES, Limits, Message, bytes_to_f32s, decode_field_bytes, encode_field_bytes,
    f32s_to_bytes,
};
use mpc_core::wire::{AToB, AToWorker, BToA, BToWorker, SubmitA, WorkerToA, WorkerToB};

const TINY: Limits = Limits {
    max_frame: 256,
    max_dim: 4,
};

/// Decode, and on success check that encode ∘ decode is stable.
fn check<M: Message>(data: &[u8], limits: &Limits) -> Option<M> {
    let msg = M::decode_with(data, limits).ok()?;
    let once = msg.encode();
    assert_eq!(once.len(), msg.encoded_len(), "{}: encoded_len", M::KIND);
    assert!(
        once.len() <= data.len(),
        "{}: re-encoding grew the frame from {} to {} bytes",
        M::KIND,
        data.len(),
        once.len()
    );
    let again = M::decode_with(&once, limits).expect("a re-encoded message decodes");
    let twice = again.encode();
    assert_eq!(once, twice, "{}: encode/decode is not stable", M::KIND);
    Some(msg)
}

/// The parsers that take over the byte fields after the codec.
fn check_f32s(bytes: &[u8]) {
    if let Ok(v) = bytes_to_f32s(bytes) {
        assert_eq!(f32s_to_bytes(&v), bytes);
    }
}

fn check_fields(bytes: &[u8]) {
    if let Ok(v) = decode_field_bytes(bytes, bytes.len() / FP_BYTES) {
        assert_eq!(encode_field_bytes(&v), bytes);
    }
}

fn run(data: &[u8], limits: &Limits) {
    if let Some(WorkerToA::Submit {
        payload: SubmitA::Plain(update),
        ..
    }) = check::<WorkerToA>(data, limits)
    {
        check_f32s(&update);
    }
    if let Some(AToWorker::Announce { model, .. }) = check::<AToWorker>(data, limits) {
        check_f32s(&model);
    }
    if let Some(WorkerToB::Robust { kappa_b, .. }) = check::<WorkerToB>(data, limits) {
        // The whole upload is parsed by the `robust_upload` target.
        check_fields(&kappa_b);
    }
    let _ = check::<BToWorker>(data, limits);
    let _ = check::<AToB>(data, limits);
    if let Some(BToA::RobustSum { sum, .. }) = check::<BToA>(data, limits) {
        check_fields(&sum);
    }
}

fuzz_target!(|data: &[u8]| {
    run(data, &Limits::default());
    run(data, &TINY);
});
