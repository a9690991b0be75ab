//! C-STORE sub-operations (PS3.4 C.4.2.3, C.4.3.3): one stored instance sent to a peer on a
//! presentation context it accepted, as stored when the peer accepted the stored transfer
//! syntax (streamed from the blob store, file meta left out), else converted to one it
//! accepted that Tessera can produce (the WADO-RS transcoder).

use bytes::BytesMut;
use dicom_ul::association::AsyncAssociation;
use dicom_ul::pdu::{PresentationContextNegotiated, PresentationContextResultReason};
use futures::StreamExt;

use super::command::{Command, Field};
use super::error::DimseError;
use super::link::{Io, Link};
use crate::index::InstanceRow;
use crate::retrieve::transcode::{self, Decision, Pixels, Target};
use crate::storage::BlobStore;
use tessera_dicom::part10;
use tessera_dicom::status::StatusCode;

/// How one sub-operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubOperation {
    Completed,
    Warning,
    Failed(String),
}

/// Which accepted context an instance goes on, and whether it is converted.
pub fn choose(
    contexts: &[PresentationContextNegotiated],
    row: &InstanceRow,
    scp_role: impl Fn(&str) -> bool,
) -> Result<(u8, Decision), String> {
    let stored = row.transfer_syntax_uid.as_str();
    let candidates: Vec<&PresentationContextNegotiated> = contexts
        .iter()
        .filter(|pc| {
            pc.reason == PresentationContextResultReason::Acceptance
                && pc.abstract_syntax.trim_end_matches('\0') == row.sop_class_uid
        })
        .collect();
    if candidates.is_empty() || !scp_role(&row.sop_class_uid) {
        return Err(format!(
            "the peer accepted no presentation context for SOP class {}",
            row.sop_class_uid
        ));
    }
    if let Some(pc) = candidates
        .iter()
        .find(|pc| pc.transfer_syntax.trim_end_matches('\0') == stored)
    {
        return Ok((
            pc.id,
            Decision {
                transfer_syntax: stored.to_string(),
                convert: false,
            },
        ));
    }
    let mut why = String::new();
    for pc in &candidates {
        let target = Target::Syntax(pc.transfer_syntax.trim_end_matches('\0').to_string());
        match transcode::decide(stored, &target, Pixels::of(row)) {
            Ok(decision) => return Ok((pc.id, decision)),
            Err(reason) => why = reason,
        }
    }
    Err(format!(
        "the peer accepted SOP class {} only in transfer syntaxes Tessera cannot convert to ({why})",
        row.sop_class_uid
    ))
}

/// Send one instance and wait for the peer's answer. Failures before anything is sent (the
/// blob unreadable, conversion impossible) fail the sub-operation; a broken association is
/// an error.
#[allow(clippy::too_many_arguments)]
pub async fn store_one<A, S>(
    link: &mut Link<A, S>,
    store: &BlobStore,
    row: &InstanceRow,
    context: u8,
    decision: &Decision,
    message_id: u16,
    originator: Option<(&str, u16)>,
) -> Result<SubOperation, DimseError>
where
    A: AsyncAssociation<S> + Send,
    S: Io,
{
    let mut request = Command::new(Field::CStoreRq);
    request.message_id = Some(message_id);
    request.affected_sop_class = Some(row.sop_class_uid.clone());
    request.affected_sop_instance = Some(row.sop_uid.clone());
    request.priority = Some(0);
    request.has_data_set = true;
    if let Some((ae, id)) = originator {
        request.move_originator_ae = Some(ae.to_string());
        request.move_originator_id = Some(id);
    }
    if decision.convert {
        let bytes = match store.get(&row.blob_key).await {
            Ok(bytes) => bytes,
            Err(err) => {
                return Ok(SubOperation::Failed(format!(
                    "cannot read the instance: {err}"
                )))
            }
        };
        let to = decision.transfer_syntax.clone();
        let converted =
            tokio::task::spawn_blocking(move || transcode::transcode(&bytes, &to)).await;
        let file = match converted {
            Ok(Ok(file)) => file,
            Ok(Err(why)) => return Ok(SubOperation::Failed(format!("cannot convert: {why}"))),
            Err(err) => return Ok(SubOperation::Failed(format!("conversion failed: {err}"))),
        };
        let start = match part10::data_set_offset(&file) {
            Ok(Some(start)) => start,
            _ => {
                return Ok(SubOperation::Failed(
                    "the converted file has no file meta".into(),
                ))
            }
        };
        link.send_command(context, &request).await?;
        link.send_data_set(context, &file[start..]).await?;
    } else {
        let mut stream = match store.get_stream(&row.blob_key).await {
            Ok(stream) => stream,
            Err(err) => {
                return Ok(SubOperation::Failed(format!(
                    "cannot read the instance: {err}"
                )))
            }
        };
        // The file meta is left out: read until the data set's start is known.
        let mut head: Vec<u8> = Vec::new();
        let start = loop {
            match part10::data_set_offset(&head) {
                Ok(Some(start)) => break start,
                Ok(None) => {}
                Err(why) => return Ok(SubOperation::Failed(format!("stored file: {why}"))),
            }
            match stream.next().await {
                Some(Ok(chunk)) => head.extend_from_slice(&chunk),
                Some(Err(err)) => {
                    return Ok(SubOperation::Failed(format!(
                        "cannot read the instance: {err}"
                    )))
                }
                None => {
                    return Ok(SubOperation::Failed(
                        "the stored file ends in its meta".into(),
                    ))
                }
            }
        };
        link.send_command(context, &request).await?;
        let size = link.data_fragment_size();
        // Fragments are cut from the front without moving what follows them.
        let mut pending = BytesMut::from(&head[start..]);
        loop {
            while pending.len() > size {
                let fragment = pending.split_to(size).to_vec();
                link.send_data(context, fragment, false).await?;
            }
            match stream.next().await {
                Some(Ok(chunk)) => pending.extend_from_slice(&chunk),
                Some(Err(err)) => {
                    // Half a data set is on the wire: the association cannot go on.
                    return Err(DimseError::Peer {
                        peer: "blob store".into(),
                        reason: format!("reading {} failed midway: {err}", row.sop_uid),
                    });
                }
                None => break,
            }
        }
        link.send_data(context, pending.to_vec(), true).await?;
    }
    let answer = link.next_response(Field::CStoreRq).await?;
    Ok(match answer.status.unwrap_or(StatusCode(0xFFFF)).0 {
        0x0000 => SubOperation::Completed,
        0xB000..=0xBFFF => SubOperation::Warning,
        code => SubOperation::Failed(format!(
            "the peer answered {code:04X}{}",
            answer
                .error_comment
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        )),
    })
}
