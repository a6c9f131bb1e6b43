//! `mpc_core::wire`: every message variant, a fixed value → its exact frame.

use std::collections::BTreeSet;
use std::fmt::Debug;

use mpc_core::codec::{self, CodecError, Message};
use mpc_core::fixed::FixedParams;
use mpc_core::prg::Seed;
use mpc_core::wire::{
    AToB, AToWorker, Aggregation, BToA, BToWorker, Exchange, PROTOCOL_VERSION, SessionInfo,
    SubmitA, TrainParams, WorkerToA, WorkerToB,
};
use serde_json::{Value, json};

use super::{hex, load, unhex};

pub const FILE: &str = "wire.json";

/// A sample: its name, its encoding, its `Debug`, and the decoder of its
/// family.
struct Sample {
    name: String,
    bytes: Vec<u8>,
    debug: String,
    decode: fn(&[u8]) -> Result<Decoded, CodecError>,
}

/// What the decoder made of a frame: the value re-encoded, and its `Debug`.
struct Decoded {
    bytes: Vec<u8>,
    debug: String,
}

fn decode<M: Message + Debug>(bytes: &[u8]) -> Result<Decoded, CodecError> {
    let m = M::decode(bytes)?;
    Ok(Decoded {
        bytes: m.encode(),
        debug: format!("{m:?}"),
    })
}

fn sample<M: Message + Debug>(name: String, msg: M) -> Sample {
    assert_eq!(msg.encode().len(), msg.encoded_len(), "{name}: encoded_len");
    Sample {
        name,
        bytes: msg.encode(),
        debug: format!("{msg:?}"),
        decode: decode::<M>,
    }
}

// The variant names. A new variant fails to compile here: add its arm, a
// sample in `samples`, and regenerate.
fn worker_to_a(m: &WorkerToA) -> &'static str {
    match m {
        WorkerToA::Hello { .. } => "WorkerToA::Hello",
        WorkerToA::Submit { payload, .. } => match payload {
            SubmitA::Seed(_) => "WorkerToA::Submit/Seed",
            SubmitA::Plain(_) => "WorkerToA::Submit/Plain",
        },
        WorkerToA::SitOut { .. } => "WorkerToA::SitOut",
    }
}

fn a_to_worker(m: &AToWorker) -> &'static str {
    match m {
        AToWorker::Welcome { session } => match session.aggregation {
            Aggregation::SecureFedAvg => "AToWorker::Welcome/secure-fedavg",
            Aggregation::PlainFedAvg => "AToWorker::Welcome/plain-fedavg",
            Aggregation::PlainFltrust => "AToWorker::Welcome/plain-fltrust",
            Aggregation::SecureFltrust => "AToWorker::Welcome/secure-fltrust",
            Aggregation::SecureFilter => "AToWorker::Welcome/secure-filter",
        },
        AToWorker::Announce { .. } => "AToWorker::Announce",
        AToWorker::Ack { .. } => "AToWorker::Ack",
        AToWorker::Reject { .. } => "AToWorker::Reject",
        AToWorker::Finished => "AToWorker::Finished",
    }
}

fn worker_to_b(m: &WorkerToB) -> &'static str {
    match m {
        WorkerToB::Hello { .. } => "WorkerToB::Hello",
        WorkerToB::Robust { .. } => "WorkerToB::Robust",
    }
}

fn b_to_worker(m: &BToWorker) -> &'static str {
    match m {
        BToWorker::Welcome => "BToWorker::Welcome",
        BToWorker::Ack { .. } => "BToWorker::Ack",
        BToWorker::Reject { .. } => "BToWorker::Reject",
    }
}

fn a_to_b(m: &AToB) -> &'static str {
    match m {
        AToB::Hello { .. } => "AToB::Hello",
        AToB::Engine(_) => "AToB::Engine",
        AToB::OpenRobust { .. } => "AToB::OpenRobust",
        AToB::SeedCommit { .. } => "AToB::SeedCommit",
        AToB::Batch { .. } => "AToB::Batch",
        AToB::Checks(_) => "AToB::Checks",
        AToB::Cross(_) => "AToB::Cross",
        AToB::CloseRobust { .. } => "AToB::CloseRobust",
    }
}

