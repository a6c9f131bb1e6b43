//! Server A's session state machine (sans-io): the roster, the start rule,
//! the deadlines, the engine self-test and every frame A receives.
//!
//! The shell (the `server-a` crate, run as `tandem server-a`) owns sockets,
//! the model and the clock;
//! [`Leader`] owns everything else, in the style of `quinn-proto`:
//!
//! - frames in, undecoded: [`Leader::handle_worker_frame`] and
//!   [`Leader::handle_b_frame`] decode them (with the session's
//!   [`Limits`]) and answer an undecodable worker frame with a `Reject`;
//! - connection events in: [`Leader::b_connected`] (A sends `Hello`),
//!   [`Leader::b_closed`], [`Leader::worker_closed`];
//! - time in: every handler takes `now`; [`Leader::poll_timeout`] says when
//!   the shell must call [`Leader::handle_timeout`] next, and the shell does
//!   nothing but sleep until then;
//! - actions out, in order ([`LeaderAction`]): messages, a request to start
//!   a round ([`LeaderAction::StartRound`], which the shell answers with
//!   [`Leader::start_round`] once it has the model and the reference update),
//!   finished rounds, the self-test's result, the end of training, or a fatal
//!   error.
//!
//! **Roster.** A worker is in the roster from its valid `Hello` until its
//! connection closes ([`Leader::worker_closed`]); a round is announced to the
//! roster as it is when the round starts, and only those workers may submit.
//!
//! **Start rule.** A round starts when no round is open, B is ready (secure
//! rules; after the self-test, if one was asked for) and at least
//! [`LeaderConfig::min_workers`] workers are in the roster — or, once
//! [`LeaderConfig::start_timeout`] has passed since the leader was made, at
//! least one. With nobody in the roster after the start timeout, the session
//! fails (`NoWorkers`, or `WorkersLeft` if everyone who joined has left). After [`LeaderConfig::rounds`] rounds A sends `Finished` to the
//! roster and stops. Round ids continue after the last round B revealed
//! (B's `Ready`), so a restarted A never reuses an id.
//!
//! **Closing.** A round closes as soon as every worker it was announced to
//! has an outcome: accepted or rejected (secure rules: its verdict is
//! known), or sat out — a worker that skips the round says so with
//! `WorkerToA::SitOut` (acknowledged; one message per worker and round, the
//! first stands), and is reported in [`RoundOutcome::sat_out`], not as
//! rejected. With every worker accounted for, no deadline is waited for.
//!
//! **Deadlines.** A round that is still open [`LeaderConfig::round_timeout`]
//! after it started is closed with the submissions that are complete
//! (workers that did not finish are rejected); B then gets one more
//! `round_timeout` to answer the close, after which the round ends without
//! an update.
//!
//! **Self-test.** With [`LeaderConfig::selftest_ops`], once B is ready the
//! session's 2PC engine first runs K DReLUs and K multiplications on random
//! shared inputs and opens them ([`crate::mpc::engine`]); the result is
//! reported as [`LeaderAction::SelfTest`] and the rounds follow on the same
//! engine. A wrong result, an engine failure or no result within
//! [`SELFTEST_TIMEOUT`] is fatal.
//!
//! The rules' round logic lives in [`super::plain::PlainLeader`] (plain
//! rules) and [`super::robust_a::RobustLeader`] (secure rules).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use mpc_core::codec::{Limits, Message};
use mpc_core::prg::Seed;
use mpc_core::wire::{AToB, AToWorker, BToA, SessionInfo, WorkerToA};
use tracing::{info, warn};

use super::plain::PlainLeader;
use super::rejection::Rejection;
use super::robust_a::RobustLeader;
use crate::mpc::corr::Party;
use crate::mpc::engine::{EngineOutput, EngineStats, SelfTestReport};
use crate::robust::pipeline::session_engine_seed;

