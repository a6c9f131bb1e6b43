//! OT benchmarks: Chou–Orlandi base OTs, our IKNP extension, and cryprot-ot's
//! semi-honest IKNP side by side in the same run.
//!
//! `cd bench-cryprot && cargo bench --bench ot` (10 samples per benchmark).
//!
//! * `ot/base/*`: 128 base OTs, both parties in this thread, through the byte
//!   encodings (one round trip of messages, no network).
//! * `ot/iknp-2^20/tandem-*`: one extension batch of 2^20 OTs on **one core**:
//!   R's `extend_*` (PRG, `u`, transpose), the message moved through its byte
//!   encoding (`into_bytes` / `from_vec`, zero-copy) and S's `receive_*`
//!   (PRG, transpose, hashing for ROT), sequentially. Setup (base OTs) is done
//!   once outside the timing; each iteration is a fresh batch of the same
//!   session, as in production.
//! * `ot/iknp-2^20/cryprot-*`: cryprot-ot 0.3.0 `SemiHonestOtExtension{Sender,Receiver}`
//!   as cryprot times it in its own benches: both parties concurrently on a
//!   2-worker tokio runtime (its compute runs on rayon threads), connected by
//!   cryprot-net's `local_conn` (s2n-quic over 127.0.0.1). Per iteration the
//!   parties and their base OTs are set up outside the timing; the clock
//!   covers the concurrent `send(2^20)` / `receive(choices)` (random OT) or
//!   `correlated_send/receive` (COT), i.e. both parties' compute plus the
//!   16 MiB transfer over loopback QUIC. cryprot's COT is a *chosen-correlation*
//!   COT (S picks a correlation per OT and sends a correction), so it does more
//!   work than our Δ-COT; its random OT is the like-for-like comparison.
//!
//! Throughput is reported in OTs per second (criterion "elements").
//!
//! The last group, `ot/summary`, re-runs the 2^20 benchmarks 11 times each and
//! prints medians of both wall time and process CPU time (summed over all
//! threads of this process from `/proc/self/task/*/schedstat`, so cryprot's
//! tokio, rayon and QUIC threads are included), the OT/s rates and the
//! cryprot/tandem ratios, plus the load average: on a shared 2-core machine
//! wall time is inflated by other jobs, CPU time much less so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cryprot_ot::extension::{SemiHonestOtExtensionReceiver, SemiHonestOtExtensionSender};
use cryprot_ot::{CotReceiver, CotSender, RotReceiver, RotSender, random_choices};
use mpc_core::codec::Message;
use mpc_core::ot::base::{
    BaseOtReceiver, BaseOtReceiverMsg, BaseOtSender, BaseOtSenderMsg, SessionId,
};
use mpc_core::ot::block::{AesPrg, Crhf};
use mpc_core::ot::iknp::{ExtendMsg, IknpReceiver, IknpSender};
use mpc_core::ot::transpose::transpose_tiles;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_chacha::ChaCha20Rng;

const LOG_OTS: u32 = 20;
const OTS: usize = 1 << LOG_OTS;

fn session(seed: u64) -> (IknpSender, IknpReceiver, ChaCha20Rng) {
    let mut rng_r = ChaCha20Rng::seed_from_u64(seed);
    let mut rng_s = ChaCha20Rng::seed_from_u64(seed + 1);
    let sid = SessionId::from_label(b"bench");
    let (setup, m1) = IknpReceiver::setup(&mut rng_r, sid).unwrap();
    let (s, m2) = IknpSender::setup(&mut rng_s, sid, &m1).unwrap();
    let r = setup.finish(&m2).unwrap();
    (s, r, rng_r)
}

