//! Engine messages and their codec.
//!
//! Every engine message is `tag (u8) ‖ instance (u32 LE) ‖ payload`: the tag
//! names the sub-protocol step, the instance names the protocol instance the
//! message belongs to (0 for session-level messages: base OT, IKNP, self-test
//! control, abort), and the payload is the sub-protocol's own encoding.
//! [`EngineMsg`] implements [`Message`]; decoding follows the codec's rules
//! and is strict: the size limit ([`MAX_MSG_BYTES`]), the header, the tag,
//! that session-level messages carry instance 0, then the payload with the
//! sub-protocol's own [`Message`] decoder (points, counts, exact lengths,
//! canonical field elements, zero padding bits), then the checks on values
//! (no zero-operation self-test or job). The result is a typed message;
//! nothing is parsed later from raw bytes.

use core::fmt;

use mpc_core::codec::{self, CodecError, DEFAULT_MAX_FRAME, Limits, Message, Reader};
use mpc_core::field::Fp;
use mpc_core::ot::ExtendMsg;
use mpc_core::ot::base::{BaseOtReceiverMsg, BaseOtSenderMsg};

use crate::mpc::arith::coin::{CoinCommit, CoinReveal};
use crate::mpc::arith::mult::MultMsg;
use crate::mpc::arith::triples::TripleMsg;
use crate::mpc::compare::Relation;
use crate::mpc::compare::bits::BitVec;
use crate::mpc::compare::count::CountMsg;
use crate::mpc::compare::drelu::Threshold;
use crate::mpc::compare::millionaire::CmpMsg;
use crate::mpc::compare::mux::MuxMsg;
use crate::mpc::compare::relu::ReluMsg;

/// Bytes of the engine header: tag and instance.
pub const HEADER_LEN: usize = 5;
/// Largest encoded engine message: fits a transport frame (64 MiB) with
/// room for the wire envelope.
pub const MAX_MSG_BYTES: usize = DEFAULT_MAX_FRAME - 4096;
/// Longest abort reason, in bytes.
pub const MAX_ABORT_REASON: usize = 512;

const TAG_BASE_SENDER: u8 = 0x01;
const TAG_BASE_RECEIVER: u8 = 0x02;
const TAG_EXTEND: u8 = 0x03;
const TAG_SELFTEST: u8 = 0x04;
const TAG_ABORT: u8 = 0x05;
const TAG_JOB: u8 = 0x06;
const TAG_HELLO: u8 = 0x07;
/// Bytes of a hello payload: nonce and settings digest.
const HELLO_LEN: usize = 64;
/// Bytes of a self-test payload: `ops (u32 LE) ‖ seed`.
const SELFTEST_LEN: usize = 36;
const TAG_TRIPLES: u8 = 0x10;
const TAG_MULT: u8 = 0x11;
const TAG_DRELU: u8 = 0x12;
const TAG_OPEN: u8 = 0x13;
const TAG_RELU: u8 = 0x14;
const TAG_B2A: u8 = 0x15;
const TAG_COUNT: u8 = 0x16;
const TAG_COIN_COMMIT: u8 = 0x17;
const TAG_COIN_REVEAL: u8 = 0x18;

/// The sub-protocol a message belongs to, for the per-protocol counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Chou–Orlandi base OTs (the IKNP setup), both directions.
    BaseOt,
    /// IKNP extension batches, both directions.
    Iknp,
    /// Beaver triple generation (Gilboa OLE).
    Triples,
    /// Multiplication of shared scalars.
    Mult,
    /// DReLU (millionaires with a selector).
    Drelu,
    /// ReLU / gated value (DReLU with a threshold, then bit × value).
    Relu,
    /// Bit-to-arithmetic conversion (bit × value in B2A mode).
    B2a,
    /// Secure count against a public k.
    Count,
    /// Joint coin toss (commit, then reveal).
    Coin,
    /// Self-test control and opening, aborts.
    Control,
}

/// The kind of a job and its public parameters, as announced to the peer
/// (both parties must queue the same kind, size and parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// A DReLU batch.
    Drelu,
    /// A multiplication batch (with its triples).
    Mult,
    /// A ReLU batch gated by `[v ⋈ threshold]`.
    Relu {
        /// The public gate.
        threshold: Threshold,
    },
    /// A B2A batch (XOR-shared bits to additive shares).
    B2a,
    /// A secure count `[Σ b_i ≥ k]` over `n` XOR-shared bits.
    Count {
        /// The public threshold k.
        k: u64,
    },
    /// One joint coin toss (`n` = 1).
    Coin,
}