/// How long the engine self-test may take before the session fails.
pub const SELFTEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What the leader asks its shell to do, in order.
#[derive(Debug)]
pub enum LeaderAction {
    /// Send to one worker.
    ToWorker {
        /// Worker id.
        worker: u32,
        /// Message.
        msg: AToWorker,
    },
    /// Send one message to each of these workers (encode it once).
    Broadcast {
        /// Recipients.
        to: Vec<u32>,
        /// Message.
        msg: AToWorker,
    },
    /// Send to server B.
    ToB(AToB),
    /// Start round `round` now: call [`Leader::start_round`] with the
    /// current model (and, for trust-based rules, A's reference update)
    /// before handling anything else.
    StartRound {
        /// Round id.
        round: u64,
    },
    /// The round is over.
    Complete(RoundOutcome),
    /// The engine self-test finished (and opened correct results).
    SelfTest(Box<SelfTestSummary>),
    /// Every round is done and the workers were told: the session is over.
    Finished,
    /// The session cannot go on.
    Fail(LeaderError),
}

/// The result of a round.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundOutcome {
    /// Round id.
    pub round: u64,
    /// The update to add to the model, if the round produced one (FedAvg: the
    /// mean; FLTrust: ‖ĝ₀‖ · Σ TSᵢ·uᵢ / Σ TSᵢ).
    pub mean_update: Option<Vec<f32>>,
    /// Workers whose submission passed the validity checks (for trust-based
    /// rules this includes the ones in `zero_trust`). Empty when the round
    /// failed (e.g. B did not answer); kept when a trust-based round had too
    /// few positive-trust workers to update.
    pub accepted: Vec<u32>,
    /// Trust-based rules: accepted workers whose trust weight was 0 (their
    /// update is not in the aggregate).
    pub zero_trust: Vec<u32>,
    /// Workers refused, with reasons.
    pub rejected: BTreeMap<u32, Rejection>,
    /// Workers that said they sit the round out (`WorkerToA::SitOut`),
    /// ascending: neither accepted nor rejected, and the round did not wait
    /// for them. Kept when the round failed.
    pub sat_out: Vec<u32>,
    /// Why no update was produced, if none was.
    pub note: Option<String>,
    /// Bytes A received from workers in this round.
    pub bytes_from_workers_a: u64,
    /// Bytes B received from workers in this round (as B reports it).
    pub bytes_from_workers_b: u64,
    /// Number of accepted workers with trust 0 (trust-based rules). Secure
    /// rules learn only this count (never which workers: `zero_trust` stays
    /// empty there).
    pub zero_trust_count: usize,
}

/// The engine self-test's result (`server-a --engine-selftest`).
#[derive(Clone, Copy, Debug)]
pub struct SelfTestSummary {
    /// What was computed and how many results were wrong.
    pub report: SelfTestReport,
    /// The engine's counters at the end of the self-test.
    pub stats: EngineStats,
    /// Time from the start until A held its outputs (before the opening).
    pub computed: Duration,
    /// Time from the start until the opened results were checked.
    pub checked: Duration,
}

/// Why the session stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum LeaderError {
    /// No worker joined before the start timeout.
    NoWorkers {
        /// The start timeout.
        waited: Duration,
    },
    /// Every worker that had joined has left (their connections closed)
    /// and the session still has rounds to run.
    WorkersLeft {
        /// Rounds completed before they left.
        rounds_done: u64,
    },
    /// The connection to server B ended.
    LostB {
        /// The transport's reason, if any.
        reason: Option<String>,
    },
    /// The engine self-test could not start (a plain rule, or a round ran first).
    SelfTestRefused(String),
    /// The engine self-test did not finish within [`SELFTEST_TIMEOUT`].
    SelfTestTimeout,
    /// The engine self-test opened wrong results.
    SelfTestWrong(SelfTestReport),
    /// The 2PC engine failed.
    Engine(String),
}

impl fmt::Display for LeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaderError::NoWorkers { waited } => {
                write!(f, "no worker joined within {} s", waited.as_secs_f64())
            }
            LeaderError::WorkersLeft { rounds_done } => write!(
                f,
                "every worker has left (after {rounds_done} completed rounds)"
            ),
            LeaderError::LostB { reason: None } => write!(f, "lost the connection to server B"),
            LeaderError::LostB { reason: Some(r) } => {
                write!(f, "lost the connection to server B: {r}")
            }
            LeaderError::SelfTestRefused(why) => write!(f, "engine self-test: {why}"),
            LeaderError::SelfTestTimeout => write!(
                f,
                "the engine self-test did not finish within {} s",
                SELFTEST_TIMEOUT.as_secs()
            ),
            LeaderError::SelfTestWrong(r) => {
                write!(f, "the engine self-test opened wrong results: {r:?}")
            }
            // Debug formatting escapes control characters in a peer's abort reason.
            LeaderError::Engine(e) => write!(f, "the 2PC engine failed: {e:?}"),
        }
    }
}

