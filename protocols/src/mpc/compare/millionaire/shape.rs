//! The public shape of a millionaires instance: digits, leaf-table layout,
//! the combination tree, and the message schedule. Both parties derive the
//! same shape from the same [`MillionaireParams`].

use super::{MillionaireError, MillionaireParams};
use crate::mpc::compare::bits::BitVec;
use crate::mpc::compare::codec::COUNT_BYTES;
use crate::mpc::compare::{Cost, MAX_SECTION_BITS, Relation, RotDemand};
use crate::mpc::corr::Party;

/// Largest digit width.
pub const MAX_DIGIT_BITS: u32 = 8;
/// Largest number of comparisons sharing one x.
pub const MAX_SLOTS: usize = 32;

/// One digit (leaf) of the comparison.
#[derive(Clone, Debug)]
pub(crate) struct Digit {
    /// Position of the digit's lowest bit in x.
    pub(crate) shift: u32,
    /// Bits in this digit.
    pub(crate) width: u32,
    /// Whether the tree needs this leaf's equality bit.
    pub(crate) eq: bool,
    /// Bits per table entry: per slot, the comparison bit and (if `eq`) the equality bit.
    pub(crate) bpe: usize,
    /// Bits of one half of the table (`2^width` entries).
    pub(crate) half_bits: usize,
    /// Bits of the whole table (two halves with a selector).
    pub(crate) table_bits: usize,
    /// Offset of this table inside one instance's tables.
    pub(crate) table_off: usize,
    /// Offset of this digit's region in the selector key stream.
    pub(crate) sel_off: usize,
    /// For key bit i: the table positions whose entry index has bit i set.
    pub(crate) key_masks: Vec<BitVec>,
    /// The same masks as words, when the table fits in 128 bits (fast path).
    pub(crate) key_masks128: Option<Vec<u128>>,
}

/// One node of a tree level: combine two nodes of the level below, or pass one up.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    /// `cmp = cmp_hi ⊕ (eq_hi ∧ cmp_lo)`, and `eq = eq_hi ∧ eq_lo` if `eq`.
    Pair {
        hi: usize,
        lo: usize,
        eq: bool,
        triple: usize,
    },
    /// The node `from` unchanged.
    Pass { from: usize },
}

/// One message of the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flight {
    pub(crate) from: Party,
    /// A's derandomised choice bits.
    pub(crate) choices: bool,
    /// B's leaf tables.
    pub(crate) tables: bool,
    /// Tree levels whose openings the message carries: `first..=last`
    /// (empty when `first > last`).
    pub(crate) first: usize,
    pub(crate) last: usize,
}

/// Derived, public layout of an instance.
#[derive(Clone, Debug)]
pub(crate) struct Shape {
    pub(crate) bits: u32,
    pub(crate) slots: usize,
    pub(crate) selector: bool,
    /// `true`: leaves compare `x > y`; `false`: `x < y`.
    pub(crate) greater: bool,
    /// A negates its output share (`≤` = ¬`>`, `≥` = ¬`<`).
    pub(crate) negate: bool,
    pub(crate) digits: Vec<Digit>,
    /// Bits of the selector key stream per instance.
    pub(crate) sel_bits: usize,
    /// Table bits per instance.
    pub(crate) table_bits: usize,
    /// `levels[t-1]` builds level t from level t−1.
    pub(crate) levels: Vec<Vec<Op>>,
    /// Nodes per level (`widths[0]` = number of digits).
    pub(crate) widths: Vec<usize>,
    /// Pair nodes in the tree (= digits − 1).
    pub(crate) pairs: usize,
    /// `open_bits[t-1]`: opening bits per (instance, slot) for level t.
    pub(crate) open_bits: Vec<usize>,
    pub(crate) schedule: Vec<Flight>,
}

