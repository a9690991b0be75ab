//! The Query SCP (PS3.4 C.4.1): C-FIND in the Patient Root and Study Root models at the
//! PATIENT, STUDY, SERIES and IMAGE levels, answered by the QIDO-RS search service, so
//! matching is QIDO's (single values, wild cards, ranges, UID lists, case-insensitive person
//! names, the operator's extra attributes). A key Tessera cannot match on is returned as a
//! universal key and the matches carry pending status FF01 (PS3.4 C.4.1.1.4). A C-CANCEL is
//! looked for between matches.

use std::collections::HashMap;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids, StandardDataDictionary};
use dicom_object::InMemDicomObject;
use dicom_ul::pdu::PresentationContextNegotiated;

use super::association::{class_matches, ServerLink, Session};
use super::audit::Operation;
use super::command::{Command, Field};
use super::error::DimseError;
use super::identifier::{self, QrLevel};
use super::link::Io;
use crate::audit::record::{Action, EventType};
use crate::auth::Role;
use crate::query::attributes::{self, Level};
use crate::service::ServiceError;
use tessera_dicom::status::StatusCode;

/// Pending, with optional keys that were not matched on.
const PENDING_KEYS_NOT_SUPPORTED: StatusCode = StatusCode(0xFF01);
/// The largest identifier read.
const IDENTIFIER_LIMIT: usize = 1 << 20;

/// What a C-FIND asks, as QIDO parameters.
struct Plan {
    level: QrLevel,
    /// QIDO query parameters: matching keys, and universal keys with empty values.
    pairs: Vec<(String, String)>,
    /// The keys to return, in the request's order.
    returned: Vec<(Tag, VR)>,
    /// Keys with a value that Tessera does not match on.
    unsupported: Vec<Tag>,
}

pub async fn serve<S: Io>(
    session: &mut Session,
    link: &mut ServerLink<S>,
    pc: &PresentationContextNegotiated,
    command: &Command,
) -> Result<(), DimseError> {
    if !command.has_data_set {
        return Err(DimseError::Malformed(
            "a C-FIND-RQ without an identifier".into(),
        ));
    }
    let bytes = link.read_data_set(pc.id, IDENTIFIER_LIMIT).await?;
    let transfer_syntax = pc.transfer_syntax.trim_end_matches('\0').to_string();
    let mut count = 0usize;
    let mut query_text = None;
    let result = match prepare(session, pc, command, &bytes, &transfer_syntax) {
        Err(refused) => Err(refused),
        Ok(plan) => {
            query_text = Some(
                plan.pairs
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&"),
            );
            run(
                session,
                link,
                pc,
                command,
                &plan,
                &transfer_syntax,
                &mut count,
            )
            .await?
        }
    };
    let (status, comment) = match result {
        Ok(status) => (status, None),
        Err((status, why)) => (status, Some(why)),
    };
    let operation = Operation {
        caller: &session.caller,
        command: "C-FIND",
        event: EventType::Query,
        action: Action::Execute,
        status,
        study: None,
        query: query_text,
        detail: Some(match &comment {
            Some(why) => format!("{count} matches; {why}"),
            None => format!("{count} matches"),
        }),
    };
    let record = operation.record(&session.service);
    session.service.trail.record_later(record).await;
    let mut answer = command.response(status);
    answer.error_comment = comment;
    link.send_command(pc.id, &answer).await
}

/// Check the request and turn its identifier into a plan, or say why not.
fn prepare(
    session: &Session,
    pc: &PresentationContextNegotiated,
    command: &Command,
    bytes: &[u8],
    transfer_syntax: &str,
) -> Result<Plan, (StatusCode, String)> {
    if !session.may(Role::Read) {
        return Err((
            StatusCode::NOT_AUTHORIZED,
            format!("{} may not query (no read role)", session.caller.ae_title),
        ));
    }
    let class = pc.abstract_syntax.trim_end_matches('\0');
    let patient_root = match class {
        uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND => true,
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND => false,
        _ => {
            return Err((
                StatusCode::SOP_CLASS_NOT_SUPPORTED,
                format!("C-FIND is not served for {class}"),
            ))
        }
    };
    if !class_matches(pc, command) {
        return Err((
            StatusCode::SOP_CLASS_NOT_SUPPORTED,
            "the SOP class is not the presentation context's".into(),
        ));
    }
    let object = identifier::read(bytes, transfer_syntax)
        .map_err(|why| (StatusCode::IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, why))?;
    let level = identifier::level(&object)
        .map_err(|why| (StatusCode::IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, why))?;
    if level == QrLevel::Patient && !patient_root {
        return Err((
            StatusCode::IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
            "the Study Root model has no PATIENT level".into(),
        ));
    }
    Ok(plan(&object, level, &session.service.search.extras))
}

