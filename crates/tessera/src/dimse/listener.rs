//! The DIMSE port: accept connections, negotiate associations within the ARTIM timeout, serve
//! each in its own task, at most `max_associations` at once (more are rejected, transient,
//! "local limit exceeded"), and on shutdown stop accepting and let running associations end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use dicom_ul::association::server::ServerAssociationOptions;
use dicom_ul::association::Association;
use dicom_ul::association::Error as UlError;
use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
    AssociationRJServiceUserReason, AssociationRJSource, MAXIMUM_PDU_SIZE, MINIMUM_PDU_SIZE,
};
use dicom_ul::Pdu;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::rustls::ServerConfig;

use super::negotiation::{Roles, Titles};
use super::{association, audit, DimseService};

/// How long running associations may take to finish once shutdown begins.
const DRAIN: Duration = Duration::from_secs(30);
/// The most an A-ASSOCIATE-RQ read only to be rejected may hold.
const REJECT_READ_LIMIT: usize = 64 * 1024;

type Options = ServerAssociationOptions<'static, Titles, Roles>;

/// A bound DIMSE port, not yet serving.
pub struct DimseServer {
    listener: TcpListener,
    addr: SocketAddr,
    service: Arc<DimseService>,
    /// DICOM TLS (PS3.15 B.1): every association is negotiated inside TLS.
    tls: Option<Arc<ServerConfig>>,
}

impl DimseServer {
    /// Bind the port; with `tls`, associations are accepted only inside TLS.
    pub async fn bind(
        service: Arc<DimseService>,
        tls: Option<Arc<ServerConfig>>,
    ) -> std::io::Result<DimseServer> {
        let listener = TcpListener::bind(service.settings.listen).await?;
        let addr = listener.local_addr()?;
        Ok(DimseServer {
            listener,
            addr,
            service,
            tls,
        })
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve until `shutdown` turns true, then wait (up to 30 s) for running associations.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let settings = &self.service.settings;
        let tls = self.tls.is_some();
        let mut options = ServerAssociationOptions::new()
            .ae_access_control(Titles {
                peers: Arc::new(settings.peers.clone()),
                accept_unknown: settings.accept_unknown,
            })
            .with_negotiation(Roles)
            .ae_title(settings.ae_title.clone())
            .promiscuous(true)
            .max_pdu_length(settings.max_pdu.clamp(MINIMUM_PDU_SIZE, MAXIMUM_PDU_SIZE))
            .strict(true);
        if let Some(config) = &self.tls {
            options = options.tls_config(Arc::clone(config));
        }
        let options: Arc<Options> = Arc::new(options);
        let slots = Arc::new(Semaphore::new(settings.max_associations));
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = shutdown.changed() => break,
            };
            let (socket, addr) = match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(%err, "DIMSE accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let service = Arc::clone(&self.service);
            match Arc::clone(&slots).try_acquire_owned() {
                Ok(permit) => {
                    let options = Arc::clone(&options);
                    tokio::spawn(async move {
                        if tls {
                            serve_tls_connection(service, &options, socket, addr).await;
                        } else {
                            serve_connection(service, &options, socket, addr).await;
                        }
                        drop(permit);
                    });
                }
                Err(_) => {
                    tracing::warn!(%addr, "DIMSE association refused: the limit of associations is reached");
                    tokio::spawn(reject_busy(service, socket, addr));
                }
            }
        }
        let all = u32::try_from(self.service.settings.max_associations).unwrap_or(u32::MAX);
        if tokio::time::timeout(DRAIN, slots.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("DIMSE associations still running after {DRAIN:?}; leaving them");
        }
    }
}

/// Negotiate (within ARTIM) and serve one association.
async fn serve_connection(
    service: Arc<DimseService>,
    options: &Options,
    socket: TcpStream,
    addr: SocketAddr,
) {
    // A second handle on the socket, to send an A-ABORT if negotiation fails on a bad PDU
    // (dicom-ul takes the stream and drops it on error).
    let (socket, spare) = match split_handle(socket) {
        Ok(pair) => pair,
        Err(err) => {
            tracing::warn!(%addr, %err, "cannot duplicate a DIMSE socket");
            return;
        }
    };
    let artim = service.settings.artim_timeout;
    let established = tokio::time::timeout(artim, options.establish_async(socket)).await;
    let association = match established {
        Ok(Ok(association)) => association,
        Err(_) => {
            tracing::info!(%addr, "no A-ASSOCIATE-RQ within the ARTIM timeout; closing");
            return;
        }
        Ok(Err(err)) => {
            refused(&service, &err, addr, spare).await;
            return;
        }
    };
    tracing::info!(
        %addr,
        calling = association.peer_ae_title(),
        contexts = association.presentation_contexts().len(),
        "DIMSE association accepted"
    );
    association::serve(service, association, addr).await;
}

