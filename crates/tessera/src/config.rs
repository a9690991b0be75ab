//! Settings: built-in defaults, then an optional TOML file, then `TESSERA_*` environment
//! variables, then command-line flags (each later source wins). Secrets (passwords in URLs)
//! are never printed: use [`Settings::redacted_database_url`] in logs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

#[derive(Debug, Parser)]
#[command(name = "tessera", version, about = "A DICOMweb archive")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the DICOMweb server.
    Serve(ServeArgs),
}

/// What to do when an instance arrives whose SOP Instance UID is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicatePolicy {
    /// Refuse the new copy: FailureReason 0x0111 (Duplicate SOP Instance).
    #[default]
    Reject,
    /// Keep the stored copy, discard the new one and warn (WarningReason 0xB000).
    KeepFirst,
    /// Replace the stored copy with the new one.
    Overwrite,
}

/// Flags of `tessera serve`. Every flag can also come from a `TESSERA_*` variable or the file.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below (snake_case keys).
    #[arg(long, env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "TESSERA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Where the embedded defaults (SQLite index, local blobs) live [default: ./data].
    #[arg(long, env = "TESSERA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://path/index.db or postgres://user@host/db [default: sqlite://DATA_DIR/index.db].
    #[arg(long, env = "TESSERA_DATABASE_URL")]
    pub database_url: Option<String>,
    /// file:///path, memory://, or s3://bucket?endpoint=http://host:port&region=R [default: file://DATA_DIR/blobs].
    #[arg(long, env = "TESSERA_STORAGE_URL")]
    pub storage_url: Option<String>,
    /// What RetrieveURLs start with, e.g. https://pacs.example.org [default: from the request's Host].
    #[arg(long, env = "TESSERA_BASE_URL")]
    pub base_url: Option<String>,
    /// Largest STOW request body, e.g. 8GiB.
    #[arg(long, env = "TESSERA_MAX_REQUEST_SIZE")]
    pub max_request_size: Option<String>,
    /// Largest single instance in a STOW request, e.g. 512MiB.
    #[arg(long, env = "TESSERA_MAX_INSTANCE_SIZE")]
    pub max_instance_size: Option<String>,
    /// STOW parts larger than this are written to a staging file as they arrive instead of
    /// being held in memory, e.g. 8MiB [default: 8MiB].
    #[arg(long, env = "TESSERA_SPOOL_SIZE")]
    pub spool_size: Option<String>,
    /// reject | keep-first | overwrite [default: reject].
    #[arg(long, env = "TESSERA_DUPLICATE_POLICY")]
    pub duplicate_policy: Option<DuplicatePolicy>,
    /// fsync local blobs before answering a STOW [default: true].
    #[arg(long, env = "TESSERA_FSYNC")]
    pub fsync: Option<bool>,
    /// Maximum index connections [default: 16].
    #[arg(long, env = "TESSERA_DB_MAX_CONNECTIONS")]
    pub db_max_connections: Option<u32>,
    /// Seconds between sweeps for blobs without an index row; 0 turns the sweeper off [default: 3600].
    #[arg(long, env = "TESSERA_SWEEP_INTERVAL")]
    pub sweep_interval: Option<u64>,
    /// Age in seconds before an unreferenced blob counts as orphaned [default: 3600].
    #[arg(long, env = "TESSERA_SWEEP_GRACE")]
    pub sweep_grace: Option<u64>,
    /// An extra QIDO matching attribute, `level:Keyword` (e.g. series:StationName);
    /// repeatable or comma-separated. Added ones are back-filled at start.
    #[arg(
        long = "extra-query-attribute",
        env = "TESSERA_EXTRA_QUERY_ATTRIBUTES",
        value_delimiter = ','
    )]
    pub extra_query_attributes: Vec<String>,
    /// QIDO results per page when the client gives no limit [default: 1000].
    #[arg(long, env = "TESSERA_QIDO_DEFAULT_LIMIT")]
    pub qido_default_limit: Option<u32>,
    /// Most QIDO results per page, whatever the client asks [default: 10000].
    #[arg(long, env = "TESSERA_QIDO_MAX_LIMIT")]
    pub qido_max_limit: Option<u32>,
    /// Memory for the frame cache (stored and decoded frames), e.g. 256MiB; 0 turns it off.
    #[arg(long = "frame-cache-size", env = "TESSERA_FRAME_CACHE_SIZE")]
    pub frame_cache_size: Option<String>,
    /// A FHIR R4 server to keep ImagingStudy resources current on, e.g. https://fhir.example/r4.
    /// Credentials come from TESSERA_FHIR_BEARER_TOKEN, or TESSERA_FHIR_USERNAME and
    /// TESSERA_FHIR_PASSWORD [default: no push].
    #[arg(long, env = "TESSERA_FHIR_URL")]
    pub fhir_url: Option<String>,
    /// Create a minimal Patient on that server when none has the study's patient identifier
    /// [default: true].
    #[arg(long, env = "TESSERA_FHIR_CREATE_PATIENTS")]
    pub fhir_create_patients: Option<bool>,
    /// FHIR: identifier system of PatientIDs that carry no issuer in the data set, e.g.
    /// urn:oid:1.2.3.4 [default: none, such identifiers have no system].
    #[arg(long, env = "TESSERA_FHIR_PATIENT_ID_SYSTEM")]
    pub fhir_patient_id_system: Option<String>,
    /// A built OHIF viewer (the `dist/` folder of npm's @ohif/app, see scripts/dev/ohif.sh) to
    /// serve at /viewer; unset: no viewer.
    #[arg(long, env = "TESSERA_VIEWER_DIR")]
    pub viewer_dir: Option<PathBuf>,
    /// The DICOMweb root the viewer's generated app-config points at, e.g.
    /// https://pacs.example.org/dicom-web [default: this server's own /dicom-web].
    #[arg(long, env = "TESSERA_VIEWER_DICOMWEB_URL")]
    pub viewer_dicomweb_url: Option<String>,
    /// Origins allowed to call this server from a browser (CORS), repeatable or
    /// comma-separated, e.g. https://viewer.example.org; `*` allows any [default: *].
    #[arg(
        long = "cors-allowed-origin",
        env = "TESSERA_CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,
}

