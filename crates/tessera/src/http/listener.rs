//! The accepting socket. Every accepted connection sends what it is given at once
//! (TCP_NODELAY): without it, the last partial segment of an answer waits for the client's
//! acknowledgement of the segments before it, and a client that delays its acknowledgements
//! (Linux does on a kept-alive connection in request/answer rhythm) holds a 700 KB metadata
//! answer back by up to its delayed-ACK timer (40 ms), longer than the whole answer takes.

use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};

/// `listener` with TCP_NODELAY set on every connection it accepts. The type is spelled out
/// (not `impl Listener`) so that axum's `ConnectInfo<SocketAddr>` sees through it.
pub fn no_delay(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    listener.tap_io(set_no_delay as fn(&mut TcpStream))
}

fn set_no_delay(stream: &mut TcpStream) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::warn!(error = %err, "could not set TCP_NODELAY on an accepted connection");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener;

    #[tokio::test]
    async fn accepted_connections_have_no_delay() {
        let bound = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = bound.local_addr().unwrap();
        let mut listener = no_delay(bound);
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, peer) = listener.accept().await;
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(accepted.nodelay().unwrap());
        // The client side is the client's business: unchanged here.
        assert!(!client.nodelay().unwrap());
    }
}
