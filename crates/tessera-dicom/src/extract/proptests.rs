//! Hostile input for the Part 10 parser and extractor (issue 17): arbitrary bytes, generated
//! data sets and mutated real files are refused with a reason or extracted, never a panic,
//! within a bounded time; what is extracted points inside the file.

use proptest::prelude::*;

use crate::error::DicomError;
use crate::extract::{parse, ExtractedInstance};
use crate::layout::hostile::{self, bounded};
use crate::status::StatusCode;

/// Parse and extract; an error must carry a STOW failure reason and a message.
fn parse_and_extract(bytes: &[u8]) -> Result<Option<ExtractedInstance>, TestCaseError> {
    let parsed = match bounded("parse", || parse(bytes))? {
        Ok(parsed) => parsed,
        Err(err) => {
            check_reason(&err)?;
            return Ok(None);
        }
    };
    let result = bounded("extract", || parsed.extract())?;
    match result {
        Ok(instance) => {
            if let Some(frames) = &instance.frames {
                for (offset, length) in frames.iter().flatten() {
                    prop_assert!(offset
                        .checked_add(*length)
                        .is_some_and(|end| end <= bytes.len() as u64));
                }
            }
            prop_assert!(serde_json::from_str::<serde_json::Value>(&instance.metadata).is_ok());
            Ok(Some(instance))
        }
        Err(err) => {
            check_reason(&err)?;
            Ok(None)
        }
    }
}

fn check_reason(err: &DicomError) -> Result<(), TestCaseError> {
    let reason = err.failure_reason();
    prop_assert!(
        [
            StatusCode::CANNOT_UNDERSTAND,
            StatusCode::TRANSFER_SYNTAX_NOT_SUPPORTED,
            StatusCode::DATA_SET_DOES_NOT_MATCH_SOP_CLASS
        ]
        .contains(&reason),
        "{err:?} has failure reason {reason:?}"
    );
    prop_assert!(!err.to_string().trim().is_empty(), "{err:?} has no message");
    Ok(())
}

#[test]
fn the_seeds_are_valid() {
    for (name, bytes) in hostile::SEEDS {
        let instance = parse(bytes)
            .and_then(|p| p.extract())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert!(!instance.metadata.is_empty(), "{name}");
    }
}

proptest! {
    #![proptest_config(hostile::config(256))]

    #[test]
    fn arbitrary_bytes_are_refused_or_extracted(bytes in hostile::arbitrary_file()) {
        parse_and_extract(&bytes)?;
    }

    #[test]
    fn generated_data_sets_are_refused_or_extracted(bytes in hostile::element_soup()) {
        parse_and_extract(&bytes)?;
    }

    #[test]
    fn mutated_files_are_refused_or_extracted((_name, bytes) in hostile::mutated_seed()) {
        parse_and_extract(&bytes)?;
    }

    /// Every truncation of a valid file is refused with 0xC000 or still a whole file (a cut
    /// after the last element leaves a valid one).
    #[test]
    fn truncated_files_are_refused(
        seed in 0..hostile::SEEDS.len(),
        cut in any::<proptest::sample::Index>(),
    ) {
        let (_, bytes) = hostile::SEEDS[seed];
        let part = &bytes[..cut.index(bytes.len())];
        if let Err(err) = bounded("parse", || parse(part))? {
            check_reason(&err)?;
            prop_assert!(
                matches!(err.failure_reason(), StatusCode::CANNOT_UNDERSTAND),
                "{err:?}"
            );
        }
    }
}
