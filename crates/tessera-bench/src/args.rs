//! The command line of `tessera-bench`.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::callgrind;

/// What `tessera-bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// STOW-RS: synthetic CT stored over a batch x concurrency grid.
    Stow,
    /// QIDO-RS: a populated archive of small studies searched by a query mix.
    Qido,
    /// WADO-RS: series metadata, a viewer opening a series, random frames of a multi-frame
    /// instance, whole-study retrieve, a viewer opening an MR series, an ultrasound cine.
    Wado,
    /// STOW, then QIDO, then WADO.
    All,
    /// Only the `random multi-frame frames` item of `wado`: store the multi-frame instance
    /// (in a study of its own; not with `--stored`), then fetch random frames of it.
    Frames,
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "tessera-bench",
    version,
    about = "Measure a DICOMweb server: STOW-RS, QIDO-RS and WADO-RS load, side-by-side comparisons, callgrind operations"
)]
pub struct BenchArgs {
    /// DICOMweb root to measure, e.g. http://127.0.0.1:8080/dicom-web (also `--target`).
    #[arg(long, visible_alias = "target", required_unless_present_any = ["summarize", "ceiling_serve", "callgrind_op", "write_corpus"])]
    pub url: Option<String>,
    /// A second DICOMweb root to run the same workload against (e.g. Orthanc's
    /// http://127.0.0.1:8042/dicom-web); the report then gives target/compare ratios.
    #[arg(long)]
    pub compare: Option<String>,
    /// The compare server's process id: its CPU seconds and peak RSS per operation.
    #[arg(long)]
    pub compare_pid: Option<u32>,
    /// Run the compare server's workload first (so repetitions can alternate the order).
    #[arg(long)]
    pub compare_first: bool,
    /// Names for the two servers in tables and JSON [default: target, compare].
    #[arg(long, default_value = "target")]
    pub target_name: String,
    #[arg(long, default_value = "compare")]
    pub compare_name: String,
    /// A trivial HTTP server for the loopback ceiling (`--ceiling-serve 127.0.0.1:8199`):
    /// `GET /ok` answers 2 bytes, `GET /mib` 1 MiB. Runs until killed; no workload.
    #[arg(long)]
    pub ceiling_serve: Option<std::net::SocketAddr>,
    /// Measure the loopback HTTP ceiling against a `--ceiling-serve` server at this URL
    /// (e.g. http://127.0.0.1:8199) and print figures as fractions of it.
    #[arg(long)]
    pub ceiling_url: Option<String>,
    /// Run one operation in-process, `--callgrind-repeat` times after its setup, and exit:
    /// what scripts/callgrind.sh counts instructions of.
    #[arg(long, value_enum)]
    pub callgrind_op: Option<callgrind::Op>,
    #[arg(long, default_value_t = 1)]
    pub callgrind_repeat: u32,
    /// Print medians and ranges of the comparisons in these JSON reports (written by
    /// `--compare --json`), no workload; with `--json`, write the summary there.
    #[arg(long, num_args = 1..)]
    pub summarize: Vec<PathBuf>,
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Workload::Stow)]
    pub workload: Workload,
    /// Instances per STOW request, comma-separated [default: 1,10,100; smoke: 1,10].
    #[arg(long, value_delimiter = ',')]
    pub batch: Option<Vec<usize>>,
    /// Requests in flight, comma-separated [default: STOW 1,4,16, QIDO 8; smoke: STOW 1,2,
    /// QIDO 2].
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Option<Vec<usize>>,
    /// Instances sent in each (batch, concurrency) cell [default: 400; smoke: 20].
    #[arg(long)]
    pub instances: Option<usize>,
    /// Slices per synthetic CT study [default: 200].
    #[arg(long)]
    pub slices: Option<u32>,
    /// Rows and columns of every image [default: 512; smoke: 64].
    #[arg(long)]
    pub image_size: Option<u16>,
    /// QIDO: metadata-only instances to store first (10 per series, 1-3 series per study)
    /// [default: 100000; smoke: 300]; 0 = query the archive as it is.
    #[arg(long)]
    pub populate: Option<u64>,
    /// QIDO: requests per query type [default: 2000; smoke: 50]; 0 = only populate.
    #[arg(long)]
    pub queries: Option<usize>,
    /// WADO: slices of the CT series [default: 300; smoke: 20].
    #[arg(long)]
    pub wado_slices: Option<u32>,
    /// WADO: frames of the multi-frame instance (256x256, 16-bit) [default: 500; smoke: 20].
    #[arg(long)]
    pub wado_frames: Option<u32>,
    /// WADO: requests per metadata cell [default: 200; smoke: 20].
    #[arg(long)]
    pub wado_requests: Option<usize>,
    /// WADO: random frames fetched from the multi-frame instance [default: 2000; smoke: 200].
    #[arg(long)]
    pub wado_random_frames: Option<usize>,
    /// WADO: slices of the MR series (256x256, 16-bit) [default: 100; smoke: 10].
    #[arg(long)]
    pub wado_mr_slices: Option<u32>,
    /// WADO: frames of the RGB ultrasound cine (640x480; smoke: 64x48) [default: 100;
    /// smoke: 10].
    #[arg(long)]
    pub wado_us_frames: Option<u32>,
    /// WADO: also store a study of about this many MiB (batches of 100 instances) and
    /// retrieve it once, sampling the server's RSS every 50 ms; 0 = off.
    #[arg(long, default_value_t = 0)]
    pub wado_big_study_mb: u64,
    /// Then send one streamed STOW request of about this many MiB; 0 = off.
    #[arg(long, default_value_t = 0)]
    pub big_request_mb: u64,
    /// The server's process id: report its CPU, RSS and peak RSS (from /proc); also
    /// `--target-pid`.
    #[arg(long, visible_alias = "target-pid")]
    pub server_pid: Option<u32>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Seed of the synthetic content (pixels, names); UIDs are fresh every run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Tiny sizes that finish in seconds; exits non-zero if any request failed.
    #[arg(long)]
    pub smoke: bool,
    /// A bearer token sent with every request as `Authorization: Bearer TOKEN` (an API key
    /// or a JWT). Give it in the environment rather than as a flag, so that it is not shown
    /// by `ps`.
    #[arg(long, env = "TESSERA_BENCH_TOKEN", hide_env_values = true)]
    pub bearer: Option<String>,
    /// Another HTTP header sent with every request, `Name: value`; repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Make every UID under this root (e.g. 2.25.1234) instead of a fresh random one, so
    /// that a later run with `--stored` finds what this one stored.
    #[arg(long)]
    pub uid_root: Option<String>,
    /// The workload's data is already stored, by an earlier run with the same `--uid-root`,
    /// `--seed` and sizes: do not store it again (QIDO: `--populate N` then only names the
    /// corpus the queries draw from; frames: the multi-frame instance). For `qido` and
    /// `frames`; lets several servers on the same data (e.g. with and without
    /// authentication) run the same queries.
    #[arg(long, requires = "uid_root")]
    pub stored: bool,
    /// Measure sequential durable write bandwidth (1 GiB, fdatasync) in this folder, which
    /// should be on the server's data disk, and print each STOW figure as a fraction of it.
    #[arg(long)]
    pub disk_ceiling_dir: Option<PathBuf>,
    /// WADO: also measure the series' frames cold: drop the kernel's page cache (needs root:
    /// /proc/sys/vm/drop_caches), fetch every frame once, and beside it the disk's random
    /// reads of frame-sized blocks from a file written in this folder (put it on the
    /// server's data disk).
    #[arg(long)]
    pub cold_frames_dir: Option<PathBuf>,
    /// QIDO: write the `--populate N` corpus (with `--seed`, `--uid-root`) as Part-10 files
    /// under this folder, for `tessera import`, and exit; then query with `--stored`.
    #[arg(long, requires = "uid_root")]
    pub write_corpus: Option<PathBuf>,
}
