//! Identities (self-signed certificates + keys), fingerprints and the
//! enrolment directory.
//!
//! There are no certificate authorities: every party has a self-signed
//! certificate and peers are recognised by the SHA-256 fingerprint of their
//! certificate's DER encoding.
//!
//! Enrolment directory layout (created by [`generate_pki`], located by [`Pki`]):
//!
//! ```text
//! DIR/server-a.crt   DIR/server-a.key
//! DIR/server-b.crt   DIR/server-b.key
//! DIR/workers/worker-{id}.crt   DIR/workers/worker-{id}.key   (id = 0..workers)
//! DIR/enrolled.json  [{ "id": 0, "fingerprint": "<64 hex>" }, ...]
//! ```
//!
//! Workers receive `server-a.crt` and `server-b.crt` at enrolment and pin both;
//! they must never learn B's certificate from A.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Result, TransportError};

/// SHA-256 of a certificate's DER encoding. Displays / parses / serialises as
/// 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Fingerprint of a DER-encoded certificate.
    pub fn of_cert(cert_der: &[u8]) -> Self {
        let digest = Sha256::digest(cert_der);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_slice());
        Fingerprint(out)
    }

    /// Wrap raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Fingerprint(bytes)
    }

    /// The raw digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = TransportError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || TransportError::InvalidFingerprint(s.chars().take(80).collect());
        let bytes = s.trim().as_bytes();
        if bytes.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let hi = hex_val(pair[0]).ok_or_else(bad)?;
            let lo = hex_val(pair[1]).ok_or_else(bad)?;
            *o = (hi << 4) | lo;
        }
        Ok(Fingerprint(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A party's certificate and private key (PKCS#8 DER, zeroised on drop).
///
/// `Debug` prints only the fingerprint, never the key.
#[derive(Clone)]
pub struct Identity {
    cert_der: Vec<u8>,
    key_der: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Identity {
    /// Generate a fresh self-signed ECDSA P-256 certificate whose subject CN
    /// and DNS SAN are `common_name` (the name is informational only; peers
    /// are identified by fingerprint).
    pub fn generate(common_name: &str) -> Result<Identity> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = rcgen::CertificateParams::new(vec![common_name.to_owned()])?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, common_name);
        params.distinguished_name = dn;
        let cert = params.self_signed(&key)?;
        Ok(Identity {
            cert_der: cert.der().to_vec(),
            key_der: Zeroizing::new(key.serialize_der()),
        })
    }

    /// Build an identity from a DER certificate and a PKCS#8 DER key, checking
    /// that they belong together.
    pub fn from_der(cert_der: Vec<u8>, pkcs8_key_der: Zeroizing<Vec<u8>>) -> Result<Identity> {
        let id = Identity {
            cert_der,
            key_der: pkcs8_key_der,
        };
        id.check_consistent()?;
        Ok(id)
    }

    fn check_consistent(&self) -> Result<()> {
        let provider = rustls::crypto::ring::default_provider();
        match rustls::sign::CertifiedKey::from_der(
            vec![self.certificate()],
            self.private_key(),
            &provider,
        ) {
            Ok(_) => Ok(()),
            Err(rustls::Error::InconsistentKeys(_)) => Err(TransportError::KeyMismatch {
                cert: self.fingerprint(),
            }),
            Err(rustls::Error::InvalidCertificate(e)) => {
                Err(TransportError::CertParse(format!("{e:?}")))
            }
            // Never format the key or anything derived from it.
            Err(_) => Err(TransportError::KeyParse(
                "unsupported or malformed PKCS#8 key".into(),
            )),
        }
    }

    /// The certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// SHA-256 fingerprint of the certificate.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_cert(&self.cert_der)
    }

    pub(crate) fn certificate(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.cert_der.clone())
    }

    pub(crate) fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.to_vec()))
    }

    /// Write the certificate and key as PEM. The key file gets mode 0600 on
    /// unix. Parent directories must exist.
    pub fn save(&self, cert_path: impl AsRef<Path>, key_path: impl AsRef<Path>) -> Result<()> {
        let cert_path = cert_path.as_ref();
        let key_path = key_path.as_ref();
        let cert_pem = pem_encode("CERTIFICATE", &self.cert_der);
        std::fs::write(cert_path, cert_pem.as_bytes())
            .map_err(|e| TransportError::io(format!("writing {}", cert_path.display()), e))?;
        let key_pem = pem_encode("PRIVATE KEY", &self.key_der);
        write_private(key_path, key_pem.as_bytes())
    }

    /// Load a PEM certificate and PEM PKCS#8 key written by [`Identity::save`]
    /// (or any PEM "PRIVATE KEY"), checking that they belong together.
    pub fn load(cert_path: impl AsRef<Path>, key_path: impl AsRef<Path>) -> Result<Identity> {
        let cert_der = load_cert(cert_path)?;
        let key_path = key_path.as_ref();
        let pem = Zeroizing::new(
            std::fs::read(key_path)
                .map_err(|e| TransportError::io(format!("reading {}", key_path.display()), e))?,
        );
        let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
            TransportError::KeyParse(format!("{}: no PEM private key found", key_path.display()))
        })?;
        let PrivateKeyDer::Pkcs8(pkcs8) = key else {
            return Err(TransportError::KeyParse(format!(
                "{}: expected a PKCS#8 \"PRIVATE KEY\"",
                key_path.display()
            )));
        };
        let key_der = Zeroizing::new(pkcs8.secret_pkcs8_der().to_vec());
        Identity::from_der(cert_der, key_der)
    }
}

