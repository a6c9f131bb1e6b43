//! Millionaires' protocol (CrypTFlow2-style), batched: A holds `x`, B holds
//! `y` (ℓ-bit unsigned, ℓ ≤ 64); the output is XOR shares of `[x ⋈ y]` for
//! ⋈ ∈ {<, ≤, >, ≥}.
//!
//! # Construction
//!
//! x and y are cut into q = ⌈ℓ/m⌉ digits of m bits (default m = 4; the top
//! digit may be narrower). For digit j, B knows the plaintext leaf bits
//! `lt_j(k) = [k ⋈' y_j]` (⋈' = < or > — the strict relation; ≥ and ≤ are
//! its negation, applied by A to its share) and `eq_j(k) = [k = y_j]` for every
//! possible value k of A's digit. A learns its shares of `(lt_j(x_j), eq_j(x_j))`
//! by a **1-out-of-2^m OT built from m random 1-out-of-2 OTs** (A receiver):
//!
//! - A sends `e = x_j ⊕ c` for the m OTs' random choices c (m bits);
//! - B sets `K_{i,b} = r_{i, b⊕e_i}` (so A knows `K_{i, x_{j,i}}`), picks its
//!   random leaf shares `(ρ_lt, ρ_eq)`, and sends the table: entry k is
//!   `(lt_j(k) ⊕ ρ_lt, eq_j(k) ⊕ ρ_eq) ⊕ ⊕_i K_{i,k_i}[range(k)]`, where
//!   `range(k)` is a range of key bits used by entry k only;
//! - A unmasks entry `x_j` with the keys it holds.
//!
//! An entry k ≠ x_j is masked by `K_{i,k_i}[range(k)]` for some i with
//! `k_i ≠ x_{j,i}` — bits of the OT message A did not choose, used by no other
//! entry, so all other entries are one-time-padded. Keys are the OT blocks
//! themselves when the table fits in 128 bits (the default: 16 entries × ≤ 2
//! bits × slots ≤ 4), else their ChaCha12 expansion.
//!
//! **Slots.** Several comparisons against the *same* x (B supplies `slots`
//! values of y per x) share the leaf OTs: each entry carries the bits of every
//! slot. Only the tables grow.
//!
//! **Selector.** Optionally A also holds a private bit σ per instance and B
//! two values `y⁰, y¹` per slot; the output compares against `y^σ`. The table
//! of each digit gets two halves (entry `(h, k)` for `y^h`), and one more OT
//! per instance masks half h with a key stream `S_h` that A can open only for
//! `h = σ` (A sends `σ ⊕ c` like a digit bit). B may also XOR a private bit
//! `flip^h` into the result for half h (it enters the top digit's comparison
//! bit, which the tree passes through linearly). DReLU uses both.
//!
//! **Tree.** Leaves combine pairwise up a binary tree,
//! `lt = lt_hi ⊕ (eq_hi ∧ lt_lo)`, `eq = eq_hi ∧ eq_lo`, with XOR-shared bits.
//! The two ANDs of a node share the factor `eq_hi`, so one *correlated* triple
//! `(a; b0, c0; b1, c1)` serves both (opening `eq_hi ⊕ a` once); it is derived
//! from one random OT in each direction with no communication
//! (`CorrTriple` in [`super::rots`]). Equality bits nobody needs are never computed
//! (the root's, and the chain of low children below it), and leaves whose
//! equality is unneeded carry no `eq` bit in their tables.
//!
//! # Messages (one batch of n instances; D = ⌈log₂ q⌉ tree levels)
//!
//! 1. A → B [`CmpMsg::Choices`]: `e` bits, `n·(ℓ + [selector])`.
//! 2. B → A [`CmpMsg::Tables`]: the masked tables, and B's openings of level 1.
//! 3. … alternating [`CmpMsg::Open`]: each party opens every level it can —
//!    level t needs level t−1 resolved — which is up to two levels per message.
//!
//! D + 2 messages in all; the party that receives the last message finishes on
//! receipt, the other right after sending it.
//!
//! # What each party sees; simulation (semi-honest)
//!
//! - **B** sees `e = x ⊕ c` (uniform: the OT choices c are uniform and hidden
//!   from the OT sender) and A's openings `eq_hi^A ⊕ a^A`, `lt_lo^A ⊕ b^A` … —
//!   one-time-padded by A's shares of fresh random triples. Simulator: uniform
//!   bits.
//! - **A** sees the tables: the entry it opens is `(leaf bit ⊕ ρ)` with B's
//!   uniform share ρ, every other entry is padded by OT bits A does not know;
//!   and B's openings, padded by B's triple shares. Simulator: uniform bits.
//! - The outputs are XOR shares, uniformly random given the result.
//!
//! So each party's view is simulatable from its input and output; privacy
//! rests on the random OTs (IKNP: the correlation-robust hash) and, for long
//! tables only, on ChaCha12 as a PRG.
//!
//! # Cost (per instance)
//!
//! - ROTs: `ℓ + [selector]` with A as receiver (leaves), and `slots·(q−1)` in
//!   each direction (tree nodes).
//! - Bits: A → B `ℓ + [selector]`, B → A the tables
//!   `Σ_j halves·2^{m_j}·slots·(1 + eq_j)`; each party opens `2 + eq` bits per
//!   tree node (≤ 3).
//! - 64-bit, m = 4, one slot: 79 + 15 = 94 ROTs (1504 B of IKNP at 16 B per
//!   OT) and 80.3 B of messages (64 + 37 bits from A, 496 + 37 bits from B):
//!   ≈ 1584 B; D + 2 = 6 messages.
//!
//! Use [`MillionaireParams::cost`] for exact figures.

