//! The Retrieve SCP (PS3.4 C.4.2, C.4.3): C-MOVE sends the matching instances to a known
//! peer over a new association (Tessera as Storage SCU), C-GET sends them back on the
//! requester's own association; both report each sub-operation with a pending response and
//! end with a status that counts failures and lists the instances that failed.

use std::collections::HashSet;

use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_ul::association::Association;
use dicom_ul::pdu::PresentationContextNegotiated;

use super::association::{class_matches, ServerLink, Session};
use super::audit::Operation;
use super::command::{Command, Counts, Field};
use super::error::DimseError;
use super::identifier::{self, QrLevel};
use super::link::Io;
use super::scu::{self, Proposal};
use super::sending::{self, SubOperation};
use crate::audit::record::{Action, EventType};
use crate::auth::Role;
use crate::index::InstanceRow;
use crate::query::attributes::Level;
use crate::service::ServiceError;
use tessera_dicom::status::StatusCode;
use tessera_dicom::uid::{SeriesUid, SopInstanceUid, StudyUid};

const IDENTIFIER_LIMIT: usize = 1 << 20;

/// A final status with why.
type Refusal = (StatusCode, String);

pub async fn serve<S: Io>(
    session: &mut Session,
    link: &mut ServerLink<S>,
    pc: &PresentationContextNegotiated,
    command: &Command,
) -> Result<(), DimseError> {
    let is_move = command.field == Field::CMoveRq;
    if !command.has_data_set {
        return Err(DimseError::Malformed(format!(
            "a {}-RQ without an identifier",
            command.field.name()
        )));
    }
    let bytes = link.read_data_set(pc.id, IDENTIFIER_LIMIT).await?;
    let transfer_syntax = pc.transfer_syntax.trim_end_matches('\0').to_string();
    let rows = match check(session, pc, command, is_move) {
        Err(refused) => Err(refused),
        Ok(()) => match identifier::read(&bytes, &transfer_syntax) {
            Err(why) => Err((StatusCode::IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, why)),
            Ok(object) => matching(session, pc, &object).await,
        },
    };
    let rows = match rows {
        Ok(rows) => rows,
        Err((status, why)) => {
            audit(session, command, status, &[], &why).await;
            return finish(link, pc, command, status, Counts::default(), &[], Some(why)).await;
        }
    };
    let report = if is_move {
        let destination = command.move_destination.clone().unwrap_or_default();
        match session.service.settings.peers.get(&destination).cloned() {
            None => Err((
                StatusCode::MOVE_DESTINATION_UNKNOWN,
                format!("{destination:?} is not a known peer"),
            )),
            Some(peer) => move_to(session, link, pc, command, &rows, &peer).await?,
        }
    } else {
        Ok(get(session, link, pc, command, &rows).await?)
    };
    match report {
        Err((status, why)) => {
            audit(session, command, status, &rows, &why).await;
            finish(link, pc, command, status, Counts::default(), &[], Some(why)).await
        }
        Ok(report) => {
            let status = report.status();
            let why = format!(
                "{} sent, {} warnings, {} failed{}",
                report.counts.completed,
                report.counts.warning,
                report.counts.failed,
                report
                    .last_failure
                    .as_ref()
                    .map(|f| format!(" (last: {f})"))
                    .unwrap_or_default()
            );
            audit(session, command, status, &rows, &why).await;
            let comment = (status != StatusCode::SUCCESS).then_some(why);
            finish(
                link,
                pc,
                command,
                status,
                report.counts,
                &report.failed,
                comment,
            )
            .await
        }
    }
}

fn check(
    session: &Session,
    pc: &PresentationContextNegotiated,
    command: &Command,
    is_move: bool,
) -> Result<(), Refusal> {
    if !session.may(Role::Read) {
        return Err((
            StatusCode::NOT_AUTHORIZED,
            format!(
                "{} may not retrieve (no read role)",
                session.caller.ae_title
            ),
        ));
    }
    let class = pc.abstract_syntax.trim_end_matches('\0');
    let served = if is_move {
        [
            uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
        ]
    } else {
        [
            uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
        ]
    };
    if !served.contains(&class) || !class_matches(pc, command) {
        return Err((
            StatusCode::SOP_CLASS_NOT_SUPPORTED,
            format!("{} is not served for {class}", command.field.name()),
        ));
    }
    Ok(())
}

