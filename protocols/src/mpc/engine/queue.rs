//! The life of a job, whatever its kind: announced and queued at
//! submission, started in instance order as soon as its OTs are in both
//! pools (this party extending its own direction ahead of the demand),
//! stepped by the peer's messages, finished into an output for the user or
//! the self-test.

use super::jobs::selftest::{self, Plan, SelfTest};
use super::jobs::{self, Cx, Instance, Job, Step};
use super::msg::{EngineMsg, JobKind};
use super::{Engine, EngineError, EngineOutput, JobId, Phase, Sink};
use crate::mpc::compare::{RotDemand, Rots};

/// Who gets a job's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Owner {
    /// The user, through [`Engine::poll_output`].
    User,
    /// The running self-test.
    SelfTest,
}

/// A queued instance waiting for its OTs.
pub(super) struct Waiting {
    pub(super) instance: u32,
    pub(super) job: JobId,
    pub(super) owner: Owner,
    /// The OTs it starts on.
    pub(super) demand: RotDemand,
    pub(super) queued: Box<dyn Job>,
}

/// A started instance.
pub(super) struct Active {
    pub(super) job: JobId,
    pub(super) owner: Owner,
    pub(super) run: Box<dyn Instance>,
}

impl Engine {
    /// What an instance of `job` may use while it is driven.
    fn cx(&mut self, instance: u32, job: JobId) -> Cx<'_> {
        Cx {
            party: self.party,
            config: &self.config,
            rng: &mut self.rng,
            out: &mut self.out,
            instance,
            job,
        }
    }

    pub(super) fn alloc_instance(&mut self) -> u32 {
        let i = self.next_instance;
        self.next_instance = self.next_instance.wrapping_add(1).max(1);
        i
    }

    fn alloc_job(&mut self) -> JobId {
        let j = JobId(self.next_job);
        self.next_job = self.next_job.wrapping_add(1);
        j
    }

    /// Queues a job of `kind` over `n` values (validated by the caller):
    /// announces it at its first instance, then starts it at once if it
    /// consumes no OTs, or queues it for its OTs.
    pub(super) fn queue(
        &mut self,
        owner: Owner,
        kind: JobKind,
        n: usize,
        queued: Box<dyn Job>,
    ) -> Result<JobId, EngineError> {
        let demand = jobs::demand(kind, n, &self.config)?;
        let (job, instance) = self.open_job(kind, n)?;
        self.enqueue(owner, job, instance, demand, queued)?;
        Ok(job)
    }

    /// Queues a multiplication: its triple generation, and the next
    /// instance reserved for the multiplication.
    pub(super) fn queue_mult(
        &mut self,
        owner: Owner,
        xs: jobs::Shares,
        ys: jobs::Shares,
    ) -> Result<JobId, EngineError> {
        let need = xs.len();
        let demand = jobs::demand(JobKind::Mult, need, &self.config)?;
        let (job, instance) = self.open_job(JobKind::Mult, need)?;
        let mult_instance = self.alloc_instance();
        self.reserved.insert(mult_instance);
        let queued = Box::new(jobs::mult::MultJob {
            need,
            n: need + self.config.triple_margin,
            mult_instance,
            xs,
            ys,
        });
        self.enqueue(owner, job, instance, demand, queued)?;
        Ok(job)
    }

    /// Queues the self-test's jobs on this party's inputs from `seed`.
    pub(super) fn queue_selftest(
        &mut self,
        ops: usize,
        seed: &[u8; 32],
    ) -> Result<JobId, EngineError> {
        let job = self.alloc_job();
        let (drelu_in, xs, ys) = selftest::inputs(self.party, ops, seed, &mut self.rng);
        // DReLU first: its OTs come first, so its five sequential messages
        // overlap with the extension and generation of the triples.
        let drelu = Box::new(jobs::Pending::<crate::mpc::compare::drelu::Drelu>(
            drelu_in.clone(),
        ));
        let drelu_job = self.queue(Owner::SelfTest, JobKind::Drelu, ops, drelu)?;
        let mult_job = self.queue_mult(Owner::SelfTest, xs.clone(), ys.clone())?;
        let plan = Plan {
            job,
            ops,
            drelu_job,
            mult_job,
            open_instance: self.alloc_instance(),
        };
        self.selftest = Some(SelfTest::new(plan, drelu_in, xs, ys));
        Ok(job)
    }

    /// Allocates a job and its first instance, and announces it.
    fn open_job(&mut self, kind: JobKind, n: usize) -> Result<(JobId, u32), EngineError> {
        let job = self.alloc_job();
        let instance = self.alloc_instance();
        self.announce(instance, kind, n)?;
        Ok((job, instance))
    }

    fn enqueue(
        &mut self,
        owner: Owner,
        job: JobId,
        instance: u32,
        demand: RotDemand,
        queued: Box<dyn Job>,
    ) -> Result<(), EngineError> {
        let w = Waiting {
            instance,
            job,
            owner,
            demand,
            queued,
        };
        if demand.total() == 0 {
            self.start_job(w, Rots::default())
        } else {
            self.waiting.push_back(w);
            Ok(())
        }
    }

    /// Extends this party's receiving direction for the queued demand, then
    /// starts every instance whose OTs are in both pools, in order.
    pub(super) fn pump(&mut self, sink: &mut Sink<'_>) -> Result<(), EngineError> {
        if self.phase != Phase::Running {
            return Ok(());
        }
        loop {
            self.top_up(sink)?;
            if !self.start_ready()? {
                return Ok(());
            }
        }
    }

    /// Extends for the queued instances' demand (looked ahead up to
    /// `lookahead_ots`), one batch message at a time, each handed to the
    /// sink before the next is computed.
    fn top_up(&mut self, sink: &mut Sink<'_>) -> Result<(), EngineError> {
        let mut need = 0usize;
        for (k, w) in self.waiting.iter().enumerate() {
            let (_, r) = w.demand.for_party(self.party);
            if k > 0 && need.saturating_add(r) > self.config.lookahead_ots {
                break;
            }
            need = need.saturating_add(r);
        }
        let mut deficit = self.ots.deficit(need);
        let c = &self.config;
        let step = c.extend_chunk.min(c.max_extend).max(128) / 128 * 128;
        while deficit > 0 {
            let count = deficit.min(step);
            let Some(msg) = self.ots.extend(&mut self.rng, count, &mut self.out.stats)? else {
                return Ok(());
            };
            self.out.send(EngineMsg::Extend(msg));
            self.flush(sink);
            deficit -= count;
        }
        Ok(())
    }

    fn start_ready(&mut self) -> Result<bool, EngineError> {
        let mut started = false;
        while let Some(front) = self.waiting.front() {
            let Some(rots) = self.ots.take(self.party, front.demand)? else {
                break;
            };
            let Some(w) = self.waiting.pop_front() else {
                break;
            };
            self.start_job(w, rots)?;
            started = true;
        }
        Ok(started)
    }

    /// Starts a queued instance on its OTs, then hands it the messages that
    /// came for it early.
    fn start_job(&mut self, w: Waiting, rots: Rots) -> Result<(), EngineError> {
        let Waiting {
            instance,
            job,
            owner,
            queued,
            ..
        } = w;
        let step = queued.start(rots, &mut self.cx(instance, job))?;
        self.after_step(instance, job, owner, step)?;
        self.drain_early(instance)
    }

    /// Hands a peer message to its started instance.
    pub(super) fn deliver(&mut self, instance: u32, msg: EngineMsg) -> Result<(), EngineError> {
        let Some(Active { job, owner, run }) = self.active.remove(&instance) else {
            return Err(EngineError::FinishedInstance { instance });
        };
        let step = run.on_msg(msg, &mut self.cx(instance, job))?;
        self.after_step(instance, job, owner, step)
    }

    fn after_step(
        &mut self,
        instance: u32,
        job: JobId,
        owner: Owner,
        step: Step,
    ) -> Result<(), EngineError> {
        match step {
            Step::Wait(run) => {
                self.active.insert(instance, Active { job, owner, run });
                Ok(())
            }
            Step::Done(out) => {
                self.finished.insert(instance);
                self.job_done(owner, out)
            }
            Step::Then(next, run) => {
                self.finished.insert(instance);
                self.reserved.remove(&next);
                self.active.insert(next, Active { job, owner, run });
                self.drain_early(next)
            }
        }
    }

    fn job_done(&mut self, owner: Owner, out: EngineOutput) -> Result<(), EngineError> {
        match owner {
            Owner::User => {
                self.outputs.push_back(out);
                Ok(())
            }
            Owner::SelfTest => {
                let Some(st) = self.selftest.as_mut() else {
                    return Err(EngineError::Unexpected {
                        got: "self-test result",
                        why: "no self-test is running",
                    });
                };
                st.take(out)?;
                self.selftest_progress();
                Ok(())
            }
        }
    }

    /// Sends the self-test's opening and reports what is due.
    pub(super) fn selftest_progress(&mut self) {
        let Some(st) = self.selftest.as_mut() else {
            return;
        };
        let (open, events) = st.progress();
        if let Some(msg) = open {
            self.out.send(msg);
        }
        self.outputs.extend(events);
    }
}