fn plan(
    object: &InMemDicomObject,
    level: QrLevel,
    extras: &[crate::query::extra::ExtraAttribute],
) -> Plan {
    let qido_level = qido_level(level);
    let mut pairs = Vec::new();
    let mut returned = Vec::new();
    let mut unsupported = Vec::new();
    for element in object.iter() {
        let tag = element.header().tag;
        let vr = element.header().vr;
        if tag.group() <= 0x0002
            || tag == tags::QUERY_RETRIEVE_LEVEL
            || tag == tags::SPECIFIC_CHARACTER_SET
        {
            continue;
        }
        returned.push((tag, vr));
        if tag == tags::RETRIEVE_AE_TITLE
            || tag == tags::NUMBER_OF_PATIENT_RELATED_STUDIES
            || vr == VR::SQ
        {
            continue;
        }
        let key = format!("{:04X}{:04X}", tag.group(), tag.element());
        let value = identifier::text(object, tag);
        let matchable = match attributes::by_tag(tag) {
            Some(attribute) => attribute.matchable() && attribute.level <= qido_level,
            None => extras.iter().any(|e| e.tag == tag && e.level <= qido_level),
        };
        if value.is_empty() || value == "*" {
            pairs.push((key, String::new()));
        } else if matchable {
            pairs.push((key, value));
        } else {
            unsupported.push(tag);
            pairs.push((key, String::new()));
        }
    }
    // The unique keys of the level and those above are always returned.
    let unique: &[Tag] = match level {
        QrLevel::Patient => &[tags::PATIENT_ID],
        QrLevel::Study => &[tags::STUDY_INSTANCE_UID],
        QrLevel::Series => &[tags::STUDY_INSTANCE_UID, tags::SERIES_INSTANCE_UID],
        QrLevel::Image => &[
            tags::STUDY_INSTANCE_UID,
            tags::SERIES_INSTANCE_UID,
            tags::SOP_INSTANCE_UID,
        ],
    };
    for tag in unique {
        if !returned.iter().any(|(t, _)| t == tag) {
            returned.push((*tag, dictionary_vr(*tag)));
        }
    }
    Plan {
        level,
        pairs,
        returned,
        unsupported,
    }
}

fn qido_level(level: QrLevel) -> Level {
    match level {
        QrLevel::Patient | QrLevel::Study => Level::Study,
        QrLevel::Series => Level::Series,
        QrLevel::Image => Level::Instance,
    }
}

fn dictionary_vr(tag: Tag) -> VR {
    match StandardDataDictionary.by_tag(tag).map(|e| e.vr()) {
        Some(VirtualVr::Exact(vr)) => vr,
        _ => VR::UN,
    }
}

