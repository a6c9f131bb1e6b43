//! The 2PC engine's message decoder and a fresh engine fed arbitrary frames:
//! `EngineMsg::decode` must return an error or a message that re-encodes to
//! the same bytes, and `Engine::on_frame` must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpc_core::codec::Message;
use mpc_core::Seed;
use protocols::mpc::corr::Party;
use protocols::mpc::engine::{Engine, EngineConfig, EngineMsg};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = EngineMsg::decode(data) {
        assert_eq!(m.encoded_len(), data.len(), "engine encoded_len");
        assert_eq!(m.encode(), data, "engine messages must round-trip");
    }
    for party in [Party::A, Party::B] {
        let mut e = Engine::new(party, EngineConfig::default(), &Seed([3; 32]));
        if e.start().is_err() {
            return;
        }
        let _ = e.on_frame(data);
        let _ = e.on_frame(data);
    }
});
