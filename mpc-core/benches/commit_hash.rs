//! Candidate hashes for the bulk commitment c_B (PROTOCOL §7.1 step 4): one
//! upload of 27 B per coordinate at d = 270k (7.29 MB), and the 64 KiB chunk
//! size B hashes in (`protocols::robust::submit::HASH_CHUNK`). Single thread,
//! one incremental hasher per input, as the code uses them.
//!
//! - SHA-256 (`sha2`): SHA-NI is picked at run time (cpufeatures), no feature
//!   flag; ≈ 0.4 GB/s means the portable fallback.
//! - BLAKE3 (`blake3::Hasher::update`, keyed-by-context mode as a commitment
//!   would use it): AVX-512 / AVX2 / SSE4.1 picked at run time; no rayon.
//! - TurboSHAKE128 (`turboshake`, 12-round Keccak, 256-bit output).
//!
//! `cargo bench -p mpc-core --bench commit_hash`
//!
//! Measured 2026-12-03 on the 2-core development machine (sha_ni, avx2,
//! avx512f) while other builds ran, load average 5.4–6.2, one run (medians;
//! GB = 10^9 bytes):
//!
//! | input | SHA-256 (SHA-NI) | BLAKE3 | TurboSHAKE128 |
//! |---|---|---|---|
//! | 7.29 MB | 0.82 GB/s (8.9 ms) | 3.12 GB/s (2.3 ms) | 0.38 GB/s (19 ms) |
//! | 64 KiB | 0.88 GB/s (75 µs) | 3.33 GB/s (20 µs) | 0.37 GB/s (175 µs) |
//!
//! Per CPU-second (the thread's own run time, so the load does not count),
//! 7.29 MB × 40, three alternating rounds: SHA-256 1.33–1.42 GB/s, BLAKE3
//! 4.6–5.1 GB/s; SHA-256 built with `--cfg sha2_backend="soft"` 0.14–0.25
//! GB/s, so the default build does use SHA-NI. BLAKE3 is ≈ 3.5× SHA-256 and
//! became the commitment hash (PROTOCOL §7.1 step 4); TurboSHAKE128 (no SIMD
//! Keccak on x86 in `keccak` 0.2) is the slowest.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use turboshake::TurboShake128;
use turboshake::digest::{ExtendableOutput, Update};

/// Bytes B receives per worker at d = 270k (27 B per coordinate).
const UPLOAD: usize = 270_000 * 27;
/// The chunk size of B's validation pass.
const CHUNK: usize = 64 << 10;

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    Digest::update(&mut h, data);
    h.finalize().into()
}

fn blake3(data: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("tandem bench commit_hash");
    h.update(data);
    h.finalize().into()
}

fn turboshake128(data: &[u8]) -> [u8; 32] {
    let mut h = TurboShake128::default();
    h.update(data);
    let mut out = [0u8; 32];
    h.finalize_xof_into(&mut out);
    out
}

fn bench(c: &mut Criterion) {
    // Deterministic, incompressible-looking bytes.
    let data: Vec<u8> = (0..UPLOAD as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
        .collect();
    for (label, len) in [("7.29MB", UPLOAD), ("64KiB", CHUNK)] {
        let input = &data[..len];
        let mut g = c.benchmark_group(format!("commit_hash/{label}"));
        g.throughput(Throughput::Bytes(len as u64));
        g.measurement_time(Duration::from_secs(if len == UPLOAD { 8 } else { 4 }));
        g.sample_size(if len == UPLOAD { 20 } else { 100 });
        g.bench_function("sha256", |b| b.iter(|| sha256(black_box(input))));
        g.bench_function("blake3", |b| b.iter(|| blake3(black_box(input))));
        g.bench_function("turboshake128", |b| {
            b.iter(|| turboshake128(black_box(input)))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
