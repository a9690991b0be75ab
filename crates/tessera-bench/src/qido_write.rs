//! `--write-corpus DIR`: the QIDO corpus (`--populate N`, `--seed`, `--uid-root`) written as
//! Part-10 files, 1,000 per folder, for `tessera import DIR`: the operators' direct import
//! as the bulk path to populate an archive, through the same ingest and index code as
//! STOW-RS but without HTTP. `--stored --uid-root R` then queries what it stored.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::qido_part10;
use super::qido_synth::Corpus;
use crate::error::BenchError;

/// Files per folder.
const PER_FOLDER: u64 = 1_000;

/// Write every instance of `corpus` under `dir` with `threads` writers.
pub fn write(corpus: Arc<Corpus>, dir: &Path, threads: usize) -> Result<(), BenchError> {
    let started = Instant::now();
    let total = corpus.instances;
    let next = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let (corpus, next, bytes) = (corpus.clone(), next.clone(), bytes.clone());
            let dir = dir.to_path_buf();
            std::thread::spawn(move || -> Result<(), String> {
                loop {
                    let folder = next.fetch_add(1, Ordering::Relaxed);
                    let first = folder * PER_FOLDER;
                    if first >= total {
                        return Ok(());
                    }
                    let path = dir.join(format!("{folder:06}"));
                    std::fs::create_dir_all(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    for index in first..(first + PER_FOLDER).min(total) {
                        let data = qido_part10::instance(&corpus, index);
                        let file = path.join(format!("{index}.dcm"));
                        std::fs::File::create(&file)
                            .and_then(|mut f| f.write_all(&data))
                            .map_err(|e| format!("{}: {e}", file.display()))?;
                        bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker
            .join()
            .map_err(|_| BenchError::Failed("a writer thread panicked".into()))?
            .map_err(BenchError::Failed)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "wrote {total} instances ({} series, {} studies, {} patients, {:.1} MB) under {} in \
         {seconds:.1} s; UID root {}",
        corpus.series.len(),
        corpus.studies.len(),
        corpus.patients.len(),
        bytes.load(Ordering::Relaxed) as f64 / 1e6,
        dir.display(),
        corpus.uid_root
    );
    Ok(())
}