mod shape;
#[cfg(test)]
mod tests;

use core::fmt;

use mpc_core::codec::{CodecError, Limits, Message, Reader};
use mpc_core::ot::Block;
use rand::CryptoRng;
use thiserror::Error;

use shape::{Flight, Op, Shape};
pub use shape::{MAX_DIGIT_BITS, MAX_SLOTS};

use super::bits::BitVec;
use super::codec;
use super::rots::{CorrTriple, RotShapeError, Rots, key_stream};
use super::{Cost, Finished, Phase, PingPong, Relation, RotDemand, Traffic};
use crate::mpc::corr::Party;

/// Errors of the millionaires' protocol. They carry kinds and counts, never
/// inputs, shares or message contents.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum MillionaireError {
    /// Invalid parameters.
    #[error("millionaires: invalid parameters: {0}")]
    Params(&'static str),
    /// An input value does not fit the bit width.
    #[error("millionaires: input {index} does not fit in {bits} bits")]
    InputRange {
        /// Index of the value.
        index: usize,
        /// Bit width.
        bits: u32,
    },
    /// Inputs of the wrong length.
    #[error("millionaires: {what} has {got} entries, expected {expected}")]
    InputLength {
        /// Which input.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// The batch would exceed the message size limit.
    #[error("millionaires: a batch of {n} comparisons is too large")]
    TooLarge {
        /// Instances requested.
        n: usize,
    },
    /// The OT batch does not fit the instance.
    #[error("millionaires: {0}")]
    Rots(#[from] RotShapeError),
    /// A peer message does not decode.
    #[error("millionaires: {0}")]
    Codec(#[from] CodecError),
    /// A message of the wrong kind for this point of the protocol.
    #[error("millionaires: expected {expected}, got a {got} message")]
    Unexpected {
        /// What was expected.
        expected: &'static str,
        /// What arrived.
        got: &'static str,
    },
    /// A peer message carries the wrong number of bits.
    #[error("millionaires: {what} carries {got} bits, expected {expected}")]
    Count {
        /// Which section.
        what: &'static str,
        /// Expected bits.
        expected: usize,
        /// Bits received.
        got: usize,
    },
    /// The instance failed earlier and cannot continue.
    #[error("millionaires: the instance failed earlier")]
    Poisoned,
    /// `finish` before the protocol ended.
    #[error("millionaires: the protocol has not finished")]
    NotDone,
    /// An internal invariant broke (a bug, never caused by peer data alone).
    #[error("millionaires: internal error: {0}")]
    Internal(&'static str),
}

/// Public parameters; both parties must use the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MillionaireParams {
    /// Bit width ℓ of x and y, 1..=64.
    pub bits: u32,
    /// Digit width m, 1..=8 (default 4).
    pub digit_bits: u32,
    /// Comparisons per x (B supplies this many y per x), 1..=32.
    pub slots: usize,
    /// Whether A selects between two y per slot with a private bit.
    pub selector: bool,
    /// The relation `x ⋈ y` computed.
    pub relation: Relation,
}

impl MillionaireParams {
    /// ℓ-bit comparison `x ⋈ y`, m = 4, one slot, no selector.
    pub fn new(bits: u32, relation: Relation) -> MillionaireParams {
        MillionaireParams {
            bits,
            digit_bits: 4,
            slots: 1,
            selector: false,
            relation,
        }
    }

    /// OTs an `n`-instance batch consumes.
    pub fn rot_demand(&self, n: usize) -> Result<RotDemand, MillionaireError> {
        Ok(Shape::new(self)?.rot_demand(n))
    }

    /// Exact cost of an `n`-instance batch.
    pub fn cost(&self, n: usize) -> Result<Cost, MillionaireError> {
        Ok(Shape::new(self)?.cost(n))
    }
}

/// Messages of the millionaires' protocol.
#[derive(Clone, PartialEq, Eq)]
pub enum CmpMsg {
    /// A → B: derandomised OT choices (`x ⊕ c`, and `σ ⊕ c` with a selector).
    Choices(BitVec),
    /// B → A: masked leaf tables and B's level-1 openings.
    Tables {
        /// Tables of every instance and digit.
        tables: BitVec,
        /// Openings (possibly empty).
        open: BitVec,
    },
    /// Either way: openings of one or two tree levels.
    Open(BitVec),
}

impl fmt::Debug for CmpMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmpMsg::Choices(b) => write!(f, "Choices({} bits)", b.len()),
            CmpMsg::Tables { tables, open } => {
                write!(f, "Tables({} + {} bits)", tables.len(), open.len())
            }
            CmpMsg::Open(b) => write!(f, "Open({} bits)", b.len()),
        }
    }
}

