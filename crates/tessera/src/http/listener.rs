//! The accepting socket. Every accepted connection sends what it is given at once
//! (TCP_NODELAY): without it, the last partial segment of an answer waits for the client's
//! acknowledgement of the segments before it, and a client that delays its acknowledgements
//! (Linux does on a kept-alive connection in request/answer rhythm) holds a 700 KB metadata
//! answer back by up to its delayed-ACK timer (40 ms), longer than the whole answer takes.

use std::net::SocketAddr;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};

use super::tls::TlsListener;

/// The client's address of a connection (axum's `ConnectInfo`), over plain TCP or TLS alike:
/// what the audit trail records as where a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, NoDelay>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, NoDelay>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// Connections the kernel may hold for Tessera before it accepts them (the system's
/// `net.core.somaxconn` caps it; Linux's is 4096). Tokio's default of 1024 lost connections
/// under a burst of 1,000 connects: with SYN cookies on, a handshake whose last ACK found the
/// queue full is forgotten by the server while the client believes it is connected, until
/// the client sends something.
const BACKLOG: u32 = 4096;

/// Bind the HTTP port with a backlog of [`BACKLOG`] (and SO_REUSEADDR, as tokio's `bind`).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// A TCP listener whose accepted connections have TCP_NODELAY set.
pub struct NoDelay(TcpListener);

/// `listener` with TCP_NODELAY set on every connection it accepts.
pub fn no_delay(listener: TcpListener) -> NoDelay {
    NoDelay(listener)
}

impl Listener for NoDelay {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        // axum's accept for TcpListener waits out errors such as running out of descriptors.
        let (stream, addr) = Listener::accept(&mut self.0).await;
        if let Err(err) = stream.set_nodelay(true) {
            tracing::warn!(error = %err, "could not set TCP_NODELAY on an accepted connection");
        }
        (stream, addr)
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