/// Search page by page and send every match as a pending response. `Ok(Err(..))` is a
/// final failure status to answer; `Err` ends the association.
async fn run<S: Io>(
    session: &Session,
    link: &mut ServerLink<S>,
    pc: &PresentationContextNegotiated,
    command: &Command,
    plan: &Plan,
    transfer_syntax: &str,
    count: &mut usize,
) -> Result<Result<StatusCode, (StatusCode, String)>, DimseError> {
    let search = &session.service.search;
    let page = search.limits.max_limit.max(1);
    let mut offset = 0u64;
    let pending = if plan.unsupported.is_empty() {
        StatusCode::PENDING
    } else {
        PENDING_KEYS_NOT_SUPPORTED
    };
    // PATIENT level: one answer per patient, from the studies.
    let mut patients: Vec<InMemDicomObject> = Vec::new();
    let mut studies_of: HashMap<String, usize> = HashMap::new();
    loop {
        let mut pairs = plan.pairs.clone();
        pairs.push(("limit".into(), page.to_string()));
        pairs.push(("offset".into(), offset.to_string()));
        let found = search
            .search(qido_level(plan.level), None, None, &pairs, "/dicom-web")
            .await;
        let results = match found {
            Ok(results) => results,
            Err(ServiceError::Query(err)) => {
                return Ok(Err((
                    StatusCode::IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                    format!("{}: {}", err.parameter, err.reason),
                )))
            }
            Err(err) => {
                tracing::warn!(%err, "C-FIND: the index cannot answer");
                return Ok(Err((
                    StatusCode::OUT_OF_RESOURCES,
                    "the archive cannot answer now".into(),
                )));
            }
        };
        // The page is only split into its rows here, and each row is read into a data set
        // when it is sent: no JSON tree of the whole page is built and then read again, which
        // took about a third of Tessera's CPU time for a 985-match C-FIND.
        let rows: Vec<&serde_json::value::RawValue> = serde_json::from_str(&results.json)
            .map_err(|e| DimseError::DataSet(format!("search results: {e}")))?;
        let got = rows.len();
        for row in rows {
            let found: InMemDicomObject = dicom_json::from_str(row.get())
                .map_err(|e| DimseError::DataSet(format!("search result: {e}")))?;
            if plan.level == QrLevel::Patient {
                let id = identifier::text(&found, tags::PATIENT_ID);
                match studies_of.get_mut(&id) {
                    Some(n) => *n += 1,
                    None => {
                        studies_of.insert(id, 1);
                        patients.push(found);
                    }
                }
                continue;
            }
            if link.cancelled().await? {
                return Ok(Ok(StatusCode::CANCEL));
            }
            send_match(
                session,
                link,
                pc,
                command,
                plan,
                &found,
                pending,
                transfer_syntax,
                None,
            )
            .await?;
            *count += 1;
        }
        if got < page as usize {
            break;
        }
        offset += got as u64;
    }
    for found in &patients {
        if link.cancelled().await? {
            return Ok(Ok(StatusCode::CANCEL));
        }
        let studies = studies_of
            .get(&identifier::text(found, tags::PATIENT_ID))
            .copied();
        send_match(
            session,
            link,
            pc,
            command,
            plan,
            found,
            pending,
            transfer_syntax,
            studies,
        )
        .await?;
        *count += 1;
    }
    Ok(Ok(StatusCode::SUCCESS))
}

#[allow(clippy::too_many_arguments)]
async fn send_match<S: Io>(
    session: &Session,
    link: &mut ServerLink<S>,
    pc: &PresentationContextNegotiated,
    command: &Command,
    plan: &Plan,
    found: &InMemDicomObject,
    pending: StatusCode,
    transfer_syntax: &str,
    patient_studies: Option<usize>,
) -> Result<(), DimseError> {
    let mut answer = InMemDicomObject::new_empty();
    answer.put(identifier::text_element(
        tags::SPECIFIC_CHARACTER_SET,
        VR::CS,
        "ISO_IR 192",
    ));
    answer.put(identifier::text_element(
        tags::QUERY_RETRIEVE_LEVEL,
        VR::CS,
        plan.level.name(),
    ));
    for (tag, vr) in &plan.returned {
        let element = match *tag {
            tags::RETRIEVE_AE_TITLE => {
                identifier::text_element(*tag, VR::AE, &session.service.settings.ae_title)
            }
            tags::NUMBER_OF_PATIENT_RELATED_STUDIES if patient_studies.is_some() => {
                identifier::text_element(*tag, VR::IS, &patient_studies.unwrap_or(0).to_string())
            }
            tag => match found.element_opt(tag) {
                Ok(Some(element)) => element.clone(),
                _ => DataElement::empty(tag, *vr),
            },
        };
        answer.put(element);
    }
    let bytes = identifier::write(&answer, transfer_syntax).map_err(DimseError::DataSet)?;
    let mut response = Command::new(Field::CFindRsp);
    response.responding_to = command.message_id;
    response.affected_sop_class = Some(pc.abstract_syntax.trim_end_matches('\0').to_string());
    response.status = Some(pending);
    response.has_data_set = true;
    link.send_message(pc.id, &response, Some(&bytes)).await
}