const TAG_CHOICES: u8 = 0x51;
const TAG_TABLES: u8 = 0x52;
const TAG_OPEN: u8 = 0x53;

impl Message for CmpMsg {
    const KIND: &'static str = "millionaires";

    fn encoded_len(&self) -> usize {
        1 + match self {
            CmpMsg::Choices(b) | CmpMsg::Open(b) => codec::bits_len(b),
            CmpMsg::Tables { tables, open } => codec::bits_len(tables) + codec::bits_len(open),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            CmpMsg::Choices(b) => {
                out.push(TAG_CHOICES);
                codec::put_bits(out, b);
            }
            CmpMsg::Tables { tables, open } => {
                out.push(TAG_TABLES);
                codec::put_bits(out, tables);
                codec::put_bits(out, open);
            }
            CmpMsg::Open(b) => {
                out.push(TAG_OPEN);
                codec::put_bits(out, b);
            }
        }
    }

    fn read(r: &mut Reader<'_>, _: &Limits) -> Result<Self, CodecError> {
        let msg = match r.u8()? {
            TAG_CHOICES => CmpMsg::Choices(codec::bits(r)?),
            TAG_TABLES => CmpMsg::Tables {
                tables: codec::bits(r)?,
                open: codec::bits(r)?,
            },
            TAG_OPEN => CmpMsg::Open(codec::bits(r)?),
            tag => {
                return Err(CodecError::Tag {
                    kind: Self::KIND,
                    tag,
                });
            }
        };
        Ok(msg)
    }
}

impl CmpMsg {
    /// Name of this message's variant, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            CmpMsg::Choices(_) => "choices",
            CmpMsg::Tables { .. } => "tables",
            CmpMsg::Open(_) => "openings",
        }
    }
}

/// One party's private inputs.
#[derive(Clone)]
enum Input {
    A { xs: Vec<u64>, sel: Vec<bool> },
    B { ys: Vec<u64>, flips: Vec<bool> },
}

/// One party's side of a batch of millionaires' comparisons.
pub struct Millionaire {
    party: Party,
    shape: Shape,
    n: usize,
    input: Input,
    rots: Rots,
    triples: Vec<CorrTriple>,
    /// B: A's derandomised choices, once received.
    choices: BitVec,
    /// Current tree level, unit-major (unit = instance·slots + slot): (cmp, eq).
    nodes: Vec<(bool, bool)>,
    /// Levels resolved.
    level: usize,
    own: Vec<Option<BitVec>>,
    peer: Vec<Option<BitVec>>,
    next: usize,
    phase: Phase,
    output: Vec<bool>,
    traffic: Traffic,
}

impl fmt::Debug for Millionaire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Millionaire")
            .field("party", &self.party)
            .field("n", &self.n)
            .field("level", &self.level)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

fn fits(v: u64, bits: u32) -> bool {
    bits >= 64 || v >> bits == 0
}

