//! What parsing one untrusted file may cost, set by whoever receives it (`tessera serve
//! --max-sequence-depth`). The layout walk enforces these bounds before dicom-rs reads a file.

/// Bounds on the parse of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Sequences nested deeper than this are refused (C000) before dicom-rs reads the file:
    /// dicom-rs and the DICOM JSON writer descend into each level on the thread's stack.
    pub max_sequence_depth: usize,
}

impl ParseLimits {
    /// The nesting allowed unless configured otherwise. Real files nest a few levels
    /// (structured reports, RT plans: under 20).
    pub const DEFAULT_SEQUENCE_DEPTH: usize = 64;
    /// The deepest nesting any configuration may allow: parsing an instance this deep,
    /// writing its DICOM JSON and reading that back fits in three quarters of the 2 MiB
    /// stack of the threads that parse uploads, even in a debug build (tests/limits.rs); what
    /// overflows is in docs/robustness.md.
    pub const MAX_SEQUENCE_DEPTH: usize = 128;

    /// The most any configuration allows: for reading files already stored, which were
    /// accepted under whatever limit was set when they came and which a later, lower setting
    /// must not make unreadable.
    pub const STORED: ParseLimits = ParseLimits {
        max_sequence_depth: Self::MAX_SEQUENCE_DEPTH,
    };

    /// These limits with `depth` as the nesting allowed, at most [`Self::MAX_SEQUENCE_DEPTH`].
    pub fn with_sequence_depth(depth: usize) -> ParseLimits {
        ParseLimits {
            max_sequence_depth: depth.min(Self::MAX_SEQUENCE_DEPTH),
        }
    }
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_sequence_depth: Self::DEFAULT_SEQUENCE_DEPTH,
        }
    }
}
