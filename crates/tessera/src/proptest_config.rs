//! The property tests' settings (test builds only): 256 cases with a fixed seed in the test
//! command, so that its run is the same on every machine and an input found stays found;
//! `PROPTEST_CASES` (scripts/fuzz.sh) runs more, with fresh seeds. No regression files are
//! written into the source tree: a failure prints its minimal input, which becomes a test.

use proptest::test_runner::{Config, RngSeed};

pub fn config() -> Config {
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
        config.rng_seed = RngSeed::Fixed(0x7e55e7a);
    }
    config
}
