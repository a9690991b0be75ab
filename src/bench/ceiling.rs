//! This machine's ceilings, measured in the same run as the workload, so every figure can be
//! read as a fraction of what the hardware allows: sequential durable disk writes (the STOW
//! limit on local disk).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Write `megabytes` MiB in 512 KiB blocks to a file in `dir`, fdatasync, and return MiB/s.
pub fn disk_write_mib_s(dir: &Path, megabytes: u64) -> Result<f64, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("tessera-bench-ceiling-{}", std::process::id()));
    let block = vec![0x5au8; 512 * 1024];
    let started = Instant::now();
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&path)?;
        for _ in 0..megabytes * 2 {
            file.write_all(&block)?;
        }
        file.sync_data()
    })();
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    result.map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(megabytes as f64 / seconds)
}
