//! Frames cold (`--cold-frames-dir`): the first read of each frame with the kernel's page
//! cache dropped, beside this disk's own random reads of frame-sized blocks measured the
//! same way (cache dropped, the same number of reads, the same number in flight).
//!
//! Dropping the page cache needs root (`/proc/sys/vm/drop_caches`); it drops the server's
//! index pages too, so the frames' figure includes the index reads a cold server does.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::stats::MIB;
use super::wado_get::{self, Job, Row};

/// Write back dirty pages, then drop the page cache, dentries and inodes.
pub fn drop_caches() -> Result<(), String> {
    std::process::Command::new("sync")
        .status()
        .map_err(|e| format!("sync: {e}"))?;
    std::fs::write("/proc/sys/vm/drop_caches", "3\n")
        .map_err(|e| format!("dropping the page cache (needs root): {e}"))
}

/// `reads` random `block`-byte reads of a file of `reads` blocks written in `dir`, with the
/// page cache dropped first, `concurrency` threads: MB/s.
pub fn disk_random_read_mb_s(
    dir: &Path,
    block: usize,
    reads: usize,
    concurrency: usize,
) -> Result<f64, String> {
    let path = dir.join(format!("tessera-bench-cold-{}", std::process::id()));
    let result = (|| -> Result<f64, String> {
        let io = |e: std::io::Error| format!("{}: {e}", path.display());
        {
            let file = std::fs::File::create(&path).map_err(io)?;
            let data = vec![0xa5u8; block];
            for i in 0..reads {
                file.write_all_at(&data, (i * block) as u64).map_err(io)?;
            }
            file.sync_all().map_err(io)?;
        }
        drop_caches()?;
        let mut order: Vec<usize> = (0..reads).collect();
        order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(7));
        let order = Arc::new(order);
        let next = Arc::new(AtomicUsize::new(0));
        let file = Arc::new(std::fs::File::open(&path).map_err(io)?);
        let started = Instant::now();
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (order, next, file) = (order.clone(), next.clone(), file.clone());
                std::thread::spawn(move || -> std::io::Result<()> {
                    let mut buffer = vec![0u8; block];
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        file.read_exact_at(&mut buffer, (i * block) as u64)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| "a read thread panicked".to_string())?
                .map_err(io)?;
        }
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        Ok((reads * block) as f64 / MIB / seconds)
    })();
    let _ = std::fs::remove_file(&path);
    result
}

/// What the cold item measured.
pub struct Cold {
    pub row: Row,
    /// The disk's random frame-sized reads, MB/s.
    pub disk_mb_per_s: f64,
}

/// Measure the disk's ceiling in `dir` (as many reads as jobs, at least 1 GiB of them),
/// drop the page cache, then fetch `jobs` (every frame of a series once) with
/// `concurrency` in flight.
pub async fn run(
    client: &reqwest::Client,
    dir: &Path,
    jobs: Vec<Job>,
    block: usize,
    concurrency: usize,
    server_pid: Option<u32>,
    timeout: Duration,
) -> Result<Cold, String> {
    // At least 1 GiB of 512 KiB reads: a few hundred reads last a fraction of a second,
    // too short for a steady figure from a virtual disk.
    let reads = jobs.len().max((1usize << 30) / block.max(1));
    let dir_owned = dir.to_path_buf();
    let disk_mb_per_s = tokio::task::spawn_blocking(move || {
        disk_random_read_mb_s(&dir_owned, block, reads, concurrency)
    })
    .await
    .map_err(|e| e.to_string())??;
    tokio::task::spawn_blocking(drop_caches)
        .await
        .map_err(|e| e.to_string())??;
    let item = "series frames cold (page cache dropped)";
    let (row, _) = wado_get::load(
        client,
        item,
        Arc::new(jobs),
        concurrency,
        server_pid,
        timeout,
    )
    .await;
    Ok(Cold { row, disk_mb_per_s })
}
