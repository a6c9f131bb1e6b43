//! `mpc_core::ot`: the AES PRG and hash, Chou–Orlandi base-OT messages and
//! keys, and one IKNP session, all from fixed RNG seeds.

use mpc_core::codec::Message;
use mpc_core::ot::base::{BaseOtReceiver, BaseOtSender, SessionId};
use mpc_core::ot::block::{AesPrg, Block, Crhf, block_to_bytes};
use mpc_core::ot::{IknpReceiver, IknpSender};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::hex;

pub const FILE: &str = "ot.json";

fn blocks(v: &[Block]) -> Value {
    v.iter()
        .map(|&b| Value::String(hex(&block_to_bytes(b))))
        .collect()
}

fn bits(v: &[bool]) -> String {
    v.iter().map(|&b| if b { '1' } else { '0' }).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn rng(byte: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([byte; 32])
}

const SEED_BLOCK: Block = 0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100;

fn primitives() -> Value {
    let mut prg = AesPrg::new(SEED_BLOCK);
    let mut out = [0 as Block; 3];
    prg.fill(&mut out);
    let next = prg.next_block();
    let h = Crhf::new();
    let xs: [Block; 3] = [0, 1, SEED_BLOCK];
    let mut seq = xs;
    h.hash_seq_in_place(5, &mut seq);
    json!({
        "aes_prg_seed": hex(&block_to_bytes(SEED_BLOCK)),
        "aes_prg_fill_3_then_next": blocks(&[out.as_slice(), &[next]].concat()),
        "crhf_inputs": blocks(&xs),
        "crhf_permute": blocks(&xs.map(|x| h.permute(x))),
        "crhf_hash_tweak_7": blocks(&xs.map(|x| h.hash(7, x))),
        "crhf_hash_seq_from_tweak_5": blocks(&seq),
    })
}

fn base_ot() -> Value {
    let sid = SessionId::from_label(b"tandem-kat");
    let choices = [true, false, true, true];
    let (sender, m1) = BaseOtSender::new(&mut rng(1), sid, choices.len()).expect("sender");
    let receiver = BaseOtReceiver::new(&mut rng(2), sid, &choices).expect("receiver");
    let (m2, r_out) = receiver.receive(&m1).expect("receive");
    let s_out = sender.receive(&m2).expect("sender output");
    let k0: Vec<Block> = s_out.keys.iter().map(|k| k[0]).collect();
    let k1: Vec<Block> = s_out.keys.iter().map(|k| k[1]).collect();
    json!({
        "session_id": hex(&sid.0),
        "sender_rng": "ChaCha20Rng::from_seed([1; 32])",
        "receiver_rng": "ChaCha20Rng::from_seed([2; 32])",
        "choices": bits(&choices),
        "sender_msg": hex(&m1.encode()),
        "receiver_msg": hex(&m2.encode()),
        "sender_k0": blocks(&k0),
        "sender_k1": blocks(&k1),
        "receiver_keys": blocks(&r_out.keys),
    })
}

fn iknp() -> Value {
    let sid = SessionId::from_label(b"tandem-kat-iknp");
    let (mut r_rng, mut s_rng) = (rng(3), rng(4));
    let (setup, m1) = IknpReceiver::setup(&mut r_rng, sid).expect("setup R");
    let (mut s, m2) = IknpSender::setup(&mut s_rng, sid, &m1).expect("setup S");
    let mut r = setup.finish(&m2).expect("finish R");

    // Batch 0: 200 random OTs (two tiles, the second padded).
    let (rot_r, u) = r.extend_rot(&mut r_rng, 200).expect("extend_rot");
    let rot_s = s.receive_rot(&u, 200).expect("receive_rot");
    // Batch 1: 130 correlated OTs.
    let (cot_r, u1) = r.extend_cot(&mut r_rng, 130).expect("extend_cot");
    let cot_s = s.receive_cot(&u1, 130).expect("receive_cot");
    json!({
        "session_id": hex(&sid.0),
        "receiver_rng": "ChaCha20Rng::from_seed([3; 32])",
        "sender_rng": "ChaCha20Rng::from_seed([4; 32])",
        "setup_receiver_msg": hex(&m1.encode()),
        "setup_sender_msg_len": m2.encoded_len(),
        "setup_sender_msg_sha256": sha256(&m2.encode()),
        "rot_200": {
            "extend_msg_header": hex(&u.as_bytes()[..17]),
            "extend_msg_len": u.encoded_len(),
            "extend_msg_sha256": sha256(u.as_bytes()),
            "choices_first_16": bits(&rot_r.choices[..16]),
            "receiver_mc_first_2": blocks(&rot_r.mc[..2]),
            "sender_m0_first_2": blocks(&rot_s.m0[..2]),
            "sender_m1_first_2": blocks(&rot_s.m1[..2]),
            "sender_m0_last": blocks(&rot_s.m0[199..]),
        },
        "cot_130": {
            "extend_msg_header": hex(&u1.as_bytes()[..17]),
            "extend_msg_sha256": sha256(u1.as_bytes()),
            "delta": blocks(&[cot_s.delta]),
            "choices_first_16": bits(&cot_r.choices[..16]),
            "receiver_t_first_2": blocks(&cot_r.t[..2]),
            "sender_q_first_2": blocks(&cot_s.q[..2]),
        },
    })
}

pub fn compute() -> Value {
    json!({
        "description": "mpc_core::ot: AES-CTR PRG and fixed-key-AES hash, Chou-Orlandi base OT (4 OTs), IKNP setup and one ROT and one COT batch, from the stated ChaCha20 seeds; blocks as 16 little-endian bytes, hex; long messages as SHA-256",
        "primitives": primitives(),
        "base_ot": base_ot(),
        "iknp": iknp(),
    })
}