impl JobKind {
    fn code(self) -> u8 {
        match self {
            JobKind::Drelu => 1,
            JobKind::Mult => 2,
            JobKind::Relu { .. } => 3,
            JobKind::B2a => 4,
            JobKind::Count { .. } => 5,
            JobKind::Coin => 6,
        }
    }

    /// Bytes of the parameters after `code ‖ n`.
    fn params_len(code: u8) -> Option<usize> {
        match code {
            1 | 2 | 4 | 6 => Some(0),
            3 => Some(9),
            5 => Some(8),
            _ => None,
        }
    }

    fn encode_params(self, out: &mut Vec<u8>) {
        match self {
            JobKind::Relu { threshold } => {
                out.extend_from_slice(&threshold.value.to_le_bytes());
                out.push(relation_code(threshold.relation));
            }
            JobKind::Count { k } => out.extend_from_slice(&k.to_le_bytes()),
            JobKind::Drelu | JobKind::Mult | JobKind::B2a | JobKind::Coin => {}
        }
    }

    /// The parameters of kind `code` (whose size the caller has checked).
    fn read_params(code: u8, r: &mut Reader<'_>) -> Result<JobKind, CodecError> {
        Ok(match code {
            1 => JobKind::Drelu,
            2 => JobKind::Mult,
            3 => {
                let value = r.u64()? as i64;
                let relation = relation_from(r.kind(), r.u8()?)?;
                JobKind::Relu {
                    threshold: Threshold { value, relation },
                }
            }
            4 => JobKind::B2a,
            5 => JobKind::Count { k: r.u64()? },
            6 => JobKind::Coin,
            code => return Err(unknown_job_kind(code)),
        })
    }
}

fn relation_code(r: Relation) -> u8 {
    match r {
        Relation::Lt => 0,
        Relation::Le => 1,
        Relation::Gt => 2,
        Relation::Ge => 3,
    }
}

fn relation_from(kind: &'static str, code: u8) -> Result<Relation, CodecError> {
    Ok(match code {
        0 => Relation::Lt,
        1 => Relation::Le,
        2 => Relation::Gt,
        3 => Relation::Ge,
        code => {
            return Err(CodecError::malformed(
                kind,
                format!("unknown threshold relation {code}"),
            ));
        }
    })
}

fn unknown_job_kind(code: u8) -> CodecError {
    CodecError::malformed(JOB_KIND, format!("unknown job kind {code}"))
}

/// The first message of each engine: a fresh nonce (both parties' nonces
/// key the IKNP session ids) and the SHA-256 digest of the protocol
/// settings (a mismatch ends the session before any OT).
#[derive(Clone, PartialEq, Eq)]
pub struct HelloMsg {
    /// This engine's fresh, public nonce.
    pub nonce: [u8; 32],
    /// SHA-256 of the protocol settings.
    pub settings: [u8; 32],
}

impl fmt::Debug for HelloMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HelloMsg").finish_non_exhaustive()
    }
}

/// Self-test request: run `ops` DReLUs and `ops` multiplications on random
/// shared inputs. `seed` is public test data (both parties derive the
/// public masks of the test inputs from it); it never keys anything secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SelfTestMsg {
    /// The self-test's first protocol instance at the sender (the receiver
    /// must be idle and at the same instance).
    pub instance: u32,
    /// Operations of each kind.
    pub ops: u32,
    /// Public seed of the test inputs' masks.
    pub seed: [u8; 32],
}

impl fmt::Debug for SelfTestMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelfTestMsg")
            .field("instance", &self.instance)
            .field("ops", &self.ops)
            .finish_non_exhaustive()
    }
}

/// Self-test opening: one party's shares of the self-test's random inputs
/// and outputs (only ever self-test values, never a user job's).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OpenMsg {
    /// Shares of the DReLU inputs.
    pub drelu_in: Vec<Fp>,
    /// XOR shares of the DReLU outputs.
    pub drelu_out: Vec<bool>,
    /// Shares of the multiplications' x.
    pub mult_x: Vec<Fp>,
    /// Shares of the multiplications' y.
    pub mult_y: Vec<Fp>,
    /// Shares of the products.
    pub mult_z: Vec<Fp>,
}

