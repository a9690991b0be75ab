//! When a connection has nothing in progress. hyper closes an HTTP/1 connection that waits
//! too long for a request's header, but an HTTP/2 connection that answers its keep-alive
//! pings stays open however long it carries no stream. The connection loop counts its
//! requests in progress here (from the call of the service to the last byte of the answer's
//! body taken by hyper, or the body's drop) and closes a connection idle for the header
//! timeout.
//!
//! hyper's HTTP/2 server takes a body's next piece whenever the stream has room for one byte,
//! and buffers the whole piece until the client's flow-control window lets it out: a 1 MiB
//! piece of a retrieve would leave the body finished, and the connection counted idle, while
//! the client still reads. On HTTP/2 the answer is therefore handed over in pieces of at most
//! [`H2_PIECE`], so that its body ends only once all but its last piece has gone out.
//!
//! Lock-free: a request costs two atomic additions and a time stamp; the loop's timer wakes
//! once per timeout at most.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Version;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

/// The largest piece of an answer handed to an HTTP/2 connection at once: its default frame
/// size (what the connection would cut it into anyway).
pub const H2_PIECE: usize = 16 * 1024;

/// The requests in progress on one connection.
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicUsize,
    /// Microseconds after `since` when the last request ended (or the connection opened).
    last_end_us: AtomicU64,
    since: Instant,
    /// Whether the connection speaks HTTP/2 (seen on its first request).
    http2: AtomicBool,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            last_end_us: AtomicU64::new(0),
            since: Instant::now(),
            http2: AtomicBool::new(false),
        })
    }

    /// Note the protocol of a request of this connection (before [`Activity::begin`]).
    pub fn saw(&self, version: Version) {
        if version == Version::HTTP_2 {
            self.http2.store(true, Ordering::Relaxed);
        }
    }

    /// The largest piece an answer's body may hand over at once on this connection.
    pub fn piece_limit(&self) -> Option<usize> {
        self.http2.load(Ordering::Relaxed).then_some(H2_PIECE)
    }

    /// A request begins; it ends when the returned value is dropped.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(self))
    }

    /// How long nothing has been in progress; `None` while something is.
    fn quiet_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let ended = Duration::from_micros(self.last_end_us.load(Ordering::Acquire));
        Some(self.since.elapsed().saturating_sub(ended))
    }

    /// Resolves once nothing has been in progress for `timeout`.
    pub async fn idle_for(&self, timeout: Duration) {
        loop {
            let wait = match self.quiet_for() {
                Some(quiet) if quiet >= timeout => return,
                Some(quiet) => timeout - quiet,
                None => timeout,
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// A request in progress on its connection.
#[derive(Debug)]
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        let now = u64::try_from(activity.since.elapsed().as_micros()).unwrap_or(u64::MAX);
        // The stamp first: a reader that sees no request in progress sees this end.
        activity.last_end_us.fetch_max(now, Ordering::AcqRel);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted in progress until it is sent or dropped,
/// handing its data over in pieces of at most `limit` bytes.
pub struct HeldBody<B> {
    inner: B,
    limit: Option<usize>,
    /// What is left of the last data frame taken from `inner`.
    rest: Bytes,
    _busy: Busy,
}

impl<B> HeldBody<B> {
    pub fn new(inner: B, busy: Busy, limit: Option<usize>) -> Self {
        HeldBody {
            inner,
            limit: limit.filter(|l| *l > 0),
            rest: Bytes::new(),
            _busy: busy,
        }
    }

    /// The next piece of `data`, keeping what is beyond the limit for later.
    fn piece(&mut self, mut data: Bytes) -> Bytes {
        match self.limit {
            Some(limit) if data.len() > limit => {
                self.rest = data.split_off(limit);
                data
            }
            _ => data,
        }
    }
}

impl<B> Body for HeldBody<B>
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
        if !this.rest.is_empty() {
            let rest = std::mem::take(&mut this.rest);
            return Poll::Ready(Some(Ok(Frame::data(this.piece(rest)))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => Poll::Ready(Some(Ok(Frame::data(this.piece(data))))),
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + rest);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + rest);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn http2_answers_are_handed_over_in_pieces_with_the_request_held_until_the_last() {
        use http_body_util::{BodyExt, Full};
        let activity = Activity::new();
        activity.saw(Version::HTTP_2);
        let data = Bytes::from((0..40_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let mut body = HeldBody::new(
            Full::new(data.clone()),
            activity.begin(),
            activity.piece_limit(),
        );
        assert_eq!(body.size_hint().exact(), Some(40_000));
        let mut pieces = Vec::new();
        while let Some(frame) = body.frame().await {
            assert!(activity.quiet_for().is_none(), "in progress until dropped");
            pieces.push(frame.unwrap().into_data().unwrap());
        }
        let sizes: Vec<usize> = pieces.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [H2_PIECE, H2_PIECE, 40_000 - 2 * H2_PIECE]);
        assert_eq!(pieces.concat(), data);
        drop(body);
        assert!(activity.quiet_for().is_some());
        // HTTP/1 answers pass as they are.
        let plain = Activity::new();
        plain.saw(Version::HTTP_11);
        let body = HeldBody::new(Full::new(data.clone()), plain.begin(), plain.piece_limit());
        assert_eq!(body.collect().await.unwrap().to_bytes(), data);
    }

    #[tokio::test]
    async fn idle_only_after_the_last_request_ended_for_the_timeout() {
        let timeout = Duration::from_millis(300);
        let activity = Activity::new();
        let busy = activity.begin();
        // Busy for more than two timeouts: never idle meanwhile.
        let idle = tokio::time::timeout(timeout * 2 + timeout / 3, activity.idle_for(timeout));
        assert!(idle.await.is_err());
        drop(busy);
        let ended = Instant::now();
        activity.idle_for(timeout).await;
        let waited = ended.elapsed();
        assert!(waited >= timeout && waited < timeout * 4, "{waited:?}");
    }
}
