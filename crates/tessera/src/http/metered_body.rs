//! Bodies that count themselves into the metrics as they pass: a request body counts the
//! bytes the handler reads (a body left unread counts nothing); a response body counts the
//! bytes handed to the connection and, at its last byte (or when it is dropped because the
//! client went away), records how long its request took.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::metrics::{Metrics, RouteFamily};

/// A request body whose bytes count as read by a request of `family`.
pub struct CountedRequestBody<B> {
    inner: B,
    metrics: Arc<Metrics>,
    family: RouteFamily,
}

impl<B> CountedRequestBody<B> {
    pub fn new(inner: B, metrics: Arc<Metrics>, family: RouteFamily) -> Self {
        CountedRequestBody {
            inner,
            metrics,
            family,
        }
    }
}

impl<B> Body for CountedRequestBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(data) = frame.as_ref().and_then(|f| f.as_ref().ok()?.data_ref()) {
            this.metrics.bytes_in(this.family, data.len() as u64);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body whose bytes count as sent for `family`, and whose end (or drop) records
/// the latency of its request, begun at `started`.
pub struct MeteredResponseBody<B> {
    inner: B,
    metrics: Arc<Metrics>,
    family: RouteFamily,
    /// `None` once the latency is recorded.
    started: Option<Instant>,
}

impl<B> MeteredResponseBody<B> {
    pub fn new(inner: B, metrics: Arc<Metrics>, family: RouteFamily, started: Instant) -> Self {
        MeteredResponseBody {
            inner,
            metrics,
            family,
            started: Some(started),
        }
    }

    fn finish(&mut self) {
        if let Some(started) = self.started.take() {
            self.metrics.request_done(self.family, started.elapsed());
        }
    }
}

impl<B> Body for MeteredResponseBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.metrics.bytes_out(this.family, data.len() as u64);
                }
                // A body of known length is not polled again after its last frame.
                if this.inner.is_end_stream() {
                    this.finish();
                }
            }
            Some(Err(_)) | None => this.finish(),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for MeteredResponseBody<B> {
    /// An empty body is never polled; a body whose client went away is dropped unfinished.
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    #[tokio::test]
    async fn counts_bytes_both_ways_and_the_latency_once() {
        let metrics = Arc::new(Metrics::new());
        let request = CountedRequestBody::new(
            Full::new(Bytes::from_static(b"0123456789")),
            Arc::clone(&metrics),
            RouteFamily::Stow,
        );
        assert_eq!(request.collect().await.unwrap().to_bytes().len(), 10);
        let response = MeteredResponseBody::new(
            Full::new(Bytes::from_static(b"abc")),
            Arc::clone(&metrics),
            RouteFamily::Frames,
            Instant::now(),
        );
        assert_eq!(response.collect().await.unwrap().to_bytes().len(), 3);
        // Empty, never polled: recorded when dropped.
        drop(MeteredResponseBody::new(
            Full::new(Bytes::new()),
            Arc::clone(&metrics),
            RouteFamily::Frames,
            Instant::now(),
        ));
        let text = metrics.render();
        assert!(text.contains("tessera_http_request_bytes_total{family=\"stow\"} 10\n"));
        assert!(text.contains("tessera_http_response_bytes_total{family=\"frames\"} 3\n"));
        assert!(text.contains("tessera_http_request_duration_seconds_count{family=\"frames\"} 2\n"));
        assert!(text.contains("tessera_http_request_duration_seconds_count{family=\"stow\"} 0\n"));
    }
}
