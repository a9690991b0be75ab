//! The Verification SCP (PS3.4 A, PS3.7 9.1.5): C-ECHO answers success.

use dicom_ul::pdu::PresentationContextNegotiated;

use super::association::{class_matches, skip_data_set, ServerLink};
use super::command::Command;
use super::error::DimseError;
use super::link::Io;
use tessera_dicom::status::StatusCode;

pub async fn serve<S: Io>(
    link: &mut ServerLink<S>,
    pc: &PresentationContextNegotiated,
    command: &Command,
) -> Result<(), DimseError> {
    if command.has_data_set {
        skip_data_set(link, pc.id).await?;
    }
    let status = if class_matches(pc, command) {
        StatusCode::SUCCESS
    } else {
        StatusCode::SOP_CLASS_NOT_SUPPORTED
    };
    link.send_command(pc.id, &command.response(status)).await
}
