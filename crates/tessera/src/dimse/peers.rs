//! The table of known DICOM peers: AE title, address, and the roles of the access-control
//! table the peer has when it calls Tessera. C-MOVE sends only to peers in this table.
//!
//! Written `AE_TITLE=host:port` with optional roles after a slash joined by `+`, e.g.
//! `CT1=10.0.0.5:104/write` or `WORKSTATION=10.0.0.6:11112/read+write` (no roles given:
//! read and write).

use std::fmt;
use std::str::FromStr;

use crate::auth::{Role, Roles};

/// One known peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub ae_title: String,
    pub host: String,
    pub port: u16,
    pub roles: Roles,
}

impl Peer {
    /// `host:port`, for connecting.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Why a peer entry does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DICOM peer {entry:?}: {reason} (expected AE_TITLE=host:port[/role+role])")]
pub struct BadPeer {
    pub entry: String,
    pub reason: String,
}

/// Whether `title` is a valid AE title (PS3.5 6.2: 1-16 characters of the default character
/// repertoire, no backslash or control characters, not only spaces).
pub fn valid_ae_title(title: &str) -> bool {
    !title.trim().is_empty()
        && title.len() <= 16
        && title
            .chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control() && c != '\\')
}

impl FromStr for Peer {
    type Err = BadPeer;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| BadPeer {
            entry: entry.to_string(),
            reason: reason.to_string(),
        };
        let (title, rest) = entry.split_once('=').ok_or_else(|| bad("no '='"))?;
        let title = title.trim();
        if !valid_ae_title(title) {
            return Err(bad("the AE title must be 1 to 16 characters, no backslash"));
        }
        let (address, roles) = match rest.split_once('/') {
            Some((address, roles)) => (address.trim(), Some(roles)),
            None => (rest.trim(), None),
        };
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| bad("no port after the host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port must be 1 to 65535"))?;
        let roles = match roles {
            None => Roles::NONE.with(Role::Read).with(Role::Write),
            Some(list) => {
                let mut roles = Roles::NONE;
                for name in list.split('+').filter(|n| !n.trim().is_empty()) {
                    roles = roles.with(name.parse().map_err(|e| bad(&format!("{e}")))?);
                }
                roles
            }
        };
        Ok(Peer {
            ae_title: title.to_string(),
            host: host.to_string(),
            port,
            roles,
        })
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.ae_title, self.address())
    }
}

/// All known peers, looked up by AE title (exact, trailing spaces ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerTable {
    peers: Vec<Peer>,
}

impl PeerTable {
    /// Parse every entry; two entries with one AE title are an error.
    pub fn parse(entries: &[String]) -> Result<PeerTable, BadPeer> {
        let mut peers: Vec<Peer> = Vec::new();
        for entry in entries.iter().filter(|e| !e.trim().is_empty()) {
            let peer: Peer = entry.parse()?;
            if peers.iter().any(|p| p.ae_title == peer.ae_title) {
                return Err(BadPeer {
                    entry: entry.clone(),
                    reason: "this AE title is listed twice".into(),
                });
            }
            peers.push(peer);
        }
        Ok(PeerTable { peers })
    }

    pub fn get(&self, ae_title: &str) -> Option<&Peer> {
        let title = ae_title.trim();
        self.peers.iter().find(|p| p.ae_title == title)
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_with_and_without_roles() {
        let table = PeerTable::parse(&[
            "CT1=10.0.0.5:104/write".into(),
            "WS = workstation.example.org:11112".into(),
            "V6=[::1]:4242/read+write+delete".into(),
        ])
        .unwrap();
        let ct = table.get("CT1  ").unwrap();
        assert_eq!((ct.host.as_str(), ct.port), ("10.0.0.5", 104));
        assert!(ct.roles.has(Role::Write) && !ct.roles.has(Role::Read));
        let ws = table.get("WS").unwrap();
        assert!(ws.roles.has(Role::Read) && ws.roles.has(Role::Write));
        assert_eq!(ws.address(), "workstation.example.org:11112");
        assert_eq!(table.get("V6").unwrap().address(), "[::1]:4242");
        assert!(table.get("ct1").is_none());
    }

    #[test]
    fn bad_entries_say_why() {
        for (entry, why) in [
            ("CT1", "no '='"),
            ("CT1=host", "no port"),
            ("CT1=host:0", "port"),
            ("THIS_TITLE_IS_TOO_LONG=h:1", "AE title"),
            ("CT1=h:1/reader", "unknown role"),
        ] {
            let err = PeerTable::parse(&[entry.into()]).unwrap_err();
            assert!(err.to_string().contains(why), "{entry}: {err}");
        }
        let err = PeerTable::parse(&["A=h:1".into(), "A=g:2".into()]).unwrap_err();
        assert!(err.to_string().contains("twice"));
    }
}
