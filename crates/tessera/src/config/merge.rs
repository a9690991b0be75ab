//! One merge for every setting: the TOML file's values go under the environment's and the
//! flags' (clap records where each value came from) and over the built-in defaults, so no
//! setting needs code of its own here.

use std::collections::BTreeSet;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Command};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::ConfigError;

/// `parsed` (defaults, environment and flags as clap resolved them) with the values of the
/// file at `path` wherever neither a flag nor the environment gave one. The file's keys are
/// the settings' names (snake_case); an unknown key is an error.
pub fn under_explicit<T>(parsed: T, matches: &ArgMatches, path: &Path) -> Result<T, ConfigError>
where
    T: Args + Serialize + DeserializeOwned,
{
    let parse_error = |message: String| ConfigError::ParseFile {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    let file: toml::Table = toml::from_str(&text).map_err(|e| parse_error(e.to_string()))?;
    let known = setting_names::<T>();
    let mut merged = match toml::Value::try_from(&parsed) {
        Ok(toml::Value::Table(table)) => table,
        Ok(_) => return Err(parse_error("settings are not a table".into())),
        Err(err) => return Err(parse_error(err.to_string())),
    };
    for (key, value) in file {
        if !known.contains(&key) {
            return Err(parse_error(format!("unknown setting `{key}`")));
        }
        let explicit = matches!(
            matches.value_source(&key),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if !explicit {
            merged.insert(key, value);
        }
    }
    toml::Value::Table(merged)
        .try_into()
        .map_err(|e: toml::de::Error| parse_error(e.to_string()))
}

/// The names of `T`'s settings (clap's argument ids, which are also the file's keys).
pub fn setting_names<T: Args>() -> BTreeSet<String> {
    T::augment_args(Command::new("settings"))
        .get_arguments()
        .map(|arg| arg.get_id().to_string())
        .collect()
}

/// Matches of `T`'s arguments from these flags alone, the environment ignored (no flags: the
/// built-in defaults).
pub fn without_environment<T: Args>(flags: &[&str]) -> Result<ArgMatches, ConfigError> {
    T::augment_args(Command::new("settings"))
        .mut_args(|arg| arg.env(None))
        .try_get_matches_from(std::iter::once("settings").chain(flags.iter().copied()))
        .map_err(|e| ConfigError::Arguments(e.to_string()))
}
