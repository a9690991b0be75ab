//! The `tessera` binary: parse the command line, start tracing, run.

mod cli;

use clap::{CommandFactory, FromArgMatches};

use cli::{Cli, Command};

// glibc malloc spent a quarter of QIDO's CPU time (many small allocations per result row);
// mimalloc does the same work at a fraction of the cost and returns memory more readily.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    tessera::alloc::configure();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(tessera::app::BLOCKING_THREADS)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run(cli, matches)),
        Err(err) => {
            eprintln!("tessera: cannot start the async runtime: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, matches: clap::ArgMatches) -> std::process::ExitCode {
    tessera::telemetry::init();
    let result = match cli.command {
        Command::Serve(args) => {
            let own = matches.subcommand_matches("serve").unwrap_or(&matches);
            match args.settings(own) {
                Ok(settings) => tessera::app::serve(settings).await,
                Err(err) => Err(err.into()),
            }
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tessera: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