impl fmt::Debug for OpenMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenMsg")
            .field("drelu", &self.drelu_in.len())
            .field("mult", &self.mult_z.len())
            .finish_non_exhaustive()
    }
}

const OPEN_KIND: &str = "open";
const SELFTEST_KIND: &str = "self-test";

impl OpenMsg {
    fn payload_len(nd: usize, nm: usize) -> Option<usize> {
        let d = nd.checked_mul(8)?.checked_add(nd.div_ceil(8))?;
        let m = nm.checked_mul(24)?;
        d.checked_add(m)?.checked_add(8)
    }
}

/// `nd (u32 LE) ‖ nm (u32 LE) ‖ drelu_in (nd elements) ‖ drelu_out (nd bits,
/// LSB-first) ‖ mult_x ‖ mult_y ‖ mult_z (nm elements each)`; the payload of
/// an engine `Open`.
impl Message for OpenMsg {
    const KIND: &'static str = OPEN_KIND;

    fn encoded_len(&self) -> usize {
        Self::payload_len(self.drelu_in.len(), self.mult_z.len()).unwrap_or(usize::MAX)
    }

    fn write(&self, out: &mut Vec<u8>) {
        codec::put_count(out, self.drelu_in.len());
        codec::put_count(out, self.mult_z.len());
        codec::put_fps(out, &self.drelu_in);
        self.drelu_out
            .iter()
            .copied()
            .collect::<BitVec>()
            .write_bytes(out);
        codec::put_fps(out, &self.mult_x);
        codec::put_fps(out, &self.mult_y);
        codec::put_fps(out, &self.mult_z);
    }

    fn read(r: &mut Reader<'_>, _: &Limits) -> Result<Self, CodecError> {
        let nd = r.count()?;
        let nm = r.count()?;
        r.expect_remaining(Self::payload_len(nd, nm).and_then(|n| n.checked_sub(8)))?;
        let drelu_in = r.fps(nd)?;
        let drelu_out = BitVec::from_bytes(r.take(nd.div_ceil(8))?, nd)
            .ok_or(CodecError::Padding { kind: OPEN_KIND })?
            .iter()
            .collect();
        let mult_x = r.fps(nm)?;
        let mult_y = r.fps(nm)?;
        let mult_z = r.fps(nm)?;
        Ok(OpenMsg {
            drelu_in,
            drelu_out,
            mult_x,
            mult_y,
            mult_z,
        })
    }
}

/// One engine message, typed and validated. `Debug` shows kinds and sizes only.
#[derive(Clone)]
pub enum EngineMsg {
    /// The first message of each party: nonce and settings digest.
    Hello(HelloMsg),
    /// IKNP setup, step 1: the sender of this message is the extension
    /// receiver of its direction and the base-OT sender (`A`).
    BaseOtSender(BaseOtSenderMsg),
    /// IKNP setup, step 2: the answer of the extension sender (`B_i`, 128 points).
    BaseOtReceiver(BaseOtReceiverMsg),
    /// One IKNP extension batch from the extension receiver of its direction.
    Extend(ExtendMsg),
    /// Self-test request (sent by the initiating party).
    SelfTest(SelfTestMsg),
    /// The sender's engine failed; the reason is structural only.
    Abort(String),
    /// The sender queued a job whose first protocol instance is `instance`
    /// (both parties announce every job, so a mismatch is an error, not a hang).
    Job {
        /// First protocol instance of the job.
        instance: u32,
        /// Kind of job.
        kind: JobKind,
        /// Values, products or bits (1 for a coin).
        n: u32,
    },
    /// Beaver triple generation of `instance`.
    Triples {
        /// Protocol instance.
        instance: u32,
        /// Inner message.
        msg: TripleMsg,
    },
    /// Multiplication of `instance`.
    Mult {
        /// Protocol instance.
        instance: u32,
        /// Inner message.
        msg: MultMsg,
    },
    /// DReLU of `instance`.
    Drelu {
        /// Protocol instance.
        instance: u32,
        /// Inner message.
        msg: CmpMsg,
    },
    /// Self-test opening of `instance`.
    Open {
        /// Protocol instance.
        instance: u32,
        /// Inner message.
        msg: OpenMsg,
    },
    /// ReLU of `instance`.
    Relu {
        /// Protocol instance.
        instance: u32,
        /// Inner message.
        msg: ReluMsg,
    },
    /// B2A of `instance`.
    B2a {
        /// Protocol instance.
        instance: u32,
        /// Inner message.
        msg: MuxMsg,
    },
    /// Secure count of `instance`.
    Count {
        /// Protocol instance.
        instance: u32,
        /// Inner message.
        msg: CountMsg,
    },
    /// Coin-toss commitment of `instance`.
    CoinCommit {
        /// Protocol instance.
        instance: u32,
        /// Inner message.
        msg: CoinCommit,
    },
    /// Coin-toss opening of `instance`.
    CoinReveal {
        /// Protocol instance.
        instance: u32,
        /// Inner message.
        msg: CoinReveal,
    },
}

