//! Status codes used in STOW-RS responses (PS3.18 I.2, PS3.4 B.2.3, PS3.7 C.4.2).

/// A FailureReason (0008,1197) or WarningReason (0008,1196) value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCode(pub u16);

impl StatusCode {
    /// Warning: coercion of data elements (also used for "kept the stored copy").
    pub const COERCION_OF_DATA_ELEMENTS: StatusCode = StatusCode(0xB000);
    /// Warning: elements discarded.
    pub const ELEMENTS_DISCARDED: StatusCode = StatusCode(0xB006);
    /// Failure: processing failure.
    pub const PROCESSING_FAILURE: StatusCode = StatusCode(0x0110);
    /// Failure: duplicate SOP instance.
    pub const DUPLICATE_SOP_INSTANCE: StatusCode = StatusCode(0x0111);
    /// Failure: SOP class not supported.
    pub const SOP_CLASS_NOT_SUPPORTED: StatusCode = StatusCode(0x0122);
    /// Failure: out of resources.
    pub const OUT_OF_RESOURCES: StatusCode = StatusCode(0xA700);
    /// Failure: data set does not match SOP class (also: StudyInstanceUID differs from the URL).
    pub const DATA_SET_DOES_NOT_MATCH_SOP_CLASS: StatusCode = StatusCode(0xA900);
    /// Failure: cannot understand.
    pub const CANNOT_UNDERSTAND: StatusCode = StatusCode(0xC000);
    /// Failure: transfer syntax not supported.
    pub const TRANSFER_SYNTAX_NOT_SUPPORTED: StatusCode = StatusCode(0xC122);
}