impl Shape {
    pub(crate) fn new(p: &MillionaireParams) -> Result<Shape, MillionaireError> {
        if !(1..=64).contains(&p.bits) {
            return Err(MillionaireError::Params("bits must be in 1..=64"));
        }
        if !(1..=MAX_DIGIT_BITS).contains(&p.digit_bits) {
            return Err(MillionaireError::Params("digit_bits must be in 1..=8"));
        }
        if !(1..=MAX_SLOTS).contains(&p.slots) {
            return Err(MillionaireError::Params("slots must be in 1..=32"));
        }
        let q = p.bits.div_ceil(p.digit_bits) as usize;
        let (levels, widths, leaf_eq, pairs) = plan(q);
        let halves = if p.selector { 2 } else { 1 };
        let mut digits = Vec::with_capacity(q);
        let (mut table_off, mut sel_off) = (0, 0);
        for (j, &eq) in leaf_eq.iter().enumerate() {
            let shift = j as u32 * p.digit_bits;
            let width = p.digit_bits.min(p.bits - shift);
            let bpe = p.slots * (1 + usize::from(eq));
            let half_bits = (1usize << width) * bpe;
            let table_bits = halves * half_bits;
            let key_masks: Vec<BitVec> = (0..width)
                .map(|i| {
                    (0..table_bits)
                        .map(|pos| ((pos / bpe) >> i) & 1 == 1)
                        .collect()
                })
                .collect();
            let key_masks128 = (table_bits <= 128).then(|| {
                key_masks
                    .iter()
                    .map(|m: &BitVec| {
                        let w = m.words();
                        u128::from(w.first().copied().unwrap_or(0))
                            | (u128::from(w.get(1).copied().unwrap_or(0)) << 64)
                    })
                    .collect()
            });
            digits.push(Digit {
                shift,
                width,
                eq,
                bpe,
                half_bits,
                table_bits,
                table_off,
                sel_off,
                key_masks,
                key_masks128,
            });
            table_off += table_bits;
            sel_off += half_bits;
        }
        let open_bits = levels
            .iter()
            .map(|ops| {
                ops.iter()
                    .map(|op| match op {
                        Op::Pair { eq, .. } => 2 + usize::from(*eq),
                        Op::Pass { .. } => 0,
                    })
                    .sum::<usize>()
            })
            .collect();
        let (greater, negate) = match p.relation {
            Relation::Lt => (false, false),
            Relation::Ge => (false, true),
            Relation::Gt => (true, false),
            Relation::Le => (true, true),
        };
        Ok(Shape {
            bits: p.bits,
            slots: p.slots,
            selector: p.selector,
            greater,
            negate,
            digits,
            sel_bits: if p.selector { sel_off } else { 0 },
            table_bits: table_off,
            schedule: schedule(levels.len()),
            levels,
            widths,
            pairs,
            open_bits,
        })
    }

    /// Number of tree levels.
    pub(crate) fn depth(&self) -> usize {
        self.levels.len()
    }

    /// Leaf OTs per instance (x's bits, plus the selector).
    pub(crate) fn leaf_ots(&self) -> usize {
        self.bits as usize + usize::from(self.selector)
    }

    /// Halves of each table (2 with a selector).
    pub(crate) fn halves(&self) -> usize {
        if self.selector { 2 } else { 1 }
    }

    pub(crate) fn rot_demand(&self, n: usize) -> RotDemand {
        let tree = n * self.slots * self.pairs;
        RotDemand {
            a_receives: n * self.leaf_ots() + tree,
            b_receives: tree,
        }
    }

    /// Opening bits per (instance, slot) carried by a flight.
    pub(crate) fn flight_open_bits(&self, f: &Flight) -> usize {
        (f.first..=f.last)
            .filter_map(|t| self.open_bits.get(t.wrapping_sub(1)))
            .sum()
    }

    /// Errors if any message section of an `n`-instance batch would exceed
    /// [`MAX_SECTION_BITS`].
    pub(crate) fn check_batch(&self, n: usize) -> Result<(), MillionaireError> {
        let per = self
            .table_bits
            .max(self.leaf_ots())
            .max(self.slots * self.open_bits.iter().sum::<usize>());
        match n.checked_mul(per) {
            Some(b) if b <= MAX_SECTION_BITS => Ok(()),
            _ => Err(MillionaireError::TooLarge { n }),
        }
    }

    pub(crate) fn cost(&self, n: usize) -> Cost {
        let mut c = Cost {
            rots: self.rot_demand(n),
            ..Cost::default()
        };
        let sec = |bits: usize| COUNT_BYTES + bits.div_ceil(8);
        for f in &self.schedule {
            let open = sec(n * self.slots * self.flight_open_bits(f));
            let bytes = if f.choices {
                1 + sec(n * self.leaf_ots())
            } else if f.tables {
                1 + sec(n * self.table_bits) + open
            } else {
                1 + open
            };
            c.add_message(f.from, bytes);
        }
        c
    }
}

