//! The command line of the `tessera` binary: its commands, and the flags that are not
//! settings (the settings themselves are declared in `tessera::config`).

use std::path::PathBuf;

use clap::{ArgMatches, Args, Parser, Subcommand};
use tessera::config::{ConfigError, Settings};

#[derive(Debug, Parser)]
#[command(name = "tessera", version, about = "An open-source DICOM archive")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the archive: DICOMweb (STOW-RS, QIDO-RS, WADO-RS), FHIR and the viewer over HTTP.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
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
    pub fn settings(self, matches: &ArgMatches) -> Result<Settings, ConfigError> {
        self.settings.resolve(matches, self.config.as_deref())
    }
}
