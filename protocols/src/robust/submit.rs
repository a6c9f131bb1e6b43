//! The robust submission (docs/PROTOCOL.md §7.1–§7.2): what a worker uploads, and
//! what each server derives from its half.
//!
//! * To A: one 32-byte seed. A expands from it, per (round, worker): the ring
//!   shares aₖ, carry shares κ_A, range-bit shares β_A, its proof share, the
//!   correlation masks M and R and the scalar s′.
//! * To B ([`WorkerToB::Robust`]): ring shares bₖ (ℓ bits, 3 bytes), carry
//!   shares κ_B (8 B), range-bit shares β_B, B's proof share, the two dealt
//!   vectors W = s·X_A − M and Z = s′·X_B + R (8 B each per coordinate), the
//!   scalar s and a 32-byte commitment blind.
//!
//! Both halves are committed before the proof is made: c_A = H(seed) (the
//! seed determines A's half), c_B = H(blind ‖ B's bytes except the proof);
//! the FLP joint randomness is derived from H(context ‖ round ‖ worker ‖ c_A ‖
//! c_B), so the worker prepares everything offline and uploads once, and the
//! servers recompute c_A and c_B from what they actually hold.

use mpc_core::codec::{decode_field_bytes, encode_field_bytes};
use mpc_core::field::Fp;
use mpc_core::fixed::FixedParams;
use mpc_core::flp::{self, Committer, FlpParams, JointRand, ValidityCircuit};
use mpc_core::prg::{Domain, Prg, Purpose, Seed, random_fp};
use mpc_core::share::RING_SHARE_BYTES;
use mpc_core::wire::{SessionInfo, WorkerToB};
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroize;

use super::encode::{EncodeError, check_precision, clip_bound, norm_window};

const COMMIT_A: &[u8] = b"tandem/robust/v1/commit-a";
const COMMIT_B: &[u8] = b"tandem/robust/v1/commit-b";

