#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/seed-*.

Deterministic (no timestamps, fixed values); run from anywhere:
    python3 fuzz/gen_seeds.py
The wire seeds hand-encode mpc-core's frame format: a big-endian u16 protocol
version, then bincode 2 `config::standard()` (little-endian, varint integers,
enum variants as varint u32 indices, byte strings as varint length + bytes).
"""

import gzip
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOCOL_VERSION = 2
MODULUS = 2**64 - 2**32 + 1


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


def frame(body: bytes) -> bytes:
    return struct.pack(">H", PROTOCOL_VERSION) + body


def f32s(v) -> bytes:
    return b"".join(struct.pack("<f", x) for x in v)


def fields(v) -> bytes:
    return b"".join(struct.pack("<Q", x) for x in v)


def ring(v) -> bytes:
    return b"".join(struct.pack("<I", x)[:3] for x in v)


def session(
    model="mlp:64", dim=3, ell=18, frac=16, aggregation=0, clip=1.0, tau=None, k_min=3
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
        + varint(3)
        + varint(32)
        + struct.pack("<f", 0.2)
        + (b"\x00" if tau is None else b"\x01" + struct.pack("<f", tau))
        + varint(k_min)
    )


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
        # AToWorker
        "a2w-welcome": varint(0) + session(),
        "a2w-welcome-fltrust": varint(0) + session(aggregation=2, clip=0.0, tau=0.1),
        "a2w-announce": varint(1) + varint(2**40) + blob(model),
        "a2w-ack": varint(2) + varint(5),
        "a2w-reject": varint(3) + varint(5) + string("duplicate submission"),
        "a2w-finished": varint(4),
        # WorkerToB
        "w2b-upload": varint(1) + varint(3) + varint(7) + blob(b) + blob(kappa),
        # Above the decoder's 8 KiB "small body" tier.
        "w2b-upload-d1024": varint(1)
        + varint(4)
        + varint(8)
        + blob(ring([(i * 2654435761) % 2**18 for i in range(1024)]))
        + blob(fields([(i * 0x9E3779B97F4A7C15) % MODULUS for i in range(1024)])),
        # BToWorker
        "b2w-reject": varint(2) + varint(3) + string("bad ring share"),
        # AToB
        "a2b-hello": varint(0) + session(model="logreg", dim=7850, aggregation=1, clip=0.0),
        "a2b-have-seed": varint(2) + varint(3) + varint(2**20),
        "a2b-close": varint(3) + varint(3),
        # BToA
        "b2a-ready": varint(0) + varint(0),
        "b2a-rejected": varint(3) + varint(3) + varint(9) + string("no seed"),
        "b2a-round-sum": varint(4)
        + varint(3)
        + varint(3)
        + varint(1)
        + varint(2)
        + varint(70000)
        + blob(kappa)
        + varint(123456),
        "b2a-refused": varint(5) + varint(3) + string("round already revealed"),
    }


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
    write("wire_decode", wire_seeds(), wrap=frame)
    write("ring_shares", ring_share_seeds())
    write("idx", idx_seeds())
