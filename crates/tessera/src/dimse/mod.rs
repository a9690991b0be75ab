//! DICOM networking (PS3.7 DIMSE over the PS3.8 upper layer) beside the HTTP server: the same
//! archive through C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET and Storage Commitment.
//!
//! - [`listener`] accepts TCP connections, bounds concurrent associations and negotiates
//!   them ([`negotiation`]: SOP classes, transfer syntaxes, AE titles, roles).
//! - [`association`] serves one association: reads commands ([`link`], [`command`]) and
//!   hands each to its service: [`echo`], [`store`], [`find`], [`retrieve`], [`commitment`].
//! - [`scu`] opens associations to known [`peers`] (C-MOVE destinations, storage commitment
//!   reports on a new association).
//!
//! Everything goes through the services HTTP uses (ingest, search, the index, the blob store)
//! and every operation is written to the audit trail ([`audit`]).

mod association;
mod audit;
pub mod command;
mod commitment;
mod echo;
pub mod error;
mod find;
mod identifier;
mod link;
pub mod listener;
pub mod negotiation;
pub mod peers;
mod retrieve;
mod scu;
mod sending;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::writer::AuditTrail;
use crate::index::Index;
use crate::ingest::IngestService;
use crate::search::service::SearchService;
use crate::storage::BlobStore;
pub use error::DimseError;
pub use peers::{Peer, PeerTable};

/// The DIMSE settings, as the layer takes them.
#[derive(Debug, Clone)]
pub struct DimseSettings {
    pub listen: SocketAddr,
    /// Tessera's AE title: the called AE title associations must use.
    pub ae_title: String,
    pub peers: PeerTable,
    /// Accept calling AE titles not in the table (then with the read and write roles).
    pub accept_unknown: bool,
    /// Associations served at once; more are rejected (transient, local limit exceeded).
    pub max_associations: usize,
    /// The largest PDU Tessera receives (A-ASSOCIATE maximum length).
    pub max_pdu: u32,
    /// How long an established association may stay silent (or not read) before an A-ABORT.
    pub idle_timeout: Duration,
    /// How long a new connection may take to send its A-ASSOCIATE-RQ (ARTIM, PS3.8 9.1.5).
    pub artim_timeout: Duration,
}

/// What the DIMSE services share.
pub struct DimseService {
    pub settings: DimseSettings,
    pub ingest: Arc<IngestService>,
    pub search: Arc<SearchService>,
    pub index: Arc<dyn Index>,
    pub store: BlobStore,
    pub trail: Arc<AuditTrail>,
}