/// Errors building or reading a robust submission. Never contain values.
#[derive(Debug, Error)]
pub enum SubmitError {
    /// Encoding failed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The validity circuit refused the parameters or input.
    #[error("validity proof: {0}")]
    Flp(#[from] flp::FlpError),
    /// A part of B's upload has the wrong size or a non-canonical element.
    #[error("upload field `{field}`: {detail}")]
    Upload {
        /// Which part.
        field: &'static str,
        /// What is wrong (structure only).
        detail: String,
    },
    /// A ring share is not below 2^ℓ.
    #[error("ring share at coordinate {index} is not below 2^{ell}")]
    RingShare {
        /// Coordinate.
        index: usize,
        /// ℓ
        ell: u32,
    },
    /// The session is not a robust rule or its parameters do not fit.
    #[error("session: {0}")]
    Session(String),
}

/// Public parameters of the robust rules, derived identically by workers and
/// both servers from the session.
#[derive(Clone, Debug)]
pub struct RobustSetup {
    /// Fixed-point parameters.
    pub fixed: FixedParams,
    /// Dimension d.
    pub dim: usize,
    /// The validity circuit.
    pub circuit: ValidityCircuit,
    /// Whether the rule weights updates by trust (secure-fltrust,
    /// secure-filter): workers then deal the correlations W, Z and the
    /// servers need the reference G. secure-fedavg (false) sums the valid
    /// updates with weight 1 and needs neither.
    pub trust: bool,
    /// Most workers one round may aggregate without the sum (Σ TSᵢ·Xᵢ, or
    /// Σ Xᵢ for secure-fedavg) wrapping mod p.
    pub max_workers: usize,
    /// Hash of every public parameter (binds the joint randomness to them).
    pub context: [u8; 32],
}

impl RobustSetup {
    /// The setup of `session`.
    pub fn new(session: &SessionInfo) -> Result<RobustSetup, SubmitError> {
        let fixed = session.fixed;
        check_precision(fixed)?;
        let dim = session.dim as usize;
        // N = Σ Xₖ² with |Xₖ| < 3·2^(ℓ−1) once the carries are bits: the
        // integer sum must stay below p so that the field N is the integer N.
        let max_sq = 9u128 << (2 * fixed.ell() - 2);
        if (dim as u128) * max_sq >= u128::from(mpc_core::field::MODULUS) / 2 {
            return Err(SubmitError::Session(format!(
                "dimension {dim} is too large for ℓ = {}: the norm could wrap",
                fixed.ell()
            )));
        }
        let trust = session.aggregation.is_trust_based();
        let clip_ok = session.clip.is_finite() && session.clip > 0.0;
        if !trust && !clip_ok {
            return Err(SubmitError::Session(
                "secure-fedavg needs a positive clip bound".into(),
            ));
        }
        // Trust rules: the two-sided window around ‖X‖ = 2^f (unit norm).
        // secure-fedavg: one-sided, N ≤ N_hi (‖Δ/C‖ ≤ 1 plus rounding
        // slack); the lower end 0 holds anyway (N is a sum of squares that
        // cannot wrap), the circuit checks it as a separate output all the same.
        let (n_lo, n_hi) = if trust {
            norm_window(fixed)
        } else {
            (0, clip_bound(fixed))
        };
        let circuit = ValidityCircuit::new(FlpParams { dim, n_lo, n_hi })?;
        let per_worker = if trust {
            // |TSᵢ·Xᵢ,ₖ| ≤ ‖X‖²·‖G‖ ≤ N_hi·(2^f + √d/2) per worker and
            // coordinate (‖G‖ ≤ 2^f + √d/2 after rounding).
            n_hi as f64 * (fixed.scale() + (dim as f64).sqrt() / 2.0)
        } else {
            // |Xᵢ,ₖ| ≤ ‖Xᵢ‖ ≤ √N_hi.
            (n_hi as f64).sqrt()
        };
        // n workers' terms must stay below p/2.
        let max_workers = ((mpc_core::field::MODULUS / 2 - 1) as f64 / per_worker).floor() as usize;
        let mut h = Sha256::new();
        h.update(b"tandem/robust/v1/context\0");
        h.update(session.aggregation.name().as_bytes());
        h.update([0u8]);
        h.update((dim as u64).to_le_bytes());
        h.update(fixed.ell().to_le_bytes());
        h.update(fixed.frac().to_le_bytes());
        h.update(n_lo.to_le_bytes());
        h.update(n_hi.to_le_bytes());
        Ok(RobustSetup {
            fixed,
            dim,
            circuit,
            trust,
            max_workers,
            context: h.finalize().into(),
        })
    }

    fn prg(seed: &Seed, purpose: Purpose, round: u64, worker: u32) -> Prg {
        Prg::new(
            seed,
            Domain {
                purpose,
                round,
                worker,
            },
        )
    }

    /// Bytes of B's half of an upload (the long vectors, the range bits and
    /// the proof share; without the frame's few header bytes): what B holds
    /// per upload until it is prepared.
    pub fn upload_b_bytes(&self) -> usize {
        let dealt = if self.trust { 2 * self.dim } else { 0 };
        self.dim * (RING_SHARE_BYTES + 8)
            + 8 * (dealt + self.range_len() + self.circuit.proof_len())
    }

    fn range_len(&self) -> usize {
        2 * self.circuit.range_bits()
    }
}

/// A's commitment to its half: [`flp::commit`] (BLAKE3) of round and worker
/// under the seed as the blind (the seed determines the half).
pub fn commit_a(seed: &Seed, round: u64, worker: u32) -> [u8; 32] {
    let mut ctx = Vec::with_capacity(12);
    ctx.extend_from_slice(&round.to_le_bytes());
    ctx.extend_from_slice(&worker.to_le_bytes());
    flp::commit(COMMIT_A, &seed.0, &ctx)
}

/// B's commitment to its half: a [`Committer`] (BLAKE3, the one bulk hash of
/// a round: 7.3 MB per upload at d = 270k) over every part of the upload
/// except the proof share, each length-prefixed, under a 32-byte blind
/// (hiding: A never sees the blind, so it cannot test guesses of B's bytes
/// against c_B).
fn commit_b(blind: &[u8; 32], parts: [&[u8]; 5], s: u64) -> [u8; 32] {
    let mut h = Committer::new(COMMIT_B, blind);
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes()).update(p);
    }
    h.update(&s.to_le_bytes());
    h.finalize()
}