/// The same settings as read from a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    storage_url: Option<String>,
    base_url: Option<String>,
    max_request_size: Option<String>,
    max_instance_size: Option<String>,
    spool_size: Option<String>,
    duplicate_policy: Option<DuplicatePolicy>,
    fsync: Option<bool>,
    db_max_connections: Option<u32>,
    sweep_interval: Option<u64>,
    sweep_grace: Option<u64>,
    extra_query_attributes: Option<Vec<String>>,
    qido_default_limit: Option<u32>,
    qido_max_limit: Option<u32>,
    frame_cache_size: Option<String>,
    fhir_url: Option<String>,
    fhir_create_patients: Option<bool>,
    fhir_patient_id_system: Option<String>,
    viewer_dir: Option<PathBuf>,
    viewer_dicomweb_url: Option<String>,
    cors_allowed_origins: Option<Vec<String>>,
}

/// How Tessera authenticates to the FHIR server it pushes to (from the environment only).
#[derive(Clone, PartialEq, Eq)]
pub enum FhirAuth {
    Bearer(String),
    Basic { username: String, password: String },
}

impl std::fmt::Debug for FhirAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FhirAuth::Bearer(_) => f.write_str("Bearer(***)"),
            FhirAuth::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
        }
    }
}

impl FhirAuth {
    fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(token) = var("TESSERA_FHIR_BEARER_TOKEN") {
            return Some(FhirAuth::Bearer(token));
        }
        match (var("TESSERA_FHIR_USERNAME"), var("TESSERA_FHIR_PASSWORD")) {
            (Some(username), Some(password)) => Some(FhirAuth::Basic { username, password }),
            _ => None,
        }
    }
}