fn b_to_a(m: &BToA) -> &'static str {
    match m {
        BToA::Ready { .. } => "BToA::Ready",
        BToA::RoundOpened { .. } => "BToA::RoundOpened",
        BToA::Rejected { .. } => "BToA::Rejected",
        BToA::Refused { .. } => "BToA::Refused",
        BToA::Engine(_) => "BToA::Engine",
        BToA::UploadReady { .. } => "BToA::UploadReady",
        BToA::Checks(_) => "BToA::Checks",
        BToA::Cross(_) => "BToA::Cross",
        BToA::RobustSum { .. } => "BToA::RobustSum",
    }
}

/// Every name the match functions above can return: the samples must cover
/// all of them.
const VARIANTS: &[&str] = &[
    "WorkerToA::Hello",
    "WorkerToA::Submit/Seed",
    "WorkerToA::Submit/Plain",
    "WorkerToA::SitOut",
    "AToWorker::Welcome/secure-fedavg",
    "AToWorker::Welcome/plain-fedavg",
    "AToWorker::Welcome/plain-fltrust",
    "AToWorker::Welcome/secure-fltrust",
    "AToWorker::Welcome/secure-filter",
    "AToWorker::Announce",
    "AToWorker::Ack",
    "AToWorker::Reject",
    "AToWorker::Finished",
    "WorkerToB::Hello",
    "WorkerToB::Robust",
    "BToWorker::Welcome",
    "BToWorker::Ack",
    "BToWorker::Reject",
    "AToB::Hello",
    "AToB::Engine",
    "AToB::OpenRobust",
    "AToB::SeedCommit",
    "AToB::Batch",
    "AToB::Checks",
    "AToB::Cross",
    "AToB::CloseRobust",
    "BToA::Ready",
    "BToA::RoundOpened",
    "BToA::Rejected",
    "BToA::Refused",
    "BToA::Engine",
    "BToA::UploadReady",
    "BToA::Checks",
    "BToA::Cross",
    "BToA::RobustSum",
];

/// `n` bytes `start, start + 1, …` (wrapping).
fn ramp(start: u8, n: usize) -> Vec<u8> {
    (0..n).map(|i| start.wrapping_add(i as u8)).collect()
}

fn arr32(start: u8) -> [u8; 32] {
    core::array::from_fn(|i| start.wrapping_add(i as u8))
}

/// A round id that needs the widest varint, and a small one.
const BIG_ROUND: u64 = 0x0102_0304_0506_0708;
const ROUND: u64 = 300;

fn session(aggregation: Aggregation, cos_threshold: Option<f32>) -> SessionInfo {
    SessionInfo {
        model: "mlp:64".into(),
        dim: 50_890,
        fixed: FixedParams::new(20, 16).expect("valid"),
        aggregation,
        clip: 2.5,
        train: TrainParams {
            epochs: 1,
            batch_size: 32,
            lr: 0.05,
        },
        cos_threshold,
        k_min: 3,
    }
}

fn exchange() -> Exchange {
    Exchange {
        round: ROUND,
        batch: 2,
        values: ramp(0x40, 16),
    }
}