fn commit_parts(p: &UploadParts) -> [u8; 32] {
    commit_b(&p.blind, [&p.b, &p.kappa_b, &p.beta_b, &p.w, &p.z], p.s)
}

/// What a worker intends to submit, before sharing: the encoded update and
/// the claims it will prove. Honest workers use [`Draft::honest`]; tests
/// and attack modes edit the fields.
#[derive(Clone)]
pub struct Draft {
    /// The seed A receives.
    pub seed: Seed,
    /// The ring shares bₖ sent to B.
    pub b: Vec<u32>,
    /// The claimed carries κₖ (full values; bits for an honest worker).
    pub kappa: Vec<Fp>,
    /// The claimed range bits (full values).
    pub beta: Vec<Fp>,
    /// The scalar s of the correlation for B.
    pub s: Fp,
}

impl core::fmt::Debug for Draft {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Draft {{ dim: {}, <redacted> }}", self.b.len())
    }
}

/// B's upload as bytes, editable by tests before the commitment is made.
#[derive(Clone)]
pub struct UploadParts {
    /// Ring shares, 3 bytes each.
    pub b: Vec<u8>,
    /// Carry shares κ_B.
    pub kappa_b: Vec<u8>,
    /// Range-bit shares β_B.
    pub beta_b: Vec<u8>,
    /// B's proof share.
    pub proof_b: Vec<u8>,
    /// W = s·X_A − M.
    pub w: Vec<u8>,
    /// Z = s′·X_B + R.
    pub z: Vec<u8>,
    /// s.
    pub s: u64,
    /// Commitment blind.
    pub blind: [u8; 32],
}

impl core::fmt::Debug for UploadParts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "UploadParts {{ b_bytes: {}, <redacted> }}", self.b.len())
    }
}

impl Draft {
    /// An honest worker's draft for the encoded unit vector `x` (from
    /// [`super::encode::encode_unit`]); A's seed and the scalar s come from `rng`.
    pub fn honest<R: CryptoRng + ?Sized>(
        setup: &RobustSetup,
        round: u64,
        worker: u32,
        x: &[i64],
        rng: &mut R,
    ) -> Result<Draft, SubmitError> {
        if x.len() != setup.dim {
            return Err(SubmitError::Session(format!(
                "update has dimension {}, the session expects {}",
                x.len(),
                setup.dim
            )));
        }
        let half = 1i64 << (setup.fixed.ell() - 1);
        if let Some(index) = x.iter().position(|v| v.abs() >= half) {
            return Err(SubmitError::RingShare {
                index,
                ell: setup.fixed.ell(),
            });
        }
        let mut d = Draft::honest_unchecked(setup, round, worker, x, rng);
        let n: u64 = x.iter().map(|&v| (v * v) as u64).sum();
        d.beta = setup.circuit.range_bits_for(n)?;
        Ok(d)
    }