/// The instances an identifier names, in study, series and instance order.
async fn matching(
    session: &Session,
    pc: &PresentationContextNegotiated,
    object: &InMemDicomObject,
) -> Result<Vec<InstanceRow>, Refusal> {
    let bad = |why: String| (StatusCode::IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, why);
    let level = identifier::level(object).map_err(bad)?;
    let patient_root = pc.abstract_syntax.contains(".2.1.");
    if level == QrLevel::Patient && !patient_root {
        return Err(bad("the Study Root model has no PATIENT level".into()));
    }
    let index = &session.service.index;
    let unavailable = |err: crate::index::IndexError| {
        tracing::warn!(%err, "C-MOVE/C-GET: the index cannot answer");
        (
            StatusCode::MOVE_OUT_OF_RESOURCES,
            "the archive cannot look up the instances now".to_string(),
        )
    };
    let mut studies: Vec<String> = identifier::uids(object, tags::STUDY_INSTANCE_UID);
    let series: HashSet<String> = identifier::uids(object, tags::SERIES_INSTANCE_UID)
        .into_iter()
        .collect();
    let sops: HashSet<String> = identifier::uids(object, tags::SOP_INSTANCE_UID)
        .into_iter()
        .collect();
    match level {
        QrLevel::Patient => {
            let patient = identifier::text(object, tags::PATIENT_ID);
            if patient.is_empty() {
                return Err(bad("a PATIENT-level retrieve needs a PatientID".into()));
            }
            studies = studies_of_patient(session, &patient).await?;
        }
        QrLevel::Study if studies.is_empty() => {
            return Err(bad("a STUDY-level retrieve needs StudyInstanceUIDs".into()))
        }
        QrLevel::Series if series.is_empty() => {
            return Err(bad(
                "a SERIES-level retrieve needs SeriesInstanceUIDs".into()
            ))
        }
        QrLevel::Image if sops.is_empty() => {
            return Err(bad("an IMAGE-level retrieve needs SOPInstanceUIDs".into()))
        }
        _ => {}
    }
    // Series and instances named without their study (relational retrieve): find it.
    if studies.is_empty() && level == QrLevel::Series {
        for uid in &series {
            let uid = SeriesUid::parse(uid).map_err(|e| bad(e.to_string()))?;
            if let Some(row) = index.series(&uid).await.map_err(unavailable)? {
                push_unique(&mut studies, row.study_uid);
            }
        }
    }
    if studies.is_empty() && level == QrLevel::Image {
        for uid in &sops {
            let uid = SopInstanceUid::parse(uid).map_err(|e| bad(e.to_string()))?;
            if let Some(row) = index.instance(&uid).await.map_err(unavailable)? {
                push_unique(&mut studies, row.study_uid);
            }
        }
    }
    let mut rows = Vec::new();
    for study in &studies {
        let uid = StudyUid::parse(study).map_err(|e| bad(e.to_string()))?;
        let found = index
            .instances_of(&uid, None, None)
            .await
            .map_err(unavailable)?;
        rows.extend(found.into_iter().filter(|row| {
            (level < QrLevel::Series || series.is_empty() || series.contains(&row.series_uid))
                && (level < QrLevel::Image || sops.contains(&row.sop_uid))
        }));
    }
    for row in &mut rows {
        // The stored metadata is not needed to send an instance.
        row.metadata = String::new();
    }
    Ok(rows)
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !list.contains(&value) {
        list.push(value);
    }
}

/// The studies of a patient, from the search service.
async fn studies_of_patient(session: &Session, patient: &str) -> Result<Vec<String>, Refusal> {
    let search = &session.service.search;
    let page = search.limits.max_limit.max(1);
    let mut studies = Vec::new();
    let mut offset = 0u64;
    loop {
        let pairs = vec![
            ("PatientID".to_string(), patient.to_string()),
            ("limit".to_string(), page.to_string()),
            ("offset".to_string(), offset.to_string()),
        ];
        let results = search
            .search(Level::Study, None, None, &pairs, "/dicom-web")
            .await
            .map_err(|err| match err {
                ServiceError::Query(err) => (
                    StatusCode::IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                    format!("{}: {}", err.parameter, err.reason),
                ),
                err => {
                    tracing::warn!(%err, "C-MOVE/C-GET: the index cannot answer");
                    (
                        StatusCode::MOVE_OUT_OF_RESOURCES,
                        "the archive cannot look up the instances now".to_string(),
                    )
                }
            })?;
        let rows: Vec<serde_json::Value> = serde_json::from_str(&results.json)
            .map_err(|e| (StatusCode::UNABLE_TO_PROCESS, e.to_string()))?;
        let got = rows.len();
        for row in rows {
            if let Some(uid) = row["0020000D"]["Value"][0].as_str() {
                push_unique(&mut studies, uid.to_string());
            }
        }
        if got < page as usize {
            return Ok(studies);
        }
        offset += got as u64;
    }
}