impl fmt::Debug for EngineMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineMsg")
            .field("kind", &self.kind())
            .field("instance", &self.instance())
            .field("bytes", &self.encoded_len())
            .finish()
    }
}

impl EngineMsg {
    /// An abort message for a local error (the reason is cut to [`MAX_ABORT_REASON`]).
    pub fn abort(reason: &str) -> EngineMsg {
        let mut end = reason.len().min(MAX_ABORT_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        EngineMsg::Abort(reason.get(..end).unwrap_or_default().to_string())
    }

    /// The one-byte tag.
    pub fn tag(&self) -> u8 {
        match self {
            EngineMsg::Hello(_) => TAG_HELLO,
            EngineMsg::BaseOtSender(_) => TAG_BASE_SENDER,
            EngineMsg::BaseOtReceiver(_) => TAG_BASE_RECEIVER,
            EngineMsg::Extend(_) => TAG_EXTEND,
            EngineMsg::SelfTest(_) => TAG_SELFTEST,
            EngineMsg::Abort(_) => TAG_ABORT,
            EngineMsg::Job { .. } => TAG_JOB,
            EngineMsg::Triples { .. } => TAG_TRIPLES,
            EngineMsg::Mult { .. } => TAG_MULT,
            EngineMsg::Drelu { .. } => TAG_DRELU,
            EngineMsg::Open { .. } => TAG_OPEN,
            EngineMsg::Relu { .. } => TAG_RELU,
            EngineMsg::B2a { .. } => TAG_B2A,
            EngineMsg::Count { .. } => TAG_COUNT,
            EngineMsg::CoinCommit { .. } => TAG_COIN_COMMIT,
            EngineMsg::CoinReveal { .. } => TAG_COIN_REVEAL,
        }
    }

    /// Message kind, for errors and logs.
    pub fn kind(&self) -> &'static str {
        kind_of(self.tag())
    }

    /// The protocol instance (0 for session-level messages).
    pub fn instance(&self) -> u32 {
        match self {
            EngineMsg::Triples { instance, .. }
            | EngineMsg::Job { instance, .. }
            | EngineMsg::Mult { instance, .. }
            | EngineMsg::Drelu { instance, .. }
            | EngineMsg::Open { instance, .. }
            | EngineMsg::Relu { instance, .. }
            | EngineMsg::B2a { instance, .. }
            | EngineMsg::Count { instance, .. }
            | EngineMsg::CoinCommit { instance, .. }
            | EngineMsg::CoinReveal { instance, .. } => *instance,
            EngineMsg::SelfTest(m) => m.instance,
            _ => 0,
        }
    }

    /// The sub-protocol the message belongs to.
    pub fn protocol(&self) -> Protocol {
        match self {
            EngineMsg::BaseOtSender(_) | EngineMsg::BaseOtReceiver(_) => Protocol::BaseOt,
            EngineMsg::Extend(_) => Protocol::Iknp,
            EngineMsg::Triples { .. } => Protocol::Triples,
            EngineMsg::Mult { .. } => Protocol::Mult,
            EngineMsg::Drelu { .. } => Protocol::Drelu,
            EngineMsg::Relu { .. } => Protocol::Relu,
            EngineMsg::B2a { .. } => Protocol::B2a,
            EngineMsg::Count { .. } => Protocol::Count,
            EngineMsg::CoinCommit { .. } | EngineMsg::CoinReveal { .. } => Protocol::Coin,
            EngineMsg::SelfTest(_)
            | EngineMsg::Hello(_)
            | EngineMsg::Abort(_)
            | EngineMsg::Job { .. }
            | EngineMsg::Open { .. } => Protocol::Control,
        }
    }
}