    /// Like [`Draft::honest`] for any integers (reduced into the ring, range
    /// bits left zero): the starting point of a cheating worker in tests and
    /// attack modes. The dimension must match the setup's.
    pub fn honest_unchecked<R: CryptoRng + ?Sized>(
        setup: &RobustSetup,
        round: u64,
        worker: u32,
        x: &[i64],
        rng: &mut R,
    ) -> Draft {
        let ell = setup.fixed.ell();
        let half = 1i64 << (ell - 1);
        let modulus = 1u64 << ell;
        let mask = (modulus - 1) as u32;
        let seed = Seed::from_rng(rng);
        let mut ring = RobustSetup::prg(&seed, Purpose::RingMaskA, round, worker);
        let mut b = Vec::with_capacity(x.len());
        let mut kappa = Vec::with_capacity(x.len());
        for &xk in x {
            let y = (xk.wrapping_add(half) as u64 & u64::from(mask)) as u32;
            let a = ring.next_ring(ell);
            let bk = y.wrapping_sub(a) & mask;
            b.push(bk);
            kappa.push(Fp::from_i64(i64::from(
                u64::from(a) + u64::from(bk) >= modulus,
            )));
        }
        Draft {
            seed,
            b,
            kappa,
            beta: vec![Fp::ZERO; setup.range_len()],
            // secure-fedavg deals no correlations: s is 0.
            s: if setup.trust {
                random_fp(rng)
            } else {
                Fp::ZERO
            },
        }
    }

    /// Shares, deals, commits and proves: A's seed and B's upload. The
    /// commitment blind and the proof's randomness come from `rng`.
    pub fn finish<R: CryptoRng + ?Sized>(
        self,
        setup: &RobustSetup,
        round: u64,
        worker: u32,
        rng: &mut R,
    ) -> Result<(Seed, WorkerToB), SubmitError> {
        self.finish_with(setup, round, worker, rng, |_| {}, |_| {})
    }

    /// [`Draft::finish`] with hooks: `before_commit` edits B's parts before
    /// they are committed (a worker lying consistently), `after_proof` after
    /// the proof is made (a worker whose upload differs from what it proved).
    pub fn finish_with<R: CryptoRng + ?Sized>(
        self,
        setup: &RobustSetup,
        round: u64,
        worker: u32,
        rng: &mut R,
        before_commit: impl FnOnce(&mut UploadParts),
        after_proof: impl FnOnce(&mut UploadParts),
    ) -> Result<(Seed, WorkerToB), SubmitError> {
        let dim = setup.dim;
        if self.b.len() != dim || self.kappa.len() != dim || self.beta.len() != setup.range_len() {
            return Err(SubmitError::Session("draft has the wrong shape".into()));
        }
        let ell = setup.fixed.ell();
        let two_ell = Fp::pow2(ell);
        let half = Fp::pow2(ell - 1);
        let a_half = ViewA::derive(setup, &self.seed, round, worker);
        // Full input: X = a + b − 2^ℓ·κ − 2^(ℓ−1) with the claimed κ.
        let mut input = Vec::with_capacity(setup.circuit.input_len());
        let mut x_b = Vec::with_capacity(dim);
        let mut kappa_b = Vec::with_capacity(dim);
        for k in 0..dim {
            let bk = Fp::reduce_u64(u64::from(self.b[k]));
            let kb = self.kappa[k] - a_half.kappa[k];
            kappa_b.push(kb);
            x_b.push(bk - two_ell * kb);
        }
        for (&xa, &xb) in a_half.x.iter().zip(&x_b) {
            input.push(xa + xb);
        }
        debug_assert!((0..dim).all(|k| {
            let a = a_half.x[k] + two_ell * a_half.kappa[k] + half;
            input[k] == a + Fp::reduce_u64(u64::from(self.b[k])) - two_ell * self.kappa[k] - half
        }));
        input.extend_from_slice(&self.kappa);
        input.extend_from_slice(&self.beta);
        let beta_b: Vec<Fp> = self
            .beta
            .iter()
            .zip(&a_half.beta)
            .map(|(&v, &a)| v - a)
            .collect();
        // Dealt correlations (trust rules only; `m` and `r` are empty otherwise).
        let w: Vec<Fp> = a_half
            .x
            .iter()
            .zip(&a_half.m)
            .map(|(&xa, &m)| self.s * xa - m)
            .collect();
        let z: Vec<Fp> = x_b
            .iter()
            .zip(&a_half.r)
            .map(|(&xb, &r)| a_half.s_prime * xb + r)
            .collect();
        let mut b_bytes = Vec::with_capacity(dim * RING_SHARE_BYTES);
        for &v in &self.b {
            b_bytes.extend_from_slice(&v.to_le_bytes()[..RING_SHARE_BYTES]);
        }
        let mut blind = [0u8; 32];
        rng.fill_bytes(&mut blind);
        let mut parts = UploadParts {
            b: b_bytes,
            kappa_b: encode_field_bytes(&kappa_b),
            beta_b: encode_field_bytes(&beta_b),
            proof_b: Vec::new(),
            w: encode_field_bytes(&w),
            z: encode_field_bytes(&z),
            s: self.s.value(),
            blind,
        };
        before_commit(&mut parts);
        let c_a = commit_a(&self.seed, round, worker);
        let c_b = commit_parts(&parts);
        let binder = flp::binder(&setup.context, round, worker, &c_a, &c_b);
        let joint = JointRand::derive(&setup.circuit, &binder);
        let proof = setup.circuit.prove(&input, &joint, rng)?;
        let proof_b: Vec<Fp> = proof
            .iter()
            .zip(&a_half.proof)
            .map(|(&p, &a)| p - a)
            .collect();
        parts.proof_b = encode_field_bytes(&proof_b);
        after_proof(&mut parts);
        Ok((
            self.seed.clone(),
            WorkerToB::Robust {
                round,
                worker,
                b: parts.b,
                kappa_b: parts.kappa_b,
                beta_b: parts.beta_b,
                proof_b: parts.proof_b,
                w: parts.w,
                z: parts.z,
                s: parts.s,
                blind: parts.blind,
            },
        ))
    }
}

