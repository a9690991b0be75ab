//! De-identification projects (`--deid-project NAME=PATH`): each names a file holding the
//! project's secret, kept outside the index (a copy of the database must not be enough to
//! recompute or reverse a project's replacement values). Read and checked at start: a file
//! that cannot be read, or holds fewer than 16 bytes, stops the start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tessera_dicom::deid::{Secret, MIN_SECRET_LEN};

use super::{ConfigError, Settings};

/// The longest project name.
const MAX_NAME: usize = 64;

impl Settings {
    /// Trim the entries, drop empty ones, make the paths absolute, and read every secret.
    pub(super) fn check_deid(&mut self) -> Result<(), ConfigError> {
        let mut entries = Vec::new();
        for raw in &self.deid_projects {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            let (name, path) = split(raw)?;
            let path = std::path::absolute(&path).map_err(|e| ConfigError::DeidProject {
                project: name.clone(),
                reason: format!("{}: {e}", path.display()),
            })?;
            entries.push(format!("{name}={}", path.display()));
        }
        self.deid_projects = entries;
        self.deid_secrets()?;
        Ok(())
    }

    /// Every project's secret, by name.
    pub fn deid_secrets(&self) -> Result<BTreeMap<String, Secret>, ConfigError> {
        let mut out = BTreeMap::new();
        for raw in &self.deid_projects {
            let (name, path) = split(raw)?;
            let secret = read_secret(&name, &path)?;
            if out.insert(name.clone(), secret).is_some() {
                return Err(ConfigError::DeidProject {
                    project: name,
                    reason: "named twice".into(),
                });
            }
        }
        Ok(out)
    }
}

/// `NAME=PATH`, the name checked.
fn split(raw: &str) -> Result<(String, PathBuf), ConfigError> {
    let invalid = || ConfigError::InvalidValue {
        name: "deid_projects",
        value: raw.to_string(),
        expected: "NAME=PATH, NAME of letters, digits, '.', '_' and '-' (at most 64)",
    };
    let (name, path) = raw.split_once('=').ok_or_else(invalid)?;
    let name = name.trim();
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid || path.trim().is_empty() {
        return Err(invalid());
    }
    Ok((name.to_string(), PathBuf::from(path.trim())))
}

/// The file's bytes without a trailing line end (`openssl rand -hex 32 > FILE` writes one).
fn read_secret(name: &str, path: &Path) -> Result<Secret, ConfigError> {
    let failed = |reason: String| ConfigError::DeidProject {
        project: name.to_string(),
        reason: format!("secret file {}: {reason}", path.display()),
    };
    let mut bytes = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    while bytes.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
        bytes.pop();
    }
    let len = bytes.len();
    Secret::new(bytes).map_err(|_| {
        failed(format!(
            "holds {len} bytes; a secret needs at least {MIN_SECRET_LEN} (e.g. `openssl rand -hex 32`)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(flags: &[&str]) -> Result<Settings, ConfigError> {
        let matches = super::super::merge::without_environment::<Settings>(flags)?;
        Settings::from_matches(&matches)?.checked()
    }

    #[test]
    fn projects_are_read_at_start_and_weak_or_missing_secrets_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.key");
        std::fs::write(&good, "0123456789abcdef0123\n").unwrap();
        let short = dir.path().join("short.key");
        std::fs::write(&short, "0123456789abcde\n").unwrap();
        let good_arg = format!("trial-a={}", good.display());
        let settings = with(&["--deid-project", &good_arg]).unwrap();
        let secrets = settings.deid_secrets().unwrap();
        assert_eq!(secrets.keys().collect::<Vec<_>>(), ["trial-a"]);
        // The line end is not part of the secret: 20 bytes.
        assert_eq!(format!("{:?}", secrets["trial-a"]), "Secret(20 bytes)");
        assert!(with(&[]).unwrap().deid_secrets().unwrap().is_empty());

        let short_arg = format!("b={}", short.display());
        let err = with(&["--deid-project", &short_arg])
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds 15 bytes"), "{err}");
        let missing = format!("c={}", dir.path().join("none").display());
        let err = with(&["--deid-project", &missing]).unwrap_err().to_string();
        assert!(err.contains("project c: secret file"), "{err}");
        for bad in ["noequals", "=x", "bad name=/x", "a="] {
            let err = with(&["--deid-project", bad]).unwrap_err().to_string();
            assert!(err.contains("deid_projects"), "{bad}: {err}");
        }
        let twice = format!("{good_arg},{good_arg}");
        let err = with(&["--deid-project", &twice]).unwrap_err().to_string();
        assert!(err.contains("named twice"), "{err}");
    }
}