impl Millionaire {
    /// A's side: values `xs` (each < 2^ℓ), and with a selector one bit per
    /// value (else `selectors` must be empty). `rots` must hold exactly
    /// [`MillionaireParams::rot_demand`]`(xs.len())` for A.
    pub fn new_a(
        params: &MillionaireParams,
        xs: Vec<u64>,
        selectors: Vec<bool>,
        rots: Rots,
    ) -> Result<Millionaire, MillionaireError> {
        let shape = Shape::new(params)?;
        let n = xs.len();
        if let Some(index) = xs.iter().position(|&x| !fits(x, shape.bits)) {
            return Err(MillionaireError::InputRange {
                index,
                bits: shape.bits,
            });
        }
        let want_sel = if shape.selector { n } else { 0 };
        if selectors.len() != want_sel {
            return Err(MillionaireError::InputLength {
                what: "selectors",
                expected: want_sel,
                got: selectors.len(),
            });
        }
        Millionaire::new(Party::A, shape, n, Input::A { xs, sel: selectors }, rots)
    }

    /// B's side: `ys` laid out `[instance][half][slot]` (halves = 2 with a
    /// selector, else 1), each < 2^ℓ; `flips` empty or in the same layout (a
    /// private bit XORed into the result of that half and slot). `rots` must
    /// hold exactly [`MillionaireParams::rot_demand`]`(n)` for B.
    pub fn new_b(
        params: &MillionaireParams,
        ys: Vec<u64>,
        flips: Vec<bool>,
        rots: Rots,
    ) -> Result<Millionaire, MillionaireError> {
        let shape = Shape::new(params)?;
        let per = shape.halves() * shape.slots;
        if !ys.len().is_multiple_of(per) {
            return Err(MillionaireError::InputLength {
                what: "ys",
                expected: ys.len().next_multiple_of(per),
                got: ys.len(),
            });
        }
        if let Some(index) = ys.iter().position(|&y| !fits(y, shape.bits)) {
            return Err(MillionaireError::InputRange {
                index,
                bits: shape.bits,
            });
        }
        if !flips.is_empty() && flips.len() != ys.len() {
            return Err(MillionaireError::InputLength {
                what: "flips",
                expected: ys.len(),
                got: flips.len(),
            });
        }
        let n = ys.len() / per;
        Millionaire::new(Party::B, shape, n, Input::B { ys, flips }, rots)
    }

    fn new(
        party: Party,
        shape: Shape,
        n: usize,
        input: Input,
        rots: Rots,
    ) -> Result<Millionaire, MillionaireError> {
        shape.check_batch(n)?;
        rots.expect(party, shape.rot_demand(n))?;
        // Correlated triples for the tree: unit-major, pair index minor.
        let leaf_total = n * shape.leaf_ots();
        let units = n * shape.slots;
        let tree = units * shape.pairs;
        let (recv_off, sent_off) = match party {
            Party::A => (leaf_total, 0),
            Party::B => (0, leaf_total),
        };
        let mut triples = Vec::with_capacity(tree);
        for k in 0..tree {
            let recv = rots
                .received
                .choices
                .get(recv_off + k)
                .zip(rots.received.mc.get(recv_off + k));
            let sent = rots
                .sent
                .m0
                .get(sent_off + k)
                .zip(rots.sent.m1.get(sent_off + k));
            let ((&d, &mc), (&m0, &m1)) = recv
                .zip(sent)
                .ok_or(MillionaireError::Internal("tree OTs"))?;
            triples.push(CorrTriple::from_rots((d, mc), (m0, m1)));
        }
        let depth = shape.depth();
        Ok(Millionaire {
            party,
            n,
            input,
            rots,
            triples,
            choices: BitVec::new(),
            nodes: Vec::new(),
            level: 0,
            own: vec![None; depth],
            peer: vec![None; depth],
            next: 0,
            phase: Phase::Running,
            output: Vec::new(),
            traffic: Traffic {
                rounds: shape.schedule.len() as u64,
                ..Traffic::default()
            },
            shape,
        })
    }

    /// Number of instances in the batch.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Exact cost of this batch.
    pub fn cost(&self) -> Cost {
        self.shape.cost(self.n)
    }

    fn flight(&self) -> Result<Flight, MillionaireError> {
        self.shape
            .schedule
            .get(self.next)
            .copied()
            .ok_or(MillionaireError::Unexpected {
                expected: "no further message",
                got: "any",
            })
    }

    /// Builds this party's next message (the current flight must be ours).
    fn produce<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<CmpMsg, MillionaireError> {
        let f = self.flight()?;
        if f.from != self.party {
            return Err(MillionaireError::Internal("not our turn"));
        }
        let msg = if f.choices {
            CmpMsg::Choices(self.choice_bits()?)
        } else if f.tables {
            let tables = self.tables(rng)?;
            let open = self.open_levels(&f)?;
            CmpMsg::Tables { tables, open }
        } else {
            CmpMsg::Open(self.open_levels(&f)?)
        };
        self.traffic.sent(msg.encoded_len());
        self.next += 1;
        self.try_resolve()?;
        self.maybe_finish()?;
        Ok(msg)
    }