/// The same inside TLS (a failed handshake or negotiation just closes: an A-ABORT in clear
/// text would mean nothing to a TLS peer).
async fn serve_tls_connection(
    service: Arc<DimseService>,
    options: &Options,
    socket: TcpStream,
    addr: SocketAddr,
) {
    let artim = service.settings.artim_timeout;
    let established = tokio::time::timeout(artim, options.establish_tls_async(socket)).await;
    match established {
        Ok(Ok(association)) => {
            tracing::info!(
                %addr,
                calling = association.peer_ae_title(),
                "DIMSE association accepted over TLS"
            );
            association::serve(service, association, addr).await;
        }
        Err(_) => {
            tracing::info!(%addr, "no TLS handshake and A-ASSOCIATE-RQ within the ARTIM timeout")
        }
        Ok(Err(UlError::Rejected { association_rj, .. })) => {
            tracing::warn!(%addr, reason = ?association_rj.source, "DIMSE association rejected");
            audit::association_refused(
                &service,
                addr,
                "the association request was not acceptable",
            )
            .await;
        }
        Ok(Err(err)) => tracing::info!(%addr, %err, "DIMSE association over TLS not established"),
    }
}

/// Log (and audit) why negotiation failed; answer a malformed request with an A-ABORT.
async fn refused(service: &DimseService, err: &UlError, addr: SocketAddr, spare: TcpStream) {
    match err {
        UlError::Rejected { association_rj, .. } => {
            tracing::warn!(%addr, reason = ?association_rj.source, "DIMSE association rejected");
            if let AssociationRJSource::ServiceUser(reason) = &association_rj.source {
                let why = match reason {
                    AssociationRJServiceUserReason::CallingAETitleNotRecognized => {
                        "the calling AE title is not a known peer"
                    }
                    AssociationRJServiceUserReason::CalledAETitleNotRecognized => {
                        "the called AE title is not this archive's"
                    }
                    _ => "the association request was not acceptable",
                };
                audit::association_refused(service, addr, why).await;
            }
        }
        UlError::ReceivePdu { .. } | UlError::UnknownPdu { .. } => {
            tracing::warn!(%addr, %err, "malformed A-ASSOCIATE-RQ; sending A-ABORT");
            send_abort(spare).await;
        }
        other => tracing::info!(%addr, err = %other, "DIMSE association not established"),
    }
}

/// A-ABORT from the service provider, reason "invalid PDU parameter value" (PS3.8 9.3.8).
async fn send_abort(mut socket: TcpStream) {
    let pdu = [0x07, 0x00, 0, 0, 0, 4, 0, 0, 2, 6];
    let _ = tokio::time::timeout(Duration::from_secs(2), socket.write_all(&pdu)).await;
    let _ = socket.shutdown().await;
}

fn split_handle(socket: TcpStream) -> std::io::Result<(TcpStream, TcpStream)> {
    let std = socket.into_std()?;
    let spare = std.try_clone()?;
    Ok((TcpStream::from_std(std)?, TcpStream::from_std(spare)?))
}

/// Over the limit: read the request (within ARTIM) and reject it as transient.
async fn reject_busy(service: Arc<DimseService>, mut socket: TcpStream, addr: SocketAddr) {
    let artim = service.settings.artim_timeout;
    let read = async {
        let mut buffer = BytesMut::with_capacity(4096);
        loop {
            if socket.read_buf(&mut buffer).await.ok()? == 0 {
                return None;
            }
            match dicom_ul::read_pdu(&buffer[..], MAXIMUM_PDU_SIZE, false) {
                Ok(Some(pdu)) => return Some(pdu),
                Ok(None) if buffer.len() < REJECT_READ_LIMIT => continue,
                _ => return None,
            }
        }
    };
    if !matches!(
        tokio::time::timeout(artim, read).await,
        Ok(Some(Pdu::AssociationRQ(_)))
    ) {
        return;
    }
    let reject = Pdu::AssociationRJ(AssociationRJ {
        result: AssociationRJResult::Transient,
        source: AssociationRJSource::ServiceProviderPresentation(
            AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
        ),
    });
    let mut bytes = Vec::new();
    if dicom_ul::write_pdu(&mut bytes, &reject).is_ok() {
        let _ = tokio::time::timeout(artim, socket.write_all(&bytes)).await;
    }
    let _ = socket.shutdown().await;
    audit::association_refused(
        &service,
        addr,
        "the limit of concurrent associations is reached",
    )
    .await;
}
