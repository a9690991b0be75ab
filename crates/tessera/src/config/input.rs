//! The bounds on hostile input (issue 17) that are settings: parts per STOW request, the
//! query string's length, the nesting of sequences in an instance. Floors keep the archive
//! usable; the nesting has a ceiling, past which parsing could overflow a thread's stack.

use tessera_dicom::limits::ParseLimits;

use super::{ConfigError, Settings};

impl Settings {
    pub(super) fn check_input(&mut self) -> Result<(), ConfigError> {
        self.max_parts_per_request = self.max_parts_per_request.max(1);
        // Room for a QIDO query with a few attributes and includefields.
        self.max_query_length = self.max_query_length.max(256);
        if !(1..=ParseLimits::MAX_SEQUENCE_DEPTH).contains(&self.max_sequence_depth) {
            return Err(ConfigError::InvalidValue {
                name: "max_sequence_depth",
                value: self.max_sequence_depth.to_string(),
                expected: "a nesting depth from 1 to 128 (deeper nesting could overflow the \
                           parser's stack)",
            });
        }
        Ok(())
    }

    /// What parsing one received instance may cost.
    pub fn parse_limits(&self) -> ParseLimits {
        ParseLimits::with_sequence_depth(self.max_sequence_depth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(flags: &[&str]) -> Result<Settings, ConfigError> {
        let matches = super::super::merge::without_environment::<Settings>(flags)?;
        let settings = Settings::from_matches(&matches)?;
        settings.checked()
    }

    #[test]
    fn input_limits_have_floors_and_the_nesting_a_ceiling() {
        let defaults = with(&[]).unwrap();
        assert_eq!(defaults.max_parts_per_request, 5000);
        assert_eq!(defaults.max_query_length, 8192);
        assert_eq!(defaults.parse_limits().max_sequence_depth, 64);
        let low = with(&[
            "--max-parts-per-request",
            "0",
            "--max-query-length",
            "3",
            "--max-sequence-depth",
            "1",
        ])
        .unwrap();
        assert_eq!(low.max_parts_per_request, 1);
        assert_eq!(low.max_query_length, 256);
        assert_eq!(low.parse_limits().max_sequence_depth, 1);
        let most = with(&["--max-sequence-depth", "128"]).unwrap();
        assert_eq!(most.parse_limits().max_sequence_depth, 128);
        for refused in ["0", "129", "100000"] {
            let err = with(&["--max-sequence-depth", refused]).unwrap_err();
            assert!(err.to_string().contains("max_sequence_depth"), "{err}");
        }
    }
}