/// Where and how ImagingStudy resources are pushed.
#[derive(Debug, Clone)]
pub struct FhirPushSettings {
    /// The server's base URL, without a trailing slash.
    pub url: String,
    pub auth: Option<FhirAuth>,
    pub create_patients: bool,
}

/// Settings could not be read or make no sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse config file {path}: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("invalid {name} {value:?}: expected {expected}")]
    InvalidValue {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub storage_url: String,
    pub base_url: Option<String>,
    pub max_request_bytes: u64,
    pub max_instance_bytes: u64,
    /// Parts above this size are spooled to a staging file (see `ingest::spool`).
    pub spool_bytes: u64,
    pub duplicate_policy: DuplicatePolicy,
    pub fsync: bool,
    pub db_max_connections: u32,
    pub sweep_interval_secs: u64,
    pub sweep_grace_secs: u64,
    pub extra_query_attributes: Vec<String>,
    pub qido_default_limit: u32,
    pub qido_max_limit: u32,
    pub frame_cache_bytes: u64,
    pub fhir_push: Option<FhirPushSettings>,
    pub fhir_patient_id_system: Option<String>,
    pub viewer_dir: Option<PathBuf>,
    pub viewer_dicomweb_url: Option<String>,
    /// Allowed browser origins; `["*"]` means any.
    pub cors_allowed_origins: Vec<String>,
}

impl Settings {
    /// Merge flags/env (already merged by clap) over the optional file over defaults.
    pub fn resolve(args: ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let data_dir = absolute(&data_dir)?;
        let database_url = args
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("index.db").display()));
        let storage_url = args
            .storage_url
            .or(file.storage_url)
            .unwrap_or_else(|| format!("file://{}", data_dir.join("blobs").display()));
        let max_request = args
            .max_request_size
            .or(file.max_request_size)
            .unwrap_or_else(|| "8GiB".into());
        let max_instance = args
            .max_instance_size
            .or(file.max_instance_size)
            .unwrap_or_else(|| "512MiB".into());
        let spool = args
            .spool_size
            .or(file.spool_size)
            .unwrap_or_else(|| "8MiB".into());
        let frame_cache = args
            .frame_cache_size
            .or(file.frame_cache_size)
            .unwrap_or_else(|| "256MiB".into());
        let base_url = args
            .base_url
            .or(file.base_url)
            .map(|u| u.trim_end_matches('/').to_string());
        Ok(Settings {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir,
            database_url,
            storage_url,
            base_url,
            max_request_bytes: parse_size("max_request_size", &max_request)?,
            max_instance_bytes: parse_size("max_instance_size", &max_instance)?,
            spool_bytes: parse_size("spool_size", &spool)?,
            duplicate_policy: args
                .duplicate_policy
                .or(file.duplicate_policy)
                .unwrap_or_default(),
            fsync: args.fsync.or(file.fsync).unwrap_or(true),
            db_max_connections: args
                .db_max_connections
                .or(file.db_max_connections)
                .unwrap_or(16)
                .max(1),
            sweep_interval_secs: args.sweep_interval.or(file.sweep_interval).unwrap_or(3600),
            sweep_grace_secs: args.sweep_grace.or(file.sweep_grace).unwrap_or(3600),
            extra_query_attributes: if args.extra_query_attributes.is_empty() {
                file.extra_query_attributes.unwrap_or_default()
            } else {
                args.extra_query_attributes
            },
            qido_default_limit: args
                .qido_default_limit
                .or(file.qido_default_limit)
                .unwrap_or(1000)
                .max(1),
            qido_max_limit: args
                .qido_max_limit
                .or(file.qido_max_limit)
                .unwrap_or(10000)
                .max(1),
            frame_cache_bytes: parse_size("frame_cache_size", &frame_cache)?,
            fhir_push: match args.fhir_url.or(file.fhir_url) {
                Some(url) if !url.trim().is_empty() => {
                    let url = url.trim().trim_end_matches('/').to_string();
                    url::Url::parse(&url).map_err(|_| ConfigError::InvalidValue {
                        name: "fhir_url",
                        value: url.clone(),
                        expected: "an http:// or https:// URL such as https://fhir.example/r4",
                    })?;
                    Some(FhirPushSettings {
                        url,
                        auth: FhirAuth::from_env(),
                        create_patients: args
                            .fhir_create_patients
                            .or(file.fhir_create_patients)
                            .unwrap_or(true),
                    })
                }
                _ => None,
            },
            fhir_patient_id_system: args
                .fhir_patient_id_system
                .or(file.fhir_patient_id_system)
                .filter(|s| !s.trim().is_empty()),
            viewer_dir: match args.viewer_dir.or(file.viewer_dir) {
                Some(dir) => Some(absolute(&dir)?),
                None => None,
            },
            viewer_dicomweb_url: args
                .viewer_dicomweb_url
                .or(file.viewer_dicomweb_url)
                .map(|u| u.trim_end_matches('/').to_string()),
            cors_allowed_origins: cors_origins(if args.cors_allowed_origins.is_empty() {
                file.cors_allowed_origins.unwrap_or_default()
            } else {
                args.cors_allowed_origins
            })?,
        })
    }

    /// Settings for tests and embedding: everything under `data_dir`, listening on port 0.
    pub fn for_data_dir(data_dir: &Path) -> Result<Self, ConfigError> {
        Self::resolve(ServeArgs {
            data_dir: Some(data_dir.to_path_buf()),
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            ..ServeArgs::default()
        })
    }

    /// The database URL with any password replaced, fit for logs.
    pub fn redacted_database_url(&self) -> String {
        redact(&self.database_url)
    }

    /// The storage URL without query parameters (which may carry credentials), fit for logs.
    pub fn redacted_storage_url(&self) -> String {
        redact(self.storage_url.split('?').next().unwrap_or_default())
    }
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

fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_string(),
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|err| ConfigError::ParseFile {
        path: path.to_path_buf(),
        message: err.to_string(),
    })
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

/// Parse sizes like `512MiB`, `8GiB`, `100MB`, `1048576`.
pub fn parse_size(name: &'static str, raw: &str) -> Result<u64, ConfigError> {
    let text = raw.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let invalid = || ConfigError::InvalidValue {
        name,
        value: raw.to_string(),
        expected: "a size such as 1048576, 512MiB, 8GiB or 100MB",
    };
    let number: u64 = digits.parse().map_err(|_| invalid())?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => return Err(invalid()),
    };
    number.checked_mul(factor).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("x", "1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("x", "512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("x", "8 GiB").unwrap(), 8 << 30);
        assert_eq!(parse_size("x", "100MB").unwrap(), 100_000_000);
        assert!(parse_size("x", "12 parsecs").is_err());
        assert!(parse_size("x", "").is_err());
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tessera.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9001\"\nduplicate_policy = \"overwrite\"\nmax_instance_size = \"1MiB\"\n",
        )
        .unwrap();
        let settings = Settings::resolve(ServeArgs {
            config: Some(path),
            listen: Some("127.0.0.1:9002".parse().unwrap()),
            data_dir: Some(dir.path().to_path_buf()),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(settings.listen.port(), 9002, "flag beats file");
        assert_eq!(settings.duplicate_policy, DuplicatePolicy::Overwrite);
        assert_eq!(settings.max_instance_bytes, 1 << 20);
        assert!(settings.database_url.starts_with("sqlite://"));
        assert!(settings.storage_url.starts_with("file:///"));
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
        let settings = Settings::resolve(ServeArgs {
            config: Some(path),
            data_dir: Some(dir.path().to_path_buf()),
            viewer_dicomweb_url: Some("http://pacs.example/dicom-web/".into()),
            ..ServeArgs::default()
        })
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
        settings.database_url = "postgres://tessera:s3cret@db/tessera".into();
        assert!(!settings.redacted_database_url().contains("s3cret"));
    }
}
