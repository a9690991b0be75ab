//! Every setting of Tessera, declared once: its flag, environment variable, file key,
//! default and meaning are all on one field of [`Settings`] (clap reads flags and
//! `TESSERA_*` variables, serde the TOML file, one generic merge puts them in order:
//! built-in default < file < environment < flag). docs/configuration.md's table is checked
//! against these declarations by a test. Secrets (passwords in URLs) are never printed: use
//! [`Settings::redacted_database_url`] in logs.

mod access;
mod checks;
mod deid;
mod dimse;
#[cfg(test)]
mod docs_table;
mod error;
mod http;
mod input;
mod merge;
mod size;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgAction, ArgMatches, Args, FromArgMatches};
use serde::{Deserialize, Serialize};

use crate::auth::AuthMode;
use crate::fhir::push::{FhirAuth, FhirPushSettings};
use crate::index::DuplicatePolicy;
use crate::viewer::sign_in::SignIn;
pub use error::ConfigError;
pub use size::{ByteSize, NotASize};

/// The settings of `tessera serve` (and of every command that opens the archive).
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on (port 0: any free port, announced on standard output).
    #[arg(long, env = "TESSERA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the embedded defaults (SQLite index, local blobs, staging files) live.
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The index: sqlite://path/index.db or postgres://user@host/db
    /// [default: sqlite://DATA_DIR/index.db].
    #[arg(long, env = "TESSERA_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The blob store: file:///path, memory://, s3://bucket/prefix?endpoint=http://host:port&region=R,
    /// az://container/prefix?account=A[&endpoint=URL], or gs://bucket/prefix
    /// [default: file://DATA_DIR/blobs].
    #[arg(long, env = "TESSERA_STORAGE_URL")]
    pub storage_url: Option<String>,
    /// What RetrieveURLs and links start with, e.g. https://pacs.example.org
    /// [default: from the request's Host].
    #[arg(long, env = "TESSERA_BASE_URL")]
    pub base_url: Option<String>,
    /// Largest STOW request body (413 beyond it).
    #[arg(long, env = "TESSERA_MAX_REQUEST_SIZE", default_value = "8GiB")]
    pub max_request_size: ByteSize,
    /// Largest single instance in a STOW request (413 beyond it).
    #[arg(long, env = "TESSERA_MAX_INSTANCE_SIZE", default_value = "512MiB")]
    pub max_instance_size: ByteSize,
    /// Most parts in one STOW request: a request with more is refused whole with 413, none of
    /// its instances stored.
    #[arg(long, env = "TESSERA_MAX_PARTS_PER_REQUEST", default_value_t = 5000)]
    pub max_parts_per_request: usize,
    /// Deepest nesting of sequences in a received instance (STOW, C-STORE, import): a deeper
    /// one fails with C000; at most 128.
    #[arg(long, env = "TESSERA_MAX_SEQUENCE_DEPTH", default_value_t = 64)]
    pub max_sequence_depth: usize,
    /// STOW parts larger than this go to a staging file as they arrive instead of being held
    /// in memory.
    #[arg(long, env = "TESSERA_SPOOL_SIZE", default_value = "8MiB")]
    pub spool_size: ByteSize,
    /// What to do with a second copy of a stored SOP Instance UID.
    #[arg(
        long,
        env = "TESSERA_DUPLICATE_POLICY",
        default_value = "reject",
        value_parser = PossibleValuesParser::new(DuplicatePolicy::NAMES)
            .try_map(|name| name.parse::<DuplicatePolicy>())
    )]
    pub duplicate_policy: DuplicatePolicy,
    /// fsync local blobs (files and folders) before answering a STOW.
    #[arg(long, env = "TESSERA_FSYNC", default_value_t = true, action = ArgAction::Set)]
    pub fsync: bool,
    /// Most connections to the index database.
    #[arg(long, env = "TESSERA_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Seconds a request waits for a connection to the index database (it is away, or every
    /// connection is busy) before it is answered 503; also how long a start waits for it.
    #[arg(long, env = "TESSERA_DB_ACQUIRE_TIMEOUT", default_value_t = 2)]
    pub db_acquire_timeout: u64,
    /// Create a partition on the first STOW-RS request to it (by any caller with the write
    /// role) instead of answering 404; otherwise an admin creates partitions
    /// (`POST /dicom-web/partitions`).
    #[arg(long, env = "TESSERA_PARTITION_AUTO_CREATE", default_value_t = false, action = ArgAction::Set)]
    pub partition_auto_create: bool,
    /// Most connections to each partition's index (opened on a partition's first use on a
    /// node, and kept).
    #[arg(
        long,
        env = "TESSERA_PARTITION_DB_MAX_CONNECTIONS",
        default_value_t = 4
    )]
    pub partition_db_max_connections: u32,
    /// Apply the index schema's missing migrations at start; with false, a command refuses
    /// an index that is not up to date (run `tessera migrate` first, as an account that may
    /// change the schema).
    #[arg(long, env = "TESSERA_MIGRATE", default_value_t = true, action = ArgAction::Set)]
    pub migrate: bool,
    /// Seconds between sweeps for blobs without an index row; 0 turns the sweeper off.
    #[arg(long, env = "TESSERA_SWEEP_INTERVAL", default_value_t = 3600)]
    pub sweep_interval: u64,
    /// Age in seconds before an unreferenced blob or staging file counts as left over.
    #[arg(long, env = "TESSERA_SWEEP_GRACE", default_value_t = 3600)]
    pub sweep_grace: u64,
    /// An extra QIDO matching attribute, `level:Keyword` (e.g. series:StationName);
    /// repeatable or comma-separated. Added ones are back-filled at start.
    #[arg(
        long = "extra-query-attribute",
        env = "TESSERA_EXTRA_QUERY_ATTRIBUTES",
        value_delimiter = ','
    )]
    pub extra_query_attributes: Vec<String>,
    /// QIDO results per page when the client gives no limit.
    #[arg(long, env = "TESSERA_QIDO_DEFAULT_LIMIT", default_value_t = 1000)]
    pub qido_default_limit: u32,
    /// Most QIDO results per page, whatever the client asks.
    #[arg(long, env = "TESSERA_QIDO_MAX_LIMIT", default_value_t = 10000)]
    pub qido_max_limit: u32,
    /// Memory for the frame cache (stored and decoded frames); 0 turns it off.
    #[arg(long, env = "TESSERA_FRAME_CACHE_SIZE", default_value = "256MiB")]
    pub frame_cache_size: ByteSize,
    /// A FHIR R4 server to keep ImagingStudy resources current on, e.g.
    /// https://fhir.example/r4 (credentials from the environment only) [default: no push].
    #[arg(long, env = "TESSERA_FHIR_URL")]
    pub fhir_url: Option<String>,
    /// Create a minimal Patient on that server when none has the study's patient identifier.
    #[arg(long, env = "TESSERA_FHIR_CREATE_PATIENTS", default_value_t = true, action = ArgAction::Set)]
    pub fhir_create_patients: bool,
    /// The FHIR identifier system of PatientIDs that carry no issuer, e.g. urn:oid:1.2.3.4
    /// [default: none; such identifiers have no system].
    #[arg(long, env = "TESSERA_FHIR_PATIENT_ID_SYSTEM")]
    pub fhir_patient_id_system: Option<String>,
    /// A built OHIF viewer (the dist/ folder of npm's @ohif/app, see scripts/dev/ohif.sh) to
    /// serve at /viewer [default: no viewer].
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
    /// Whether callers must sign in: `none` (allowed only on a loopback address unless
    /// --allow-anonymous) or `required` (an OpenID Connect bearer token or an API key on every
    /// route but /healthz).
    #[arg(
        long,
        env = "TESSERA_AUTH",
        default_value = "none",
        value_parser = PossibleValuesParser::new(AuthMode::NAMES)
            .try_map(|name| name.parse::<AuthMode>())
    )]
    pub auth: AuthMode,
    /// Serve without authentication on an address other than loopback (refused otherwise).
    #[arg(long, env = "TESSERA_ALLOW_ANONYMOUS", default_value_t = false, action = ArgAction::SetTrue)]
    pub allow_anonymous: bool,
    /// An OpenID Connect issuer whose bearer tokens are accepted, e.g.
    /// https://login.example.org/realms/hospital; repeatable or comma-separated.
    #[arg(
        long = "oidc-issuer",
        env = "TESSERA_OIDC_ISSUER",
        value_delimiter = ','
    )]
    pub oidc_issuers: Vec<String>,
    /// The audience (`aud`) tokens must be issued for.
    #[arg(long, env = "TESSERA_OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,
    /// The token claim holding the caller's roles: `roles`, a dotted path such as
    /// `realm_access.roles`, `groups`, or `scope` (space-separated).
    #[arg(long, env = "TESSERA_OIDC_ROLES_CLAIM", default_value = "roles")]
    pub oidc_roles_claim: String,
    /// The issuer's role names as Tessera's, `theirs=ours` (e.g. dicom.reader=read);
    /// repeatable or comma-separated [default: read, write, delete and admin as they are].
    #[arg(
        long = "oidc-role-map",
        env = "TESSERA_OIDC_ROLE_MAP",
        value_delimiter = ','
    )]
    pub oidc_role_map: Vec<String>,
    /// Seconds of clock difference allowed when checking a token's exp and nbf.
    #[arg(long, env = "TESSERA_OIDC_CLOCK_SKEW", default_value_t = 60)]
    pub oidc_clock_skew: u64,
    /// The token claim listing the partitions a token may use (a dotted path; a list, or
    /// names separated by spaces; `default` is the plain routes). A token without the claim
    /// may use every partition.
    #[arg(
        long,
        env = "TESSERA_OIDC_PARTITIONS_CLAIM",
        default_value = "tessera_partitions"
    )]
    pub oidc_partitions_claim: String,
    /// The public OpenID Connect client (authorization code with PKCE) that the viewer and
    /// the built-in page sign in with, registered at the first issuer [default: the pages do
    /// not sign in].
    #[arg(long, env = "TESSERA_VIEWER_OIDC_CLIENT_ID")]
    pub viewer_oidc_client_id: Option<String>,
    /// The scopes the pages ask for when they sign in.
    #[arg(
        long,
        env = "TESSERA_VIEWER_OIDC_SCOPE",
        default_value = "openid profile"
    )]
    pub viewer_oidc_scope: String,
    /// Milliseconds a node trusts an API key it looked up before looking it up again: the
    /// longest a revoked key keeps working on a node; 0 looks it up on every request.
    #[arg(long, env = "TESSERA_API_KEY_RECHECK_MS", default_value_t = 1000)]
    pub api_key_recheck_ms: u64,
    /// Serve /metrics without authentication (it needs the admin role otherwise).
    #[arg(long, env = "TESSERA_METRICS_OPEN", default_value_t = false, action = ArgAction::SetTrue)]
    pub metrics_open: bool,
    /// A PEM certificate chain: serve HTTPS (with --tls-key). Reloaded when the file changes.
    #[arg(long, env = "TESSERA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "TESSERA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Seconds between checks of the certificate files for changes.
    #[arg(long, env = "TESSERA_TLS_RELOAD_INTERVAL", default_value_t = 10)]
    pub tls_reload_interval: u64,
    /// Days audit records are kept; 0 keeps them forever.
    #[arg(long, env = "TESSERA_AUDIT_RETENTION_DAYS", default_value_t = 0)]
    pub audit_retention_days: u32,
    /// Also send every audit record as a DICOM audit message over syslog:
    /// udp://host:port or tls://host:port [default: not sent].
    #[arg(long, env = "TESSERA_AUDIT_SYSLOG")]
    pub audit_syslog: Option<String>,
    /// A PEM file of the certificate authorities trusted for tls:// syslog [default: the
    /// system's].
    #[arg(long, env = "TESSERA_AUDIT_SYSLOG_CA")]
    pub audit_syslog_ca: Option<PathBuf>,
    /// This archive's name in audit records (AuditSourceID, AuditEvent.source.observer).
    #[arg(long, env = "TESSERA_AUDIT_SOURCE_ID", default_value = "tessera")]
    pub audit_source_id: String,
    /// A de-identification project and the file holding its secret, NAME=PATH; repeatable or
    /// comma-separated. The secret (at least 16 bytes; a trailing line end is not part of
    /// it) keys the project's replacement UIDs, pseudonyms and date shifts; a file that
    /// cannot be read or is too short stops the start [default: no projects].
    #[arg(
        long = "deid-project",
        env = "TESSERA_DEID_PROJECTS",
        value_delimiter = ','
    )]
    pub deid_projects: Vec<String>,
    /// Address of the DICOM (DIMSE) port, e.g. 0.0.0.0:11112 [default: off].
    #[arg(long, env = "TESSERA_DIMSE_LISTEN")]
    pub dimse_listen: Option<SocketAddr>,
    /// Tessera's AE title on the DICOM port: the called AE title peers must use.
    #[arg(long, env = "TESSERA_AE_TITLE", default_value = "TESSERA")]
    pub ae_title: String,
    /// A known DICOM peer, AE_TITLE=host:port[/role+role] (roles read and write when none are
    /// given); repeatable or comma-separated. C-MOVE sends only to known peers.
    #[arg(
        long = "dimse-peer",
        env = "TESSERA_DIMSE_PEERS",
        value_delimiter = ','
    )]
    pub dimse_peers: Vec<String>,
    /// Accept associations from calling AE titles that are not known peers (true or false)
    /// [default: true with --auth none, false with --auth required].
    #[arg(long, env = "TESSERA_DIMSE_ACCEPT_UNKNOWN")]
    pub dimse_accept_unknown: Option<bool>,
    /// DICOM associations served at once; more are rejected (transient, local limit exceeded).
    #[arg(long, env = "TESSERA_DIMSE_MAX_ASSOCIATIONS", default_value_t = 32)]
    pub dimse_max_associations: usize,
    /// The largest PDU received on the DICOM port, in bytes.
    #[arg(long, env = "TESSERA_DIMSE_MAX_PDU", default_value_t = 262144)]
    pub dimse_max_pdu: u32,
    /// Seconds a DICOM association may stay silent (or not read) before it is aborted.
    #[arg(long, env = "TESSERA_DIMSE_IDLE_TIMEOUT", default_value_t = 60)]
    pub dimse_idle_timeout: u64,
    /// DICOM TLS on the DICOM port (PS3.15 B.1) with the certificate of --tls-cert and
    /// --tls-key; associations are then accepted only inside TLS.
    #[arg(long, env = "TESSERA_DIMSE_TLS", default_value_t = false, action = ArgAction::SetTrue)]
    pub dimse_tls: bool,
    /// Seconds a new DICOM connection has to request an association (ARTIM timer).
    #[arg(long, env = "TESSERA_DIMSE_ARTIM_TIMEOUT", default_value_t = 10)]
    pub dimse_artim_timeout: u64,
    /// Seconds an HTTP/1 connection has to send a request's whole header, counted from when
    /// it may send one: also how long a connection (HTTP/1 or HTTP/2) with no request in
    /// progress stays open.
    #[arg(long, env = "TESSERA_HTTP_HEADER_TIMEOUT", default_value_t = 20)]
    pub http_header_timeout: u64,
    /// Seconds a request body may go without sending anything before the request ends
    /// with 408.
    #[arg(long, env = "TESSERA_HTTP_BODY_TIMEOUT", default_value_t = 60)]
    pub http_body_timeout: u64,
    /// Largest HTTP request header, request line included (431 beyond it).
    #[arg(long, env = "TESSERA_MAX_HEADER_SIZE", default_value = "32KiB")]
    pub max_header_size: ByteSize,
    /// Most header fields in an HTTP request (431 beyond them).
    #[arg(long, env = "TESSERA_MAX_HEADERS", default_value_t = 100)]
    pub max_headers: usize,
    /// Longest query string (the request target after `?`, as sent) in bytes (414 beyond it).
    #[arg(long, env = "TESSERA_MAX_QUERY_LENGTH", default_value_t = 8192)]
    pub max_query_length: usize,
    /// HTTP requests worked on at once; more are answered 503 with Retry-After at once
    /// (/healthz excepted).
    #[arg(long, env = "TESSERA_MAX_CONCURRENT_REQUESTS", default_value_t = 512)]
    pub max_concurrent_requests: usize,
    /// HTTP connections served at once; more wait in the listen backlog until one closes.
    #[arg(long, env = "TESSERA_MAX_CONNECTIONS", default_value_t = 10000)]
    pub max_connections: usize,
}

