//! What the engine hands back: [`EngineOutput`] (finished jobs and
//! self-test events) and [`SelfTestReport`].

use core::fmt;

use mpc_core::field::Fp;

use super::JobId;

/// Outcome of a self-test, after opening.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelfTestReport {
    /// DReLUs and multiplications run (each).
    pub ops: usize,
    /// DReLU outputs that differ from the plaintext.
    pub drelu_wrong: usize,
    /// Products that differ from the plaintext.
    pub mult_wrong: usize,
}

impl SelfTestReport {
    /// Every output matched the plaintext.
    pub fn correct(&self) -> bool {
        self.drelu_wrong == 0 && self.mult_wrong == 0
    }
}

/// A finished job or self-test event. `Debug` never shows shares.
pub enum EngineOutput {
    /// This party's XOR shares of `[v ≥ 0]`.
    Drelu {
        /// The job.
        job: JobId,
        /// XOR shares, one per value.
        shares: Vec<bool>,
    },
    /// This party's additive shares of the products.
    Mult {
        /// The job.
        job: JobId,
        /// Shares of `x_j · y_j`.
        shares: Vec<Fp>,
    },
    /// This party's shares of a gated-value (ReLU) batch.
    Relu {
        /// The job.
        job: JobId,
        /// Additive shares of `b_j · v_j`, `b_j = [v_j ⋈ T]`.
        gated: Vec<Fp>,
        /// XOR shares of the gate bits `b_j`.
        bits: Vec<bool>,
    },
    /// This party's additive shares of XOR-shared bits.
    B2a {
        /// The job.
        job: JobId,
        /// Additive shares (0/1 in F), one per bit.
        shares: Vec<Fp>,
    },
    /// The public result of a secure count (the same at both parties).
    Count {
        /// The job.
        job: JobId,
        /// `[Σ b_i ≥ k]`.
        at_least_k: bool,
    },
    /// A joint coin (the same at both parties).
    Coin {
        /// The job.
        job: JobId,
        /// 32 uniformly random bytes both parties contributed to.
        coin: [u8; 32],
    },
    /// The self-test's DReLUs and multiplications finished here (opening follows).
    SelfTestComputed {
        /// The self-test job.
        job: JobId,
        /// Operations of each kind.
        ops: usize,
    },
    /// The self-test's results were opened and checked.
    SelfTest {
        /// The self-test job.
        job: JobId,
        /// Result of the check.
        report: SelfTestReport,
    },
}

impl fmt::Debug for EngineOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Batches show their size, never their shares.
        let batch = |f: &mut fmt::Formatter<'_>, name: &str, job: &JobId, len: usize| {
            f.debug_struct(name)
                .field("job", job)
                .field("len", &len)
                .finish_non_exhaustive()
        };
        match self {
            EngineOutput::Drelu { job, shares } => batch(f, "Drelu", job, shares.len()),
            EngineOutput::Mult { job, shares } => batch(f, "Mult", job, shares.len()),
            EngineOutput::Relu { job, gated, .. } => batch(f, "Relu", job, gated.len()),
            EngineOutput::B2a { job, shares } => batch(f, "B2a", job, shares.len()),
            EngineOutput::Count { job, at_least_k } => f
                .debug_struct("Count")
                .field("job", job)
                .field("at_least_k", at_least_k)
                .finish(),
            EngineOutput::Coin { job, .. } => f
                .debug_struct("Coin")
                .field("job", job)
                .finish_non_exhaustive(),
            EngineOutput::SelfTestComputed { job, ops } => f
                .debug_struct("SelfTestComputed")
                .field("job", job)
                .field("ops", ops)
                .finish(),
            EngineOutput::SelfTest { job, report } => f
                .debug_struct("SelfTest")
                .field("job", job)
                .field("report", report)
                .finish(),
        }
    }
}