/// One server's half of a worker's submission. The input share of the
/// validity proof is `[x ‖ kappa ‖ beta]`. The long vectors (x, κ and the two
/// dealt vectors, d each) are not materialised: [`ServerHalf::for_each_block`]
/// expands them (A, from the seed) or decodes them (B, from its upload bytes,
/// validated when the half was made) block by block, so the server's local
/// work runs in one cache-hot pass.
pub struct ServerHalf {
    /// Range-bit shares.
    beta: Vec<Fp>,
    /// Proof share.
    proof: Vec<Fp>,
    /// This server's correlation scalar: A: s′, B: s.
    scalar: Fp,
    long: Long,
    /// The commitment to this half.
    pub commit: [u8; 32],
}

enum Long {
    /// A: everything long comes from the seed.
    Seed { seed: Seed, round: u64, worker: u32 },
    /// B: the upload's bytes (lengths and values already checked).
    Bytes {
        b: Vec<u8>,
        kappa: Vec<u8>,
        w: Vec<u8>,
        z: Vec<u8>,
    },
}

impl core::fmt::Debug for ServerHalf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ServerHalf {{ <redacted> }}")
    }
}

impl Drop for ServerHalf {
    fn drop(&mut self) {
        // B's upload bytes are uniform shares and masked vectors; like the
        // received frame they came in, they are freed without a wipe (7 MB
        // of volatile writes per worker at d = 270k).
        self.beta.zeroize();
        self.proof.zeroize();
    }
}

/// Coordinates per block of [`ServerHalf::for_each_block`] (the scratch buffers,
/// 4 × 8 KiB, stay in L1/L2).
pub const BLOCK: usize = 1024;

impl ServerHalf {
    /// Bytes this half holds (B: the upload's vectors; A: the short ones).
    pub fn held_bytes(&self) -> usize {
        let long = match &self.long {
            Long::Seed { .. } => 0,
            Long::Bytes { b, kappa, w, z } => b.len() + kappa.len() + w.len() + z.len(),
        };
        long + 8 * (self.beta.len() + self.proof.len())
    }

    /// Range-bit shares.
    pub fn beta(&self) -> &[Fp] {
        &self.beta
    }

    /// Proof share.
    pub fn proof(&self) -> &[Fp] {
        &self.proof
    }

