//! Associations Tessera opens to a known peer: a C-MOVE's destination (Storage SCU), or a
//! storage commitment requestor that left before its report (N-EVENT-REPORT as SCP, PS3.4
//! J.3.3 role reversal).

use std::time::Duration;

use dicom_ul::association::client::AsyncClientAssociation;
use dicom_ul::ClientAssociationOptions;
use tokio::net::TcpStream;

use super::error::DimseError;
use super::link::Link;
use super::peers::Peer;
use super::DimseService;

pub type ClientLink = Link<AsyncClientAssociation<TcpStream>, TcpStream>;

/// A presentation context to propose: abstract syntax and transfer syntaxes in order.
pub struct Proposal {
    pub abstract_syntax: String,
    pub transfer_syntaxes: Vec<String>,
    /// Propose to be SCP of this class (role selection), not SCU.
    pub as_scp: bool,
}

/// The most presentation contexts one association can carry (odd IDs 1 to 255).
pub const MAX_CONTEXTS: usize = 128;

pub async fn open(
    service: &DimseService,
    peer: &Peer,
    proposals: &[Proposal],
) -> Result<ClientLink, DimseError> {
    let settings = &service.settings;
    let mut options = ClientAssociationOptions::new()
        .calling_ae_title(settings.ae_title.clone())
        .called_ae_title(peer.ae_title.clone())
        .max_pdu_length(settings.max_pdu)
        .connection_timeout(settings.artim_timeout);
    for proposal in proposals.iter().take(MAX_CONTEXTS) {
        options = options.with_presentation_context(
            proposal.abstract_syntax.clone(),
            proposal.transfer_syntaxes.clone(),
        );
        if proposal.as_scp {
            options = options.with_role_selection(proposal.abstract_syntax.clone(), false, true);
        }
    }
    let failed = |reason: String| DimseError::Peer {
        peer: peer.to_string(),
        reason,
    };
    let established = tokio::time::timeout(
        settings.artim_timeout + Duration::from_secs(1),
        options.establish_async(peer.address()),
    )
    .await
    .map_err(|_| failed("no answer to the association request".into()))?
    .map_err(|err| failed(err.to_string()))?;
    Ok(Link::new(established, settings.idle_timeout))
}
