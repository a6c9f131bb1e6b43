#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/seed-*.

Deterministic (no timestamps, fixed values); run from anywhere:
    python3 fuzz/gen_seeds.py
    python3 fuzz/gen_seeds.py --check   # compare the wire encoder with
                                        # mpc-core/tests/vectors/wire.json
The wire seeds hand-encode mpc-core's frame format (`mpc_core::wire`, the
codec's rules in `mpc_core::codec`): a big-endian u16 protocol version, then
bincode 2 `config::standard()` (little-endian, varint integers, enum variants
as varint u32 indices, byte strings as varint length + bytes, fixed arrays
as raw bytes). `--check` encodes the known-answer samples of
`mpc-core/tests/vectors/wire.rs` with the same helpers and compares them with
the stored frames, so this file cannot drift from the real codec unnoticed.
"""

import gzip
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOCOL_VERSION = 6
MODULUS = 2**64 - 2**32 + 1

# Aggregation variant indices (declaration order in mpc_core::wire).
SECURE_FEDAVG, PLAIN_FEDAVG, PLAIN_FLTRUST, SECURE_FLTRUST, SECURE_FILTER = range(5)


def varint(n: int) -> bytes:
    if n < 251:
        return bytes([n])
    if n < 2**16:
        return b"\xfb" + struct.pack("<H", n)
    if n < 2**32:
        return b"\xfc" + struct.pack("<I", n)
    return b"\xfd" + struct.pack("<Q", n)


def blob(b: bytes) -> bytes:
    return varint(len(b)) + b


def string(s: str) -> bytes:
    return blob(s.encode())


def u32s(v) -> bytes:
    return varint(len(v)) + b"".join(varint(x) for x in v)


def frame(body: bytes) -> bytes:
    return struct.pack(">H", PROTOCOL_VERSION) + body


def f32s(v) -> bytes:
    return b"".join(struct.pack("<f", x) for x in v)


def fields(v) -> bytes:
    return b"".join(struct.pack("<Q", x) for x in v)


def ring(v) -> bytes:
    return b"".join(struct.pack("<I", x)[:3] for x in v)


def ramp(start: int, n: int) -> bytes:
    return bytes((start + i) % 256 for i in range(n))


def session(
    model="mlp:64",
    dim=3,
    ell=18,
    frac=16,
    aggregation=SECURE_FEDAVG,
    clip=1.0,
    epochs=3,
    batch_size=32,
    lr=0.2,
    tau=None,
    k_min=3,
) -> bytes:
    # SessionInfo { model: String, dim: u32, fixed: FixedParams { ell, frac },
    #               aggregation: Aggregation, clip: f32,
    #               train: TrainParams { epochs: u32, batch_size: u32, lr: f32 },
    #               cos_threshold: Option<f32>, k_min: u32 }
    return (
        string(model)
        + varint(dim)
        + varint(ell)
        + varint(frac)
        + varint(aggregation)
        + struct.pack("<f", clip)
        + varint(epochs)
        + varint(batch_size)
        + struct.pack("<f", lr)
        + (b"\x00" if tau is None else b"\x01" + struct.pack("<f", tau))
        + varint(k_min)
    )


def robust_upload(round_, worker, b, kappa, beta, proof, w=b"", z=b"", s=0, blind=bytes(32)):
    # WorkerToB::Robust { round, worker, b, kappa_b, beta_b, proof_b, w, z, s, blind }
    return (
        varint(1)
        + varint(round_)
        + varint(worker)
        + blob(b)
        + blob(kappa)
        + blob(beta)
        + blob(proof)
        + blob(w)
        + blob(z)
        + varint(s)
        + blind
    )


def exchange(round_, batch, values) -> bytes:
    return varint(round_) + varint(batch) + blob(values)


def wire_seeds():
    seed = bytes(range(32))
    model = f32s([0.5, -1.25, 3.0])
    kappa = fields([0, 1, MODULUS - 1])
    b = ring([0, 1, 2**18 - 1])
    return {
        # WorkerToA
        "w2a-hello": varint(0) + varint(7),
        "w2a-submit-seed": varint(1) + varint(3) + varint(7) + varint(0) + seed,
        "w2a-submit-plain": varint(1) + varint(300) + varint(7) + varint(1) + blob(model),
        "w2a-sit-out": varint(2) + varint(3),
        # AToWorker
        "a2w-welcome": varint(0) + session(),
        "a2w-welcome-fltrust": varint(0)
        + session(aggregation=SECURE_FLTRUST, clip=0.0, tau=0.1),
        "a2w-announce": varint(1) + varint(2**40) + blob(model),
        "a2w-ack": varint(2) + varint(5),
        "a2w-reject": varint(3) + varint(5) + string("duplicate submission"),
        "a2w-finished": varint(4),
        # WorkerToB: a secure-fedavg upload (no W, Z) and a trust-rule one.
        "w2b-hello": varint(0) + varint(7),
        "w2b-upload": robust_upload(3, 7, b, kappa, fields([1, 0]), fields([5, 6, 7])),
        "w2b-upload-dealt": robust_upload(
            3, 7, b, kappa, fields([1, 0]), fields([5, 6, 7]), kappa, kappa, 9, ramp(0x80, 32)
        ),
        # Above the decoder's 8 KiB "small body" tier.
        "w2b-upload-d1024": robust_upload(
            4,
            8,
            ring([(i * 2654435761) % 2**18 for i in range(1024)]),
            fields([(i * 0x9E3779B97F4A7C15) % MODULUS for i in range(1024)]),
            fields([1, 0] * 8),
            fields(range(64)),
        ),
        # BToWorker
        "b2w-welcome": varint(0),
        "b2w-reject": varint(2) + varint(3) + string("bad ring share"),
        # AToB
        "a2b-hello": varint(0)
        + session(model="logreg", dim=7850, aggregation=PLAIN_FEDAVG, clip=0.0),
        "a2b-engine": varint(1) + blob(bytes([0x07, 0, 0, 0, 0]) + ramp(0, 64)),
        "a2b-open-robust": varint(2) + varint(3) + blob(b"\x01\x00\x00\x00" * 3) + u32s([1, 2, 9]),
        "a2b-seed-commit": varint(3) + varint(3) + varint(7) + ramp(0xA0, 32),
        "a2b-batch": varint(4) + varint(3) + varint(0) + u32s([2, 7]) + blob(fields(range(6))),
        "a2b-checks": varint(5) + exchange(3, 0, fields([0, 0, 0, 0])),
        "a2b-close": varint(7) + varint(3) + varint(2),
        # BToA
        "b2a-ready": varint(0) + varint(0),
        "b2a-round-opened": varint(1) + varint(3),
        "b2a-rejected": varint(2) + varint(3) + varint(9) + string("no seed"),
        "b2a-refused": varint(3) + varint(3) + string("round already revealed"),
        "b2a-upload-ready": varint(5) + varint(3) + varint(7) + ramp(0xC0, 32) + blob(fields(range(3))),
        "b2a-cross": varint(7) + exchange(3, 0, fields([5])),
        "b2a-robust-sum": varint(8)
        + varint(3)
        + u32s([1, 2])
        + varint(2)
        + blob(kappa)
        + varint(2)
        + varint(70000),
    }


def vector_samples():
    """The samples of mpc-core/tests/vectors/wire.rs, encoded here."""
    big_round, round_ = 0x0102030405060708, 300
    ex = exchange(round_, 2, ramp(0x40, 16))

    def welcome(agg, tau):
        return varint(0) + session(
            dim=50890, ell=20, frac=16, aggregation=agg, clip=2.5, epochs=1, lr=0.05, tau=tau
        )

    out = {
        "WorkerToA::Hello": varint(0) + varint(7),
        "WorkerToA::Submit/Seed": varint(1) + varint(big_round) + varint(7) + varint(0) + ramp(0, 32),
        "WorkerToA::Submit/Plain": varint(1)
        + varint(round_)
        + varint(70000)
        + varint(1)
        + blob(f32s([1.5, -2.0])),
        "WorkerToA::SitOut": varint(2) + varint(big_round),
        "AToWorker::Welcome/secure-fltrust": welcome(SECURE_FLTRUST, 0.25),
        "AToWorker::Welcome/secure-filter": welcome(SECURE_FILTER, None),
        "AToWorker::Welcome/secure-fedavg": welcome(SECURE_FEDAVG, None),
        "AToWorker::Welcome/plain-fedavg": welcome(PLAIN_FEDAVG, None),
        "AToWorker::Welcome/plain-fltrust": welcome(PLAIN_FLTRUST, 0.25),
        "AToWorker::Announce": varint(1) + varint(round_) + blob(f32s([0.5, -1.0, 3.25])),
        "AToWorker::Ack": varint(2) + varint(round_),
        "AToWorker::Reject": varint(3) + varint(round_) + string("late"),
        "AToWorker::Finished": varint(4),
        "WorkerToB::Hello": varint(0) + varint(7),
        "WorkerToB::Robust": robust_upload(
            round_,
            7,
            ramp(0x10, 6),
            ramp(0x20, 16),
            ramp(0x30, 16),
            ramp(0x40, 24),
            ramp(0x50, 16),
            ramp(0x60, 16),
            5,
            ramp(0x80, 32),
        ),
        "BToWorker::Welcome": varint(0),
        "BToWorker::Ack": varint(1) + varint(round_),
        "BToWorker::Reject": varint(2) + varint(round_) + string("bad share"),
        "AToB::Hello": varint(0)
        + session(
            dim=50890,
            ell=20,
            frac=16,
            aggregation=SECURE_FLTRUST,
            clip=2.5,
            epochs=1,
            lr=0.05,
            tau=0.1,
        ),
        "AToB::Engine": varint(1) + blob(ramp(0xF0, 5)),
        "AToB::OpenRobust": varint(2) + varint(round_) + blob(ramp(1, 8)) + u32s([1, 2, 300]),
        "AToB::SeedCommit": varint(3) + varint(round_) + varint(7) + ramp(0xA0, 32),
        "AToB::Batch": varint(4) + varint(round_) + varint(1) + u32s([2, 7]) + blob(ramp(0x70, 16)),
        "AToB::Checks": varint(5) + ex,
        "AToB::Cross": varint(6) + ex,
        "AToB::CloseRobust": varint(7) + varint(round_) + varint(2),
        "BToA::Ready": varint(0) + varint(2),
        "BToA::RoundOpened": varint(1) + varint(big_round),
        "BToA::Rejected": varint(2) + varint(round_) + varint(7) + string("proof"),
        "BToA::Refused": varint(3) + varint(round_) + string("stale"),
        "BToA::Engine": varint(4) + blob(ramp(0xE0, 3)),
        "BToA::UploadReady": varint(5)
        + varint(round_)
        + varint(7)
        + ramp(0xC0, 32)
        + blob(ramp(0x90, 16)),
        "BToA::Checks": varint(6) + ex,
        "BToA::Cross": varint(7) + ex,
        "BToA::RobustSum": varint(8)
        + varint(round_)
        + u32s([2, 7])
        + varint(2)
        + blob(ramp(0xB0, 16))
        + varint(2**64 - 2)
        + varint(123456),
    }
    return {k: frame(v) for k, v in out.items()}


def check_vectors():
    path = os.path.join(HERE, "..", "mpc-core", "tests", "vectors", "wire.json")
    with open(path) as f:
        stored = json.load(f)
    assert stored["protocol_version"] == PROTOCOL_VERSION, "PROTOCOL_VERSION is stale"
    ours = vector_samples()
    bad = [k for k, v in stored["messages"].items() if ours.get(k, b"").hex() != v]
    bad += [k for k in ours if k not in stored["messages"]]
    for k in bad:
        print(f"mismatch: {k}", file=sys.stderr)
    if bad:
        sys.exit(1)
    print(f"{len(ours)} wire vectors match")


def ring_share_seeds():
    def header(dim, ell, frac, split, derive=False):
        return struct.pack("<IBBH", dim, ell, frac, split | (0x8000 if derive else 0))

    b = ring([0, 1, 2**17, 2**18 - 1])
    kappa = fields([0, 1, 2**32, MODULUS - 1])
    return {
        "valid-d4": header(4, 18, 16, len(b)) + b + kappa,
        "derived-d4": header(0, 18, 16, len(b), derive=True) + b + kappa,
        "ell24": header(2, 24, 22, 6) + ring([2**24 - 1, 5]) + fields([7, 8]),
        "f32s": header(0, 16, 14, 0) + f32s([0.0, -0.0, 1.5, -3.25e-8]),
    }


def images(count, rows, cols) -> bytes:
    pixels = bytes((i * 37) % 256 for i in range(count * rows * cols))
    return struct.pack(">IIII", 0x803, count, rows, cols) + pixels


def labels(count) -> bytes:
    return struct.pack(">II", 0x801, count) + bytes(i % 10 for i in range(count))


def gz(b: bytes) -> bytes:
    return gzip.compress(b, mtime=0)


def idx_seeds():
    im, lb = images(3, 4, 4), labels(3)
    return {
        "images": im,
        "labels": lb,
        "images-gz": gz(im),
        "labels-gz": gz(lb),
        "empty-images": images(0, 28, 28),
        # First two bytes: where the image file ends and the label file starts.
        "pair": struct.pack("<H", len(im)) + im + lb,
        "pair-gz": struct.pack("<H", len(gz(im))) + gz(im) + gz(lb),
    }


def write(target, seeds, wrap=lambda b: b):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, body in seeds.items():
        with open(os.path.join(d, "seed-" + name), "wb") as f:
            f.write(wrap(body))


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        check_vectors()
        sys.exit(0)
    write("wire_decode", wire_seeds(), wrap=frame)
    write("ring_shares", ring_share_seeds())
    write("idx", idx_seeds())
