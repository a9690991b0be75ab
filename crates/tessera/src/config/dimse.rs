//! The DICOM port's settings as the DIMSE layer takes them, and their rules: a valid AE title,
//! peers that parse, a limit of at least one association, timeouts of at least a second, and
//! an open DICOM port (unknown peers accepted, no authentication) only on loopback unless
//! anonymous access is allowed, as for HTTP.

use std::time::Duration;

use super::{ConfigError, Settings};
use crate::auth::AuthMode;
use crate::dimse::peers::valid_ae_title;
use crate::dimse::{DimseSettings, PeerTable};

impl Settings {
    /// Whether associations from unknown calling AE titles are accepted.
    pub fn dimse_accepts_unknown(&self) -> bool {
        self.dimse_accept_unknown
            .unwrap_or(self.auth == AuthMode::None)
    }

    /// The DIMSE settings, when the DICOM port is on.
    pub fn dimse_settings(&self) -> Result<Option<DimseSettings>, ConfigError> {
        let Some(listen) = self.dimse_listen else {
            return Ok(None);
        };
        let peers = PeerTable::parse(&self.dimse_peers)
            .map_err(|e| ConfigError::Conflict(e.to_string()))?;
        Ok(Some(DimseSettings {
            listen,
            ae_title: self.ae_title.clone(),
            peers,
            accept_unknown: self.dimse_accepts_unknown(),
            max_associations: self.dimse_max_associations,
            max_pdu: self.dimse_max_pdu,
            idle_timeout: Duration::from_secs(self.dimse_idle_timeout),
            artim_timeout: Duration::from_secs(self.dimse_artim_timeout),
        }))
    }

    pub(super) fn check_dimse(&mut self) -> Result<(), ConfigError> {
        self.ae_title = self.ae_title.trim().to_string();
        if !valid_ae_title(&self.ae_title) {
            return Err(ConfigError::InvalidValue {
                name: "ae_title",
                value: self.ae_title.clone(),
                expected: "1 to 16 characters, no backslash or control characters",
            });
        }
        self.dimse_peers = self
            .dimse_peers
            .iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        PeerTable::parse(&self.dimse_peers).map_err(|e| ConfigError::Conflict(e.to_string()))?;
        self.dimse_max_associations = self.dimse_max_associations.max(1);
        self.dimse_max_pdu = self.dimse_max_pdu.clamp(4096, 16 << 20);
        self.dimse_idle_timeout = self.dimse_idle_timeout.max(1);
        self.dimse_artim_timeout = self.dimse_artim_timeout.max(1);
        if self.dimse_tls && (self.tls_cert.is_none() || self.tls_key.is_none()) {
            return Err(ConfigError::Conflict(
                "--dimse-tls needs --tls-cert and --tls-key (the same certificate as HTTPS)".into(),
            ));
        }
        if let Some(listen) = self.dimse_listen {
            let open = self.auth == AuthMode::None && self.dimse_accepts_unknown();
            if open && !listen.ip().is_loopback() && !self.allow_anonymous {
                return Err(ConfigError::Conflict(format!(
                    "refusing to open the DICOM port on {listen} to any AE title without \
                     authentication. List the peers (--dimse-peer) and say \
                     --dimse-accept-unknown false, listen on 127.0.0.1, or say --allow-anonymous"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::FromArgMatches;

    use super::*;
    use crate::auth::Role;

    fn load(flags: &[&str]) -> Result<Settings, ConfigError> {
        let matches = super::super::merge::without_environment::<Settings>(flags)?;
        Settings::from_arg_matches(&matches)
            .unwrap()
            .resolve(&matches, None)
    }

    #[test]
    fn the_dicom_port_is_off_unless_set() {
        let settings = load(&[]).unwrap();
        assert!(settings.dimse_settings().unwrap().is_none());
        assert_eq!(settings.ae_title, "TESSERA");
    }

    #[test]
    fn peers_and_unknown_callers() {
        let settings = load(&[
            "--dimse-listen",
            "127.0.0.1:11112",
            "--dimse-peer",
            "CT1=10.0.0.5:104/write,WS=10.0.0.6:11112",
            "--ae-title",
            "ARCHIVE",
        ])
        .unwrap();
        let dimse = settings.dimse_settings().unwrap().unwrap();
        assert_eq!(dimse.ae_title, "ARCHIVE");
        assert_eq!(dimse.peers.len(), 2);
        assert!(dimse.peers.get("CT1").unwrap().roles.has(Role::Write));
        // Open Tessera accepts unknown callers by default; with authentication it does not.
        assert!(dimse.accept_unknown);
        let closed = load(&["--dimse-listen", "127.0.0.1:0", "--auth", "required"]).unwrap();
        assert!(!closed.dimse_settings().unwrap().unwrap().accept_unknown);
        let told = load(&[
            "--dimse-listen",
            "127.0.0.1:0",
            "--dimse-accept-unknown",
            "false",
        ])
        .unwrap();
        assert!(!told.dimse_settings().unwrap().unwrap().accept_unknown);
    }

    #[test]
    fn bad_dicom_settings_are_refused() {
        let why = load(&["--dimse-peer", "CT1=nohost"])
            .unwrap_err()
            .to_string();
        assert!(why.contains("CT1=nohost"), "{why}");
        let why = load(&["--dimse-tls"]).unwrap_err().to_string();
        assert!(why.contains("--tls-cert"), "{why}");
        let why = load(&["--ae-title", "A_TITLE_FAR_TOO_LONG"])
            .unwrap_err()
            .to_string();
        assert!(why.contains("ae_title"), "{why}");
        // An open DICOM port off loopback.
        let why = load(&["--dimse-listen", "0.0.0.0:11112"])
            .unwrap_err()
            .to_string();
        assert!(why.contains("refusing to open the DICOM port"), "{why}");
        assert!(load(&[
            "--dimse-listen",
            "0.0.0.0:11112",
            "--dimse-accept-unknown",
            "false",
            "--dimse-peer",
            "CT1=10.0.0.5:104"
        ])
        .is_ok());
    }
}