/// `tag ‖ instance (u32 LE) ‖ payload`, the payload in the sub-protocol's
/// own encoding.
impl Message for EngineMsg {
    const KIND: &'static str = "engine";

    fn max_len(_: &Limits) -> usize {
        MAX_MSG_BYTES
    }

    fn encoded_len(&self) -> usize {
        HEADER_LEN
            + match self {
                EngineMsg::Hello(_) => HELLO_LEN,
                EngineMsg::BaseOtSender(m) => m.encoded_len(),
                EngineMsg::BaseOtReceiver(m) => m.encoded_len(),
                EngineMsg::Extend(m) => m.encoded_len(),
                EngineMsg::SelfTest(_) => SELFTEST_LEN,
                EngineMsg::Abort(r) => r.len(),
                EngineMsg::Job { kind, .. } => {
                    5 + JobKind::params_len(kind.code()).unwrap_or_default()
                }
                EngineMsg::Triples { msg, .. } => msg.encoded_len(),
                EngineMsg::Mult { msg, .. } => msg.encoded_len(),
                EngineMsg::Drelu { msg, .. } => msg.encoded_len(),
                EngineMsg::Open { msg, .. } => msg.encoded_len(),
                EngineMsg::Relu { msg, .. } => msg.encoded_len(),
                EngineMsg::B2a { msg, .. } => msg.encoded_len(),
                EngineMsg::Count { msg, .. } => msg.encoded_len(),
                EngineMsg::CoinCommit { msg, .. } => msg.encoded_len(),
                EngineMsg::CoinReveal { msg, .. } => msg.encoded_len(),
            }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        out.extend_from_slice(&self.instance().to_le_bytes());
        match self {
            EngineMsg::Hello(m) => {
                out.extend_from_slice(&m.nonce);
                out.extend_from_slice(&m.settings);
            }
            EngineMsg::BaseOtSender(m) => m.write(out),
            EngineMsg::BaseOtReceiver(m) => m.write(out),
            EngineMsg::Extend(m) => m.write(out),
            EngineMsg::SelfTest(m) => {
                out.extend_from_slice(&m.ops.to_le_bytes());
                out.extend_from_slice(&m.seed);
            }
            EngineMsg::Abort(r) => out.extend_from_slice(r.as_bytes()),
            EngineMsg::Job { kind, n, .. } => {
                out.push(kind.code());
                out.extend_from_slice(&n.to_le_bytes());
                kind.encode_params(out);
            }
            EngineMsg::Triples { msg, .. } => msg.write(out),
            EngineMsg::Mult { msg, .. } => msg.write(out),
            EngineMsg::Drelu { msg, .. } => msg.write(out),
            EngineMsg::Open { msg, .. } => msg.write(out),
            EngineMsg::Relu { msg, .. } => msg.write(out),
            EngineMsg::B2a { msg, .. } => msg.write(out),
            EngineMsg::Count { msg, .. } => msg.write(out),
            EngineMsg::CoinCommit { msg, .. } => msg.write(out),
            EngineMsg::CoinReveal { msg, .. } => msg.write(out),
        }
    }

