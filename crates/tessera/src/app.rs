//! Build the stores from settings, run migrations, bind, serve until stopped.
//! Tests use [`Application::build`] with port 0 and drive the real app over HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::audit::writer::AuditTrail;
use crate::auth::Authenticator;
use crate::config::Settings;
use crate::dimse::listener::DimseServer;
use crate::dimse::DimseService;
use crate::fhir::push::served::ServedStudies;
use crate::fhir::push::FhirPush;
use crate::http::server::serve as serve_http;
use crate::http::tls::{server_config, ReloadingCert, TlsListener};
use crate::http::{router, AppState};
use crate::index::IndexError;
use crate::index::{self, Index};
use crate::ingest::sweep;
use crate::metrics::Metrics;
use crate::partitions::services::Shared;
use crate::partitions::PartitionSet;
use crate::query::extra;
use crate::storage::BlobStore;
use crate::storage::StorageError;

/// Starting the application failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    ExtraAttribute(#[from] crate::query::extra::ExtraAttributeError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("cannot start the FHIR push: {0}")]
    FhirPush(String),
    #[error("cannot start authentication: {0}")]
    Auth(String),
    #[error("cannot start the audit trail: {0}")]
    Audit(String),
    #[error(transparent)]
    Tls(#[from] crate::http::tls::TlsError),
}

/// Threads for blocking work (file reads and writes, fsync, parsing, decoding). Tokio's
/// default of 512 let a burst of 100 frame requests start 100 threads, each keeping its own
/// allocator pages afterwards (peak RSS +30-70 MB in the WADO benchmark) while a disk and two
/// cores gain nothing from more than a few reads in flight.
pub const BLOCKING_THREADS: usize = 16;

