//! What settings must satisfy beyond their types, and their canonical forms: absolute
//! folders, URLs without trailing slashes, empty strings as unset, at least one connection
//! and one result per page, CORS origins that are origins.

use std::path::{Path, PathBuf};

use super::{ConfigError, Settings};

impl Settings {
    /// These settings checked and made canonical.
    pub(super) fn checked(mut self) -> Result<Self, ConfigError> {
        self.data_dir = absolute(&self.data_dir)?;
        self.viewer_dir = self.viewer_dir.as_deref().map(absolute).transpose()?;
        self.database_url = non_empty(self.database_url);
        self.storage_url = non_empty(self.storage_url);
        self.base_url = non_empty(self.base_url).map(|u| u.trim_end_matches('/').to_string());
        self.viewer_dicomweb_url =
            non_empty(self.viewer_dicomweb_url).map(|u| u.trim_end_matches('/').to_string());
        self.fhir_patient_id_system = non_empty(self.fhir_patient_id_system);
        self.fhir_url = match non_empty(self.fhir_url) {
            Some(url) => {
                let url = url.trim_end_matches('/').to_string();
                let valid =
                    url::Url::parse(&url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
                if !valid {
                    return Err(ConfigError::InvalidValue {
                        name: "fhir_url",
                        value: url,
                        expected: "an http:// or https:// URL such as https://fhir.example/r4",
                    });
                }
                Some(url)
            }
            None => None,
        };
        self.db_max_connections = self.db_max_connections.max(1);
        self.partition_db_max_connections = self.partition_db_max_connections.max(1);
        // 0 would refuse every request that finds no idle connection at once.
        self.db_acquire_timeout = self.db_acquire_timeout.max(1);
        self.qido_default_limit = self.qido_default_limit.max(1);
        self.qido_max_limit = self.qido_max_limit.max(1);
        self.cors_allowed_origins = cors_origins(std::mem::take(&mut self.cors_allowed_origins))?;
        self.tls_cert = self.tls_cert.as_deref().map(absolute).transpose()?;
        self.tls_key = self.tls_key.as_deref().map(absolute).transpose()?;
        self.viewer_oidc_client_id = non_empty(self.viewer_oidc_client_id);
        self.audit_syslog = non_empty(self.audit_syslog);
        self.check_access()?;
        self.check_dimse()?;
        self.check_http();
        self.check_input()?;
        self.check_deid()?;
        Ok(self)
    }
}

/// Trimmed, and `None` when nothing is left.
fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Trimmed origins without trailing slashes; none given means any (`*`).
fn cors_origins(raw: Vec<String>) -> Result<Vec<String>, ConfigError> {
    let origins: Vec<String> = raw
        .iter()
        .map(|o| o.trim().trim_end_matches('/').to_string())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() || origins.iter().any(|o| o == "*") {
        return Ok(vec!["*".into()]);
    }
    for origin in &origins {
        let valid = url::Url::parse(origin)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/");
        if !valid {
            return Err(ConfigError::InvalidValue {
                name: "cors_allowed_origins",
                value: origin.clone(),
                expected: "`*` or origins such as https://viewer.example.org",
            });
        }
    }
    Ok(origins)
}

/// A URL with its password, if any, replaced by `***`.
pub(super) fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_string(),
    }
}

fn absolute(path: &Path) -> Result<PathBuf, ConfigError> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|source| ConfigError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(cwd.join(path))
}

#[cfg(test)]
mod tests {
    use clap::{Args, Command, FromArgMatches};

    use super::*;
    use crate::index::DuplicatePolicy;