/// Load a peer's PEM certificate (first CERTIFICATE block) as DER, checking
/// that it parses as an X.509 certificate.
pub fn load_cert(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let pem = std::fs::read(path)
        .map_err(|e| TransportError::io(format!("reading {}", path.display()), e))?;
    let cert = CertificateDer::from_pem_slice(&pem)
        .map_err(|e| TransportError::CertParse(format!("{}: {e}", path.display())))?;
    rustls::server::ParsedCertificate::try_from(&cert)
        .map_err(|e| TransportError::CertParse(format!("{}: {e}", path.display())))?;
    Ok(cert.to_vec())
}

/// Fingerprint of a peer's PEM certificate file.
pub fn load_fingerprint(path: impl AsRef<Path>) -> Result<Fingerprint> {
    Ok(Fingerprint::of_cert(&load_cert(path)?))
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    let err = |e| TransportError::io(format!("writing {}", path.display()), e);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    #[cfg(unix)]
    {
        // `mode` only applies to newly created files.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
    }
    f.write_all(data).map_err(err)?;
    f.flush().map_err(err)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// PEM-encode `der` (base64, 64-character lines). Returned in a zeroising
/// buffer because it is also used for private keys.
fn pem_encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let mut b64 = Zeroizing::new(String::with_capacity(der.len().div_ceil(3) * 4));
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| char::from(B64[((n >> shift) & 63) as usize]);
        b64.push(sextet(18));
        b64.push(sextet(12));
        b64.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        b64.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    let mut out = Zeroizing::new(String::with_capacity(b64.len() + b64.len() / 64 + 64));
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// One line of `enrolled.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolledWorker {
    /// Worker id.
    pub id: u32,
    /// Fingerprint of the worker's certificate.
    pub fingerprint: Fingerprint,
}

/// The set of enrolled workers: fingerprint → worker id.
#[derive(Clone, Debug, Default)]
pub struct Enrolled {
    workers: Vec<EnrolledWorker>,
    by_fingerprint: HashMap<Fingerprint, u32>,
}

impl Enrolled {
    /// Build from a list, rejecting duplicate fingerprints and duplicate ids.
    pub fn new(workers: Vec<EnrolledWorker>) -> Result<Enrolled> {
        let mut by_fingerprint = HashMap::with_capacity(workers.len());
        let mut ids = std::collections::HashSet::with_capacity(workers.len());
        for w in &workers {
            if !ids.insert(w.id) {
                return Err(TransportError::Enrolment(format!(
                    "worker id {} is enrolled twice",
                    w.id
                )));
            }
            if let Some(prev) = by_fingerprint.insert(w.fingerprint, w.id) {
                return Err(TransportError::Enrolment(format!(
                    "fingerprint {} is enrolled for both worker {prev} and worker {}",
                    w.fingerprint, w.id
                )));
            }
        }
        Ok(Enrolled {
            workers,
            by_fingerprint,
        })
    }

    /// Worker id for a certificate fingerprint.
    pub fn worker_id(&self, fingerprint: &Fingerprint) -> Option<u32> {
        self.by_fingerprint.get(fingerprint).copied()
    }

    /// Fingerprint enrolled for a worker id.
    pub fn fingerprint_of(&self, id: u32) -> Option<Fingerprint> {
        self.workers
            .iter()
            .find(|w| w.id == id)
            .map(|w| w.fingerprint)
    }

    /// All enrolled fingerprints (in file order), e.g. for
    /// [`crate::server_endpoint`]'s allow list.
    pub fn fingerprints(&self) -> Vec<Fingerprint> {
        self.workers.iter().map(|w| w.fingerprint).collect()
    }

    /// The entries, in file order.
    pub fn workers(&self) -> &[EnrolledWorker] {
        &self.workers
    }

    /// Number of enrolled workers.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// True if no worker is enrolled.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Write as a JSON array of `{ "id", "fingerprint" }`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut json = serde_json::to_string_pretty(&self.workers)?;
        json.push('\n');
        std::fs::write(path, json)
            .map_err(|e| TransportError::io(format!("writing {}", path.display()), e))
    }
}

