//! One association, served: commands are read one at a time and handed to their service;
//! anything malformed, or a peer that stays silent past the idle timeout, ends it with an
//! A-ABORT. The calling AE title's roles come from the peer table (unknown peers, when
//! accepted, have read and write).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use dicom_ul::association::server::AsyncServerAssociation;
use dicom_ul::association::Association;
use dicom_ul::pdu::{PresentationContextNegotiated, PresentationContextResultReason};

use super::audit::Caller;
use super::command::{Command, Field};
use super::error::DimseError;
use super::link::{Event, Io, Link};
use super::{commitment, echo, find, retrieve, store, DimseService};
use crate::auth::{Role, Roles};
use tessera_dicom::status::StatusCode;

pub type ServerLink<S> = Link<AsyncServerAssociation<S>, S>;

/// Failure: unrecognized operation (PS3.7 C.4.2).
const UNRECOGNIZED_OPERATION: StatusCode = StatusCode(0x0211);

/// What an association's services share.
pub struct Session {
    pub service: Arc<DimseService>,
    pub caller: Caller,
    pub roles: Roles,
    /// Studies this association stored into that the audit trail already has.
    pub audited_studies: HashSet<String>,
    /// The size of the last instance stored: the next one's buffer is sized by it (a
    /// series' instances are mostly one size).
    pub last_instance_size: u64,
}

impl Session {
    pub fn may(&self, role: Role) -> bool {
        self.roles.has(role)
    }
}

pub async fn serve<S: Io>(
    service: Arc<DimseService>,
    association: AsyncServerAssociation<S>,
    address: SocketAddr,
) {
    let ae_title = association.peer_ae_title().trim().to_string();
    let roles = match service.settings.peers.get(&ae_title) {
        Some(peer) => peer.roles,
        None => Roles::NONE.with(Role::Read).with(Role::Write),
    };
    let mut session = Session {
        service: Arc::clone(&service),
        caller: Caller { ae_title, address },
        roles,
        audited_studies: HashSet::new(),
        last_instance_size: 0,
    };
    let mut link = Link::new(association, service.settings.idle_timeout);
    loop {
        let (context, command) = match link.next_command().await {
            Ok(Event::Command { context, command }) => (context, *command),
            Ok(Event::Ended) => {
                tracing::info!(calling = %session.caller.ae_title, "DIMSE association ended");
                return;
            }
            Err(err) => {
                tracing::warn!(calling = %session.caller.ae_title, %err, "DIMSE association aborted");
                link.abort().await;
                return;
            }
        };
        let accepted = link
            .association()
            .presentation_contexts()
            .iter()
            .find(|pc| pc.id == context && pc.reason == PresentationContextResultReason::Acceptance)
            .cloned();
        let done = match accepted {
            Some(pc) => dispatch(&mut session, &mut link, &pc, command).await,
            None => Err(DimseError::Malformed(format!(
                "a command on presentation context {context}, which was not accepted"
            ))),
        };
        if let Err(err) = done {
            tracing::warn!(calling = %session.caller.ae_title, %err, "DIMSE association aborted");
            link.abort().await;
            return;
        }
    }
}

async fn dispatch<S: Io>(
    session: &mut Session,
    link: &mut ServerLink<S>,
    pc: &PresentationContextNegotiated,
    command: Command,
) -> Result<(), DimseError> {
    match command.field {
        Field::CEchoRq => echo::serve(link, pc, &command).await,
        Field::CStoreRq => store::serve(session, link, pc, &command).await,
        Field::CFindRq => find::serve(session, link, pc, &command).await,
        Field::CMoveRq | Field::CGetRq => retrieve::serve(session, link, pc, &command).await,
        Field::NActionRq => commitment::serve(session, link, pc, &command).await,
        // Nothing is running to cancel.
        Field::CCancelRq => Ok(()),
        field if field.code() & 0x8000 != 0 => Err(DimseError::Malformed(format!(
            "a {} response that answers nothing",
            field.name()
        ))),
        field => {
            if command.has_data_set {
                skip_data_set(link, pc.id).await?;
            }
            let mut answer = command.response(UNRECOGNIZED_OPERATION);
            answer.error_comment = Some(format!("{} is not served", field.name()));
            link.send_command(pc.id, &answer).await
        }
    }
}

/// Read and drop a data set nobody will use.
pub async fn skip_data_set<S: Io>(link: &mut ServerLink<S>, context: u8) -> Result<(), DimseError> {
    while !link.next_data(context).await?.1 {}
    Ok(())
}

/// Whether the command's SOP class is the presentation context's.
pub fn class_matches(pc: &PresentationContextNegotiated, command: &Command) -> bool {
    let class = command
        .affected_sop_class
        .as_deref()
        .or(command.requested_sop_class.as_deref())
        .unwrap_or("");
    class == pc.abstract_syntax.trim_end_matches('\0')
}