    /// A: `x ⊕ c` for every leaf OT, then `σ ⊕ c` for the selector OT.
    fn choice_bits(&self) -> Result<BitVec, MillionaireError> {
        let Input::A { xs, sel } = &self.input else {
            return Err(MillionaireError::Internal("choices from B"));
        };
        let per = self.shape.leaf_ots();
        let mut out = BitVec::with_capacity(self.n * per);
        let mut c = self.rots.received.choices.iter();
        for (i, &x) in xs.iter().enumerate() {
            for pos in 0..self.shape.bits {
                let ci = *c.next().ok_or(MillionaireError::Internal("leaf OTs"))?;
                out.push(((x >> pos) & 1 == 1) ^ ci);
            }
            if self.shape.selector {
                let ci = *c.next().ok_or(MillionaireError::Internal("leaf OTs"))?;
                let s = *sel.get(i).ok_or(MillionaireError::Internal("selectors"))?;
                out.push(s ^ ci);
            }
        }
        Ok(out)
    }

    /// B: the masked tables of every instance; sets B's leaf shares.
    fn tables<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<BitVec, MillionaireError> {
        let Input::B { ys, flips } = &self.input else {
            return Err(MillionaireError::Internal("tables from A"));
        };
        let sh = &self.shape;
        let q = sh.digits.len();
        let halves = sh.halves();
        let per = sh.leaf_ots();
        let mut out = BitVec::with_capacity(self.n * sh.table_bits);
        let mut nodes = Vec::with_capacity(self.n * sh.slots * q);
        let mut rho_words = RandomBits::default();
        let blocks = |idx: usize| -> Result<(Block, Block, bool), MillionaireError> {
            let m0 = self.rots.sent.m0.get(idx);
            let m1 = self.rots.sent.m1.get(idx);
            let e = self.choices.get(idx);
            match (m0, m1, e) {
                // K_b = r_{b ⊕ e}: A holds K_{its bit}.
                (Some(&m0), Some(&m1), Some(e)) => Ok(if e { (m1, m0, e) } else { (m0, m1, e) }),
                _ => Err(MillionaireError::Internal("leaf OTs")),
            }
        };
        // Leaf shares of B: ρ per (instance, slot, digit), unit-major.
        for _ in 0..self.n * sh.slots {
            for d in &sh.digits {
                let c = rho_words.bit(rng);
                let e = d.eq && rho_words.bit(rng);
                nodes.push((c, e));
            }
        }
        for inst in 0..self.n {
            let sel_keys = if sh.selector {
                let (s0, s1, _) = blocks(inst * per + sh.bits as usize)?;
                Some((key_stream(s0, sh.sel_bits), key_stream(s1, sh.sel_bits)))
            } else {
                None
            };
            for (j, d) in sh.digits.iter().enumerate() {
                let wmask = (1u64 << d.width) - 1;
                // Plaintext entries, masked with B's leaf shares, bit by bit.
                let mut plain = BitVec::with_capacity(d.table_bits);
                for h in 0..halves {
                    for k in 0..=wmask {
                        for s in 0..sh.slots {
                            let at = (inst * halves + h) * sh.slots + s;
                            let y = *ys.get(at).ok_or(MillionaireError::Internal("ys"))?;
                            let yd = (y >> d.shift) & wmask;
                            let mut c = if sh.greater { k > yd } else { k < yd };
                            if j + 1 == q {
                                c ^= flips.get(at).copied().unwrap_or(false);
                            }
                            let (rc, re) = nodes
                                .get((inst * sh.slots + s) * q + j)
                                .copied()
                                .ok_or(MillionaireError::Internal("leaf shares"))?;
                            plain.push(c ^ rc);
                            if d.eq {
                                plain.push((k == yd) ^ re);
                            }
                        }
                    }
                }
                if let Some(km) = &d.key_masks128 {
                    // Fast path: the whole table is one 128-bit word.
                    let w = plain.words();
                    let mut t = u128::from(w.first().copied().unwrap_or(0))
                        | (u128::from(w.get(1).copied().unwrap_or(0)) << 64);
                    for (i, &m) in km.iter().enumerate() {
                        let (k0, k1, _) = blocks(inst * per + d.shift as usize + i)?;
                        t ^= (k0 & !m) | (k1 & m);
                    }
                    if let Some((s0, s1)) = &sel_keys {
                        for (h, s) in [s0, s1].into_iter().enumerate() {
                            let v = s
                                .bits(d.sel_off, d.half_bits)
                                .ok_or(MillionaireError::Internal("selector stream"))?;
                            t ^= u128::from(v) << (h * d.half_bits);
                        }
                    }
                    out.push_bits(t as u64, d.table_bits.min(64));
                    out.push_bits((t >> 64) as u64, d.table_bits.saturating_sub(64));
                    continue;
                }
                let mut table = plain;
                for (i, km) in d.key_masks.iter().enumerate() {
                    let (k0, k1, _) = blocks(inst * per + d.shift as usize + i)?;
                    table.blend_xor(
                        &key_stream(k0, d.table_bits),
                        &key_stream(k1, d.table_bits),
                        km,
                    );
                }
                if let Some((s0, s1)) = &sel_keys {
                    for (h, s) in [s0, s1].into_iter().enumerate() {
                        if !table.xor_range(h * d.half_bits, s, d.sel_off, d.half_bits) {
                            return Err(MillionaireError::Internal("selector stream"));
                        }
                    }
                }
                out.append(&table);
            }
        }
        self.nodes = nodes;
        Ok(out)
    }

