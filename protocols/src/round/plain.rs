//! Plain rules' rounds at server A (`plain-fedavg`, `plain-fltrust`), driven
//! by [`super::leader::Leader`].
//!
//! Workers send updates in the clear; A checks the dimension, finiteness and
//! the norm bound. `plain-fedavg` averages the (clipped) updates;
//! `plain-fltrust` checks ‖u‖ = 1 (± [`NORM_SLACK`]) and weights each update
//! as it arrives by ReLU(cos) with the round's reference update ĝ₀ (A's
//! proxy-set update), via [`crate::fltrust::Accumulator`]: the model moves by
//! ‖ĝ₀‖ · Σ TSᵢ·uᵢ / Σ TSᵢ if at least `k_min` workers have positive trust.

use std::collections::{BTreeMap, BTreeSet};

use mpc_core::codec::{bytes_to_f32s, f32s_to_bytes};
use mpc_core::wire::{AToWorker, SessionInfo, SubmitA};
use tracing::{info, warn};

use super::leader::{LeaderAction, RoundOutcome, ack, reject};
use super::rejection::Rejection;
use crate::fltrust::{Accumulator, NORM_SLACK, Rule};

/// Relative slack on the clip bound for plaintext updates (float rounding).
const CLIP_SLACK: f32 = 1e-3;

/// Whether every f32 of `bytes` is finite, and their L2 norm exactly as
/// [`crate::fedavg::l2_norm`] computes it (in f64, in order), in one pass
/// without copying them out. The norm can only overflow to +inf in the f32
/// cast, which fails every norm check.
fn finite_and_norm(bytes: &[u8]) -> (bool, f32) {
    let (finite, squares) = f32s_le(bytes).fold((true, -0.0f64), |(ok, sq), x| {
        (ok && x.is_finite(), sq + f64::from(x) * f64::from(x))
    });
    (finite, squares.sqrt() as f32)
}

