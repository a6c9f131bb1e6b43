//! Identities, fingerprints and the enrolment directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::temp_dir;
use transport::{
    Enrolled, EnrolledWorker, Fingerprint, Identity, Pki, TransportError, generate_pki, load_cert,
    load_enrolled,
};

#[test]
fn generate_pki_and_load_round_trip() {
    let dir = temp_dir("pki");
    let start = Instant::now();
    generate_pki(&dir, 100).unwrap();
    println!("generate_pki(100 workers): {:?}", start.elapsed());

    let pki = Pki::new(&dir);
    let enrolled = pki.load_enrolled().unwrap();
    assert_eq!(enrolled.len(), 100);
    for id in 0..100 {
        let worker = pki.load_worker(id).unwrap();
        assert_eq!(enrolled.worker_id(&worker.fingerprint()), Some(id));
        assert_eq!(enrolled.fingerprint_of(id), Some(worker.fingerprint()));
    }
    let a = pki.load_server_a().unwrap();
    let b = pki.load_server_b().unwrap();
    assert_ne!(a.fingerprint(), b.fingerprint());
    assert_eq!(pki.server_a_fingerprint().unwrap(), a.fingerprint());
    assert_eq!(pki.server_b_fingerprint().unwrap(), b.fingerprint());
    assert_eq!(load_cert(pki.server_b_cert()).unwrap(), b.cert_der());
    assert_eq!(enrolled.worker_id(&a.fingerprint()), None);

    // enrolled.json is a JSON array of {id, fingerprint: hex}.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pki.enrolled()).unwrap()).unwrap();
    let first = &json.as_array().unwrap()[0];
    assert_eq!(first["id"], 0);
    assert_eq!(first["fingerprint"].as_str().unwrap().len(), 64);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in [pki.server_a_key(), pki.server_b_key(), pki.worker_key(7)] {
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", key.display());
        }
    }

    // A key that does not belong to the certificate is rejected.
    let err = Identity::load(pki.worker_cert(1), pki.worker_key(2)).unwrap_err();
    assert!(matches!(err, TransportError::KeyMismatch { .. }), "{err:?}");
    // A key file is not a certificate.
    assert!(load_cert(pki.worker_key(1)).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fingerprints_are_stable() {
    let dir = temp_dir("fp");
    let id = Identity::generate("worker-3").unwrap();
    let fp = id.fingerprint();
    assert_eq!(fp, id.fingerprint());
    assert_eq!(fp, Fingerprint::of_cert(id.cert_der()));
    id.save(dir.join("w.crt"), dir.join("w.key")).unwrap();
    let loaded = Identity::load(dir.join("w.crt"), dir.join("w.key")).unwrap();
    assert_eq!(loaded.fingerprint(), fp);
    assert_eq!(loaded.cert_der(), id.cert_der());
    // Saving the loaded identity again gives identical files.
    loaded.save(dir.join("w2.crt"), dir.join("w2.key")).unwrap();
    assert_eq!(
        std::fs::read(dir.join("w.crt")).unwrap(),
        std::fs::read(dir.join("w2.crt")).unwrap()
    );
    assert_eq!(
        std::fs::read(dir.join("w.key")).unwrap(),
        std::fs::read(dir.join("w2.key")).unwrap()
    );

    // Hex Display / FromStr / serde.
    let hex = fp.to_string();
    assert_eq!(hex.len(), 64);
    assert_eq!(hex.parse::<Fingerprint>().unwrap(), fp);
    assert_eq!(hex.to_uppercase().parse::<Fingerprint>().unwrap(), fp);
    assert_eq!(serde_json::to_string(&fp).unwrap(), format!("\"{hex}\""));
    assert_eq!(
        serde_json::from_str::<Fingerprint>(&format!("\"{hex}\"")).unwrap(),
        fp
    );
    assert!("abc".parse::<Fingerprint>().is_err());
    assert!("zz".repeat(32).parse::<Fingerprint>().is_err());
    // SHA-256 of a known input.
    assert_eq!(
        Fingerprint::of_cert(b"abc").to_string(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn debug_does_not_print_the_key() {
    let id = Identity::generate("server-a").unwrap();
    let dbg = format!("{id:?}");
    assert!(dbg.contains("redacted"), "{dbg}");
    assert!(dbg.contains(&id.fingerprint().to_string()));
    assert!(!dbg.contains("key_der"), "{dbg}");
    assert!(dbg.len() < 200, "{dbg}");
}

#[test]
fn enrolment_rejects_duplicates() {
    let a = Identity::generate("w").unwrap().fingerprint();
    let b = Identity::generate("w").unwrap().fingerprint();
    let dup_fp = vec![
        EnrolledWorker {
            id: 0,
            fingerprint: a,
        },
        EnrolledWorker {
            id: 1,
            fingerprint: a,
        },
    ];
    assert!(matches!(
        Enrolled::new(dup_fp),
        Err(TransportError::Enrolment(_))
    ));
    let dup_id = vec![
        EnrolledWorker {
            id: 3,
            fingerprint: a,
        },
        EnrolledWorker {
            id: 3,
            fingerprint: b,
        },
    ];
    assert!(matches!(
        Enrolled::new(dup_id),
        Err(TransportError::Enrolment(_))
    ));

    let dir = temp_dir("enrol");
    let path = dir.join("enrolled.json");
    std::fs::write(
        &path,
        format!(r#"[{{"id": 0, "fingerprint": "{a}"}}, {{"id": 1, "fingerprint": "{a}"}}]"#),
    )
    .unwrap();
    assert!(load_enrolled(&path).is_err());
    std::fs::write(&path, r#"[{"id": 0, "fingerprint": "nothex"}]"#).unwrap();
    assert!(load_enrolled(&path).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