/// Per-protocol byte totals from the state machines' counters.
fn print_traffic() {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let (mut s, mut r, mut rng) = session(1);
    let setup = r.traffic();
    println!("== OT traffic (bytes, both directions) ==");
    println!(
        "base OT x128 (IKNP setup): {} B in {} messages (R->S {} B, S->R {} B)",
        setup.total_bytes(),
        setup.messages_sent + setup.messages_received,
        setup.bytes_sent,
        setup.bytes_received
    );
    let (_, m) = r.extend_cot(&mut rng, OTS).unwrap();
    let cot = m.encoded_len() as u64;
    s.receive_cot(&m, OTS).unwrap();
    println!(
        "IKNP COT 2^{LOG_OTS}: {cot} B ({:.2} MiB, {:.2} B/OT, 1 message R->S)",
        mib(cot),
        cot as f64 / OTS as f64
    );
    let (_, m) = r.extend_rot(&mut rng, OTS).unwrap();
    let rot = m.encoded_len() as u64;
    s.receive_rot(&m, OTS).unwrap();
    println!(
        "IKNP ROT 2^{LOG_OTS}: {rot} B ({:.2} MiB, {:.2} B/OT, 1 message R->S)",
        mib(rot),
        rot as f64 / OTS as f64
    );
    let total = r.traffic();
    assert_eq!(total.bytes_sent, s.traffic().bytes_received);
    println!(
        "session total: R sent {} B, S sent {} B, {} messages",
        total.bytes_sent,
        total.bytes_received,
        total.messages_sent + total.messages_received
    );
    println!(
        "(message sizes: BaseOtSenderMsg {} B, BaseOtReceiverMsg(128) {} B, ExtendMsg(m) {}+16*ceil(m/128)*128 B)",
        BaseOtSenderMsg::ENCODED_LEN,
        BaseOtReceiverMsg::encoded_len_for(128),
        ExtendMsg::HEADER_LEN,
    );
}

fn bench_base(c: &mut Criterion) {
    print_traffic();
    let mut g = c.benchmark_group("ot/base");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(2));
    let sid = SessionId::from_label(b"bench-base");
    let choices: Vec<bool> = (0..128).map(|i| i % 3 == 0).collect();
    let mut rng_s = ChaCha20Rng::seed_from_u64(10);
    let mut rng_r = ChaCha20Rng::seed_from_u64(11);
    g.bench_function("chou-orlandi-128 both sides", |b| {
        b.iter(|| {
            let (sender, m1) = BaseOtSender::new(&mut rng_s, sid, 128).unwrap();
            let receiver = BaseOtReceiver::new(&mut rng_r, sid, &choices).unwrap();
            let m1 = BaseOtSenderMsg::decode(&m1.encode()).unwrap();
            let (m2, out_r) = receiver.receive(&m1).unwrap();
            let m2 = BaseOtReceiverMsg::decode(&m2.encode()).unwrap();
            let out_s = sender.receive(&m2).unwrap();
            black_box((out_s, out_r))
        })
    });
    // The sender's work: A = a·G, then 128 × (a·B_i, two KDFs) after decoding.
    let receiver = BaseOtReceiver::new(&mut rng_r, sid, &choices).unwrap();
    let (_, m1) = BaseOtSender::new(&mut rng_s, sid, 128).unwrap();
    let m2_bytes = receiver.receive(&m1).unwrap().0.encode();
    g.bench_function("chou-orlandi-128 sender", |b| {
        b.iter(|| {
            let (sender, m1) = BaseOtSender::new(&mut rng_s, sid, 128).unwrap();
            let m2 = BaseOtReceiverMsg::decode(&m2_bytes).unwrap();
            black_box((sender.receive(&m2).unwrap(), m1.encode()))
        })
    });
    // The receiver's work: b_i·G ahead of time, then B_i, b_i·A, KDF.
    let m1_bytes = m1.encode();
    g.bench_function("chou-orlandi-128 receiver", |b| {
        b.iter(|| {
            let receiver = BaseOtReceiver::new(&mut rng_r, sid, &choices).unwrap();
            let m1 = BaseOtSenderMsg::decode(&m1_bytes).unwrap();
            let (m2, out) = receiver.receive(&m1).unwrap();
            black_box((m2.encode(), out))
        })
    });
    g.finish();
}