    /// A: unmasks its entry of every table; sets A's leaf shares.
    fn open_tables(&mut self, tables: &BitVec) -> Result<(), MillionaireError> {
        let Input::A { xs, sel } = &self.input else {
            return Err(MillionaireError::Internal("tables to B"));
        };
        let sh = &self.shape;
        let q = sh.digits.len();
        let per = sh.leaf_ots();
        let mc = |idx: usize| {
            self.rots
                .received
                .mc
                .get(idx)
                .copied()
                .ok_or(MillionaireError::Internal("leaf OTs"))
        };
        let mut nodes = vec![(false, false); self.n * sh.slots * q];
        for (inst, &x) in xs.iter().enumerate() {
            let sigma = sh.selector && sel.get(inst).copied().unwrap_or(false);
            let sel_stream = if sh.selector {
                Some(key_stream(mc(inst * per + sh.bits as usize)?, sh.sel_bits))
            } else {
                None
            };
            for (j, d) in sh.digits.iter().enumerate() {
                let xd = ((x >> d.shift) & ((1u64 << d.width) - 1)) as usize;
                let entry = usize::from(sigma) * (1usize << d.width) + xd;
                let off = entry * d.bpe;
                let mut mask = 0u64;
                for i in 0..d.width as usize {
                    let key = mc(inst * per + d.shift as usize + i)?;
                    mask ^= stream_bits(key, d.table_bits, off, d.bpe)
                        .ok_or(MillionaireError::Internal("key stream"))?;
                }
                if let Some(s) = &sel_stream {
                    mask ^= s
                        .bits(d.sel_off + xd * d.bpe, d.bpe)
                        .ok_or(MillionaireError::Internal("selector stream"))?;
                }
                let v = tables
                    .bits(inst * sh.table_bits + d.table_off + off, d.bpe)
                    .ok_or(MillionaireError::Internal("table bits"))?
                    ^ mask;
                let mut b = 0;
                for s in 0..sh.slots {
                    let c = (v >> b) & 1 == 1;
                    b += 1;
                    let e = if d.eq {
                        b += 1;
                        (v >> (b - 1)) & 1 == 1
                    } else {
                        false
                    };
                    if let Some(slot) = nodes.get_mut((inst * sh.slots + s) * q + j) {
                        *slot = (c, e);
                    }
                }
            }
        }
        self.nodes = nodes;
        Ok(())
    }

    /// Computes, stores and returns this party's openings for the levels of `f`.
    fn open_levels(&mut self, f: &Flight) -> Result<BitVec, MillionaireError> {
        let mut out = BitVec::new();
        for t in f.first..=f.last {
            self.try_resolve()?;
            if self.level + 1 != t {
                return Err(MillionaireError::Internal("opening out of order"));
            }
            let ops = self
                .shape
                .levels
                .get(t - 1)
                .ok_or(MillionaireError::Internal("level"))?;
            let width = self.shape.widths.get(t - 1).copied().unwrap_or(0);
            let mut bits = BitVec::new();
            for unit in 0..self.n * self.shape.slots {
                for op in ops {
                    if let Op::Pair { hi, lo, eq, triple } = *op {
                        let tr = self
                            .triples
                            .get(unit * self.shape.pairs + triple)
                            .ok_or(MillionaireError::Internal("triple"))?;
                        let h = self.node(unit * width + hi)?;
                        let l = self.node(unit * width + lo)?;
                        bits.push(h.1 ^ tr.a);
                        bits.push(l.0 ^ tr.b[0]);
                        if eq {
                            bits.push(l.1 ^ tr.b[1]);
                        }
                    }
                }
            }
            out.append(&bits);
            if let Some(slot) = self.own.get_mut(t - 1) {
                *slot = Some(bits);
            }
            self.try_resolve()?;
        }
        Ok(out)
    }

