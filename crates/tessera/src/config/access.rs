//! The access settings as the layers take them, and the rules they must satisfy together:
//! an issuer needs an audience, a role map names Tessera's roles, TLS needs both files, and
//! an open server listens only on loopback unless anonymous access is allowed.

use std::time::Duration;

use super::{ConfigError, Settings};
use crate::audit::syslog::SyslogTarget;
use crate::auth::{AuthMode, AuthSettings, Role, RoleMapping};

impl Settings {
    /// How callers are authenticated.
    pub fn auth_settings(&self) -> Result<AuthSettings, ConfigError> {
        Ok(AuthSettings {
            mode: self.auth,
            issuers: self.oidc_issuers.clone(),
            audience: self.oidc_audience.clone(),
            roles: RoleMapping {
                claim: self.oidc_roles_claim.clone(),
                map: role_map(&self.oidc_role_map)?,
            },
            partitions_claim: self.oidc_partitions_claim.clone(),
            clock_skew: Duration::from_secs(self.oidc_clock_skew),
            api_key_recheck: Duration::from_millis(self.api_key_recheck_ms),
        })
    }

    /// The access rules; see the module documentation.
    pub(super) fn check_access(&mut self) -> Result<(), ConfigError> {
        self.oidc_issuers = self
            .oidc_issuers
            .iter()
            .map(|i| i.trim().trim_end_matches('/').to_string())
            .filter(|i| !i.is_empty())
            .collect();
        for issuer in &self.oidc_issuers {
            let valid =
                url::Url::parse(issuer).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !valid {
                return Err(ConfigError::InvalidValue {
                    name: "oidc_issuer",
                    value: issuer.clone(),
                    expected: "an http:// or https:// issuer URL",
                });
            }
        }
        self.oidc_audience = self
            .oidc_audience
            .take()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty());
        if !self.oidc_issuers.is_empty() && self.oidc_audience.is_none() {
            return Err(ConfigError::Conflict(
                "--oidc-issuer needs --oidc-audience: without it a token issued to any other \
                 application of the same issuer would be accepted"
                    .into(),
            ));
        }
        role_map(&self.oidc_role_map)?;
        if let Some(url) = &self.audit_syslog {
            if url.parse::<SyslogTarget>().is_err() {
                return Err(ConfigError::InvalidValue {
                    name: "audit_syslog",
                    value: url.clone(),
                    expected: "udp://host:port or tls://host:port",
                });
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Conflict(
                "--tls-cert and --tls-key go together".into(),
            ));
        }
        let loopback = self.listen.ip().is_loopback();
        if self.auth == AuthMode::None && !loopback && !self.allow_anonymous {
            return Err(ConfigError::Conflict(format!(
                "refusing to serve {} without authentication: anyone who can reach it could \
                 read, store and delete every study. Use --auth required (with --oidc-issuer \
                 or API keys), listen on 127.0.0.1, or say --allow-anonymous",
                self.listen
            )));
        }
        Ok(())
    }
}

/// `theirs=ours` pairs.
fn role_map(raw: &[String]) -> Result<Vec<(String, Role)>, ConfigError> {
    raw.iter()
        .map(|pair| pair.trim())
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let invalid = || ConfigError::InvalidValue {
                name: "oidc_role_map",
                value: pair.to_string(),
                expected: "theirs=ours, ours one of read, write, delete, admin",
            };
            let (theirs, ours) = pair.split_once('=').ok_or_else(invalid)?;
            let role = ours.trim().parse::<Role>().map_err(|_| invalid())?;
            Ok((theirs.trim().to_string(), role))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::FromArgMatches;

    use super::*;
    use crate::auth::Role;

    fn load(flags: &[&str], file: Option<&std::path::Path>) -> Result<Settings, ConfigError> {
        let matches = super::super::merge::without_environment::<Settings>(flags)?;
        Settings::from_arg_matches(&matches)
            .unwrap()
            .resolve(&matches, file)
    }

    fn refusal(flags: &[&str]) -> String {
        load(flags, None).unwrap_err().to_string()
    }

    #[test]
    fn an_open_server_stays_on_loopback_unless_told() {
        assert!(load(&["--listen", "127.0.0.1:0"], None).is_ok());
        assert!(load(&["--listen", "[::1]:0"], None).is_ok());
        let why = refusal(&["--listen", "0.0.0.0:8080"]);
        assert!(
            why.contains("refusing to serve 0.0.0.0:8080 without authentication"),
            "{why}"
        );
        assert!(why.contains("--allow-anonymous"), "{why}");
        assert!(load(&["--listen", "0.0.0.0:8080", "--allow-anonymous"], None).is_ok());
        assert!(load(&["--listen", "0.0.0.0:8080", "--auth", "required"], None).is_ok());
        // From a file too.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:8080\"\nallow_anonymous = true\n").unwrap();
        assert!(load(&[], Some(&path)).unwrap().allow_anonymous);
    }

    #[test]
    fn settings_that_must_agree() {
        let why = refusal(&[
            "--auth",
            "required",
            "--oidc-issuer",
            "https://idp.test/realm",
        ]);
        assert!(why.contains("needs --oidc-audience"), "{why}");
        let why = refusal(&["--oidc-issuer", "ftp://idp.test", "--oidc-audience", "a"]);
        assert!(why.contains("oidc_issuer"), "{why}");
        let why = refusal(&["--tls-cert", "/tmp/cert.pem"]);
        assert!(why.contains("go together"), "{why}");
        let why = refusal(&["--oidc-role-map", "dicom-admin=owner"]);
        assert!(why.contains("oidc_role_map"), "{why}");
        let why = refusal(&["--audit-syslog", "tcp://audit.test:514"]);
        assert!(why.contains("audit_syslog"), "{why}");
    }

    #[test]
    fn auth_settings_as_the_layers_take_them() {
        let settings = load(
            &[
                "--auth",
                "required",
                "--oidc-issuer",
                "https://a.test/,https://b.test",
                "--oidc-audience",
                " https://pacs.test/dicom-web ",
                "--oidc-roles-claim",
                "realm_access.roles",
                "--oidc-role-map",
                "dicom-reader=read, dicom-admin=admin",
                "--oidc-clock-skew",
                "5",
            ],
            None,
        )
        .unwrap();
        let auth = settings.auth_settings().unwrap();
        assert_eq!(auth.mode, AuthMode::Required);
        assert_eq!(auth.issuers, vec!["https://a.test", "https://b.test"]);
        assert_eq!(
            auth.audience.as_deref(),
            Some("https://pacs.test/dicom-web")
        );
        assert_eq!(auth.roles.claim, "realm_access.roles");
        assert_eq!(
            auth.roles.map,
            vec![
                ("dicom-reader".to_string(), Role::Read),
                ("dicom-admin".to_string(), Role::Admin)
            ]
        );
        assert_eq!(auth.clock_skew, Duration::from_secs(5));
        assert_eq!(auth.api_key_recheck, Duration::from_millis(1000));
    }
}