    /// Settings from these flags (the environment ignored) and an optional file.
    fn load(flags: &[&str], file: Option<&Path>) -> Result<Settings, ConfigError> {
        let matches = super::super::merge::without_environment::<Settings>(flags)?;
        let parsed = Settings::from_arg_matches(&matches).unwrap();
        parsed.resolve(&matches, file)
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tessera.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9001\"\nduplicate_policy = \"overwrite\"\n\
             max_instance_size = \"1MiB\"\nspool_size = 4096\nfsync = false\n",
        )
        .unwrap();
        let data = dir.path().to_str().unwrap();
        let settings = load(
            &[
                "--listen",
                "127.0.0.1:9002",
                "--data-dir",
                data,
                "--fsync",
                "true",
            ],
            Some(&path),
        )
        .unwrap();
        assert_eq!(settings.listen.port(), 9002, "flag beats file");
        assert!(settings.fsync, "flag beats file");
        assert_eq!(settings.duplicate_policy, DuplicatePolicy::Overwrite);
        assert_eq!(settings.max_instance_size.bytes(), 1 << 20);
        assert_eq!(settings.spool_size.bytes(), 4096);
        assert_eq!(settings.max_request_size.bytes(), 8 << 30, "default");
        assert!(settings.database_url().starts_with("sqlite:///"));
        assert!(settings.storage_url().starts_with("file:///"));
    }

    #[test]
    fn environment_beats_file_and_flags_beat_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tessera.toml");
        std::fs::write(&path, "qido_default_limit = 7\nqido_max_limit = 70\n").unwrap();
        // One setting reads a variable of this test's own (tests share the environment).
        std::env::set_var("TESSERA_TEST_ONLY_QIDO_DEFAULT_LIMIT", "8");
        let matches = Settings::augment_args(Command::new("serve"))
            .mut_args(|arg| {
                let name = (arg.get_id() == "qido_default_limit")
                    .then_some("TESSERA_TEST_ONLY_QIDO_DEFAULT_LIMIT");
                arg.env(name)
            })
            .try_get_matches_from(["serve", "--qido-max-limit", "71"])
            .unwrap();
        let parsed = Settings::from_arg_matches(&matches).unwrap();
        let settings = parsed.clone().resolve(&matches, Some(&path)).unwrap();
        assert_eq!(settings.qido_default_limit, 8, "environment beats file");
        assert_eq!(settings.qido_max_limit, 71, "flag beats file");
        let without_file = parsed.resolve(&matches, None).unwrap();
        assert_eq!(without_file.qido_default_limit, 8);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tessera.toml");
        std::fs::write(&path, "listen_on = \"127.0.0.1:1\"\n").unwrap();
        let err = load(&[], Some(&path)).unwrap_err().to_string();
        assert!(err.contains("unknown setting `listen_on`"), "{err}");
        std::fs::write(&path, "max_request_size = \"12 parsecs\"\n").unwrap();
        let err = load(&[], Some(&path)).unwrap_err().to_string();
        assert!(err.contains("parsecs"), "{err}");
        assert!(load(&["--duplicate-policy", "first"], None).is_err());
        assert!(load(&["--max-instance-size", "lots"], None).is_err());
        let err = load(&["--fhir-url", "fhir.example"], None).unwrap_err();
        assert!(err.to_string().contains("fhir_url"), "{err}");
    }

    #[test]
    fn viewer_and_cors_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tessera.toml");
        std::fs::write(
            &path,
            "viewer_dir = \"ohif\"\ncors_allowed_origins = [\"http://a.example:3000/\"]\n",
        )
        .unwrap();
        let data = dir.path().to_str().unwrap();
        let settings = load(
            &[
                "--data-dir",
                data,
                "--viewer-dicomweb-url",
                "http://pacs.example/dicom-web/",
            ],
            Some(&path),
        )
        .unwrap();
        assert!(settings.viewer_dir.unwrap().is_absolute());
        assert_eq!(
            settings.viewer_dicomweb_url.as_deref(),
            Some("http://pacs.example/dicom-web")
        );
        assert_eq!(settings.cors_allowed_origins, ["http://a.example:3000"]);
        let default = Settings::for_data_dir(dir.path()).unwrap();
        assert_eq!(default.cors_allowed_origins, ["*"]);
        assert!(default.viewer_dir.is_none());
        assert!(cors_origins(vec!["not an origin".into()]).is_err());
        assert!(cors_origins(vec!["http://a.example/path".into()]).is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        let mut settings = Settings::for_data_dir(Path::new("/tmp/x")).unwrap();
        settings.database_url = Some("postgres://tessera:s3cret@db/tessera".into());
        assert!(!settings.redacted_database_url().contains("s3cret"));
        assert!(settings.redacted_database_url().contains("tessera:***@db"));
    }
}