/// How the sub-operations went.
#[derive(Default)]
struct Report {
    counts: Counts,
    failed: Vec<String>,
    last_failure: Option<String>,
    cancelled: bool,
}

impl Report {
    fn record(&mut self, row: &InstanceRow, outcome: SubOperation) {
        self.counts.remaining = self.counts.remaining.saturating_sub(1);
        match outcome {
            SubOperation::Completed => {
                self.counts.completed = self.counts.completed.saturating_add(1)
            }
            SubOperation::Warning => self.counts.warning = self.counts.warning.saturating_add(1),
            SubOperation::Failed(why) => {
                tracing::warn!(sop = %row.sop_uid, %why, "a retrieve sub-operation failed");
                self.counts.failed = self.counts.failed.saturating_add(1);
                self.failed.push(row.sop_uid.clone());
                self.last_failure = Some(why);
            }
        }
    }

    fn status(&self) -> StatusCode {
        let c = &self.counts;
        if self.cancelled {
            StatusCode::CANCEL
        } else if c.failed == 0 && c.warning == 0 {
            StatusCode::SUCCESS
        } else if c.completed == 0 && c.warning == 0 {
            StatusCode::RETRIEVE_SUB_OPERATIONS_FAILED
        } else {
            StatusCode::SUB_OPERATIONS_COMPLETE_WITH_FAILURES
        }
    }
}

fn total(rows: &[InstanceRow]) -> u16 {
    u16::try_from(rows.len()).unwrap_or(u16::MAX)
}

/// C-MOVE: one association to the destination for all sub-operations.
async fn move_to<S: Io>(
    session: &mut Session,
    link: &mut ServerLink<S>,
    pc: &PresentationContextNegotiated,
    command: &Command,
    rows: &[InstanceRow],
    peer: &super::Peer,
) -> Result<Result<Report, Refusal>, DimseError> {
    let mut report = Report {
        counts: Counts {
            remaining: total(rows),
            ..Counts::default()
        },
        ..Report::default()
    };
    if rows.is_empty() {
        return Ok(Ok(report));
    }
    let service = std::sync::Arc::clone(&session.service);
    let mut out = match scu::open(&service, peer, &proposals(rows)).await {
        Ok(out) => out,
        Err(err) => {
            // Every sub-operation fails: counted and listed as such.
            for row in rows {
                report.record(
                    row,
                    SubOperation::Failed(format!("cannot reach the destination: {err}")),
                );
            }
            return Ok(Ok(report));
        }
    };
    let contexts = out.association().presentation_contexts().to_vec();
    let originator = (
        session.caller.ae_title.clone(),
        command.message_id.unwrap_or(0),
    );
    for (n, row) in rows.iter().enumerate() {
        if link.cancelled().await? {
            report.cancelled = true;
            break;
        }
        let outcome = match sending::choose(&contexts, row, |_| true) {
            Err(why) => SubOperation::Failed(why),
            Ok((context, decision)) => {
                let sent = sending::store_one(
                    &mut out,
                    &service.store,
                    row,
                    context,
                    &decision,
                    (n % 0xFFFF) as u16 + 1,
                    Some((originator.0.as_str(), originator.1)),
                )
                .await;
                match sent {
                    Ok(outcome) => outcome,
                    Err(err) => {
                        // The destination's association broke: the rest cannot be sent.
                        report.record(row, SubOperation::Failed(err.to_string()));
                        for rest in &rows[n + 1..] {
                            report.record(
                                rest,
                                SubOperation::Failed("the destination's association broke".into()),
                            );
                        }
                        return Ok(Ok(report));
                    }
                }
            }
        };
        report.record(row, outcome);
        if report.counts.remaining > 0 {
            pending(link, pc, command, report.counts).await?;
        }
    }
    out.release().await;
    Ok(Ok(report))
}