fn bench_kernels(c: &mut Criterion) {
    let mut g = c.benchmark_group("ot/kernels-2^20");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(OTS as u64));
    let mut m = vec![0x0123_4567_89ab_cdef_u128; OTS];
    g.bench_function("transpose 128x2^20", |b| {
        b.iter(|| transpose_tiles(black_box(&mut m)))
    });
    let mut prg = AesPrg::new(5);
    g.bench_function("aes-ctr prg 2^20 blocks", |b| {
        b.iter(|| prg.fill(black_box(&mut m)))
    });
    let h = Crhf::new();
    g.bench_function("crhf 2^20 blocks", |b| {
        b.iter(|| h.hash_seq_in_place(7, black_box(&mut m)))
    });
    g.finish();
}

fn bench_extension(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("ot/iknp-2^{LOG_OTS}"));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(OTS as u64));

    let (mut s, mut r, mut rng) = session(2);
    g.bench_function("tandem COT 1 core", |b| {
        b.iter(|| {
            let (out_r, msg) = r.extend_cot(&mut rng, OTS).unwrap();
            let msg = ExtendMsg::from_vec(msg.into_bytes()).unwrap();
            let out_s = s.receive_cot(&msg, OTS).unwrap();
            black_box((out_r, out_s))
        })
    });
    g.bench_function("tandem ROT 1 core", |b| {
        b.iter(|| {
            let (out_r, msg) = r.extend_rot(&mut rng, OTS).unwrap();
            let msg = ExtendMsg::from_vec(msg.into_bytes()).unwrap();
            let out_s = s.receive_rot(&msg, OTS).unwrap();
            black_box((out_r, out_s))
        })
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut c1, mut c2) = rt.block_on(cryprot_net::testing::local_conn()).unwrap();
    let mut seed = 42u64;
    let mut setup = |c1: &mut cryprot_net::Connection, c2: &mut cryprot_net::Connection| {
        seed += 2;
        let mut rng1 = StdRng::seed_from_u64(seed);
        let rng2 = StdRng::seed_from_u64(seed + 1);
        let choices = random_choices(OTS, &mut rng1);
        let mut sender = SemiHonestOtExtensionSender::new_with_rng(c1.sub_connection(), rng1);
        let mut receiver = SemiHonestOtExtensionReceiver::new_with_rng(c2.sub_connection(), rng2);
        rt.block_on(async {
            tokio::try_join!(sender.do_base_ots(), receiver.do_base_ots()).unwrap();
        });
        (sender, receiver, choices)
    };
    g.bench_function("cryprot-ot ROT 2 threads+loopback QUIC", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (mut sender, mut receiver, choices) = setup(&mut c1, &mut c2);
                let now = Instant::now();
                let (a, b) = rt.block_on(async move {
                    let ts = tokio::spawn(async move { sender.send(OTS).await.unwrap() });
                    let tr = tokio::spawn(async move { receiver.receive(&choices).await.unwrap() });
                    tokio::try_join!(ts, tr).unwrap()
                });
                total += now.elapsed();
                assert_eq!((a.len(), b.len()), (OTS, OTS));
                black_box((a, b));
            }
            total
        })
    });
    g.bench_function("cryprot-ot COT 2 threads+loopback QUIC", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (mut sender, mut receiver, choices) = setup(&mut c1, &mut c2);
                let now = Instant::now();
                let (a, b) = rt.block_on(async move {
                    let ts = tokio::spawn(async move {
                        sender
                            .correlated_send(OTS, |i| (i as u128 | 1).into())
                            .await
                            .unwrap()
                    });
                    let tr = tokio::spawn(async move {
                        receiver.correlated_receive(&choices).await.unwrap()
                    });
                    tokio::try_join!(ts, tr).unwrap()
                });
                total += now.elapsed();
                assert_eq!((a.len(), b.len()), (OTS, OTS));
                black_box((a, b));
            }
            total
        })
    });
    g.finish();
}

/// Total CPU time of this process so far (all live threads), in nanoseconds.
fn process_cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Median wall and CPU time (ms) of `runs` calls of `f`, which returns the
/// (wall, cpu) of its timed region.
fn medians(runs: usize, mut f: impl FnMut() -> (Duration, u64)) -> (f64, f64) {
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..runs)
        .map(|_| {
            let (w, c) = f();
            (w.as_secs_f64() * 1e3, c as f64 / 1e6)
        })
        .unzip();
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (wall[runs / 2], cpu[runs / 2])
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, u64) {
    let c0 = process_cpu_ns();
    let t0 = Instant::now();
    black_box(f());
    let wall = t0.elapsed();
    (wall, process_cpu_ns().saturating_sub(c0))
}

