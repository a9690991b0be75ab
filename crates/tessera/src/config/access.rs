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
