//! Status codes of STOW-RS responses and DIMSE messages (PS3.18 I.2, PS3.4 B.2.3, C.4, J.3,
//! PS3.7 C.4.2).

/// A FailureReason (0008,1197) or WarningReason (0008,1196) value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCode(pub u16);

impl StatusCode {
    /// Success (DIMSE).
    pub const SUCCESS: StatusCode = StatusCode(0x0000);
    /// Pending: more C-FIND matches or C-MOVE/C-GET sub-operations follow.
    pub const PENDING: StatusCode = StatusCode(0xFF00);
    /// Cancelled by a C-CANCEL.
    pub const CANCEL: StatusCode = StatusCode(0xFE00);
    /// Warning: C-MOVE/C-GET finished with one or more sub-operations failed.
    pub const SUB_OPERATIONS_COMPLETE_WITH_FAILURES: StatusCode = StatusCode(0xB000);
    /// Failure: C-MOVE sub-operations could not be started (out of resources).
    pub const MOVE_OUT_OF_RESOURCES: StatusCode = StatusCode(0xA701);
    /// Failure: C-MOVE/C-GET sub-operations all failed (out of resources).
    pub const RETRIEVE_SUB_OPERATIONS_FAILED: StatusCode = StatusCode(0xA702);
    /// Failure: the C-MOVE destination is not a known peer.
    pub const MOVE_DESTINATION_UNKNOWN: StatusCode = StatusCode(0xA801);
    /// Failure: the identifier does not match the SOP class (C-FIND, C-MOVE, C-GET).
    pub const IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS: StatusCode = StatusCode(0xA900);
    /// Failure: unable to process (C-FIND, C-MOVE, C-GET).
    pub const UNABLE_TO_PROCESS: StatusCode = StatusCode(0xC000);
    /// Failure: no such action type or argument (N-ACTION).
    pub const NO_SUCH_ACTION: StatusCode = StatusCode(0x0123);
    /// Failure: no such SOP instance (storage commitment: not stored).
    pub const NO_SUCH_OBJECT_INSTANCE: StatusCode = StatusCode(0x0112);
    /// Failure: not authorized (the calling AE lacks the role).
    pub const NOT_AUTHORIZED: StatusCode = StatusCode(0x0124);
    /// Failure: the class-instance pair does not match (storage commitment).
    pub const CLASS_INSTANCE_CONFLICT: StatusCode = StatusCode(0x0119);

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