    fn node(&self, i: usize) -> Result<(bool, bool), MillionaireError> {
        self.nodes
            .get(i)
            .copied()
            .ok_or(MillionaireError::Internal("node index"))
    }

    /// Resolves every level whose openings from both parties are known.
    fn try_resolve(&mut self) -> Result<(), MillionaireError> {
        while self.level < self.shape.depth() {
            let t = self.level + 1;
            let (Some(Some(own)), Some(Some(peer))) = (self.own.get(t - 1), self.peer.get(t - 1))
            else {
                break;
            };
            let ops = self
                .shape
                .levels
                .get(t - 1)
                .ok_or(MillionaireError::Internal("level"))?;
            let width = self.shape.widths.get(t - 1).copied().unwrap_or(0);
            let is_a = self.party == Party::A;
            let (mut ro, mut rp) = (own.reader(), peer.reader());
            let mut next = Vec::with_capacity(self.n * self.shape.slots * ops.len());
            let short = MillionaireError::Internal("openings exhausted");
            for unit in 0..self.n * self.shape.slots {
                for op in ops {
                    match *op {
                        Op::Pass { from } => next.push(self.node(unit * width + from)?),
                        Op::Pair { hi, eq, triple, .. } => {
                            let tr = self
                                .triples
                                .get(unit * self.shape.pairs + triple)
                                .ok_or(MillionaireError::Internal("triple"))?;
                            let mut open = || -> Result<bool, MillionaireError> {
                                match (ro.bit(), rp.bit()) {
                                    (Some(a), Some(b)) => Ok(a ^ b),
                                    _ => Err(short.clone()),
                                }
                            };
                            let dd = open()?;
                            let f0 = open()?;
                            let z0 = tr.c[0] ^ (dd & tr.b[0]) ^ (f0 & tr.a) ^ (is_a & dd & f0);
                            let e = if eq {
                                let f1 = open()?;
                                tr.c[1] ^ (dd & tr.b[1]) ^ (f1 & tr.a) ^ (is_a & dd & f1)
                            } else {
                                false
                            };
                            let h = self.node(unit * width + hi)?;
                            next.push((h.0 ^ z0, e));
                        }
                    }
                }
            }
            self.nodes = next;
            self.level = t;
            // Openings of resolved levels are no longer needed.
            if let Some(x) = self.own.get_mut(t - 1) {
                *x = Some(BitVec::new());
            }
            if let Some(x) = self.peer.get_mut(t - 1) {
                *x = Some(BitVec::new());
            }
        }
        Ok(())
    }

    fn maybe_finish(&mut self) -> Result<(), MillionaireError> {
        if self.next < self.shape.schedule.len() {
            return Ok(());
        }
        if self.level != self.shape.depth() || self.nodes.len() != self.n * self.shape.slots {
            return Err(MillionaireError::Internal("tree not resolved at the end"));
        }
        let neg = self.shape.negate && self.party == Party::A;
        self.output = self.nodes.iter().map(|&(c, _)| c ^ neg).collect();
        self.nodes = Vec::new();
        // Release the consumed correlations (they must never be reused).
        self.rots = Rots::default();
        self.triples = Vec::new();
        self.phase = Phase::Done;
        Ok(())
    }

