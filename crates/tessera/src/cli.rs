//! The command line of the `tessera` binary: its commands, and the flags that are not
//! settings (the settings themselves are declared in `tessera::config`).

use std::path::PathBuf;

use clap::{ArgMatches, Args, Parser, Subcommand};
use tessera::config::{ConfigError, Settings};
use tessera::ops::check::CheckOptions;
use tessera::ops::deidentify::DeidentifyOptions;
use tessera::ops::export::ExportOptions;
use tessera::ops::import::ImportOptions;
use tessera::ops::reindex::ReindexOptions;

#[derive(Debug, Parser)]
#[command(name = "tessera", version, about = "An open-source DICOM archive")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log lines as text, or as one JSON object per line (for a log shipper).
    #[arg(
        long,
        global = true,
        env = "TESSERA_LOG_FORMAT",
        default_value = "text",
        value_parser = ["text", "json"]
    )]
    pub log_format: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the archive: DICOMweb (STOW-RS, QIDO-RS, WADO-RS), FHIR and the viewer over HTTP.
    Serve(ServeArgs),
    /// API keys for scripts, modalities and gateways (sent as `Authorization: Bearer`).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Apply the index schema's missing migrations, and nothing else (for nodes started with
    /// `--migrate false`).
    Migrate {
        #[command(flatten)]
        archive: ServeArgs,
    },
    /// Compare the index and the blob store: rows without blobs, blobs without rows, sizes,
    /// hashes and frame ranges; exit status 1 when anything is wrong.
    Check {
        #[command(flatten)]
        options: CheckOptions,
        #[command(flatten)]
        archive: ServeArgs,
    },
    /// Rebuild the index from the blob store alone (disaster recovery when the database is
    /// lost): every instance, the study and series rows, frame offsets, extra attributes.
    Reindex {
        #[command(flatten)]
        options: ReindexOptions,
        #[command(flatten)]
        archive: ServeArgs,
    },
    /// Take studies, series or the studies of a QIDO-RS query out as their stored Part 10
    /// files: to a folder, a zip file, an object-store prefix, or a STOW-RS service.
    Export {
        #[command(flatten)]
        options: ExportOptions,
        #[command(flatten)]
        archive: ServeArgs,
    },
    /// De-identify studies, series or the studies of a QIDO-RS query (PS3.15 Annex E) under a
    /// project's secret, to a folder, a zip, an object-store prefix, a STOW-RS service or a
    /// partition, with a mapping table of what was replaced.
    Deidentify {
        #[command(flatten)]
        options: DeidentifyOptions,
        #[command(flatten)]
        archive: ServeArgs,
    },
    /// Store every DICOM file found in folders, zip files and DICOMDIRs: directly into the
    /// configured index and store, or through STOW-RS (`--to`).
    Import {
        #[command(flatten)]
        options: ImportOptions,
        #[command(flatten)]
        archive: ServeArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print its secret, alone on the last line (shown only this once).
    Create {
        /// A name for the key (who or what uses it), unique among live keys.
        #[arg(long)]
        name: String,
        /// Its roles: read, write, delete, admin; comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// Limit the key to these partitions, comma-separated (`default` is the plain
        /// routes) [default: every partition].
        #[arg(long, value_delimiter = ',')]
        partitions: Option<Vec<String>>,
        #[command(flatten)]
        archive: ServeArgs,
    },
    /// List every key (never their secrets): name, roles, created, last used, revoked.
    List {
        #[command(flatten)]
        archive: ServeArgs,
    },
    /// Revoke a key: refused by every node from its next request.
    Revoke {
        /// The key's name.
        name: String,
        #[command(flatten)]
        archive: ServeArgs,
    },
}

impl ApiKeyCommand {
    /// The settings of the archive the command works on, and the command's own matches.
    pub fn archive(&self) -> &ServeArgs {
        match self {
            ApiKeyCommand::Create { archive, .. }
            | ApiKeyCommand::List { archive }
            | ApiKeyCommand::Revoke { archive, .. } => archive,
        }
    }
}

/// The settings of `serve` (the API-key commands take the same, to find the same index).
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below, by their file keys (snake_case); the
    /// environment and flags win over it.
    #[arg(long, env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Settings,
}

impl ServeArgs {
    /// The settings with the config file merged in; `matches` are the command's own.
    pub fn settings(&self, matches: &ArgMatches) -> Result<Settings, ConfigError> {
        self.settings
            .clone()
            .resolve(matches, self.config.as_deref())
    }
}