fn samples() -> Vec<Sample> {
    let mut out = Vec::new();
    for m in [
        WorkerToA::Hello { worker: 7 },
        WorkerToA::Submit {
            round: BIG_ROUND,
            worker: 7,
            payload: SubmitA::Seed(Seed(arr32(0))),
        },
        WorkerToA::Submit {
            round: ROUND,
            worker: 70_000,
            payload: SubmitA::Plain(codec::f32s_to_bytes(&[1.5, -2.0])),
        },
        WorkerToA::SitOut { round: BIG_ROUND },
    ] {
        out.push(sample(worker_to_a(&m).into(), m));
    }
    let mut a_to_worker_msgs: Vec<AToWorker> = Aggregation::ALL
        .iter()
        .enumerate()
        .map(|(i, &agg)| AToWorker::Welcome {
            session: session(agg, (agg.is_trust_based() && i % 2 == 0).then_some(0.25)),
        })
        .collect();
    a_to_worker_msgs.extend([
        AToWorker::Announce {
            round: ROUND,
            model: codec::f32s_to_bytes(&[0.5, -1.0, 3.25]),
        },
        AToWorker::Ack { round: ROUND },
        AToWorker::Reject {
            round: ROUND,
            reason: "late".into(),
        },
        AToWorker::Finished,
    ]);
    for m in a_to_worker_msgs {
        out.push(sample(a_to_worker(&m).into(), m));
    }
    for m in [
        WorkerToB::Hello { worker: 7 },
        WorkerToB::Robust {
            round: ROUND,
            worker: 7,
            b: ramp(0x10, 6),
            kappa_b: ramp(0x20, 16),
            beta_b: ramp(0x30, 16),
            proof_b: ramp(0x40, 24),
            w: ramp(0x50, 16),
            z: ramp(0x60, 16),
            s: 5,
            blind: arr32(0x80),
        },
    ] {
        out.push(sample(worker_to_b(&m).into(), m));
    }
    for m in [
        BToWorker::Welcome,
        BToWorker::Ack { round: ROUND },
        BToWorker::Reject {
            round: ROUND,
            reason: "bad share".into(),
        },
    ] {
        out.push(sample(b_to_worker(&m).into(), m));
    }
    for m in [
        AToB::Hello {
            session: session(Aggregation::SecureFltrust, Some(0.1)),
        },
        AToB::Engine(ramp(0xf0, 5)),
        AToB::OpenRobust {
            round: ROUND,
            reference: ramp(0x01, 8),
            participants: vec![1, 2, 300],
        },
        AToB::SeedCommit {
            round: ROUND,
            worker: 7,
            commit: arr32(0xa0),
        },
        AToB::Batch {
            round: ROUND,
            batch: 1,
            workers: vec![2, 7],
            verifiers: ramp(0x70, 16),
        },
        AToB::Checks(exchange()),
        AToB::Cross(exchange()),
        AToB::CloseRobust {
            round: ROUND,
            positive: 2,
        },
    ] {
        out.push(sample(a_to_b(&m).into(), m));
    }
    for m in [
        BToA::Ready { last_revealed: 2 },
        BToA::RoundOpened { round: BIG_ROUND },
        BToA::Rejected {
            round: ROUND,
            worker: 7,
            reason: "proof".into(),
        },
        BToA::Refused {
            round: ROUND,
            reason: "stale".into(),
        },
        BToA::Engine(ramp(0xe0, 3)),
        BToA::UploadReady {
            round: ROUND,
            worker: 7,
            commit: arr32(0xc0),
            verifier: ramp(0x90, 16),
        },
        BToA::Checks(exchange()),
        BToA::Cross(exchange()),
        BToA::RobustSum {
            round: ROUND,
            workers: vec![2, 7],
            positive: 2,
            sum: ramp(0xb0, 16),
            weight: u64::MAX - 1,
            bytes_from_workers: 123_456,
        },
    ] {
        out.push(sample(b_to_a(&m).into(), m));
    }
    out
}

pub fn compute() -> Value {
    let samples = samples();
    let names: BTreeSet<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    let expected: BTreeSet<&str> = VARIANTS.iter().copied().collect();
    assert_eq!(names, expected, "every variant has exactly one sample");
    assert_eq!(names.len(), samples.len(), "sample names are unique");
    let messages: serde_json::Map<String, Value> = samples
        .into_iter()
        .map(|s| (s.name, Value::String(hex(&s.bytes))))
        .collect();
    json!({
        "description": "mpc_core::wire frames: version (u16 big-endian) then bincode-2 standard config; one fixed value per message variant (values in tests/vectors/wire.rs), hex",
        "protocol_version": PROTOCOL_VERSION,
        "messages": messages,
    })
}

/// Decoding each stored frame gives the sample's value back: the decoder
/// accepts it, re-encoding the decoded value yields the stored bytes, which
/// are the sample's encoding (bincode's encoding is a function of the value,
/// so equal encodings mean equal values), and the `Debug` output agrees.
pub fn stored_bytes_decode_to_the_values() {
    let stored = load(FILE);
    let messages = stored["messages"].as_object().expect("messages object");
    for s in samples() {
        let bytes = unhex(
            messages
                .get(&s.name)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{} missing from {FILE}", s.name)),
        );
        let back = (s.decode)(&bytes)
            .unwrap_or_else(|e| panic!("{}: stored frame does not decode: {e}", s.name));
        assert_eq!(
            back.bytes, bytes,
            "{}: decode/encode is not the identity",
            s.name
        );
        assert_eq!(
            back.bytes, s.bytes,
            "{}: stored frame is another value",
            s.name
        );
        assert_eq!(back.debug, s.debug, "{}: decoded value differs", s.name);
    }
}
