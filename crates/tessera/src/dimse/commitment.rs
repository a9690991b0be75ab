//! The Storage Commitment Push Model SCP (PS3.4 J): an N-ACTION asks whether instances are
//! safely kept; Tessera answers the N-ACTION at once, then reports in an N-EVENT-REPORT each
//! instance as committed only if its index row exists, and a row exists only once the
//! instance is durable (the ingest path commits the index after the blob is synced). The
//! report goes on the same association; if the requestor has left, on a new association to
//! it when it is a known peer (Tessera as SCP of the class, role reversal).

use std::sync::Arc;

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_ul::pdu::PresentationContextNegotiated;

use super::association::{ServerLink, Session};
use super::audit::Operation;
use super::command::{Command, Field};
use super::error::DimseError;
use super::identifier;
use super::link::Io;
use super::scu::{self, Proposal};
use super::DimseService;
use crate::audit::record::{Action, EventType};
use crate::auth::Role;
use tessera_dicom::status::StatusCode;
use tessera_dicom::uid::SopInstanceUid;

/// The well-known SOP instance of the Storage Commitment Push Model (PS3.4 J.3.1).
const COMMITMENT_INSTANCE: &str = "1.2.840.10008.1.20.1.1";
/// Action Type "Request Storage Commitment"; Event Types "all committed" and "some failed".
const REQUEST_COMMITMENT: u16 = 1;
const ALL_COMMITTED: u16 = 1;
const SOME_FAILED: u16 = 2;
/// The largest N-ACTION information read (a list of references).
const ACTION_LIMIT: usize = 16 << 20;

/// One referenced instance and, when it is not committed, why.
struct Reference {
    class: String,
    instance: String,
    failure: Option<StatusCode>,
}

pub async fn serve<S: Io>(
    session: &mut Session,
    link: &mut ServerLink<S>,
    pc: &PresentationContextNegotiated,
    command: &Command,
) -> Result<(), DimseError> {
    let data = if command.has_data_set {
        Some(link.read_data_set(pc.id, ACTION_LIMIT).await?)
    } else {
        None
    };
    let transfer_syntax = pc.transfer_syntax.trim_end_matches('\0').to_string();
    let request = check(session, pc, command, data.as_deref(), &transfer_syntax);
    let mut answer = Command::new(Field::NActionRsp);
    answer.responding_to = command.message_id;
    answer.affected_sop_class = command.requested_sop_class.clone();
    answer.affected_sop_instance = command.requested_sop_instance.clone();
    let (transaction, references) = match request {
        Err((status, why)) => {
            answer.status = Some(status);
            answer.error_comment = Some(why.clone());
            audit(session, status, None, &why).await;
            return link.send_command(pc.id, &answer).await;
        }
        Ok(request) => request,
    };
    answer.status = Some(StatusCode::SUCCESS);
    answer.action_type_id = Some(REQUEST_COMMITMENT);
    link.send_command(pc.id, &answer).await?;

    let references = verify(&session.service, references).await;
    let failed = references.iter().filter(|r| r.failure.is_some()).count();
    let event = report(&transaction, &references);
    let bytes = identifier::write(&event, &transfer_syntax).map_err(DimseError::DataSet)?;
    let mut request = Command::new(Field::NEventReportRq);
    request.message_id = Some(command.message_id.unwrap_or(0).wrapping_add(1));
    request.affected_sop_class = Some(uids::STORAGE_COMMITMENT_PUSH_MODEL.to_string());
    request.affected_sop_instance = Some(COMMITMENT_INSTANCE.to_string());
    request.event_type_id = Some(if failed == 0 {
        ALL_COMMITTED
    } else {
        SOME_FAILED
    });
    request.has_data_set = true;
    let summary = format!(
        "transaction {transaction}: {} committed, {failed} not",
        references.len() - failed
    );
    audit(session, StatusCode::SUCCESS, Some(&transaction), &summary).await;
    let sent = async {
        link.send_message(pc.id, &request, Some(&bytes)).await?;
        link.next_response(Field::NEventReportRq).await
    }
    .await;
    match sent {
        Ok(_) => Ok(()),
        Err(err) => {
            // The requestor left before its report: send it on a new association.
            let caller = session.caller.ae_title.clone();
            let service = Arc::clone(&session.service);
            tokio::spawn(async move {
                deliver_later(service, caller, request, event).await;
            });
            Err(err)
        }
    }
}

type Request = (String, Vec<(String, String)>);