/// The contexts a C-MOVE proposes: each SOP class in each stored transfer syntax, and in
/// Explicit and Implicit VR Little Endian to fall back on.
fn proposals(rows: &[InstanceRow]) -> Vec<Proposal> {
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut classes: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for row in rows {
        if seen.insert((row.sop_class_uid.clone(), row.transfer_syntax_uid.clone())) {
            out.push(Proposal {
                abstract_syntax: row.sop_class_uid.clone(),
                transfer_syntaxes: vec![row.transfer_syntax_uid.clone()],
                as_scp: false,
            });
        }
        classes.insert(row.sop_class_uid.clone());
    }
    for class in classes {
        out.push(Proposal {
            abstract_syntax: class,
            transfer_syntaxes: vec![
                uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string(),
                uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string(),
            ],
            as_scp: false,
        });
    }
    out
}

/// C-GET: the sub-operations go back on the requester's association, on the storage
/// contexts it proposed with the SCP role.
async fn get<S: Io>(
    session: &mut Session,
    link: &mut ServerLink<S>,
    pc: &PresentationContextNegotiated,
    command: &Command,
    rows: &[InstanceRow],
) -> Result<Report, DimseError> {
    let mut report = Report {
        counts: Counts {
            remaining: total(rows),
            ..Counts::default()
        },
        ..Report::default()
    };
    let contexts = link.association().presentation_contexts().to_vec();
    let service = std::sync::Arc::clone(&session.service);
    for (n, row) in rows.iter().enumerate() {
        if link.cancelled().await? {
            report.cancelled = true;
            break;
        }
        let scp = |class: &str| link.association().requestor_roles_for(class).scp;
        let outcome = match sending::choose(&contexts, row, scp) {
            Err(why) => SubOperation::Failed(why),
            Ok((context, decision)) => {
                sending::store_one(
                    link,
                    &service.store,
                    row,
                    context,
                    &decision,
                    (n % 0xFFFF) as u16 + 1,
                    None,
                )
                .await?
            }
        };
        report.record(row, outcome);
        if report.counts.remaining > 0 {
            pending(link, pc, command, report.counts).await?;
        }
    }
    Ok(report)
}

async fn pending<S: Io>(
    link: &mut ServerLink<S>,
    pc: &PresentationContextNegotiated,
    command: &Command,
    counts: Counts,
) -> Result<(), DimseError> {
    let mut response = command.response(StatusCode::PENDING);
    response.counts = Some(counts);
    link.send_command(pc.id, &response).await
}

/// The final response, with FailedSOPInstanceUIDList when some failed.
#[allow(clippy::too_many_arguments)]
async fn finish<S: Io>(
    link: &mut ServerLink<S>,
    pc: &PresentationContextNegotiated,
    command: &Command,
    status: StatusCode,
    counts: Counts,
    failed: &[String],
    comment: Option<String>,
) -> Result<(), DimseError> {
    let mut response = command.response(status);
    response.counts = Some(Counts {
        remaining: if status == StatusCode::CANCEL {
            counts.remaining
        } else {
            0
        },
        ..counts
    });
    response.error_comment = comment.filter(|_| status != StatusCode::SUCCESS);
    if failed.is_empty() {
        return link.send_command(pc.id, &response).await;
    }
    let mut data = InMemDicomObject::new_empty();
    data.put(identifier::uid_list(
        tags::FAILED_SOP_INSTANCE_UID_LIST,
        failed,
    ));
    let bytes = identifier::write(&data, pc.transfer_syntax.trim_end_matches('\0'))
        .map_err(DimseError::DataSet)?;
    response.has_data_set = true;
    link.send_message(pc.id, &response, Some(&bytes)).await
}

/// One audit record per study retrieved (or one for a refusal).
async fn audit(
    session: &Session,
    command: &Command,
    status: StatusCode,
    rows: &[InstanceRow],
    why: &str,
) {
    let destination = command
        .move_destination
        .as_deref()
        .map(|d| format!(" to {d}"))
        .unwrap_or_default();
    let mut studies: Vec<&str> = Vec::new();
    for row in rows {
        if !studies.contains(&row.study_uid.as_str()) {
            studies.push(&row.study_uid);
        }
    }
    let targets: Vec<Option<String>> = if studies.is_empty() {
        vec![None]
    } else {
        studies.into_iter().map(|s| Some(s.to_string())).collect()
    };
    for study in targets {
        let record = Operation {
            caller: &session.caller,
            command: &command.field.name(),
            event: EventType::InstancesTransferred,
            action: Action::Read,
            status,
            study,
            query: None,
            detail: Some(format!("{why}{destination}")),
        }
        .record(&session.service);
        session.service.trail.record_later(record).await;
    }
}
