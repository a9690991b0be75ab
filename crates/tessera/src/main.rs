//! The `tessera` binary: parse the command line, start tracing, run.

mod cli;

use clap::{CommandFactory, FromArgMatches};

use cli::{ApiKeyCommand, Cli, Command, ServeArgs};

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
        Command::Migrate { archive } => return migrate(&archive, &matches).await,
        Command::Check { options, archive } => {
            return operate(&archive, &matches, "check", |s| async move {
                tessera::ops::check::run(&s, &options).await
            })
            .await
        }
        Command::Reindex { options, archive } => {
            return operate(&archive, &matches, "reindex", |s| async move {
                tessera::ops::reindex::run(&s, &options).await
            })
            .await
        }
        Command::Export { options, archive } => {
            return operate(&archive, &matches, "export", |s| async move {
                tessera::ops::export::run(&s, &options).await
            })
            .await
        }
        Command::Deidentify { options, archive } => {
            return operate(&archive, &matches, "deidentify", |s| async move {
                tessera::ops::deidentify::run(&s, &options).await
            })
            .await
        }
        Command::Import { options, archive } => {
            return operate(&archive, &matches, "import", |s| async move {
                tessera::ops::import::run(&s, &options).await
            })
            .await
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

/// The settings of an operator's command, with the config file merged in.
fn settings_of(
    archive: &ServeArgs,
    matches: &clap::ArgMatches,
    command: &str,
) -> Result<tessera::config::Settings, tessera::ops::OpsError> {
    let own = matches.subcommand_matches(command).unwrap_or(matches);
    Ok(archive.settings(own)?)
}

/// Run an operator's command on its settings, and turn how it ended into an exit status.
async fn operate<F, Fut>(
    archive: &ServeArgs,
    matches: &clap::ArgMatches,
    command: &str,
    run: F,
) -> std::process::ExitCode
where
    F: FnOnce(tessera::config::Settings) -> Fut,
    Fut: std::future::Future<Output = Result<tessera::ops::Finished, tessera::ops::OpsError>>,
{
    finished(match settings_of(archive, matches, command) {
        Ok(settings) => run(settings).await,
        Err(err) => Err(err),
    })
}

/// The exit status of an operator's command: 0 clean, 1 when it found or left problems
/// (its summary says which), 2 when it could not run.
fn finished(
    result: Result<tessera::ops::Finished, tessera::ops::OpsError>,
) -> std::process::ExitCode {
    match result {
        Ok(tessera::ops::Finished::Clean) => std::process::ExitCode::SUCCESS,
        Ok(tessera::ops::Finished::Problems) => std::process::ExitCode::from(1),
        Err(err) => {
            eprintln!("tessera: {err}");
            std::process::ExitCode::from(2)
        }
    }
}

/// `tessera migrate`.
async fn migrate(archive: &ServeArgs, matches: &clap::ArgMatches) -> std::process::ExitCode {
    let result = match settings_of(archive, matches, "migrate") {
        Ok(settings) => tessera::ops::migrate::run(&settings).await,
        Err(err) => Err(err),
    };
    finished(result.map(|report| {
        if report.applied.is_empty() {
            println!("index schema up to date (version {})", report.latest);
        } else {
            for step in &report.applied {
                println!("applied {:04} {}", step.version, step.description);
            }
            println!("index schema now at version {}", report.latest);
        }
        tessera::ops::Finished::Clean
    }))
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
        ApiKeyCommand::Create {
            name,
            roles,
            partitions,
            ..
        } => keys::create_limited(&settings, name, roles, partitions.as_deref())
            .await
            .map(|(secret, roles)| {
                let scope = match partitions {
                    Some(names) => format!(" in partitions {}", names.join(",")),
                    None => String::new(),
                };
                println!("created API key {name} with roles {}{scope}", roles.names());
                println!("its secret follows; it is not shown again (only a hash is stored):");
                println!("{secret}");
            }),
        ApiKeyCommand::List { .. } => keys::list(&settings).await.map(|keys| {
            println!("NAME\tROLES\tPARTITIONS\tCREATED\tLAST_USED\tREVOKED");
            for key in keys {
                let time =
                    |t: Option<i64>| t.map_or("-".to_string(), tessera::time::rfc3339_millis);
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    key.name,
                    key.roles,
                    key.partitions.as_deref().unwrap_or("*"),
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
