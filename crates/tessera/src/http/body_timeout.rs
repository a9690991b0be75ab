//! A request body that fails when the client stops sending: each wait for the next piece of
//! the body may last `timeout` at most. An upload abandoned half-way (a Content-Length of
//! 1 MB and then silence) then ends in a 408 and releases its connection and staging file,
//! instead of holding both until the operating system gives up on the socket. The clock runs
//! only while the handler waits for the body, never while it works on what it has read.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{sleep, Sleep};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The client sent nothing of the request body for this long.
#[derive(Debug, thiserror::Error)]
#[error("the client sent no part of the request body for {} s", .0.as_secs())]
pub struct BodyTimeout(pub Duration);

impl BodyTimeout {
    /// Whether `err`, or an error it wraps, is a body timeout.
    pub fn is_cause_of<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyTimeout> {
        let mut current = Some(err);
        while let Some(err) = current {
            if let Some(timeout) = err.downcast_ref::<BodyTimeout>() {
                return Some(timeout);
            }
            current = err.source();
        }
        None
    }
}

/// `inner`, failing with [`BodyTimeout`] after `timeout` without a frame.
pub struct IdleBody<B> {
    inner: B,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<B> IdleBody<B> {
    pub fn new(inner: B, timeout: Duration) -> Self {
        IdleBody {
            inner,
            timeout,
            sleep: None,
        }
    }
}

impl<B> Body for IdleBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this.sleep.get_or_insert_with(|| Box::pin(sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.sleep = None;
                        Poll::Ready(Some(Err(Box::new(BodyTimeout(timeout)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_silent_body_fails_after_the_timeout_and_a_steady_one_does_not() {
        let timeout = Duration::from_millis(400);
        let (mut send, receive) =
            futures::channel::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
        let mut body = IdleBody::new(http_body_util::StreamBody::new(receive), timeout);
        // A piece every 250 ms keeps it going past one timeout.
        for piece in 0..3u8 {
            let sender = async {
                sleep(Duration::from_millis(250)).await;
                send.try_send(Ok(Frame::data(Bytes::from(vec![piece]))))
                    .unwrap();
            };
            let (frame, ()) = tokio::join!(body.frame(), sender);
            assert_eq!(frame.unwrap().unwrap().into_data().unwrap(), vec![piece]);
        }
        let started = tokio::time::Instant::now();
        let err = body.frame().await.unwrap().unwrap_err();
        let waited = started.elapsed();
        assert!(waited >= timeout && waited < timeout * 3, "{waited:?}");
        let cause = BodyTimeout::is_cause_of(err.as_ref()).unwrap();
        assert_eq!(cause.0, timeout);
        assert_eq!(
            cause.to_string(),
            "the client sent no part of the request body for 0 s"
        );
    }
}