/// A built, bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    /// The certificate when serving HTTPS.
    tls: Option<Arc<ReloadingCert>>,
    addr: SocketAddr,
    state: AppState,
    settings: Settings,
    /// The DICOM port, when it is on.
    dimse: Option<DimseServer>,
    /// The partitions open on this node.
    partitions: Arc<PartitionSet>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, AppError> {
        let metrics = Arc::new(Metrics::new());
        let store = BlobStore::from_url(&settings.storage_url(), settings.fsync)?
            .with_metrics(Arc::clone(&metrics));
        let extras = extra::parse_config(&settings.extra_query_attributes)?;
        let index: Arc<dyn Index> = index::connect_with(
            &settings.database_url(),
            settings.index_pool(),
            extras.clone(),
            settings.migrations(),
        )
        .await?;
        let index = index::timed(index, Arc::clone(&metrics));
        let listener =
            crate::http::listener::bind(settings.listen).map_err(|source| AppError::Bind {
                addr: settings.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(AppError::Serve)?;
        let auth = Arc::new(Authenticator::new(
            settings.auth_settings()?,
            Arc::clone(&index).api_key_store(),
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| AppError::Auth(e.to_string()))?,
        ));
        let audit_log = Arc::clone(&index).audit_log();
        let forward = match &settings.audit_syslog {
            Some(url) => Some(crate::audit::forward::start(
                url.parse()
                    .map_err(|e: crate::audit::syslog::SyslogError| {
                        AppError::Audit(e.to_string())
                    })?,
                settings.audit_syslog_ca.clone(),
                settings.audit_source_id.clone(),
            )),
            None => None,
        };
        let trail = AuditTrail::start(Arc::clone(&audit_log), forward);
        let shared = Shared {
            settings: settings.clone(),
            extras,
            metrics,
            auth,
            trail,
            audit_log,
            viewer: settings.viewer_dir.clone().map(|dir| {
                Arc::new(crate::viewer::Viewer::new(
                    dir,
                    settings.viewer_dicomweb_url.clone(),
                ))
            }),
            deidentify: crate::ops::deidentify::DeidentifyContext::from_settings(&settings)?,
        };
        // The default partition's services, and the other partitions built the same way
        // when first used.
        let default = shared.default_state(index, store);
        let partitions = PartitionSet::new(shared, default.clone());
        let state = default.with_partitions(
            Arc::clone(&partitions) as Arc<dyn crate::http::partitions::Partitions>
        );
        if let Some(viewer) = &state.viewer {
            if viewer.looks_built() {
                tracing::info!(dir = %viewer.dir().display(), "viewer served at /viewer/");
            } else {
                tracing::warn!(
                    dir = %viewer.dir().display(),
                    "viewer dir has no index.html (install it with scripts/dev/ohif.sh)"
                );
            }
        }
        if settings.auth == crate::auth::AuthMode::None && !addr.ip().is_loopback() {
            tracing::warn!(%addr, "serving WITHOUT authentication on a non-loopback address (--allow-anonymous)");
        }
        tracing::info!(
            %addr,
            auth = %settings.auth,
            index = %settings.redacted_database_url(),
            storage = %settings.redacted_storage_url(),
            duplicate_policy = ?settings.duplicate_policy,
            "tessera ready"
        );
        let tls = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => Some(ReloadingCert::load(cert, key)?),
            _ => None,
        };
        let dimse = match settings.dimse_settings()? {
            Some(dimse_settings) => {
                let listen = dimse_settings.listen;
                let service = Arc::new(DimseService {
                    settings: dimse_settings,
                    ingest: Arc::clone(&state.ingest),
                    search: Arc::clone(&state.search),
                    index: Arc::clone(&state.index),
                    store: state.store.clone(),
                    trail: Arc::clone(&state.trail),
                });
                let dimse_tls = match (&tls, settings.dimse_tls) {
                    (Some(cert), true) => Some(Arc::new(server_config(Arc::clone(cert))?)),
                    _ => None,
                };
                let server = DimseServer::bind(service, dimse_tls)
                    .await
                    .map_err(|source| AppError::Bind {
                        addr: listen,
                        source,
                    })?;
                tracing::info!(addr = %server.addr(), ae_title = %settings.ae_title, tls = server.is_tls(), "DICOM port ready");
                Some(server)
            }
            None => None,
        };
        Ok(Application {
            listener,
            tls,
            addr,
            state,
            settings,
            dimse,
            partitions,
        })
    }

    /// The DICOM port's address, when it is on.
    pub fn dimse_addr(&self) -> Option<SocketAddr> {
        self.dimse.as_ref().map(DimseServer::addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The stores, for tests that look behind the HTTP interface.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown` completes; in-flight requests finish first.
    pub async fn run_until<F>(self, shutdown: F) -> Result<(), AppError>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        // Where this archive is reached, for the Endpoint the FHIR push sends.
        let base = self
            .settings
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.addr));
        self.partitions.serving_at(&base);
        let pusher = match &self.settings.fhir_push() {
            Some(push) => {
                let resources = Arc::new(ServedStudies {
                    fhir: Arc::clone(&self.state.fhir),
                    root: format!("{base}/dicom-web"),
                    partition: crate::partition::PartitionName::default_partition().to_string(),
                });
                let worker = FhirPush::new(
                    push,
                    Arc::clone(&self.state.index),
                    resources,
                    Arc::clone(&self.state.metrics),
                )
                .map_err(|err| AppError::FhirPush(err.to_string()))?;
                let worker = Arc::new(worker);
                Some((Arc::clone(&worker), tokio::spawn(worker.run())))
            }
            None => None,
        };
        let statistics = tokio::spawn(crate::index::statistics::keep_fresh(
            Arc::clone(&self.state.index),
            crate::index::statistics::EVERY,
        ));
        let sweeper = (self.settings.sweep_interval > 0).then(|| {
            tokio::spawn(sweep::run_periodically(
                self.state.store.clone(),
                Arc::clone(&self.state.index),
                self.state.ingest.staging.clone(),
                Duration::from_secs(self.settings.sweep_interval),
                Duration::from_secs(self.settings.sweep_grace),
            ))
        });
        // Every node runs jobs (exports, de-identifications): whichever takes a job first
        // runs it.
        let exporter = tokio::spawn(crate::ops::worker::run_worker(
            self.state.store.clone(),
            Arc::clone(&self.state.index),
            self.state.deidentify.clone(),
        ));
        let pruner = (self.settings.audit_retention_days > 0).then(|| {
            tokio::spawn(crate::audit::writer::prune_periodically(
                Arc::clone(&self.state.audit_log),
                self.settings.audit_retention_days,
            ))
        });
        let trail = Arc::clone(&self.state.trail);
        // One shutdown for both ports: the DICOM port stops accepting when HTTP does.
        let (stop_dimse, stopped) = tokio::sync::watch::channel(false);
        let dimse = self.dimse.map(|server| tokio::spawn(server.run(stopped)));
        let shutdown = async move {
            shutdown.await;
            let _ = stop_dimse.send(true);
        };
        let limits = crate::http::server::HttpLimits::of(&self.settings);
        let metrics = Arc::clone(&self.state.metrics);
        let app = router(self.state);
        let result: Result<(), AppError> = match self.tls {
            Some(cert) => {
                let every = Duration::from_secs(self.settings.tls_reload_interval.max(1));
                let watcher = tokio::spawn(Arc::clone(&cert).watch(every));
                let listener = TlsListener::new(self.listener, cert)?;
                serve_http(listener, app, limits, metrics, shutdown).await;
                watcher.abort();
                Ok(())
            }
            None => {
                let listener = crate::http::listener::no_delay(self.listener);
                serve_http(listener, app, limits, metrics, shutdown).await;
                Ok(())
            }
        };
        if let Some(task) = dimse {
            let _ = task.await;
        }
        // Every answered request's record is in the trail before the process ends.
        trail.close().await;
        for task in [sweeper, pruner].into_iter().flatten() {
            task.abort();
        }
        exporter.abort();
        statistics.abort();
        self.partitions.close().await;
        if let Some((worker, task)) = pusher {
            task.abort();
            worker.release().await;
        }
        result
    }

    /// Serve until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> Result<(), AppError> {
        self.run_until(shutdown_signal()).await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// `tessera serve`: build, announce the address, serve until SIGINT or SIGTERM.
pub async fn serve(settings: Settings) -> Result<(), AppError> {
    let app = Application::build(settings).await?;
    announce(app.addr(), app.is_tls());
    if let Some(addr) = app.dimse_addr() {
        announce_dimse(addr);
    }
    app.run_until_stopped().await
}

/// One line on standard output once the socket is bound, the same in every release: how a
/// supervisor or a test that started `tessera serve --listen 127.0.0.1:0` learns the port
/// the system chose (no port reserved beforehand and released, which another process can
/// take in between).
fn announce(addr: SocketAddr, tls: bool) {
    use std::io::Write;
    let scheme = if tls { "https" } else { "http" };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "tessera: listening on {scheme}://{addr}");
    let _ = out.flush();
}

/// A second line when the DICOM port is on (its port may have been chosen by the system).
fn announce_dimse(addr: SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "tessera: DICOM port on {addr}");
    let _ = out.flush();
}