/// Load `enrolled.json` (JSON array of `{ "id": u32, "fingerprint": hex }`),
/// rejecting duplicate ids and fingerprints.
pub fn load_enrolled(path: impl AsRef<Path>) -> Result<Enrolled> {
    let path = path.as_ref();
    let data = std::fs::read(path)
        .map_err(|e| TransportError::io(format!("reading {}", path.display()), e))?;
    let workers: Vec<EnrolledWorker> = serde_json::from_slice(&data)?;
    Enrolled::new(workers)
}

/// Locates the files of an enrolment directory (see the module docs).
#[derive(Clone, Debug)]
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// Enrolment directory rooted at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Pki {
        Pki { dir: dir.into() }
    }

    /// The root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `DIR/server-a.crt`
    pub fn server_a_cert(&self) -> PathBuf {
        self.dir.join("server-a.crt")
    }

    /// `DIR/server-a.key`
    pub fn server_a_key(&self) -> PathBuf {
        self.dir.join("server-a.key")
    }

    /// `DIR/server-b.crt`
    pub fn server_b_cert(&self) -> PathBuf {
        self.dir.join("server-b.crt")
    }

    /// `DIR/server-b.key`
    pub fn server_b_key(&self) -> PathBuf {
        self.dir.join("server-b.key")
    }

    /// `DIR/workers`
    pub fn workers_dir(&self) -> PathBuf {
        self.dir.join("workers")
    }

    /// `DIR/workers/worker-{id}.crt`
    pub fn worker_cert(&self, id: u32) -> PathBuf {
        self.workers_dir().join(format!("worker-{id}.crt"))
    }

    /// `DIR/workers/worker-{id}.key`
    pub fn worker_key(&self, id: u32) -> PathBuf {
        self.workers_dir().join(format!("worker-{id}.key"))
    }

    /// `DIR/enrolled.json`
    pub fn enrolled(&self) -> PathBuf {
        self.dir.join("enrolled.json")
    }

    /// Server A's identity (cert + key).
    pub fn load_server_a(&self) -> Result<Identity> {
        Identity::load(self.server_a_cert(), self.server_a_key())
    }

    /// Server B's identity (cert + key).
    pub fn load_server_b(&self) -> Result<Identity> {
        Identity::load(self.server_b_cert(), self.server_b_key())
    }

    /// Worker `id`'s identity (cert + key).
    pub fn load_worker(&self, id: u32) -> Result<Identity> {
        Identity::load(self.worker_cert(id), self.worker_key(id))
    }

    /// Fingerprint of server A's certificate (what workers and B pin).
    pub fn server_a_fingerprint(&self) -> Result<Fingerprint> {
        load_fingerprint(self.server_a_cert())
    }

    /// Fingerprint of server B's certificate (what workers and A pin).
    pub fn server_b_fingerprint(&self) -> Result<Fingerprint> {
        load_fingerprint(self.server_b_cert())
    }

    /// The two servers' fingerprints with their names ("server A", "server
    /// B"), for [`crate::TransportConfig::known_certs`]: a pin mismatch then
    /// says whose certificate a server presented.
    pub fn known_certs(&self) -> Result<Vec<(Fingerprint, String)>> {
        Ok(vec![
            (self.server_a_fingerprint()?, "server A".into()),
            (self.server_b_fingerprint()?, "server B".into()),
        ])
    }

    /// The enrolled workers.
    pub fn load_enrolled(&self) -> Result<Enrolled> {
        load_enrolled(self.enrolled())
    }
}

/// Create an enrolment directory: identities for server A, server B and
/// workers `0..workers`, plus `enrolled.json`. Existing files are overwritten.
pub fn generate_pki(dir: &Path, workers: u32) -> Result<()> {
    let pki = Pki::new(dir);
    let mkdir = |p: &Path| {
        std::fs::create_dir_all(p)
            .map_err(|e| TransportError::io(format!("creating {}", p.display()), e))
    };
    mkdir(dir)?;
    mkdir(&pki.workers_dir())?;
    Identity::generate("server-a")?.save(pki.server_a_cert(), pki.server_a_key())?;
    Identity::generate("server-b")?.save(pki.server_b_cert(), pki.server_b_key())?;
    let mut enrolled = Vec::with_capacity(workers as usize);
    for id in 0..workers {
        let identity = Identity::generate(&format!("worker-{id}"))?;
        identity.save(pki.worker_cert(id), pki.worker_key(id))?;
        enrolled.push(EnrolledWorker {
            id,
            fingerprint: identity.fingerprint(),
        });
    }
    Enrolled::new(enrolled)?.save(pki.enrolled())
}
