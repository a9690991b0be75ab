//! Tracing setup. `RUST_LOG` (or `TESSERA_LOG`) picks the filter; info by default.
//! Nothing at info level carries PHI: spans hold counts and UIDs at most.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = std::env::var("TESSERA_LOG")
        .ok()
        .map(EnvFilter::new)
        .unwrap_or_else(|| {
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