fn summary(_c: &mut Criterion) {
    const RUNS: usize = 11;
    let load_before = loadavg();
    let rate = |ms: f64| OTS as f64 / ms / 1e3; // M OT/s
    let mut rows = Vec::new();

    let sid = SessionId::from_label(b"summary");
    let choices: Vec<bool> = (0..128).map(|i| i % 3 == 0).collect();
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let base = medians(RUNS, || {
        timed(|| {
            let (sender, m1) = BaseOtSender::new(&mut rng, sid, 128).unwrap();
            let receiver = BaseOtReceiver::new(&mut rng, sid, &choices).unwrap();
            let (m2, out_r) = receiver.receive(&m1).unwrap();
            (sender.receive(&m2).unwrap(), out_r)
        })
    });

    let (mut s, mut r, mut rng) = session(3);
    let cot = medians(RUNS, || {
        timed(|| {
            let (out_r, msg) = r.extend_cot(&mut rng, OTS).unwrap();
            let msg = ExtendMsg::from_vec(msg.into_bytes()).unwrap();
            (out_r, s.receive_cot(&msg, OTS).unwrap())
        })
    });
    rows.push(("tandem COT (1 core, no network)", cot));
    let rot = medians(RUNS, || {
        timed(|| {
            let (out_r, msg) = r.extend_rot(&mut rng, OTS).unwrap();
            let msg = ExtendMsg::from_vec(msg.into_bytes()).unwrap();
            (out_r, s.receive_rot(&msg, OTS).unwrap())
        })
    });
    rows.push(("tandem ROT (1 core, no network)", rot));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut c1, mut c2) = rt.block_on(cryprot_net::testing::local_conn()).unwrap();
    let mut seed = 1000u64;
    let cry = medians(RUNS, || {
        seed += 2;
        let mut rng1 = StdRng::seed_from_u64(seed);
        let rng2 = StdRng::seed_from_u64(seed + 1);
        let choices = random_choices(OTS, &mut rng1);
        let mut sender = SemiHonestOtExtensionSender::new_with_rng(c1.sub_connection(), rng1);
        let mut receiver = SemiHonestOtExtensionReceiver::new_with_rng(c2.sub_connection(), rng2);
        rt.block_on(async {
            tokio::try_join!(sender.do_base_ots(), receiver.do_base_ots()).unwrap();
        });
        timed(|| {
            rt.block_on(async move {
                let ts = tokio::spawn(async move { sender.send(OTS).await.unwrap() });
                let tr = tokio::spawn(async move { receiver.receive(&choices).await.unwrap() });
                tokio::try_join!(ts, tr).unwrap()
            })
        })
    });
    rows.push(("cryprot-ot ROT (2 threads + loopback QUIC)", cry));

    println!("== OT summary: medians of {RUNS} runs, 2^{LOG_OTS} OTs ==");
    println!("load average before: {load_before}, after: {}", loadavg());
    println!(
        "base OT x128 both sides: wall {:.2} ms, cpu {:.2} ms",
        base.0, base.1
    );
    for (name, (w, c)) in &rows {
        println!(
            "{name:44} wall {w:7.2} ms ({:5.1} M OT/s)   cpu {c:7.2} ms ({:5.1} M OT/s)",
            rate(*w),
            rate(*c)
        );
    }
    println!(
        "ratio cryprot ROT / tandem COT: wall {:.2}x, cpu {:.2}x (>1 = tandem faster)",
        cry.0 / cot.0,
        cry.1 / cot.1
    );
    println!(
        "ratio cryprot ROT / tandem ROT: wall {:.2}x, cpu {:.2}x",
        cry.0 / rot.0,
        cry.1 / rot.1
    );
}

criterion_group!(benches, bench_base, bench_kernels, bench_extension, summary);
criterion_main!(benches);
