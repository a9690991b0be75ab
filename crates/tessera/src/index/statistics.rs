//! The query planner's statistics, kept current while the archive grows. SQLite plans without
//! statistics until ANALYZE has run, and Tessera never ran it: a QIDO search of series by
//! Modality and a study's date was planned from the series' modality index (every series of
//! that modality read, a cost that grows with the archive: 1.4 ms at 100,000 instances)
//! instead of from the studies' date index (0.03 ms with statistics). PostgreSQL's autovacuum
//! analyzes by itself; refreshing after growth there too costs a sampled ANALYZE.

use std::sync::Arc;
use std::time::Duration;

use super::Index;

/// How often a node checks whether its indexes' statistics are due.
pub const EVERY: Duration = Duration::from_secs(300);

/// Below this many changes plans barely matter, and statistics of a nearly empty archive
/// would describe it badly once it grows.
const FIRST_AT: i64 = 1_000;

/// Whether the statistics are due, by the change feed's latest sequence number (every
/// instance stored, overwritten or deleted, by STOW, C-STORE, import or reindex, takes
/// one): never gathered by this process and the archive has had enough changes, or their
/// number has doubled since. Read in one index seek, where counting the instances read a
/// whole index every few minutes (a second at ten million).
pub fn due(analyzed_at: Option<i64>, changes: i64) -> bool {
    changes >= FIRST_AT && analyzed_at.is_none_or(|then| changes >= then.saturating_mul(2))
}

/// Check every `every` whether the statistics are due and refresh them; runs until dropped.
pub async fn keep_fresh(index: Arc<dyn Index>, every: Duration) {
    let mut analyzed_at: Option<i64> = None;
    loop {
        match index.latest_change(None).await {
            Ok(latest) if due(analyzed_at, latest.as_ref().map_or(0, |c| c.seq)) => {
                let changes = latest.map_or(0, |c| c.seq);
                let started = std::time::Instant::now();
                match index.analyze().await {
                    Ok(()) => {
                        tracing::info!(
                            changes,
                            ms = started.elapsed().as_millis() as u64,
                            "index statistics refreshed"
                        );
                        analyzed_at = Some(changes);
                    }
                    Err(err) => tracing::warn!(%err, "could not refresh the index statistics"),
                }
            }
            Ok(_) => {}
            Err(err) => tracing::debug!(%err, "index statistics: could not read the change feed"),
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::due;

    #[test]
    fn statistics_are_gathered_once_big_enough_then_at_each_doubling() {
        assert!(!due(None, 999));
        assert!(due(None, 1_000));
        assert!(!due(Some(1_000), 1_999));
        assert!(due(Some(1_000), 2_000));
        assert!(!due(Some(1_000_000), 1_500_000));
        assert!(due(Some(0), 1_000));
    }
}