impl std::error::Error for LeaderError {}

/// How the leader runs the session.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    /// The session announced to B and to every worker.
    pub session: SessionInfo,
    /// Decoding limits for frames from workers and B.
    pub limits: Limits,
    /// Rounds to run.
    pub rounds: u64,
    /// Start the first round once this many workers are in the roster.
    pub min_workers: usize,
    /// After this long, start with whoever is in the roster (at least one).
    pub start_timeout: Duration,
    /// How long a round may stay open (and then how long B has to answer the close).
    pub round_timeout: Duration,
    /// Run the engine self-test with this many operations before the rounds.
    pub selftest_ops: Option<usize>,
    /// A's secret root seed: the session's 2PC engine is seeded from it
    /// ([`crate::robust::pipeline::session_engine_seed`]). Fresh from the
    /// OS CSPRNG in server A; fixed in tests, which makes a run replayable.
    pub seed: Seed,
}

/// The rule's round logic.
#[derive(Debug)]
enum Rounds {
    Plain(Box<PlainLeader>),
    Robust(Box<RobustLeader>),
}

/// Where server B is (secure rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PeerB {
    /// Not connected yet.
    Absent,
    /// A sent `Hello`; B has not answered.
    Greeted,
    /// B answered `Ready`: it revealed every round up to `last_revealed`.
    Ready { last_revealed: u64 },
}

/// Progress of the engine self-test.
#[derive(Clone, Copy, Debug)]
enum SelfTest {
    Off,
    /// Starts once B is ready.
    Pending(usize),
    Running {
        started: Instant,
        computed: Option<Duration>,
    },
    Done,
}

/// Server A's state.
#[derive(Debug)]
pub struct Leader {
    cfg: LeaderConfig,
    rounds: Rounds,
    roster: BTreeSet<u32>,
    /// Some worker was in the roster at some point.
    joined_any: bool,
    b: PeerB,
    /// Until when the start rule waits for `min_workers` (cleared when passed).
    start_by: Option<Instant>,
    /// The round the shell was asked to start and has not started yet.
    requested: Option<u64>,
    /// The id the next round gets (known once B is ready, or at once for plain rules).
    next_round: Option<u64>,
    rounds_done: u64,
    /// When the open round (or B's answer to its close) times out.
    deadline: Option<Instant>,
    selftest: SelfTest,
    selftest_deadline: Option<Instant>,
    /// Finished or failed: nothing more happens.
    over: bool,
}

impl Leader {
    /// A leader for `cfg`, made at `now` (the start timeout counts from here).
    pub fn new(cfg: LeaderConfig, now: Instant) -> Leader {
        let session = cfg.session.clone();
        let rounds = if session.aggregation.is_secure() {
            let engine_seed = session_engine_seed(&cfg.seed, Party::A, 0);
            Rounds::Robust(Box::new(RobustLeader::new(session, &engine_seed)))
        } else {
            Rounds::Plain(Box::new(PlainLeader::new(session)))
        };
        let secure = cfg.session.aggregation.is_secure();
        Leader {
            start_by: now.checked_add(cfg.start_timeout),
            selftest: cfg.selftest_ops.map_or(SelfTest::Off, SelfTest::Pending),
            cfg,
            rounds,
            roster: BTreeSet::new(),
            joined_any: false,
            b: PeerB::Absent,
            requested: None,
            next_round: (!secure).then_some(1),
            rounds_done: 0,
            deadline: None,
            selftest_deadline: None,
            over: false,
        }
    }

    /// The session.
    pub fn session(&self) -> &SessionInfo {
        &self.cfg.session
    }

    /// The workers in the roster.
    pub fn roster(&self) -> &BTreeSet<u32> {
        &self.roster
    }

    /// The open round, if any.
    pub fn open_round(&self) -> Option<u64> {
        match &self.rounds {
            Rounds::Plain(p) => p.open_round(),
            Rounds::Robust(r) => r.open_round(),
        }
    }

