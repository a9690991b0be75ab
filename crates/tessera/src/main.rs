//! The `tessera` binary: parse the command line, start tracing, run.

mod cli;

use clap::{CommandFactory, FromArgMatches};

use cli::{ApiKeyCommand, Cli, Command};

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
    tessera::telemetry::init(cli.log_format == "json");
    let result = match cli.command {
        Command::Serve(args) => {
            let own = matches.subcommand_matches("serve").unwrap_or(&matches);
            match args.settings(own) {
                Ok(settings) => tessera::app::serve(settings).await,
                Err(err) => Err(err.into()),
            }
        }
        Command::ApiKey(command) => return api_key(command, &matches).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tessera: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `tessera api-key create|list|revoke`.
async fn api_key(command: ApiKeyCommand, matches: &clap::ArgMatches) -> std::process::ExitCode {
    use tessera::keys;
    let own = matches
        .subcommand_matches("api-key")
        .and_then(|m| m.subcommand().map(|(_, m)| m))
        .unwrap_or(matches);
    let settings = match command.archive().settings(own) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("tessera: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match &command {
        ApiKeyCommand::Create { name, roles, .. } => keys::create(&settings, name, roles)
            .await
            .map(|(secret, roles)| {
                println!("created API key {name} with roles {}", roles.names());
                println!("its secret follows; it is not shown again (only a hash is stored):");
                println!("{secret}");
            }),
        ApiKeyCommand::List { .. } => keys::list(&settings).await.map(|keys| {
            println!("NAME\tROLES\tCREATED\tLAST_USED\tREVOKED");
            for key in keys {
                let time =
                    |t: Option<i64>| t.map_or("-".to_string(), tessera::time::rfc3339_millis);
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    key.name,
                    key.roles,
                    time(Some(key.created_at)),
                    time(key.last_used_at),
                    time(key.revoked_at)
                );
            }
        }),
        ApiKeyCommand::Revoke { name, .. } => keys::revoke(&settings, name)
            .await
            .map(|()| println!("revoked API key {name}")),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tessera: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
