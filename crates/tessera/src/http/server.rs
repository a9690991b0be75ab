//! The HTTP connection loop, in place of `axum::serve`, for the limits a server facing
//! unknown clients needs and axum does not expose: a deadline for a request's header (a
//! client that sends half a header, or nothing on a kept-alive connection, is closed after
//! it), a bound on the header's size and number of fields (431 beyond them), a bound on
//! connections served at once (more wait in the kernel's backlog), the body timeout of
//! [`IdleBody`] on every request, and a connection with no request in progress for the
//! header timeout closed, HTTP/2 too ([`idle`](super::idle)).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use super::body_timeout::IdleBody;
use super::error::ApiError;
use super::first_byte::FirstByteDeadline;
use super::idle::{Activity, HeldBody};
use super::listener::ClientAddr;
use crate::metrics::{Gauge, Metrics};

/// How long open connections get to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(30);

/// What one connection and one request may take.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// From the moment a connection waits for a request until the request's header is in
    /// (HTTP/1): also how long a connection (HTTP/1 or HTTP/2) with no request in progress
    /// stays open.
    pub header_timeout: Duration,
    /// Longest wait for the next piece of a request body.
    pub body_timeout: Duration,
    /// Largest request header, request line included.
    pub max_header_size: usize,
    /// Most header fields in a request.
    pub max_headers: usize,
    /// Longest query string, as sent.
    pub max_query_length: usize,
    /// Connections served at once.
    pub max_connections: usize,
}

impl HttpLimits {
    /// What one HTTP connection and request may take, from the settings.
    pub fn of(settings: &crate::config::Settings) -> HttpLimits {
        HttpLimits {
            header_timeout: Duration::from_secs(settings.http_header_timeout),
            body_timeout: Duration::from_secs(settings.http_body_timeout),
            max_header_size: usize::try_from(settings.max_header_size.bytes())
                .unwrap_or(usize::MAX),
            max_headers: settings.max_headers,
            max_query_length: settings.max_query_length,
            max_connections: settings.max_connections,
        }
    }
}

/// Serve `router` on `listener` until `shutdown` completes, then let open connections finish
/// their requests (for at most [`DRAIN`]).
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: HttpLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) where
    L: Listener<Addr = SocketAddr>,
{
    let builder = builder(&limits);
    // hyper's HTTP/1 reader bounds a header by its buffer (about 400 KB); the configured,
    // smaller limit is checked on the parsed header.
    let router = router
        .layer(axum::middleware::from_fn_with_state(
            limits.max_header_size,
            header_size_limit,
        ))
        // Outside the header size check: a long query string is 414 however large the header.
        .layer(axum::middleware::from_fn_with_state(
            limits.max_query_length,
            super::query_limit::limit,
        ));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Dropped when shutdown starts: every connection task sees it close.
    let (stopping, stop) = watch::channel(());
    // Each connection task holds a clone; all dropped means all connections are done.
    let (all_done, alive) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let body_timeout = limits.body_timeout;
        let activity = Activity::new();
        let (protocol, counted) = (Arc::clone(&activity), Arc::clone(&activity));
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                protocol.saw(request.version());
                request
                    .extensions_mut()
                    .insert(ConnectInfo(ClientAddr(addr)));
                request.map(|body| IdleBody::new(body, body_timeout))
            })
            // In progress from the call until the answer's body is taken or dropped (called
            // after the request went through `map_request`).
            .map_future(move |answer| {
                let (busy, limit) = (counted.begin(), counted.piece_limit());
                async move {
                    answer.await.map(|response| {
                        response.map(|body| Body::new(HeldBody::new(body, busy, limit)))
                    })
                }
            });
        let idle_timeout = limits.header_timeout;
        let io = FirstByteDeadline::new(io, limits.header_timeout);
        let builder = builder.clone();
        let mut stop = stop.clone();
        let alive = alive.clone();
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let _open = Gauge::up(&metrics, |m| &m.connections_open);
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(io),
                TowerToHyperService::new(service),
            );
            tokio::pin!(connection);
            // HTTP/1 closes an idle connection by its header timeout already; HTTP/2 does not.
            let idle = activity.idle_for(idle_timeout);
            tokio::pin!(idle);
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(err) = result {
                            tracing::debug!(%addr, error = %err, "connection ended with an error");
                        }
                        break;
                    }
                    _ = stop.changed(), if !stopping => {
                        stopping = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    () = &mut idle, if !stopping => {
                        // A GOAWAY on HTTP/2; the connection ends once it is sent.
                        stopping = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop((slot, alive));
        });
    }
    drop(listener);
    drop(stopping);
    drop(alive);
    if tokio::time::timeout(DRAIN, all_done.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open {} s after shutdown began; closing them",
            DRAIN.as_secs()
        );
    }
}

/// 431 for a request whose header (request line and fields, as sent) is larger than `max`.
async fn header_size_limit(
    axum::extract::State(max): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let target = request
        .uri()
        .path_and_query()
        .map_or(1, |p| p.as_str().len());
    let line = request.method().as_str().len() + target + 12;
    let fields: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if line + fields > max {
        return ApiError::HeaderTooLarge(format!(
            "the request header is larger than the maximum of {max} bytes"
        ))
        .into_response();
    }
    next.run(request).await
}

fn builder(limits: &HttpLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(limits.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_size).unwrap_or(u32::MAX))
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    builder
}