    /// This server's correlation scalar: A: s′, B: s.
    pub fn scalar(&self) -> Fp {
        self.scalar
    }

    /// Calls `f(x, kappa, first, second)` on consecutive blocks of at most
    /// [`BLOCK`] coordinates, in order, covering all d: the lifted share of
    /// X, the carry shares and the two dealt vectors (A: M, R; B: W, Z;
    /// empty for secure-fedavg, which deals none).
    pub fn for_each_block(
        &self,
        setup: &RobustSetup,
        mut f: impl FnMut(&[Fp], &[Fp], &[Fp], &[Fp]),
    ) {
        let dim = setup.dim;
        let ell = setup.fixed.ell();
        let two_ell = Fp::pow2(ell);
        let mut x = [Fp::ZERO; BLOCK];
        let mut kappa = [Fp::ZERO; BLOCK];
        let mut first = [Fp::ZERO; BLOCK];
        let mut second = [Fp::ZERO; BLOCK];
        match &self.long {
            Long::Seed {
                seed,
                round,
                worker,
            } => {
                let half = Fp::pow2(ell - 1);
                let (round, worker) = (*round, *worker);
                let mut ring = RobustSetup::prg(seed, Purpose::RingMaskA, round, worker);
                let mut carry = RobustSetup::prg(seed, Purpose::CarryShareA, round, worker);
                let mut m = RobustSetup::prg(seed, Purpose::VoleMaskA, round, worker);
                let mut r = RobustSetup::prg(seed, Purpose::VoleMaskR, round, worker);
                let mut start = 0;
                while start < dim {
                    let n = BLOCK.min(dim - start);
                    for (xk, kk) in x[..n].iter_mut().zip(&mut kappa[..n]) {
                        let a = Fp::reduce_u64(u64::from(ring.next_ring(ell)));
                        let ka = carry.next_fp();
                        *kk = ka;
                        *xk = a - two_ell * ka - half;
                    }
                    let dealt = if setup.trust { n } else { 0 };
                    m.fill_fp(&mut first[..dealt]);
                    r.fill_fp(&mut second[..dealt]);
                    f(&x[..n], &kappa[..n], &first[..dealt], &second[..dealt]);
                    start += n;
                }
            }
            Long::Bytes { b, kappa: kb, w, z } => {
                let word = |c: &[u8]| {
                    let mut v = [0u8; 8];
                    v.copy_from_slice(c);
                    // Checked canonical in `half_b`.
                    Fp::reduce_u64(u64::from_le_bytes(v))
                };
                let mut start = 0;
                while start < dim {
                    let n = BLOCK.min(dim - start);
                    fn bytes(v: &[u8], w: usize, start: usize, n: usize) -> &[u8] {
                        &v[start * w..(start + n) * w]
                    }
                    for (((xk, kk), bc), kc) in x[..n]
                        .iter_mut()
                        .zip(&mut kappa[..n])
                        .zip(bytes(b, RING_SHARE_BYTES, start, n).chunks_exact(RING_SHARE_BYTES))
                        .zip(bytes(kb, 8, start, n).chunks_exact(8))
                    {
                        let v = u64::from(ring_word(bc));
                        let k = word(kc);
                        *kk = k;
                        *xk = Fp::reduce_u64(v) - two_ell * k;
                    }
                    // secure-fedavg: W and Z are empty (checked in `half_b`).
                    let dealt = if setup.trust { n } else { 0 };
                    if dealt > 0 {
                        for (o, c) in first[..n]
                            .iter_mut()
                            .zip(bytes(w, 8, start, n).chunks_exact(8))
                        {
                            *o = word(c);
                        }
                        for (o, c) in second[..n]
                            .iter_mut()
                            .zip(bytes(z, 8, start, n).chunks_exact(8))
                        {
                            *o = word(c);
                        }
                    }
                    f(&x[..n], &kappa[..n], &first[..dealt], &second[..dealt]);
                    start += n;
                }
            }
        }
        for buf in [&mut x, &mut kappa, &mut first, &mut second] {
            buf.zeroize();
        }
    }
}