/// The combination tree over `q` leaves (leaf j = digit j, least significant
/// first): at each level, nodes (2t+1, 2t) combine as (hi, lo) and an odd top
/// node passes up. Returns the levels, the widths, which leaves need their
/// equality bit, and the number of pair nodes.
#[allow(clippy::type_complexity)]
fn plan(q: usize) -> (Vec<Vec<Op>>, Vec<usize>, Vec<bool>, usize) {
    let mut levels: Vec<Vec<Op>> = Vec::new();
    let mut widths = vec![q];
    let mut cur = q;
    let mut triple = 0;
    while cur > 1 {
        let mut ops = Vec::with_capacity(cur.div_ceil(2));
        for t in 0..cur / 2 {
            ops.push(Op::Pair {
                hi: 2 * t + 1,
                lo: 2 * t,
                eq: false,
                triple,
            });
            triple += 1;
        }
        if cur % 2 == 1 {
            ops.push(Op::Pass { from: cur - 1 });
        }
        cur = ops.len();
        widths.push(cur);
        levels.push(ops);
    }
    // Which nodes need an equality bit, from the root (which does not) down:
    // a hi child always does (it gates the lo child's comparison bit); a lo
    // child or a passed node does iff its parent does.
    let mut need = vec![false; cur];
    for ops in levels.iter_mut().rev() {
        let below = ops
            .iter()
            .map(|op| match op {
                Op::Pair { hi, .. } => *hi + 1,
                Op::Pass { from } => *from + 1,
            })
            .max()
            .unwrap_or(0);
        let mut need_below = vec![false; below];
        for (k, op) in ops.iter_mut().enumerate() {
            let n = need.get(k).copied().unwrap_or(false);
            match op {
                Op::Pair { hi, lo, eq, .. } => {
                    *eq = n;
                    if let Some(x) = need_below.get_mut(*hi) {
                        *x = true;
                    }
                    if let Some(x) = need_below.get_mut(*lo) {
                        *x = n;
                    }
                }
                Op::Pass { from } => {
                    if let Some(x) = need_below.get_mut(*from) {
                        *x = n;
                    }
                }
            }
        }
        need = need_below;
    }
    (levels, widths, need, triple)
}

/// Who sends which openings when. A party may open level t once level t−1 is
/// resolved (both openings known), so on its turn it sends every level it can:
/// B sends level 1 with the tables, then each message carries up to two levels.
fn schedule(depth: usize) -> Vec<Flight> {
    let mut out = vec![Flight {
        from: Party::A,
        choices: true,
        tables: false,
        first: 1,
        last: 0,
    }];
    let mut sent = [0usize; 2]; // levels opened by A, B
    let mut me = Party::B;
    let idx = |p: Party| match p {
        Party::A => 0,
        Party::B => 1,
    };
    loop {
        let (i, o) = (idx(me), idx(me.other()));
        let first = sent[i] + 1;
        while sent[i] < depth && sent[o] >= sent[i] {
            sent[i] += 1;
        }
        out.push(Flight {
            from: me,
            choices: false,
            tables: out.len() == 1,
            first,
            last: sent[i],
        });
        if sent[0] == depth && sent[1] == depth {
            break;
        }
        me = me.other();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_shapes() {
        for q in 1..=40 {
            let (levels, widths, leaf_eq, pairs) = plan(q);
            assert_eq!(pairs, q - 1);
            assert_eq!(*widths.last().unwrap_or(&0), 1);
            assert_eq!(levels.len(), (q as f64).log2().ceil() as usize);
            // The least significant leaf never needs its equality bit; the top one does (q > 1).
            assert!(!leaf_eq[0]);
            if q > 1 {
                assert!(leaf_eq[q - 1]);
            }
        }
        let (_, _, leaf_eq, _) = plan(10);
        assert_eq!(leaf_eq.iter().filter(|&&e| e).count(), 9);
    }

    #[test]
    fn schedule_shapes() {
        for depth in 0..8 {
            let s = schedule(depth);
            assert_eq!(s.len(), depth + 2, "depth {depth}");
            // Strict alternation, A first.
            for (k, f) in s.iter().enumerate() {
                assert_eq!(f.from, if k % 2 == 0 { Party::A } else { Party::B });
            }
            // Every level opened exactly once by each party.
            for p in [Party::A, Party::B] {
                let levels: Vec<usize> = s
                    .iter()
                    .filter(|f| f.from == p)
                    .flat_map(|f| f.first..=f.last)
                    .collect();
                assert_eq!(levels, (1..=depth).collect::<Vec<_>>());
            }
        }
    }
}