    fn receive_inner<R: CryptoRng + ?Sized>(
        &mut self,
        msg: CmpMsg,
        rng: &mut R,
    ) -> Result<Option<CmpMsg>, MillionaireError> {
        let f = self.flight()?;
        if f.from == self.party {
            return Err(MillionaireError::Unexpected {
                expected: "to send, not receive",
                got: msg.name(),
            });
        }
        let len = msg.encoded_len();
        let open = match (msg, f.choices, f.tables) {
            (CmpMsg::Choices(bits), true, _) => {
                let expected = self.n * self.shape.leaf_ots();
                if bits.len() != expected {
                    return Err(MillionaireError::Count {
                        what: "choices",
                        expected,
                        got: bits.len(),
                    });
                }
                self.choices = bits;
                BitVec::new()
            }
            (CmpMsg::Tables { tables, open }, false, true) => {
                let expected = self.n * self.shape.table_bits;
                if tables.len() != expected {
                    return Err(MillionaireError::Count {
                        what: "tables",
                        expected,
                        got: tables.len(),
                    });
                }
                self.check_open(&f, &open)?;
                self.open_tables(&tables)?;
                open
            }
            (CmpMsg::Open(open), false, false) => {
                self.check_open(&f, &open)?;
                open
            }
            (m, choices, tables) => {
                return Err(MillionaireError::Unexpected {
                    expected: if choices {
                        "choices"
                    } else if tables {
                        "tables"
                    } else {
                        "openings"
                    },
                    got: m.name(),
                });
            }
        };
        // Split the openings by level.
        let mut off = 0;
        for t in f.first..=f.last {
            let b =
                self.n * self.shape.slots * self.shape.open_bits.get(t - 1).copied().unwrap_or(0);
            let part = open
                .slice(off, b)
                .ok_or(MillionaireError::Internal("openings split"))?;
            off += b;
            if let Some(slot) = self.peer.get_mut(t - 1) {
                *slot = Some(part);
            }
        }
        self.traffic.received(len);
        self.next += 1;
        self.try_resolve()?;
        self.maybe_finish()?;
        if self.phase == Phase::Running {
            Ok(Some(self.produce(rng)?))
        } else {
            Ok(None)
        }
    }

    fn check_open(&self, f: &Flight, open: &BitVec) -> Result<(), MillionaireError> {
        let expected = self.n * self.shape.slots * self.shape.flight_open_bits(f);
        if open.len() != expected {
            return Err(MillionaireError::Count {
                what: "openings",
                expected,
                got: open.len(),
            });
        }
        Ok(())
    }
}

/// Bits `off..off+n` of the key stream of `key` of length `len`, without
/// materialising short streams.
fn stream_bits(key: Block, len: usize, off: usize, n: usize) -> Option<u64> {
    if off + n > len || n > 64 {
        return None;
    }
    if len <= 128 {
        let v = (key >> off) as u64;
        return Some(if n == 64 { v } else { v & ((1u64 << n) - 1) });
    }
    key_stream(key, len).bits(off, n)
}

/// Random bits drawn 64 at a time.
#[derive(Default)]
struct RandomBits {
    word: u64,
    left: u32,
}

impl RandomBits {
    fn bit<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> bool {
        if self.left == 0 {
            self.word = rng.next_u64();
            self.left = 64;
        }
        let b = self.word & 1 == 1;
        self.word >>= 1;
        self.left -= 1;
        b
    }
}

impl PingPong for Millionaire {
    type Msg = CmpMsg;
    type Output = Vec<bool>;
    type Error = MillionaireError;

    fn party(&self) -> Party {
        self.party
    }

    fn start<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
    ) -> Result<Option<CmpMsg>, MillionaireError> {
        match self.phase {
            Phase::Running => {}
            Phase::Failed => return Err(MillionaireError::Poisoned),
            Phase::Done => return Ok(None),
        }
        if self.next != 0 || self.party != Party::A {
            return Ok(None);
        }
        let r = self.produce(rng);
        if r.is_err() {
            self.phase = Phase::Failed;
        }
        r.map(Some)
    }

    fn receive<R: CryptoRng + ?Sized>(
        &mut self,
        msg: CmpMsg,
        rng: &mut R,
    ) -> Result<Option<CmpMsg>, MillionaireError> {
        match self.phase {
            Phase::Running => {}
            Phase::Failed => return Err(MillionaireError::Poisoned),
            Phase::Done => {
                return Err(MillionaireError::Unexpected {
                    expected: "no further message",
                    got: msg.name(),
                });
            }
        }
        let r = self.receive_inner(msg, rng);
        if r.is_err() {
            self.phase = Phase::Failed;
        }
        r
    }

    fn abort(&mut self) {
        self.phase = Phase::Failed;
    }

    fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    fn traffic(&self) -> Traffic {
        self.traffic
    }

    fn finish(self) -> Result<Finished<Vec<bool>>, MillionaireError> {
        match self.phase {
            Phase::Done => Ok(Finished {
                output: self.output,
                traffic: self.traffic,
            }),
            Phase::Failed => Err(MillionaireError::Poisoned),
            Phase::Running => Err(MillionaireError::NotDone),
        }
    }
}
