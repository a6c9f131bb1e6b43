//! `HOST:PORT` addresses given on the command line (`--peer-b`,
//! `--server-a`, `--server-b`): parsed when the flags are read, resolved
//! once at start (`localhost:4434` as well as `127.0.0.1:4434`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::error::{Result, TransportError};

/// A host name or IP address with a port. Parsing checks only the form;
/// [`HostPort::resolve`] looks the name up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    host: String,
    port: u16,
}

impl HostPort {
    /// The host part (a name, or an IP address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Resolves the host (an IP address resolves to itself) and picks one
    /// address: with `like`, the first of `like`'s family (a QUIC endpoint
    /// bound to an IPv4 address can only reach IPv4 addresses); without,
    /// the first IPv4 address (the servers listen on IPv4 by default, and
    /// `localhost` often lists `::1` first), else the first. `flag` names
    /// the command-line option in the error.
    pub async fn resolve(&self, flag: &str, like: Option<SocketAddr>) -> Result<SocketAddr> {
        let fail = |reason: String| TransportError::Resolve {
            flag: flag.to_owned(),
            addr: self.to_string(),
            reason,
        };
        let found: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| fail(format!("{e}: check the host name")))?
            .collect();
        pick(&found, like).ok_or_else(|| {
            fail(match (found.is_empty(), like) {
                (true, _) => "the name has no address".into(),
                (false, Some(l)) => format!(
                    "it has no {} address ({}), and this endpoint is bound to {l}",
                    family(l.ip()),
                    found
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                (false, None) => unreachable!("pick takes the first address"),
            })
        })
    }
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

fn pick(found: &[SocketAddr], like: Option<SocketAddr>) -> Option<SocketAddr> {
    match like {
        Some(l) => found.iter().find(|a| a.is_ipv4() == l.is_ipv4()).copied(),
        None => found
            .iter()
            .find(|a| a.is_ipv4())
            .or(found.first())
            .copied(),
    }
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(HostPort {
                host: a.ip().to_string(),
                port: a.port(),
            });
        }
        let bad = || {
            format!(
                "expected HOST:PORT (e.g. localhost:4434, 10.0.0.2:4434 or [::1]:4434), got {s:?}"
            )
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || host.contains(':') || host.contains(char::is_whitespace) {
            return Err(bad());
        }
        Ok(HostPort {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl From<SocketAddr> for HostPort {
    fn from(a: SocketAddr) -> Self {
        HostPort {
            host: a.ip().to_string(),
            port: a.port(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_names_and_addresses() {
        for (s, host, port) in [
            ("localhost:4434", "localhost", 4434),
            ("127.0.0.1:4433", "127.0.0.1", 4433),
            ("[::1]:4434", "::1", 4434),
            ("b.example.org:1", "b.example.org", 1),
        ] {
            let hp: HostPort = s.parse().unwrap();
            assert_eq!((hp.host(), hp.port()), (host, port));
            assert_eq!(hp.to_string(), s);
        }
        for s in [
            "localhost",
            ":4434",
            "host:port",
            "::1:4434",
            "host:70000",
            "",
        ] {
            assert!(s.parse::<HostPort>().is_err(), "{s}");
        }
    }

    #[tokio::test]
    async fn resolves_localhost_to_ipv4_and_names_the_flag() {
        let hp: HostPort = "localhost:4434".parse().unwrap();
        let a = hp.resolve("--peer-b", None).await.unwrap();
        assert_eq!(a, "127.0.0.1:4434".parse().unwrap());
        let like = "127.0.0.1:0".parse().ok();
        assert_eq!(hp.resolve("--peer-b", like).await.unwrap(), a);
        let bad: HostPort = "no-such-host.invalid:4434".parse().unwrap();
        let e = bad.resolve("--peer-b", None).await.unwrap_err().to_string();
        assert!(
            e.starts_with("cannot resolve --peer-b no-such-host.invalid:4434"),
            "{e}"
        );
    }

    #[test]
    fn picks_the_endpoint_family() {
        let v6: SocketAddr = "[::1]:1".parse().unwrap();
        let v4: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(pick(&[v6, v4], None), Some(v4));
        assert_eq!(pick(&[v6], None), Some(v6));
        assert_eq!(pick(&[v4, v6], Some(v6)), Some(v6));
        assert_eq!(pick(&[v4], Some(v6)), None);
    }
}
