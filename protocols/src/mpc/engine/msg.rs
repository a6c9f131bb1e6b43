//! Engine messages and their codec.
//!
//! Every engine message is `tag (u8) ‖ instance (u32 LE) ‖ payload`: the tag
//! names the sub-protocol step, the instance names the protocol instance the
//! message belongs to (0 for session-level messages: base OT, IKNP, self-test
//! control, abort), and the payload is the sub-protocol's own encoding.
//! [`EngineMsg::decode`] is strict: it checks the size limit, the header, the
//! tag, that session-level messages carry instance 0, and then decodes the
//! payload with the sub-protocol's validating decoder (points, counts, exact
//! lengths, canonical field elements, zero padding bits). The result is a
//! typed message; nothing is parsed later from raw bytes.

use core::fmt;

use mpc_core::field::Fp;
use mpc_core::ot::base::{BaseOtReceiverMsg, BaseOtSenderMsg};
use mpc_core::ot::{BaseOtError, ExtendMsg, IknpError};
use thiserror::Error;

use crate::mpc::arith::codec::{ArithMessage, CodecError as ArithCodecError};
use crate::mpc::arith::coin::{CoinCommit, CoinReveal};
use crate::mpc::arith::mult::MultMsg;
use crate::mpc::arith::triples::TripleMsg;
use crate::mpc::compare::Relation;
use crate::mpc::compare::codec::{CodecError as CompareCodecError, Message};
use crate::mpc::compare::count::CountMsg;
use crate::mpc::compare::drelu::Threshold;
use crate::mpc::compare::millionaire::CmpMsg;
use crate::mpc::compare::mux::MuxMsg;
use crate::mpc::compare::relu::ReluMsg;

/// Bytes of the engine header: tag and instance.
pub const HEADER_LEN: usize = 5;
/// Largest encoded engine message: fits a transport frame (64 MiB) with
/// room for the wire envelope.
pub const MAX_MSG_BYTES: usize = mpc_core::wire::DEFAULT_MAX_FRAME - 4096;
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

