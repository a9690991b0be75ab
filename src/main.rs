//! The `tessera` binary: parse the command line, start tracing, run.

use clap::Parser;

// glibc malloc spent a quarter of QIDO's CPU time (many small allocations per result row);
// mimalloc does the same work at a fraction of the cost and returns memory more readily.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tessera::config::{Cli, Command};

/// Threads for blocking work (file reads and writes, fsync, parsing, decoding). Tokio's
/// default of 512 let a burst of 100 frame requests start 100 threads, each keeping its own
/// allocator pages afterwards (peak RSS +30-70 MB in the WADO benchmark) while a disk and two
/// cores gain nothing from more than a few reads in flight.
const BLOCKING_THREADS: usize = 16;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The server's setting (RSS), also for the in-process server the callgrind operations
    // run; the load generator keeps mimalloc's default, so that its own page faults on memory
    // handed back and taken again do not add to what it measures.
    let load_generator =
        matches!(&cli.command, Command::Bench(args) if args.callgrind_op.is_none());
    if !load_generator {
        tessera::alloc::configure();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(err) => {
            eprintln!("tessera: cannot start the async runtime: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> std::process::ExitCode {
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
