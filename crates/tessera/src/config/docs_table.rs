//! docs/configuration.md's table of settings, made from the declarations in [`Settings`]:
//! the test fails when they differ, so the documentation cannot drift from the code.
//! `TESSERA_UPDATE_DOCS=1 cargo test -p tessera docs_table` rewrites the table.

use clap::{Arg, Args, Command};

use super::Settings;

const BEGIN: &str = "<!-- settings-table:begin -->";
const END: &str = "<!-- settings-table:end -->";

/// One row per setting: file key, flag, environment variable, default, meaning.
fn table() -> String {
    let command = Settings::augment_args(Command::new("tessera serve"));
    let mut out = String::from(
        "| file key | flag | environment | default | meaning |\n|---|---|---|---|---|\n",
    );
    for arg in command.get_arguments() {
        let (default, meaning) = default_and_meaning(arg);
        let cell = |text: &str| text.replace('|', "\\|");
        out.push_str(&format!(
            "| `{}` | `--{}` | `{}` | {} | {} |\n",
            arg.get_id(),
            arg.get_long().unwrap_or_default(),
            arg.get_env()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default(),
            cell(&default),
            cell(&meaning),
        ));
    }
    out
}

/// The default (clap's, else the `[default: ...]` the help text ends with) and the help text
/// without it.
fn default_and_meaning(arg: &Arg) -> (String, String) {
    let help = arg
        .get_help()
        .map(|h| h.to_string())
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() {
        return (format!("`{}`", defaults.join(",")), help);
    }
    match help.rsplit_once(" [default: ") {
        Some((meaning, default)) => (
            default.trim_end_matches(']').to_string(),
            meaning.to_string(),
        ),
        None => ("none".to_string(), help),
    }
}

#[test]
fn configuration_doc_lists_every_setting_as_declared() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (before, rest) = text
        .split_once(BEGIN)
        .unwrap_or_else(|| panic!("{} has no {BEGIN} line", path.display()));
    let (current, after) = rest
        .split_once(END)
        .unwrap_or_else(|| panic!("{} has no {END} line", path.display()));
    let wanted = format!("\n{}", table());
    if current == wanted {
        return;
    }
    if std::env::var_os("TESSERA_UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{before}{BEGIN}{wanted}{END}{after}")).unwrap();
        return;
    }
    panic!(
        "docs/configuration.md's settings table differs from the declarations in \
         crates/tessera/src/config/mod.rs; run TESSERA_UPDATE_DOCS=1 cargo test -p tessera \
         docs_table to rewrite it. Expected:\n{wanted}"
    );
}