/// Structural decoding errors of engine messages (sizes, tags, indices; never contents).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum EngineCodecError {
    /// Shorter than the header.
    #[error("engine message of {len} bytes is shorter than its {HEADER_LEN}-byte header")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// Above [`MAX_MSG_BYTES`].
    #[error("engine message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A tag no engine message has.
    #[error("engine message has unknown tag {tag:#04x}")]
    UnknownTag {
        /// Tag received.
        tag: u8,
    },
    /// A session-level message that names an instance, or an instance message naming 0.
    #[error("engine {kind} message names instance {instance}, which it cannot")]
    Instance {
        /// Message kind.
        kind: &'static str,
        /// Instance received.
        instance: u32,
    },
    /// A payload of the wrong size.
    #[error("engine {kind} payload has {got} bytes, expected {expected}")]
    Length {
        /// Message kind.
        kind: &'static str,
        /// Expected size.
        expected: usize,
        /// Received size.
        got: usize,
    },
    /// A field element that is not canonical.
    #[error("engine {kind} payload: field element {index} is not canonical")]
    NonCanonical {
        /// Message kind.
        kind: &'static str,
        /// Element index.
        index: usize,
    },
    /// Non-zero padding bits.
    #[error("engine {kind} payload: padding bits are not zero")]
    Padding {
        /// Message kind.
        kind: &'static str,
    },
    /// An abort reason that is not UTF-8 or too long.
    #[error("engine abort reason is not valid UTF-8 of at most {MAX_ABORT_REASON} bytes")]
    Reason,
    /// A self-test or job announcing zero operations.
    #[error("engine {kind} message announces zero operations")]
    ZeroOps {
        /// Message kind.
        kind: &'static str,
    },
    /// A job announcement with an unknown job kind.
    #[error("engine job announcement has unknown kind {code}")]
    JobKind {
        /// Kind code received.
        code: u8,
    },
    /// A job announcement with an unknown threshold relation.
    #[error("engine job announcement has unknown relation {code}")]
    Relation {
        /// Relation code received.
        code: u8,
    },
    /// The base-OT payload does not decode.
    #[error("engine base-OT payload: {0}")]
    BaseOt(#[from] BaseOtError),
    /// The IKNP payload does not decode.
    #[error("engine IKNP payload: {0}")]
    Iknp(#[from] IknpError),
    /// A triples or multiplication payload does not decode.
    #[error("engine payload: {0}")]
    Arith(#[from] ArithCodecError),
    /// A comparison payload does not decode.
    #[error("engine payload: {0}")]
    Compare(#[from] CompareCodecError),
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

    fn decode(code: u8, p: &[u8]) -> Result<JobKind, EngineCodecError> {
        let word = |p: &[u8]| {
            let mut w = [0u8; 8];
            w.copy_from_slice(p.get(..8).unwrap_or(&[0; 8]));
            w
        };
        Ok(match code {
            1 => JobKind::Drelu,
            2 => JobKind::Mult,
            3 => {
                let rel = p.get(8).copied().unwrap_or(0xff);
                JobKind::Relu {
                    threshold: Threshold {
                        value: i64::from_le_bytes(word(p)),
                        relation: relation_from(rel)?,
                    },
                }
            }
            4 => JobKind::B2a,
            5 => JobKind::Count {
                k: u64::from_le_bytes(word(p)),
            },
            6 => JobKind::Coin,
            code => return Err(EngineCodecError::JobKind { code }),
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

fn relation_from(code: u8) -> Result<Relation, EngineCodecError> {
    Ok(match code {
        0 => Relation::Lt,
        1 => Relation::Le,
        2 => Relation::Gt,
        3 => Relation::Ge,
        code => return Err(EngineCodecError::Relation { code }),
    })
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

    fn encoded_len(&self) -> usize {
        Self::payload_len(self.drelu_in.len(), self.mult_z.len()).unwrap_or(usize::MAX)
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        let nd = u32::try_from(self.drelu_in.len()).unwrap_or(u32::MAX);
        let nm = u32::try_from(self.mult_z.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&nd.to_le_bytes());
        out.extend_from_slice(&nm.to_le_bytes());
        put_fps(out, &self.drelu_in);
        let mut acc = 0u8;
        for (i, &b) in self.drelu_out.iter().enumerate() {
            acc |= u8::from(b) << (i % 8);
            if i % 8 == 7 {
                out.push(acc);
                acc = 0;
            }
        }
        if !self.drelu_out.len().is_multiple_of(8) {
            out.push(acc);
        }
        put_fps(out, &self.mult_x);
        put_fps(out, &self.mult_y);
        put_fps(out, &self.mult_z);
    }

    fn decode(p: &[u8]) -> Result<OpenMsg, EngineCodecError> {
        let mut r = Cursor::new(OPEN_KIND, p);
        let nd = r.u32()? as usize;
        let nm = r.u32()? as usize;
        let expected = Self::payload_len(nd, nm).unwrap_or(usize::MAX);
        if expected != p.len() {
            return Err(EngineCodecError::Length {
                kind: OPEN_KIND,
                expected,
                got: p.len(),
            });
        }
        let drelu_in = r.fps(nd)?;
        let bits = r.take(nd.div_ceil(8))?;
        if !nd.is_multiple_of(8) && bits.last().is_some_and(|b| b >> (nd % 8) != 0) {
            return Err(EngineCodecError::Padding { kind: OPEN_KIND });
        }
        let drelu_out = (0..nd)
            .map(|i| bits.get(i / 8).is_some_and(|b| (b >> (i % 8)) & 1 == 1))
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

fn put_fps(out: &mut Vec<u8>, xs: &[Fp]) {
    for x in xs {
        out.extend_from_slice(&x.value().to_le_bytes());
    }
}

/// A cursor over a payload whose length has been checked.
struct Cursor<'a> {
    kind: &'static str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(kind: &'static str, bytes: &'a [u8]) -> Cursor<'a> {
        Cursor {
            kind,
            bytes,
            pos: 0,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], EngineCodecError> {
        let end = self.pos.checked_add(n);
        let s = end.and_then(|e| self.bytes.get(self.pos..e));
        match (s, end) {
            (Some(s), Some(e)) => {
                self.pos = e;
                Ok(s)
            }
            _ => Err(EngineCodecError::Length {
                kind: self.kind,
                expected: end.unwrap_or(usize::MAX),
                got: self.bytes.len(),
            }),
        }
    }

    fn u32(&mut self) -> Result<u32, EngineCodecError> {
        let mut w = [0u8; 4];
        w.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(w))
    }

    fn fps(&mut self, n: usize) -> Result<Vec<Fp>, EngineCodecError> {
        let kind = self.kind;
        let s = self.take(n.saturating_mul(8))?;
        s.chunks_exact(8)
            .enumerate()
            .map(|(index, c)| {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                Fp::from_canonical(u64::from_le_bytes(w))
                    .ok_or(EngineCodecError::NonCanonical { kind, index })
            })
            .collect()
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

    /// Exact size of [`EngineMsg::encode`].
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + match self {
                EngineMsg::Hello(_) => HELLO_LEN,
                EngineMsg::BaseOtSender(m) => m.encoded_len(),
                EngineMsg::BaseOtReceiver(m) => m.encoded_len(),
                EngineMsg::Extend(m) => m.encoded_len(),
                EngineMsg::SelfTest(_) => 36,
                EngineMsg::Abort(r) => r.len(),
                EngineMsg::Job { kind, .. } => {
                    5 + JobKind::params_len(kind.code()).unwrap_or_default()
                }
                EngineMsg::Triples { msg, .. } => msg.encoded_len(),
                EngineMsg::Mult { msg, .. } => ArithMessage::encoded_len(msg),
                EngineMsg::Drelu { msg, .. } => Message::encoded_len(msg),
                EngineMsg::Open { msg, .. } => msg.encoded_len(),
                EngineMsg::Relu { msg, .. } => Message::encoded_len(msg),
                EngineMsg::B2a { msg, .. } => Message::encoded_len(msg),
                EngineMsg::Count { msg, .. } => Message::encoded_len(msg),
                EngineMsg::CoinCommit { msg, .. } => ArithMessage::encoded_len(msg),
                EngineMsg::CoinReveal { msg, .. } => ArithMessage::encoded_len(msg),
            }
    }

    /// `tag ‖ instance (u32 LE) ‖ payload`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(self.tag());
        out.extend_from_slice(&self.instance().to_le_bytes());
        match self {
            EngineMsg::Hello(m) => {
                out.extend_from_slice(&m.nonce);
                out.extend_from_slice(&m.settings);
            }
            EngineMsg::BaseOtSender(m) => out.extend_from_slice(&m.to_bytes()),
            EngineMsg::BaseOtReceiver(m) => out.extend_from_slice(&m.to_bytes()),
            EngineMsg::Extend(m) => out.extend_from_slice(m.as_bytes()),
            EngineMsg::SelfTest(m) => {
                out.extend_from_slice(&m.ops.to_le_bytes());
                out.extend_from_slice(&m.seed);
            }
            EngineMsg::Abort(r) => out.extend_from_slice(r.as_bytes()),
            EngineMsg::Job { kind, n, .. } => {
                out.push(kind.code());
                out.extend_from_slice(&n.to_le_bytes());
                kind.encode_params(&mut out);
            }
            EngineMsg::Triples { msg, .. } => out.extend_from_slice(&msg.encode()),
            EngineMsg::Mult { msg, .. } => out.extend_from_slice(&ArithMessage::encode(msg)),
            EngineMsg::Drelu { msg, .. } => msg.encode_into(&mut out),
            EngineMsg::Open { msg, .. } => msg.encode_into(&mut out),
            EngineMsg::Relu { msg, .. } => msg.encode_into(&mut out),
            EngineMsg::B2a { msg, .. } => msg.encode_into(&mut out),
            EngineMsg::Count { msg, .. } => msg.encode_into(&mut out),
            EngineMsg::CoinCommit { msg, .. } => out.extend_from_slice(&msg.encode()),
            EngineMsg::CoinReveal { msg, .. } => out.extend_from_slice(&msg.encode()),
        }
        out
    }

    /// Strict decoding: size limit, header, tag, instance, then the payload
    /// with the sub-protocol's validating decoder.
    pub fn decode(bytes: &[u8]) -> Result<EngineMsg, EngineCodecError> {
        if bytes.len() > MAX_MSG_BYTES {
            return Err(EngineCodecError::TooLarge {
                len: bytes.len(),
                max: MAX_MSG_BYTES,
            });
        }
        let Some((header, payload)) = bytes.split_at_checked(HEADER_LEN) else {
            return Err(EngineCodecError::Truncated { len: bytes.len() });
        };
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(header);
        let [tag, i0, i1, i2, i3] = h;
        let instance = u32::from_le_bytes([i0, i1, i2, i3]);
        let kind = kind_of(tag);
        let session_level = matches!(
            tag,
            TAG_HELLO | TAG_BASE_SENDER | TAG_BASE_RECEIVER | TAG_EXTEND | TAG_ABORT
        );
        if session_level != (instance == 0) && kind != UNKNOWN_KIND {
            return Err(EngineCodecError::Instance { kind, instance });
        }
        Ok(match tag {
            TAG_HELLO => {
                let Some((n, d)) = payload
                    .split_at_checked(32)
                    .filter(|_| payload.len() == HELLO_LEN)
                else {
                    return Err(EngineCodecError::Length {
                        kind: HELLO_KIND,
                        expected: HELLO_LEN,
                        got: payload.len(),
                    });
                };
                let mut nonce = [0u8; 32];
                nonce.copy_from_slice(n);
                let mut settings = [0u8; 32];
                settings.copy_from_slice(d);
                EngineMsg::Hello(HelloMsg { nonce, settings })
            }
            TAG_BASE_SENDER => EngineMsg::BaseOtSender(BaseOtSenderMsg::from_bytes(payload)?),
            TAG_BASE_RECEIVER => EngineMsg::BaseOtReceiver(BaseOtReceiverMsg::from_bytes(payload)?),
            TAG_EXTEND => EngineMsg::Extend(ExtendMsg::from_slice(payload)?),
            TAG_SELFTEST => EngineMsg::SelfTest(SelfTestMsg::decode(instance, payload)?),
            TAG_ABORT => {
                if payload.len() > MAX_ABORT_REASON {
                    return Err(EngineCodecError::Reason);
                }
                let reason = core::str::from_utf8(payload).map_err(|_| EngineCodecError::Reason)?;
                EngineMsg::Abort(reason.to_string())
            }
            TAG_JOB => decode_job(instance, payload)?,
            TAG_TRIPLES => EngineMsg::Triples {
                instance,
                msg: TripleMsg::decode(payload)?,
            },
            TAG_MULT => EngineMsg::Mult {
                instance,
                msg: <MultMsg as ArithMessage>::decode(payload)?,
            },
            TAG_DRELU => EngineMsg::Drelu {
                instance,
                msg: <CmpMsg as Message>::decode(payload)?,
            },
            TAG_OPEN => EngineMsg::Open {
                instance,
                msg: OpenMsg::decode(payload)?,
            },
            TAG_RELU => EngineMsg::Relu {
                instance,
                msg: <ReluMsg as Message>::decode(payload)?,
            },
            TAG_B2A => EngineMsg::B2a {
                instance,
                msg: <MuxMsg as Message>::decode(payload)?,
            },
            TAG_COUNT => EngineMsg::Count {
                instance,
                msg: <CountMsg as Message>::decode(payload)?,
            },
            TAG_COIN_COMMIT => EngineMsg::CoinCommit {
                instance,
                msg: <CoinCommit as ArithMessage>::decode(payload)?,
            },
            TAG_COIN_REVEAL => EngineMsg::CoinReveal {
                instance,
                msg: <CoinReveal as ArithMessage>::decode(payload)?,
            },
            tag => return Err(EngineCodecError::UnknownTag { tag }),
        })
    }
}

impl SelfTestMsg {
    /// The payload of a self-test request: `ops (u32 LE) ‖ seed`.
    fn decode(instance: u32, payload: &[u8]) -> Result<SelfTestMsg, EngineCodecError> {
        if payload.len() != 36 {
            return Err(EngineCodecError::Length {
                kind: SELFTEST_KIND,
                expected: 36,
                got: payload.len(),
            });
        }
        let (o, s) = payload.split_at(4);
        let mut ops = [0u8; 4];
        ops.copy_from_slice(o);
        let mut seed = [0u8; 32];
        seed.copy_from_slice(s);
        let ops = u32::from_le_bytes(ops);
        if ops == 0 {
            return Err(EngineCodecError::ZeroOps {
                kind: SELFTEST_KIND,
            });
        }
        Ok(SelfTestMsg {
            instance,
            ops,
            seed,
        })
    }
}

/// The payload of a job announcement: `code ‖ n (u32 LE) ‖ parameters`.
fn decode_job(instance: u32, payload: &[u8]) -> Result<EngineMsg, EngineCodecError> {
    let Some(&code) = payload.first() else {
        return Err(EngineCodecError::Length {
            kind: JOB_KIND,
            expected: 5,
            got: 0,
        });
    };
    let Some(extra) = JobKind::params_len(code) else {
        return Err(EngineCodecError::JobKind { code });
    };
    let (head, params) = match payload.split_at_checked(5) {
        Some((h, p)) if p.len() == extra => (h, p),
        _ => {
            return Err(EngineCodecError::Length {
                kind: JOB_KIND,
                expected: 5 + extra,
                got: payload.len(),
            });
        }
    };
    let mut nb = [0u8; 4];
    nb.copy_from_slice(head.get(1..5).unwrap_or(&[0; 4]));
    let n = u32::from_le_bytes(nb);
    if n == 0 {
        return Err(EngineCodecError::ZeroOps { kind: JOB_KIND });
    }
    let kind = JobKind::decode(code, params)?;
    Ok(EngineMsg::Job { instance, kind, n })
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