    /// The header, the instance rule, then the payload (whole, with its own
    /// decoder).
    fn read(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, CodecError> {
        let tag = r.u8()?;
        let instance = r.u32()?;
        let kind = kind_of(tag);
        let session_level = matches!(
            tag,
            TAG_HELLO | TAG_BASE_SENDER | TAG_BASE_RECEIVER | TAG_EXTEND | TAG_ABORT
        );
        if session_level != (instance == 0) && kind != UNKNOWN_KIND {
            return Err(CodecError::malformed(
                kind,
                format!("names instance {instance}, which it cannot"),
            ));
        }
        Ok(match tag {
            TAG_HELLO => {
                let mut p = Reader::new(kind, r.rest());
                p.expect_remaining(Some(HELLO_LEN))?;
                let nonce = p.array()?;
                let settings = p.array()?;
                EngineMsg::Hello(HelloMsg { nonce, settings })
            }
            TAG_BASE_SENDER => EngineMsg::BaseOtSender(r.message(limits)?),
            TAG_BASE_RECEIVER => EngineMsg::BaseOtReceiver(r.message(limits)?),
            TAG_EXTEND => EngineMsg::Extend(r.message(limits)?),
            TAG_SELFTEST => {
                let mut p = Reader::new(kind, r.rest());
                p.expect_remaining(Some(SELFTEST_LEN))?;
                let ops = p.u32()?;
                let seed = p.array()?;
                EngineMsg::SelfTest(SelfTestMsg {
                    instance,
                    ops,
                    seed,
                })
            }
            TAG_ABORT => {
                let payload = r.rest();
                if payload.len() > MAX_ABORT_REASON {
                    return Err(CodecError::Dimension {
                        field: "reason",
                        len: payload.len(),
                        max: MAX_ABORT_REASON,
                    });
                }
                let reason = core::str::from_utf8(payload)
                    .map_err(|_| CodecError::malformed(kind, "reason is not valid UTF-8"))?;
                EngineMsg::Abort(reason.to_string())
            }
            TAG_JOB => {
                let mut p = Reader::new(kind, r.rest());
                let code = p.u8()?;
                let extra = JobKind::params_len(code).ok_or_else(|| unknown_job_kind(code))?;
                p.expect_remaining(Some(4 + extra))?;
                let n = p.u32()?;
                EngineMsg::Job {
                    instance,
                    kind: JobKind::read_params(code, &mut p)?,
                    n,
                }
            }
            TAG_TRIPLES => EngineMsg::Triples {
                instance,
                msg: r.message(limits)?,
            },
            TAG_MULT => EngineMsg::Mult {
                instance,
                msg: r.message(limits)?,
            },
            TAG_DRELU => EngineMsg::Drelu {
                instance,
                msg: r.message(limits)?,
            },
            TAG_OPEN => EngineMsg::Open {
                instance,
                msg: r.message(limits)?,
            },
            TAG_RELU => EngineMsg::Relu {
                instance,
                msg: r.message(limits)?,
            },
            TAG_B2A => EngineMsg::B2a {
                instance,
                msg: r.message(limits)?,
            },
            TAG_COUNT => EngineMsg::Count {
                instance,
                msg: r.message(limits)?,
            },
            TAG_COIN_COMMIT => EngineMsg::CoinCommit {
                instance,
                msg: r.message(limits)?,
            },
            TAG_COIN_REVEAL => EngineMsg::CoinReveal {
                instance,
                msg: r.message(limits)?,
            },
            tag => {
                return Err(CodecError::Tag {
                    kind: Self::KIND,
                    tag,
                });
            }
        })
    }

    /// A self-test or job must announce at least one operation.
    fn validate(&self, _: &Limits) -> Result<(), CodecError> {
        match self {
            EngineMsg::SelfTest(SelfTestMsg { ops: 0, .. }) | EngineMsg::Job { n: 0, .. } => Err(
                CodecError::malformed(self.kind(), "announces zero operations"),
            ),
            _ => Ok(()),
        }
    }
}

const UNKNOWN_KIND: &str = "unknown";
const JOB_KIND: &str = "job";
const HELLO_KIND: &str = "hello";

fn kind_of(tag: u8) -> &'static str {
    match tag {
        TAG_HELLO => HELLO_KIND,
        TAG_BASE_SENDER => "base-OT sender",
        TAG_BASE_RECEIVER => "base-OT receiver",
        TAG_EXTEND => "IKNP extend",
        TAG_SELFTEST => SELFTEST_KIND,
        TAG_ABORT => "abort",
        TAG_JOB => JOB_KIND,
        TAG_TRIPLES => "triples",
        TAG_MULT => "mult",
        TAG_DRELU => "DReLU",
        TAG_OPEN => OPEN_KIND,
        TAG_RELU => "ReLU",
        TAG_B2A => "B2A",
        TAG_COUNT => "count",
        TAG_COIN_COMMIT => "coin commit",
        TAG_COIN_REVEAL => "coin reveal",
        _ => UNKNOWN_KIND,
    }
}