impl Settings {
    /// These settings, as clap parsed them from `matches` (defaults, environment, flags),
    /// with the values of the TOML `file` (if any) wherever neither a flag nor the
    /// environment gave one; then checked and made canonical (absolute paths, no trailing
    /// slashes).
    pub fn resolve(self, matches: &ArgMatches, file: Option<&Path>) -> Result<Self, ConfigError> {
        let merged = match file {
            Some(path) => merge::under_explicit(self, matches, path)?,
            None => self,
        };
        merged.checked()
    }

    /// The built-in defaults (no file, no environment) with everything under `data_dir`,
    /// listening on port 0: for tests and embedding.
    pub fn for_data_dir(data_dir: &Path) -> Result<Self, ConfigError> {
        let mut settings = Self::defaults()?;
        settings.data_dir = data_dir.to_path_buf();
        settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        settings.checked()
    }

    /// The built-in defaults under the values of a TOML file (the environment ignored).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let matches = merge::without_environment::<Settings>(&[])?;
        Self::from_matches(&matches)?.resolve(&matches, Some(path))
    }

    fn defaults() -> Result<Self, ConfigError> {
        Self::from_matches(&merge::without_environment::<Settings>(&[])?)
    }

    fn from_matches(matches: &ArgMatches) -> Result<Self, ConfigError> {
        Settings::from_arg_matches(matches).map_err(|e| ConfigError::Arguments(e.to_string()))
    }

    /// The index's URL: the one set, else SQLite in the data folder.
    /// Whether commands apply missing migrations or refuse to start without them.
    pub fn migrations(&self) -> crate::index::Migrations {
        if self.migrate {
            crate::index::Migrations::Apply
        } else {
            crate::index::Migrations::Require
        }
    }

    /// The index's connection pool: `db_max_connections`, `db_acquire_timeout`.
    pub fn index_pool(&self) -> crate::index::PoolSettings {
        crate::index::PoolSettings {
            max_connections: self.db_max_connections,
            acquire_timeout: std::time::Duration::from_secs(self.db_acquire_timeout),
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("index.db").display()))
    }

    /// The blob store's URL: the one set, else files in the data folder.
    pub fn storage_url(&self) -> String {
        self.storage_url
            .clone()
            .unwrap_or_else(|| format!("file://{}", self.data_dir.join("blobs").display()))
    }

    /// Where and how to push ImagingStudy resources, when a FHIR server is set; credentials
    /// come from the environment ([`fhir_auth_from_env`]).
    pub fn fhir_push(&self) -> Option<FhirPushSettings> {
        self.fhir_url.as_ref().map(|url| FhirPushSettings {
            url: url.clone(),
            auth: fhir_auth_from_env(),
            create_patients: self.fhir_create_patients,
        })
    }

    /// How the pages sign in: the first issuer and the viewer's public client, when
    /// authentication is required and both are set.
    pub fn sign_in(&self) -> Option<SignIn> {
        if self.auth != AuthMode::Required {
            return None;
        }
        Some(SignIn {
            authority: self.oidc_issuers.first()?.clone(),
            client_id: self.viewer_oidc_client_id.clone()?,
            scope: self.viewer_oidc_scope.clone(),
        })
    }

    /// The database URL with any password replaced, fit for logs.
    pub fn redacted_database_url(&self) -> String {
        checks::redact(&self.database_url())
    }

    /// The storage URL without query parameters (which may carry credentials), fit for logs.
    pub fn redacted_storage_url(&self) -> String {
        checks::redact(self.storage_url().split('?').next().unwrap_or_default())
    }
}

/// FHIR push credentials, from the environment only (never from flags or the file, which
/// others may read): `TESSERA_FHIR_BEARER_TOKEN`, or `TESSERA_FHIR_USERNAME` and
/// `TESSERA_FHIR_PASSWORD`.
fn fhir_auth_from_env() -> Option<FhirAuth> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(token) = var("TESSERA_FHIR_BEARER_TOKEN") {
        return Some(FhirAuth::Bearer(token));
    }
    match (var("TESSERA_FHIR_USERNAME"), var("TESSERA_FHIR_PASSWORD")) {
        (Some(username), Some(password)) => Some(FhirAuth::Basic { username, password }),
        _ => None,
    }
}
