//! `tessera-bench`: STOW-RS and QIDO-RS load against any DICOMweb base URL.
//!
//! One job per file. STOW: `synth` makes CT instances, `multipart` bodies, `stow` runs the
//! batch x concurrency grid, `big` sends one streamed request, `stats` computes and prints
//! the figures, `rss` reads a server's memory and CPU from /proc. QIDO: `qido` runs the
//! workload; `qido_names` and `qido_synth` make the corpus, `qido_part10` its files,
//! `qido_populate` stores it, `qido_discover` reads an existing archive instead, `qido_keys`
//! holds what the queries draw from, `qido_queries` draws them, `qido_run` sends and checks.
//! WADO: `wado` runs the workload; `wado_synth` makes the multi-frame instance, `wado_mr` the
//! MR series, `wado_us` the ultrasound cine, `wado_store` stores them, `wado_get` sends timed
//! and checked GETs (`wado_parts` reads multipart answers as they stream), `wado_replay`
//! plays a viewer opening a series, `wado_mr_us` stores and measures the MR + ultrasound
//! study, `wado_study` retrieves whole studies and watches the server's memory meanwhile;
//! `wado_frames` runs only the random frames of the multi-frame instance (`--workload
//! frames`).

mod args;
mod big;
mod callgrind;
mod ceiling;
mod compare;
mod compare_summary;
mod error;
mod multipart;
mod plan;
mod qido;
mod qido_discover;
mod qido_keys;
mod qido_names;
mod qido_part10;
mod qido_populate;
mod qido_queries;
mod qido_run;
mod qido_synth;
mod qido_write;
mod rss;
mod run;
mod stats;
mod stow;
mod synth;
mod wado;
mod wado_cold;
mod wado_frames;
mod wado_get;
mod wado_mr;
mod wado_mr_us;
mod wado_parts;
mod wado_replay;
mod wado_store;
mod wado_study;
mod wado_synth;
mod wado_us;

// The same allocator as the server; the load generator keeps mimalloc's default purge
// delay, so that its own page faults on memory handed back and taken again do not add to
// what it measures.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = <args::BenchArgs as clap::Parser>::parse();
    // The callgrind operations run Tessera's router in this process: they take the server's
    // allocator setting, so that their counts are the server's.
    if args.callgrind_op.is_some() {
        tessera::alloc::configure();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(tessera::app::BLOCKING_THREADS)
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(async {
            tessera::telemetry::init(false);
            run::run(args).await
        }),
        Err(err) => Err(error::BenchError::Failed(format!(
            "cannot start the async runtime: {err}"
        ))),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tessera-bench: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