    /// Rounds completed so far.
    pub fn rounds_done(&self) -> u64 {
        self.rounds_done
    }

    /// Secure rules: the 2PC engine's counters; Err: why there is none.
    pub fn engine_stats(&self) -> Result<EngineStats, String> {
        match &self.rounds {
            Rounds::Robust(r) => r.engine_stats(),
            Rounds::Plain(_) => Err("plain rules have no 2PC engine".into()),
        }
    }

    /// When the shell must call [`Leader::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.over {
            return None;
        }
        [self.deadline, self.selftest_deadline, self.start_by]
            .into_iter()
            .flatten()
            .min()
    }

    /// Time passed: fires the deadlines that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        if self.over {
            return out;
        }
        if self.start_by.is_some_and(|t| now >= t) {
            self.start_by = None;
        }
        if self.selftest_deadline.is_some_and(|t| now >= t) {
            self.selftest_deadline = None;
            return self.fail(LeaderError::SelfTestTimeout);
        }
        if let (Some(round), Some(t)) = (self.open_round(), self.deadline)
            && now >= t
        {
            // B gets a second deadline to answer the close.
            self.deadline = now.checked_add(self.cfg.round_timeout);
            let acts = match &mut self.rounds {
                Rounds::Plain(p) => p.on_deadline(round),
                Rounds::Robust(r) => r.on_deadline(round),
            };
            out.extend(acts);
        }
        self.settle(now, out)
    }

    /// The connection to B is up: A greets it with the session.
    pub fn b_connected(&mut self) -> Vec<LeaderAction> {
        self.b = PeerB::Greeted;
        vec![LeaderAction::ToB(AToB::Hello {
            session: self.cfg.session.clone(),
        })]
    }

    /// The connection to B ended: a secure session cannot go on.
    pub fn b_closed(&mut self, reason: Option<String>) -> Vec<LeaderAction> {
        if self.over {
            return Vec::new();
        }
        self.fail(LeaderError::LostB { reason })
    }

    /// A worker's connection ended: it leaves the roster (an open round
    /// still waits for it until the deadline).
    pub fn worker_closed(&mut self, worker: u32) {
        self.roster.remove(&worker);
    }

    /// Per-worker work waiting for [`Leader::poll_work`]. A shell may hand
    /// over every frame that is already there before it calls `poll_work`,
    /// so that the work of several workers runs at once on the rayon pool.
    pub fn pending_work(&self) -> usize {
        if self.over {
            return 0;
        }
        match &self.rounds {
            Rounds::Robust(r) => r.pending_work(),
            Rounds::Plain(_) => 0,
        }
    }

    /// Does the per-worker work the frames handed over so far made
    /// possible (secure rules: A's local work on each worker B reported
    /// ready, then the next batch): call it after each frame or after each
    /// group of frames.
    pub fn poll_work(&mut self, now: Instant) -> Vec<LeaderAction> {
        if self.over {
            return Vec::new();
        }
        let out = match &mut self.rounds {
            Rounds::Robust(r) => r.poll_work(),
            Rounds::Plain(_) => Vec::new(),
        };
        self.settle(now, out)
    }

    /// A frame from server B.
    pub fn handle_b_frame(&mut self, now: Instant, frame: &[u8]) -> Vec<LeaderAction> {
        if self.over {
            return Vec::new();
        }
        let msg = match BToA::decode_with(frame, &self.cfg.limits) {
            Ok(msg) => msg,
            Err(e) => {
                warn!(error = %e, "undecodable message from server B: ignored");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        match (msg, &mut self.rounds) {
            (BToA::Ready { last_revealed }, _) => {
                info!(last_revealed, "server B is ready");
                self.b = PeerB::Ready { last_revealed };
                self.next_round
                    .get_or_insert(last_revealed.saturating_add(1));
                if let Rounds::Robust(r) = &mut self.rounds {
                    out.extend(r.b_ready());
                }
                if let SelfTest::Pending(ops) = self.selftest {
                    out.extend(self.start_selftest(now, ops));
                }
            }
            (msg, Rounds::Robust(r)) => out.extend(r.on_b(msg)),
            (msg, Rounds::Plain(_)) => {
                warn!(?msg, "message from B in a plain session: ignored");
            }
        }
        if !self.over {
            out.extend(self.selftest_progress(now));
        }
        self.settle(now, out)
    }

    /// A frame from the authenticated worker `from` (`wire_bytes`: its size
    /// on the wire, for accounting). An undecodable frame is answered with a
    /// `Reject` and changes nothing.
    pub fn handle_worker_frame(
        &mut self,
        now: Instant,
        from: u32,
        frame: &[u8],
        wire_bytes: usize,
    ) -> Vec<LeaderAction> {
        if self.over {
            return Vec::new();
        }
        let msg = match WorkerToA::decode_with(frame, &self.cfg.limits) {
            Ok(msg) => msg,
            Err(e) => return reject(from, 0, Rejection::Undecodable(e.to_string())),
        };
        let out = match msg {
            WorkerToA::Hello { worker } if worker == from => {
                self.roster.insert(from);
                self.joined_any = true;
                vec![LeaderAction::ToWorker {
                    worker: from,
                    msg: AToWorker::Welcome {
                        session: self.cfg.session.clone(),
                    },
                }]
            }
            WorkerToA::Hello { worker } => reject(from, 0, wrong_id(worker, from)),
            WorkerToA::Submit { round, worker, .. } if worker != from => {
                reject(from, round, wrong_id(worker, from))
            }
            WorkerToA::Submit { round, payload, .. } => match &mut self.rounds {
                Rounds::Plain(p) => p.on_submit(from, round, payload, wire_bytes),
                Rounds::Robust(r) => r.on_submit(from, round, payload, wire_bytes),
            },
            WorkerToA::SitOut { round } => match &mut self.rounds {
                Rounds::Plain(p) => p.on_sit_out(from, round, wire_bytes),
                Rounds::Robust(r) => r.on_sit_out(from, round, wire_bytes),
            },
        };
        self.settle(now, out)
    }

    /// Starts round `round` for the workers in the roster with the current
    /// `model` (normally the round of a [`LeaderAction::StartRound`]; round
    /// ids must increase).
    ///
    /// Trust-based rules need `reference`, A's update ĝ₀ on its proxy set for
    /// this `model` (it never leaves A); without one of the model's dimension
    /// the round ends at once without an update. Other rules ignore it.
    pub fn start_round(
        &mut self,
        now: Instant,
        round: u64,
        model: &[f32],
        reference: Option<Vec<f32>>,
    ) -> Vec<LeaderAction> {
        if self.over || self.open_round().is_some() {
            return Vec::new();
        }
        self.requested = None;
        if self.roster.is_empty() {
            // Everyone left between the request and now: no round for
            // nobody; the start rule waits for workers or ends the session.
            return self.start_rule(now);
        }
        self.next_round = Some(round.saturating_add(1));
        self.deadline = now.checked_add(self.cfg.round_timeout);
        info!(round, workers = self.roster.len(), "starting round");
        let expected = self.roster.clone();
        let out = match &mut self.rounds {
            Rounds::Plain(p) => p.start_round(round, model, expected, reference),
            Rounds::Robust(r) => r.start_round(round, model, expected, reference),
        };
        self.settle(now, out)
    }

    /// Starts the engine self-test on the session's engine.
    fn start_selftest(&mut self, now: Instant, ops: usize) -> Vec<LeaderAction> {
        let started = match &mut self.rounds {
            Rounds::Robust(r) => r.start_selftest(ops),
            Rounds::Plain(_) => Err("the engine self-test needs a secure rule".into()),
        };
        match started {
            Ok(acts) => {
                info!(ops, "engine self-test started");
                self.selftest = SelfTest::Running {
                    started: now,
                    computed: None,
                };
                self.selftest_deadline = now.checked_add(SELFTEST_TIMEOUT);
                acts
            }
            Err(why) => self.fail(LeaderError::SelfTestRefused(why)),
        }
    }

    /// Reports the engine self-test's progress after a message from B.
    fn selftest_progress(&mut self, now: Instant) -> Vec<LeaderAction> {
        let SelfTest::Running { started, computed } = &mut self.selftest else {
            return Vec::new();
        };
        let Rounds::Robust(r) = &mut self.rounds else {
            return Vec::new();
        };
        let stats = match r.engine_stats() {
            Ok(s) => s,
            Err(e) => return self.fail(LeaderError::Engine(e)),
        };
        let elapsed = now.saturating_duration_since(*started);
        for output in r.take_selftest() {
            match output {
                EngineOutput::SelfTestComputed { .. } => *computed = Some(elapsed),
                EngineOutput::SelfTest { report, .. } => {
                    let summary = SelfTestSummary {
                        report,
                        stats,
                        computed: computed.unwrap_or(elapsed),
                        checked: elapsed,
                    };
                    self.selftest = SelfTest::Done;
                    self.selftest_deadline = None;
                    if !report.correct() {
                        return self.fail(LeaderError::SelfTestWrong(report));
                    }
                    info!(ops = report.ops, "engine self-test done");
                    return vec![LeaderAction::SelfTest(Box::new(summary))];
                }
                _ => {}
            }
        }
        Vec::new()
    }

    /// Books finished rounds in `out`, then applies the start rule.
    fn settle(&mut self, now: Instant, mut out: Vec<LeaderAction>) -> Vec<LeaderAction> {
        for a in &out {
            if matches!(a, LeaderAction::Complete(_)) {
                self.rounds_done += 1;
                self.deadline = None;
            }
        }
        if !self.over {
            out.extend(self.start_rule(now));
        }
        out
    }

    /// Starts the next round, ends the session or waits (see the module docs).
    fn start_rule(&mut self, now: Instant) -> Vec<LeaderAction> {
        let selftest_busy = matches!(
            self.selftest,
            SelfTest::Pending(_) | SelfTest::Running { .. }
        );
        if let (SelfTest::Pending(_), Rounds::Plain(_)) = (self.selftest, &self.rounds) {
            return self.fail(LeaderError::SelfTestRefused(
                "the engine self-test needs a secure rule".into(),
            ));
        }
        if self.requested.is_some() || self.open_round().is_some() || selftest_busy {
            return Vec::new();
        }
        if self.rounds_done >= self.cfg.rounds {
            self.over = true;
            return vec![
                LeaderAction::Broadcast {
                    to: self.roster.iter().copied().collect(),
                    msg: AToWorker::Finished,
                },
                LeaderAction::Finished,
            ];
        }
        let waited = self.start_by.is_none_or(|t| now >= t);
        if waited && self.roster.is_empty() {
            return self.fail(if self.joined_any {
                LeaderError::WorkersLeft {
                    rounds_done: self.rounds_done,
                }
            } else {
                LeaderError::NoWorkers {
                    waited: self.cfg.start_timeout,
                }
            });
        }
        let b_ready =
            !self.cfg.session.aggregation.is_secure() || matches!(self.b, PeerB::Ready { .. });
        let enough = self.roster.len() >= self.cfg.min_workers || waited;
        match self.next_round {
            Some(round) if b_ready && enough => {
                let (joined, expected) = (self.roster.len(), self.cfg.min_workers);
                // Said loudly once, when the session starts short; later
                // rounds just run with whoever is there.
                if joined < expected && self.rounds_done == 0 {
                    warn!(
                        "starting round {round} with {joined} of {expected} workers after the {} s start timeout",
                        self.cfg.start_timeout.as_secs_f64()
                    );
                }
                self.requested = Some(round);
                vec![LeaderAction::StartRound { round }]
            }
            _ => Vec::new(),
        }
    }

    fn fail(&mut self, e: LeaderError) -> Vec<LeaderAction> {
        self.over = true;
        vec![LeaderAction::Fail(e)]
    }
}

fn wrong_id(claimed: u32, enrolled: u32) -> Rejection {
    Rejection::WrongId { claimed, enrolled }
}

/// Acknowledges `worker`'s submission in `round`.
pub(super) fn ack(worker: u32, round: u64) -> LeaderAction {
    LeaderAction::ToWorker {
        worker,
        msg: AToWorker::Ack { round },
    }
}

/// Refuses `worker`'s message in `round`, telling it why.
pub(super) fn reject(worker: u32, round: u64, why: Rejection) -> Vec<LeaderAction> {
    warn!(worker, round, reason = %why, "rejecting worker message");
    vec![LeaderAction::ToWorker {
        worker,
        msg: AToWorker::Reject {
            round,
            reason: why.to_string(),
        },
    }]
}
