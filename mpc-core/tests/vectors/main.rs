//! Known-answer vectors: the current outputs of the PRG, the wire codec, the
//! FLP and the OT layer for fixed inputs, compared with the JSON files next to
//! this file. A vector that changes means a primitive or a wire format
//! changed; regenerating the files is a deliberate act (see `README.md` here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod flp;
mod ot;
mod prg;
mod wire;

use std::path::PathBuf;

use serde_json::Value;

/// `tests/vectors/<name>`.
fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors")
        .join(name)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Inverse of [`hex`].
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex string");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// The stored vector file `name`.
pub fn load(name: &str) -> Value {
    let p = path(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; generate it with the command in tests/vectors/README.md",
            p.display()
        )
    });
    serde_json::from_str(&text).expect("vector file is JSON")
}

/// The first place where `got` differs from `want`, as a JSON pointer.
fn first_difference(want: &Value, got: &Value, at: String) -> Option<String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let here = format!("{at}/{k}");
                match g.get(k) {
                    Some(gv) => {
                        if let Some(d) = first_difference(wv, gv, here) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{here}: missing from the computed vectors")),
                }
            }
            g.keys()
                .find(|k| !w.contains_key(*k))
                .map(|k| format!("{at}/{k}: not in the stored vectors"))
        }
        (Value::Array(w), Value::Array(g)) => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                if let Some(d) = first_difference(wv, gv, format!("{at}/{i}")) {
                    return Some(d);
                }
            }
            (w.len() != g.len())
                .then(|| format!("{at}: {} entries stored, {} computed", w.len(), g.len()))
        }
        _ => (want != got).then(|| format!("{at}: stored {want}, computed {got}")),
    }
}

/// Asserts that `computed` equals the stored file `name`.
pub fn check(name: &str, computed: &Value) {
    let stored = load(name);
    if let Some(d) = first_difference(&stored, computed, String::new()) {
        panic!(
            "known-answer vector {name} changed at {d}.\n\
             A primitive or a wire format changed. If that is deliberate, \
             regenerate the vectors (tests/vectors/README.md) and say so in the commit."
        );
    }
}

/// Writes `computed` as the file `name` (pretty JSON, trailing newline).
fn store(name: &str, computed: &Value) {
    let mut text = serde_json::to_string_pretty(computed).expect("JSON");
    text.push('\n');
    std::fs::write(path(name), text).expect("write vector file");
}

/// Regenerates every vector file from the current code. Ignored by default:
/// run it only on purpose (tests/vectors/README.md).
#[test]
#[ignore = "writes tests/vectors/*.json; run only to change the vectors on purpose"]
fn regenerate() {
    store(prg::FILE, &prg::compute());
    store(wire::FILE, &wire::compute());
    store(flp::FILE, &flp::compute());
    store(ot::FILE, &ot::compute());
}

#[test]
fn prg_vectors() {
    check(prg::FILE, &prg::compute());
}

#[test]
fn wire_vectors() {
    check(wire::FILE, &wire::compute());
    wire::stored_bytes_decode_to_the_values();
}

#[test]
fn flp_vectors() {
    check(flp::FILE, &flp::compute());
    flp::stored_verdicts_hold();
}

#[test]
fn ot_vectors() {
    check(ot::FILE, &ot::compute());
}

#[test]
fn hex_round_trips() {
    let b = [0x00, 0x0f, 0xa5, 0xff];
    assert_eq!(hex(&b), "000fa5ff");
    assert_eq!(unhex("000fa5ff"), b);
}