fn check(
    session: &Session,
    pc: &PresentationContextNegotiated,
    command: &Command,
    data: Option<&[u8]>,
    transfer_syntax: &str,
) -> Result<Request, (StatusCode, String)> {
    if !session.may(Role::Write) {
        return Err((
            StatusCode::NOT_AUTHORIZED,
            format!(
                "{} may not ask for storage commitment (no write role)",
                session.caller.ae_title
            ),
        ));
    }
    let class = command.requested_sop_class.as_deref().unwrap_or("");
    if class != uids::STORAGE_COMMITMENT_PUSH_MODEL
        || pc.abstract_syntax.trim_end_matches('\0') != class
    {
        return Err((
            StatusCode::SOP_CLASS_NOT_SUPPORTED,
            format!("N-ACTION is served for Storage Commitment only, not {class:?}"),
        ));
    }
    if command.requested_sop_instance.as_deref() != Some(COMMITMENT_INSTANCE) {
        return Err((
            StatusCode::NO_SUCH_OBJECT_INSTANCE,
            format!("the requested SOP instance must be {COMMITMENT_INSTANCE}"),
        ));
    }
    if command.action_type_id != Some(REQUEST_COMMITMENT) {
        return Err((
            StatusCode::NO_SUCH_ACTION,
            "the action type must be 1".into(),
        ));
    }
    let bad = |why: String| (StatusCode::CANNOT_UNDERSTAND, why);
    let object = identifier::read(
        data.ok_or_else(|| bad("the N-ACTION has no action information".into()))?,
        transfer_syntax,
    )
    .map_err(bad)?;
    let transaction = identifier::text(&object, tags::TRANSACTION_UID);
    if transaction.is_empty() {
        return Err(bad("the action information has no TransactionUID".into()));
    }
    let items = object
        .element_opt(tags::REFERENCED_SOP_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .ok_or_else(|| bad("the action information has no ReferencedSOPSequence".into()))?;
    let references = items
        .iter()
        .map(|item| {
            (
                identifier::text(item, tags::REFERENCED_SOP_CLASS_UID),
                identifier::text(item, tags::REFERENCED_SOP_INSTANCE_UID),
            )
        })
        .collect();
    Ok((transaction, references))
}

/// Committed only if the index has the instance, of the class the requestor names.
async fn verify(service: &DimseService, references: Vec<(String, String)>) -> Vec<Reference> {
    let mut out = Vec::with_capacity(references.len());
    for (class, instance) in references {
        let failure = match SopInstanceUid::parse(&instance) {
            Err(_) => Some(StatusCode::NO_SUCH_OBJECT_INSTANCE),
            Ok(uid) => match service.index.instance(&uid).await {
                Ok(Some(row)) if row.sop_class_uid == class => None,
                Ok(Some(_)) => Some(StatusCode::CLASS_INSTANCE_CONFLICT),
                Ok(None) => Some(StatusCode::NO_SUCH_OBJECT_INSTANCE),
                Err(err) => {
                    tracing::warn!(%err, "storage commitment: the index cannot answer");
                    Some(StatusCode::PROCESSING_FAILURE)
                }
            },
        };
        out.push(Reference {
            class,
            instance,
            failure,
        });
    }
    out
}

/// The event information: the transaction, what is committed, what is not and why.
fn report(transaction: &str, references: &[Reference]) -> InMemDicomObject {
    let item = |r: &Reference| {
        let mut item = InMemDicomObject::new_empty();
        item.put(identifier::text_element(
            tags::REFERENCED_SOP_CLASS_UID,
            VR::UI,
            &r.class,
        ));
        item.put(identifier::text_element(
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            &r.instance,
        ));
        if let Some(reason) = r.failure {
            item.put(DataElement::new(
                tags::FAILURE_REASON,
                VR::US,
                PrimitiveValue::from(reason.0),
            ));
        }
        item
    };
    let committed: Vec<InMemDicomObject> = references
        .iter()
        .filter(|r| r.failure.is_none())
        .map(item)
        .collect();
    let failed: Vec<InMemDicomObject> = references
        .iter()
        .filter(|r| r.failure.is_some())
        .map(item)
        .collect();
    let mut event = InMemDicomObject::new_empty();
    event.put(identifier::text_element(
        tags::TRANSACTION_UID,
        VR::UI,
        transaction,
    ));
    if !committed.is_empty() {
        event.put(DataElement::new(
            tags::REFERENCED_SOP_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(committed),
        ));
    }
    if !failed.is_empty() {
        event.put(DataElement::new(
            tags::FAILED_SOP_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(failed),
        ));
    }
    event
}

/// Send a report on a new association to a known peer (Tessera proposes the SCP role).
async fn deliver_later(
    service: Arc<DimseService>,
    caller: String,
    request: Command,
    event: InMemDicomObject,
) {
    let Some(peer) = service.settings.peers.get(&caller).cloned() else {
        tracing::warn!(%caller, "storage commitment report not delivered: the requestor left and is not a known peer");
        return;
    };
    let proposal = Proposal {
        abstract_syntax: uids::STORAGE_COMMITMENT_PUSH_MODEL.to_string(),
        transfer_syntaxes: vec![uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string()],
        as_scp: true,
    };
    let delivered = async {
        let mut link = scu::open(&service, &peer, &[proposal]).await?;
        let context = link
            .association()
            .presentation_contexts()
            .iter()
            .find(|pc| pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance)
            .map(|pc| (pc.id, pc.transfer_syntax.clone()))
            .ok_or_else(|| DimseError::Peer {
                peer: peer.to_string(),
                reason: "storage commitment was not accepted".into(),
            })?;
        let bytes = identifier::write(&event, &context.1).map_err(DimseError::DataSet)?;
        link.send_message(context.0, &request, Some(&bytes)).await?;
        let answer = link.next_response(Field::NEventReportRq).await;
        link.release().await;
        answer.map(|_| ())
    }
    .await;
    match delivered {
        Ok(()) => {
            tracing::info!(peer = %peer, "storage commitment report delivered on a new association")
        }
        Err(err) => tracing::warn!(peer = %peer, %err, "storage commitment report not delivered"),
    }
}

async fn audit(session: &Session, status: StatusCode, transaction: Option<&str>, why: &str) {
    let record = Operation {
        caller: &session.caller,
        command: "N-ACTION",
        event: EventType::Query,
        action: Action::Execute,
        status,
        study: None,
        query: transaction.map(|t| format!("TransactionUID={t}")),
        detail: Some(format!("storage commitment: {why}")),
    }
    .record(&session.service);
    session.service.trail.record_later(record).await;
}
