//! The `tessera` binary: parse the command line, start tracing, run.

use clap::Parser;
use tessera::config::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tessera::telemetry::init();
    let result = match cli.command {
        Command::Serve(args) => tessera::app::serve(args).await,
        Command::Bench(args) => tessera::bench::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tessera: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