struct ViewA {
    x: Vec<Fp>,
    kappa: Vec<Fp>,
    beta: Vec<Fp>,
    proof: Vec<Fp>,
    m: Vec<Fp>,
    r: Vec<Fp>,
    s_prime: Fp,
}

impl ViewA {
    fn derive(setup: &RobustSetup, seed: &Seed, round: u64, worker: u32) -> ViewA {
        let dim = setup.dim;
        let ell = setup.fixed.ell();
        let two_ell = Fp::pow2(ell);
        let half = Fp::pow2(ell - 1);
        let mut ring = RobustSetup::prg(seed, Purpose::RingMaskA, round, worker);
        let mut carry = RobustSetup::prg(seed, Purpose::CarryShareA, round, worker);
        let mut x = Vec::with_capacity(dim);
        let mut kappa = Vec::with_capacity(dim);
        for _ in 0..dim {
            let a = Fp::reduce_u64(u64::from(ring.next_ring(ell)));
            let ka = carry.next_fp();
            kappa.push(ka);
            x.push(a - two_ell * ka - half);
        }
        let fill = |purpose, len| {
            let mut v = vec![Fp::ZERO; len];
            RobustSetup::prg(seed, purpose, round, worker).fill_fp(&mut v);
            v
        };
        let beta = fill(Purpose::RangeBitsA, setup.range_len());
        let proof = fill(Purpose::ProofShareA, setup.circuit.proof_len());
        let dealt = if setup.trust { dim } else { 0 };
        let m = fill(Purpose::VoleMaskA, dealt);
        let r = fill(Purpose::VoleMaskR, dealt);
        let s_prime = RobustSetup::prg(seed, Purpose::VoleScalarA, round, worker).next_fp();
        ViewA {
            x,
            kappa,
            beta,
            proof,
            m,
            r,
            s_prime,
        }
    }
}

/// A's half: the seed (the long vectors are expanded block by block when
/// used), the range-bit and proof shares and s′.
pub fn half_a(setup: &RobustSetup, seed: &Seed, round: u64, worker: u32) -> ServerHalf {
    let fill = |purpose, len| {
        let mut v = vec![Fp::ZERO; len];
        RobustSetup::prg(seed, purpose, round, worker).fill_fp(&mut v);
        v
    };
    ServerHalf {
        beta: fill(Purpose::RangeBitsA, setup.range_len()),
        proof: fill(Purpose::ProofShareA, setup.circuit.proof_len()),
        scalar: RobustSetup::prg(seed, Purpose::VoleScalarA, round, worker).next_fp(),
        long: Long::Seed {
            seed: seed.clone(),
            round,
            worker,
        },
        commit: commit_a(seed, round, worker),
    }
}

/// Bytes hashed per step of the validation pass (cache-sized).
const HASH_CHUNK: usize = 64 << 10;

/// Checks that every 8-byte little-endian word of `bytes` is a canonical
/// field element, hashing the bytes as it goes (one cache-hot pass).
fn check_and_hash(h: &mut Committer, name: &'static str, bytes: &[u8]) -> Result<(), SubmitError> {
    h.update(&(bytes.len() as u64).to_le_bytes());
    for (i, chunk) in bytes.chunks(HASH_CHUNK).enumerate() {
        let bad = chunk
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .fold(false, |bad, v| bad | (v >= mpc_core::field::MODULUS));
        if bad {
            let at = chunk
                .chunks_exact(8)
                .position(|c| {
                    u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                        >= mpc_core::field::MODULUS
                })
                .unwrap_or(0);
            return Err(SubmitError::Upload {
                field: name,
                detail: format!("element {} is not canonical", i * HASH_CHUNK / 8 + at),
            });
        }
        h.update(chunk);
    }
    Ok(())
}

