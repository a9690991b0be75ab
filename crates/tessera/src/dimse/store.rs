//! The Storage SCP (PS3.4 B, PS3.7 9.1.1): each C-STORE's data set, with file meta
//! information written in front of it (PS3.10 7.1: the presentation context's transfer syntax,
//! the calling AE title as the source), goes through the ingest path STOW-RS uses: the same
//! validation, duplicate policy, durability before the answer, change feed and FHIR push. The
//! data set is spooled to a staging file beyond the spool size, as a STOW part is.

use dicom_ul::pdu::PresentationContextNegotiated;

use super::association::{class_matches, ServerLink, Session};
use super::audit::Operation;
use super::command::Command;
use super::error::DimseError;
use super::link::Io;
use super::negotiation::is_storage_class;
use crate::audit::record::{Action, EventType};
use crate::auth::Role;
use crate::ingest::spool::PartSpool;
use crate::ingest::ItemReport;
use tessera_dicom::part10;
use tessera_dicom::status::StatusCode;

/// A status, why (for anything but success) and the study stored into (when stored).
type Answer = (StatusCode, Option<String>, Option<String>);

pub async fn serve<S: Io>(
    session: &mut Session,
    link: &mut ServerLink<S>,
    pc: &PresentationContextNegotiated,
    command: &Command,
) -> Result<(), DimseError> {
    if !command.has_data_set {
        return Err(DimseError::Malformed(
            "a C-STORE-RQ without a data set".into(),
        ));
    }
    let class = command.affected_sop_class.clone().unwrap_or_default();
    let instance = command.affected_sop_instance.clone().unwrap_or_default();
    let transfer_syntax = pc.transfer_syntax.trim_end_matches('\0').to_string();
    let refusal = if !session.may(Role::Write) {
        Some((
            StatusCode::NOT_AUTHORIZED,
            format!("{} may not store (no write role)", session.caller.ae_title),
        ))
    } else if !class_matches(pc, command) {
        Some((
            StatusCode::SOP_CLASS_NOT_SUPPORTED,
            "the SOP class is not the presentation context's".into(),
        ))
    } else if !is_storage_class(&class) {
        Some((
            StatusCode::SOP_CLASS_NOT_SUPPORTED,
            format!("{class} is not a storage SOP class"),
        ))
    } else if instance.is_empty() {
        Some((
            StatusCode::CANNOT_UNDERSTAND,
            "the command has no AffectedSOPInstanceUID".into(),
        ))
    } else {
        None
    };
    let (status, comment, study) = match refusal {
        Some((status, why)) => {
            super::association::skip_data_set(link, pc.id).await?;
            (status, Some(why), None)
        }
        None => {
            let meta = part10::file_meta(
                &class,
                &instance,
                &transfer_syntax,
                Some(&session.caller.ae_title),
            );
            let received = receive(session, link, pc.id, &meta).await?;
            match received {
                Ok(spool) => ingest(session, spool, &class, &instance).await,
                Err(refused) => refused,
            }
        }
    };
    let operation = Operation {
        caller: &session.caller,
        command: "C-STORE",
        event: EventType::InstancesTransferred,
        action: Action::Create,
        status,
        study: study.clone(),
        query: None,
        detail: comment.clone(),
    };
    match &study {
        // The first instance of each study an association stores is recorded before its
        // success is answered (as a STOW request is); the rest of the study is covered.
        Some(uid) if !session.audited_studies.contains(uid) => {
            let record = operation.record(&session.service);
            // Written now, or queued until the trail takes it: the instance is stored
            // either way, and its status says so.
            session
                .service
                .trail
                .record_now_or_queue(vec![record])
                .await;
            session.audited_studies.insert(uid.clone());
        }
        Some(_) => {}
        None => {
            let record = operation.record(&session.service);
            session.service.trail.record_later(record).await;
        }
    }
    let mut answer = command.response(status);
    answer.error_comment = comment;
    link.send_command(pc.id, &answer).await
}

/// Collect the data set behind the file meta. A data set too large, or a staging failure, is
/// read to its end and refused (the association goes on); a broken stream is an error.
async fn receive<S: Io>(
    session: &mut Session,
    link: &mut ServerLink<S>,
    context: u8,
    meta: &[u8],
) -> Result<Result<PartSpool, Answer>, DimseError> {
    let ingest = &session.service.ingest;
    let limit = ingest.max_instance_bytes + meta.len() as u64;
    let mut spool = Some(ingest.spool(session.last_instance_size));
    let mut refused: Option<Answer> = None;
    if let Some(s) = spool.as_mut() {
        if let Err(err) = s.push(meta).await {
            refused = Some(out_of_resources(err.to_string()));
            spool = None;
        }
    }
    loop {
        let (bytes, last) = link.next_data(context).await?;
        if let Some(s) = spool.as_mut() {
            if s.len() + bytes.len() as u64 > limit {
                refused = Some(out_of_resources(format!(
                    "the instance is larger than the maximum of {} bytes",
                    ingest.max_instance_bytes
                )));
                spool = None;
            } else if let Err(err) = s.push(&bytes).await {
                refused = Some(out_of_resources(err.to_string()));
                spool = None;
            }
        }
        if last {
            break;
        }
    }
    Ok(match (spool, refused) {
        (Some(spool), None) => {
            session.last_instance_size = spool.len();
            Ok(spool)
        }
        (_, Some(refused)) => Err(refused),
        (None, None) => Err(out_of_resources("the instance was not kept".into())),
    })
}

fn out_of_resources(why: String) -> Answer {
    (StatusCode::OUT_OF_RESOURCES, Some(why), None)
}

/// Store through the ingest path and turn its report into a status.
async fn ingest(session: &Session, spool: PartSpool, class: &str, instance: &str) -> Answer {
    let service = &session.service;
    let received = match spool.finish().await {
        Ok(received) => received,
        Err(err) => return out_of_resources(err.to_string()),
    };
    let mut ingest = service.ingest.session(None);
    ingest.expect_instance(class, instance);
    if let Err(err) = ingest.add(received).await {
        ingest.abort().await;
        tracing::warn!(%err, "C-STORE: the archive could not store an instance");
        return out_of_resources(format!("the archive cannot store now: {err}"));
    }
    let reports = match ingest.finish().await {
        Ok(reports) => reports,
        Err(err) => {
            tracing::warn!(%err, "C-STORE: the archive could not store an instance");
            return out_of_resources(format!("the archive cannot store now: {err}"));
        }
    };
    match reports.into_iter().next() {
        Some(ItemReport::Stored { study, warning, .. }) => match warning {
            None => (StatusCode::SUCCESS, None, Some(study.as_str().to_string())),
            Some((code, why)) => (code, Some(why), Some(study.as_str().to_string())),
        },
        Some(ItemReport::Failed {
            reason, message, ..
        }) => (reason, Some(message), None),
        None => (
            StatusCode::CANNOT_UNDERSTAND,
            Some("nothing was read".into()),
            None,
        ),
    }
}