/// The little-endian f32s of a plain update's bytes (a trailing partial
/// value is ignored: [`PlainLeader::check_plain`] refuses it first).
fn f32s_le(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

#[derive(Debug)]
struct PlainRound {
    id: u64,
    /// The workers the round was announced to; nobody else may submit.
    expected: BTreeSet<u32>,
    /// Workers that submitted (valid or not).
    seen: BTreeSet<u32>,
    /// Workers that said they sit the round out.
    sat_out: BTreeSet<u32>,
    included: BTreeSet<u32>,
    rejected: BTreeMap<u32, Rejection>,
    plain_sum: Vec<f64>,
    /// Trust-based rules: the weighted sum against the reference update.
    trust: Option<Accumulator>,
    zero_trust: BTreeSet<u32>,
    bytes_a: u64,
}

/// Plain rules' round state at A.
#[derive(Debug)]
pub struct PlainLeader {
    session: SessionInfo,
    round: Option<PlainRound>,
}

impl PlainLeader {
    /// Plain rounds for `session`.
    pub fn new(session: SessionInfo) -> PlainLeader {
        PlainLeader {
            session,
            round: None,
        }
    }

    /// The open round, if any.
    pub fn open_round(&self) -> Option<u64> {
        self.round.as_ref().map(|r| r.id)
    }

    /// Starts round `round` for the workers in `expected` (the ones the
    /// announcement goes to) with the current `model`.
    ///
    /// Trust-based rules need `reference`, A's update ĝ₀ on its proxy set for
    /// this `model` (it never leaves A); without one of the model's dimension
    /// the round ends at once without an update. Other rules ignore it.
    pub fn start_round(
        &mut self,
        round: u64,
        model: &[f32],
        expected: BTreeSet<u32>,
        reference: Option<Vec<f32>>,
    ) -> Vec<LeaderAction> {
        let dim = self.session.dim as usize;
        let announce = f32s_to_bytes(model);
        let trust = if self.session.aggregation.is_trust_based() {
            match reference.filter(|r| r.len() == dim && r.iter().all(|x| x.is_finite())) {
                Some(r) => Some(Accumulator::new(
                    r,
                    Rule::Trust,
                    self.session.cos_threshold,
                    self.session.k_min as usize,
                )),
                None => None,
            }
        } else {
            None
        };
        let missing_reference = self.session.aggregation.is_trust_based() && trust.is_none();
        let to = expected.iter().copied().collect();
        self.round = Some(PlainRound {
            id: round,
            expected,
            seen: BTreeSet::new(),
            sat_out: BTreeSet::new(),
            included: BTreeSet::new(),
            rejected: BTreeMap::new(),
            plain_sum: if trust.is_some() {
                Vec::new()
            } else {
                vec![0.0; dim]
            },
            trust,
            zero_trust: BTreeSet::new(),
            bytes_a: 0,
        });
        if missing_reference {
            warn!(round, "no valid reference update for a trust-based rule");
            return self.finish(
                None,
                Some("no valid reference update (proxy set) for this round".into()),
            );
        }
        vec![LeaderAction::Broadcast {
            to,
            msg: AToWorker::Announce {
                round,
                model: announce,
            },
        }]
    }

    /// The round deadline passed: close with what has arrived.
    pub fn on_deadline(&mut self, round: u64) -> Vec<LeaderAction> {
        let Some(r) = self.round.as_mut().filter(|r| r.id == round) else {
            return Vec::new();
        };
        info!(
            round,
            included = r.included.len(),
            expected = r.expected.len(),
            "round deadline reached"
        );
        self.finish_plain()
    }

    /// A submission from the authenticated worker `from` (its claimed id
    /// already checked by the leader).
    pub fn on_submit(
        &mut self,
        from: u32,
        round: u64,
        payload: SubmitA,
        wire_bytes: usize,
    ) -> Vec<LeaderAction> {
        let r = match self.admit(from, round, wire_bytes) {
            Ok(r) => r,
            Err(refused) => return refused,
        };
        if !r.seen.insert(from) {
            return reject(from, round, Rejection::Duplicate);
        }
        let mut out = Vec::new();
        match payload {
            SubmitA::Plain(bytes) => match self.check_plain(&bytes) {
                Ok(()) => {
                    let Some(r) = self.round.as_mut() else {
                        return out;
                    };
                    if let Some(acc) = r.trust.as_mut() {
                        let update: Vec<f32> = f32s_le(&bytes).collect();
                        if acc.add(&update) <= 0.0 {
                            r.zero_trust.insert(from);
                        }
                    } else {
                        // Straight from the frame's bytes: no f32 copy of
                        // the update (4·d fresh bytes per worker).
                        for (s, u) in r.plain_sum.iter_mut().zip(f32s_le(&bytes)) {
                            *s += f64::from(u);
                        }
                    }
                    r.included.insert(from);
                    out.push(ack(from, round));
                }
                Err(reason) => return self.reject_in_round(from, round, reason),
            },
            SubmitA::Seed(_) => {
                let aggregation = self.session.aggregation;
                let why = Rejection::WrongPayload { aggregation };
                return self.reject_in_round(from, round, why);
            }
        }
        out.extend(self.maybe_close());
        out
    }

    /// `from` says it sits round `round` out: acknowledged if it was
    /// announced the round and has sent nothing in it yet (otherwise
    /// refused, and nothing changes); the round may close now.
    pub fn on_sit_out(&mut self, from: u32, round: u64, wire_bytes: usize) -> Vec<LeaderAction> {
        let r = match self.admit(from, round, wire_bytes) {
            Ok(r) => r,
            Err(refused) => return refused,
        };
        if r.seen.contains(&from) {
            return reject(from, round, Rejection::Duplicate);
        }
        info!(round, worker = from, "worker sits the round out");
        r.sat_out.insert(from);
        let mut out = vec![ack(from, round)];
        out.extend(self.maybe_close());
        out
    }

    /// The open round `round` if `from` may still speak in it (announced to
    /// it, not sat out), counting the frame's bytes; otherwise the refusal.
    fn admit(
        &mut self,
        from: u32,
        round: u64,
        wire_bytes: usize,
    ) -> Result<&mut PlainRound, Vec<LeaderAction>> {
        let open = self.open_round();
        let Some(r) = self.round.as_mut().filter(|r| r.id == round) else {
            return Err(reject(from, round, Rejection::NotOpen { round, open }));
        };
        if !r.expected.contains(&from) {
            let why = Rejection::NotParticipant {
                worker: from,
                round,
            };
            return Err(reject(from, round, why));
        }
        r.bytes_a += wire_bytes as u64;
        if r.sat_out.contains(&from) {
            return Err(reject(from, round, Rejection::SatOut));
        }
        Ok(r)
    }

    /// Checks a plain update in one pass over its bytes, without copying
    /// it out: well-formed little-endian f32s, all finite, the session's
    /// dimension, and the norm bound of the rule.
    fn check_plain(&self, bytes: &[u8]) -> Result<(), Rejection> {
        let (finite, norm) = finite_and_norm(bytes);
        if !finite || !bytes.len().is_multiple_of(4) {
            // The codec's own words for it (which entry, or the length).
            let why = bytes_to_f32s(bytes)
                .err()
                .map_or_else(|| "malformed update".to_string(), |e| e.to_string());
            return Err(Rejection::Malformed(why));
        }
        let len = bytes.len() / 4;
        if len != self.session.dim as usize {
            return Err(Rejection::Dimension {
                got: len,
                expected: self.session.dim,
            });
        }
        if self.session.aggregation.is_trust_based() && (norm - 1.0).abs() > NORM_SLACK {
            return Err(Rejection::NotUnitNorm {
                norm,
                slack: NORM_SLACK,
                aggregation: self.session.aggregation,
            });
        }
        if !self.session.aggregation.is_trust_based()
            && self.session.clip > 0.0
            && norm > self.session.clip * (1.0 + CLIP_SLACK)
        {
            return Err(Rejection::OverClip {
                norm,
                clip: self.session.clip,
            });
        }
        Ok(())
    }

    fn reject_in_round(&mut self, worker: u32, round: u64, why: Rejection) -> Vec<LeaderAction> {
        if let Some(r) = self.round.as_mut().filter(|r| r.id == round) {
            r.rejected.insert(worker, why.clone());
        }
        let mut out = reject(worker, round, why);
        out.extend(self.maybe_close());
        out
    }

    fn maybe_close(&mut self) -> Vec<LeaderAction> {
        let Some(r) = self.round.as_mut() else {
            return Vec::new();
        };
        // Every announced worker has exactly one outcome (the sets are disjoint
        // and only hold announced workers).
        let done = r
            .expected
            .iter()
            .all(|w| r.included.contains(w) || r.rejected.contains_key(w) || r.sat_out.contains(w));
        if !done {
            return Vec::new();
        }
        self.finish_plain()
    }

    fn finish_plain(&mut self) -> Vec<LeaderAction> {
        let Some(r) = self.round.as_mut() else {
            return Vec::new();
        };
        let n = r.included.len();
        if n == 0 {
            return self.finish(None, Some("no valid update arrived".into()));
        }
        if let Some(acc) = r.trust.take() {
            let (positive, k_min) = (acc.positive(), acc.k_min());
            return match acc.finish() {
                Some(update) => self.finish(Some(update), None),
                None => {
                    let note = format!(
                        "{positive} worker(s) with positive trust, fewer than k_min = {k_min}: no update"
                    );
                    self.finish_keep_accepted(None, Some(note), true)
                }
            };
        }
        let mean = r.plain_sum.iter().map(|&s| (s / n as f64) as f32).collect();
        self.finish(Some(mean), None)
    }

    fn finish(&mut self, mean: Option<Vec<f32>>, note: Option<String>) -> Vec<LeaderAction> {
        self.finish_keep_accepted(mean, note, false)
    }

    /// Ends the round; `keep_accepted` reports the valid submissions even
    /// without an update (a trust-based round below `k_min`).
    fn finish_keep_accepted(
        &mut self,
        mean: Option<Vec<f32>>,
        note: Option<String>,
        keep_accepted: bool,
    ) -> Vec<LeaderAction> {
        let Some(r) = self.round.take() else {
            return Vec::new();
        };
        let keep = mean.is_some() || keep_accepted;
        let outcome = RoundOutcome {
            round: r.id,
            accepted: if keep {
                r.included.into_iter().collect()
            } else {
                Vec::new()
            },
            zero_trust_count: if keep { r.zero_trust.len() } else { 0 },
            zero_trust: if keep {
                r.zero_trust.into_iter().collect()
            } else {
                Vec::new()
            },
            mean_update: mean,
            rejected: r.rejected,
            sat_out: r.sat_out.into_iter().collect(),
            note,
            bytes_from_workers_a: r.bytes_a,
            bytes_from_workers_b: 0,
        };
        vec![LeaderAction::Complete(outcome)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_one_pass_check_matches_the_decoded_vector(
            v in proptest::collection::vec(proptest::num::f32::NORMAL | proptest::num::f32::ZERO, 0..300),
        ) {
            let bytes = f32s_to_bytes(&v);
            prop_assert_eq!(f32s_le(&bytes).collect::<Vec<_>>(), v.clone());
            let (finite, norm) = finite_and_norm(&bytes);
            prop_assert!(finite);
            prop_assert_eq!(norm.to_bits(), crate::fedavg::l2_norm(&v).to_bits());
        }

        #[test]
        fn one_non_finite_value_is_seen(
            mut v in proptest::collection::vec(-10f32..10.0, 1..100),
            at in any::<prop::sample::Index>(),
            bad in prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY)],
        ) {
            let i = at.index(v.len());
            v[i] = bad;
            prop_assert!(!finite_and_norm(&f32s_to_bytes(&v)).0);
        }
    }
}