/// A 3-byte little-endian ring share (`c` has `RING_SHARE_BYTES` bytes).
fn ring_word(c: &[u8]) -> u32 {
    c.iter()
        .take(RING_SHARE_BYTES)
        .rev()
        .fold(0u32, |w, &byte| w << 8 | u32::from(byte))
}

/// B's half, parsed and validated from its upload (`WorkerToB::Robust`),
/// which it takes over (the long parts are kept as bytes, not copied).
/// Computes c_B in the same pass as the checks.
pub fn half_b(setup: &RobustSetup, upload: WorkerToB) -> Result<ServerHalf, SubmitError> {
    let WorkerToB::Robust {
        b,
        kappa_b,
        beta_b,
        proof_b,
        w,
        z,
        s,
        blind,
        ..
    } = upload
    else {
        return Err(SubmitError::Session("not a robust upload".into()));
    };
    let dim = setup.dim;
    let ell = setup.fixed.ell();
    if dim.checked_mul(RING_SHARE_BYTES) != Some(b.len()) {
        return Err(SubmitError::Upload {
            field: "b",
            detail: format!("{} bytes, expected {}", b.len(), dim * RING_SHARE_BYTES),
        });
    }
    let field = |name: &'static str, bytes: &[u8], len: usize| {
        decode_field_bytes(bytes, len).map_err(|e| SubmitError::Upload {
            field: name,
            detail: e.to_string(),
        })
    };
    // secure-fedavg deals no correlations: W and Z are empty and s is 0.
    let dealt = if setup.trust { dim } else { 0 };
    for (name, bytes, len) in [
        ("kappa_b", &kappa_b, dim),
        ("w", &w, dealt),
        ("z", &z, dealt),
    ] {
        if len.checked_mul(8) != Some(bytes.len()) {
            // The decoder's message for a wrong length.
            field(name, bytes, len)?;
        }
    }
    if !setup.trust && s != 0 {
        return Err(SubmitError::Upload {
            field: "s",
            detail: "must be 0: secure-fedavg deals no correlations".into(),
        });
    }
    let beta = field("beta_b", &beta_b, setup.range_len())?;
    let proof = field("proof_b", &proof_b, setup.circuit.proof_len())?;
    let scalar = Fp::from_canonical(s).ok_or(SubmitError::Upload {
        field: "s",
        detail: "not a canonical field element".into(),
    })?;
    // The commitment (same bytes and order as `commit_b`), with the checks
    // of every value in the same pass.
    let mut h = Committer::new(COMMIT_B, &blind);
    h.update(&(b.len() as u64).to_le_bytes());
    let limit = 1u32 << ell;
    for (i, chunk) in b
        .chunks(HASH_CHUNK - HASH_CHUNK % RING_SHARE_BYTES)
        .enumerate()
    {
        // Branch-free over the chunk; the position only on the error path.
        let bad = chunk
            .chunks_exact(RING_SHARE_BYTES)
            .fold(false, |bad, c| bad | (ring_word(c) >= limit));
        if bad {
            let at = chunk
                .chunks_exact(RING_SHARE_BYTES)
                .position(|c| ring_word(c) >= limit)
                .unwrap_or(0);
            return Err(SubmitError::RingShare {
                index: i * (HASH_CHUNK / RING_SHARE_BYTES) + at,
                ell,
            });
        }
        h.update(chunk);
    }
    check_and_hash(&mut h, "kappa_b", &kappa_b)?;
    h.update(&(beta_b.len() as u64).to_le_bytes());
    h.update(&beta_b);
    check_and_hash(&mut h, "w", &w)?;
    check_and_hash(&mut h, "z", &z)?;
    h.update(&s.to_le_bytes());
    let commit = h.finalize();
    debug_assert_eq!(commit, commit_b(&blind, [&b, &kappa_b, &beta_b, &w, &z], s));
    Ok(ServerHalf {
        beta,
        proof,
        scalar,
        long: Long::Bytes {
            b,
            kappa: kappa_b,
            w,
            z,
        },
        commit,
    })
}
