//! Why an instance was not de-identified.

use crate::error::DicomError;

/// An instance could not be, or may not be, de-identified.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeidError {
    #[error("the de-identification secret has {len} bytes; at least {min} are needed")]
    WeakSecret { len: usize, min: usize },
    #[error(transparent)]
    Unreadable(#[from] DicomError),
    #[error("the pixel data may show identifying text ({reason}); refused unless burned-in text is allowed or a mask for this device and size is given")]
    BurnedInText { reason: String },
    #[error("the instance declares Recognizable Visual Features (0028,0302) YES; refused unless allowed")]
    RecognizableFeatures,
    /// Encapsulated pixel data, or a deflated data set: the caller may decode it to a native
    /// transfer syntax and try again.
    #[error("a pixel mask applies to this instance but its pixel data is not native ({transfer_syntax}); masks are applied to native pixel data only")]
    MaskNeedsNativePixels { transfer_syntax: String },
    #[error("a pixel mask applies to this instance but its pixels cannot be masked: {0}")]
    MaskUnsupported(String),
    #[error("the de-identified data set could not be written: {0}")]
    Write(String),
}
