//! Tracing setup. `RUST_LOG` (or `TESSERA_LOG`) picks the filter; info by default. Lines are
//! text, or with `--log-format json` one JSON object each (timestamp, level, fields, spans).
//! Nothing at info level carries PHI: spans hold counts and UIDs at most.

use tracing_subscriber::EnvFilter;

pub fn init(json: bool) {
    let filter = std::env::var("TESSERA_LOG")
        .ok()
        .map(EnvFilter::new)
        .unwrap_or_else(|| {
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
