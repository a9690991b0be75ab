//! The resolved workload: defaults (full or smoke sizes) filled in and checked.

use std::path::PathBuf;

use crate::args::{BenchArgs, Workload};
use crate::error::BenchError;
use crate::rss;

/// The resolved workload.
#[derive(Clone)]
pub(crate) struct Plan {
    pub url: String,
    pub workload: Workload,
    pub batches: Vec<usize>,
    pub concurrencies: Vec<usize>,
    pub qido_concurrencies: Vec<usize>,
    pub populate: u64,
    pub queries: usize,
    pub instances: usize,
    pub slices: u32,
    pub image_size: u16,
    pub big_request_mb: u64,
    pub wado_slices: u32,
    pub wado_frames: u32,
    pub wado_requests: usize,
    pub wado_random_frames: usize,
    pub wado_mr_slices: u32,
    pub wado_us_frames: u32,
    pub wado_big_study_mb: u64,
    pub server_pid: Option<u32>,
    pub json: Option<PathBuf>,
    pub seed: u64,
    pub smoke: bool,
    pub disk_ceiling_dir: Option<PathBuf>,
    /// Where the cold frames' disk ceiling is measured (`--cold-frames-dir`).
    pub cold_frames_dir: Option<PathBuf>,
    /// A fixed UID root (`--uid-root`) instead of a fresh random one.
    pub uid_root: Option<String>,
    /// The data is already stored (`--stored`).
    pub stored: bool,
}

impl Plan {
    pub fn resolve(args: BenchArgs) -> Result<Plan, BenchError> {
        let smoke = args.smoke;
        let pick = |full: usize, tiny: usize| if smoke { tiny } else { full };
        let plan = Plan {
            url: args
                .url
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string(),
            workload: args.workload,
            batches: args
                .batch
                .unwrap_or_else(|| if smoke { vec![1, 10] } else { vec![1, 10, 100] }),
            concurrencies: args.concurrency.clone().unwrap_or_else(|| {
                if smoke {
                    vec![1, 2]
                } else {
                    vec![1, 4, 16]
                }
            }),
            qido_concurrencies: args.concurrency.unwrap_or_else(|| vec![pick(8, 2)]),
            populate: args.populate.unwrap_or(pick(100_000, 300) as u64),
            queries: args.queries.unwrap_or(pick(2000, 50)),
            instances: args.instances.unwrap_or(pick(400, 20)),
            slices: args.slices.unwrap_or(200),
            image_size: args.image_size.unwrap_or(pick(512, 64) as u16),
            big_request_mb: args.big_request_mb,
            wado_slices: args.wado_slices.unwrap_or(pick(300, 20) as u32),
            wado_frames: args.wado_frames.unwrap_or(pick(500, 20) as u32),
            wado_requests: args.wado_requests.unwrap_or(pick(200, 20)).max(1),
            wado_random_frames: args.wado_random_frames.unwrap_or(pick(2000, 200)).max(1),
            wado_mr_slices: args.wado_mr_slices.unwrap_or(pick(100, 10) as u32),
            wado_us_frames: args.wado_us_frames.unwrap_or(pick(100, 10) as u32),
            wado_big_study_mb: args.wado_big_study_mb,
            server_pid: args.server_pid,
            json: args.json,
            seed: args.seed,
            smoke,
            disk_ceiling_dir: args.disk_ceiling_dir,
            cold_frames_dir: args.cold_frames_dir,
            uid_root: args.uid_root,
            stored: args.stored,
        };
        plan.check()?;
        Ok(plan)
    }

    /// Whether the plan can run: URL, sizes, the server's /proc entry.
    pub fn check(&self) -> Result<(), BenchError> {
        let plan = self;
        let bad = |what: &str| Err(BenchError::Failed(what.to_string()));
        if !plan.url.starts_with("http://") && !plan.url.starts_with("https://") {
            return bad("--url must be an http:// URL");
        }
        if plan.url.starts_with("https://") {
            return bad("--url: https is not supported by this build (no TLS); use http://");
        }
        if plan.batches.is_empty() || plan.batches.contains(&0) {
            return bad("--batch needs positive numbers");
        }
        if plan.concurrencies.is_empty() || plan.concurrencies.contains(&0) {
            return bad("--concurrency needs positive numbers");
        }
        if plan.qido_concurrencies.is_empty() || plan.qido_concurrencies.contains(&0) {
            return bad("--concurrency needs positive numbers");
        }
        if plan.instances == 0 || plan.slices == 0 || plan.image_size == 0 {
            return bad("--instances, --slices and --image-size must be positive");
        }
        if plan.wado_slices == 0 || plan.wado_frames == 0 {
            return bad("--wado-slices and --wado-frames must be positive");
        }
        if plan.wado_mr_slices == 0 || plan.wado_us_frames == 0 {
            return bad("--wado-mr-slices and --wado-us-frames must be positive");
        }
        if let Some(root) = &plan.uid_root {
            let digits = |c: &str| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit());
            // The bench appends up to about 20 characters; a UID holds 64.
            if root.len() > 40 || !root.split('.').all(digits) {
                return bad("--uid-root must be a UID root of digits and dots, at most 40 long");
            }
        }
        if plan.stored && !matches!(plan.workload, Workload::Qido | Workload::Frames) {
            return bad("--stored is for --workload qido or frames");
        }
        if plan.stored && plan.workload == Workload::Qido && plan.populate == 0 {
            return bad("--stored needs --populate N, the size of the stored corpus");
        }
        if let Some(pid) = plan.server_pid {
            if rss::read(Some(pid)).is_none() {
                return Err(BenchError::Failed(format!("cannot read /proc/{pid}")));
            }
        }
        Ok(())
    }
}
