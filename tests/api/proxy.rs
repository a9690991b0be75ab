//! A TCP forwarding proxy put between Tessera and one of its servers (Garage for S3,
//! PostgreSQL for the index) to take that server away and bring it back.
//!
//! It is a fault injector, not a mock: the server behind it is the real Garage/PostgreSQL,
//! and every byte is passed through unchanged in both directions. [`Proxy::cut`] makes the
//! server look stopped to Tessera (new connections are refused, every open connection is
//! reset); [`Proxy::restore`] makes it look started again, on the same port. The real server
//! is shared by the tests that run in parallel, so it is never stopped itself: only the path
//! from one test's Tessera to it is cut.
//!
//! The port stays reserved while the proxy is cut: a second socket is bound to it with
//! `SO_REUSEPORT` and never listens. A port with no listening socket answers a connect with a
//! reset, exactly like a stopped server, and no other socket of the machine can take the
//! port meanwhile, so `restore` always gets it back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy did, for the tests' reports and assertions.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Connections accepted from Tessera.
    pub accepted: AtomicUsize,
    /// Connections reset by a cut (or by dropping the proxy) while they were open.
    pub reset: AtomicUsize,
}

pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    /// Bound to `addr` with SO_REUSEPORT and never listening: holds the port while cut.
    _reservation: TcpSocket,
    /// Bumped at every cut; each forwarded connection resets itself when it changes.
    epoch: watch::Sender<u64>,
    accept: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<ProxyStats>,
}

impl Proxy {
    /// Listen on 127.0.0.1 (a free port) and forward every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let reservation = reusable_socket();
        reservation
            .bind("127.0.0.1:0".parse().unwrap())
            .expect("bind the proxy's port");
        let addr = reservation.local_addr().unwrap();
        let (epoch, _) = watch::channel(0u64);
        let proxy = Proxy {
            addr,
            upstream,
            _reservation: reservation,
            epoch,
            accept: Mutex::new(None),
            stats: Arc::new(ProxyStats::default()),
        };
        proxy.listen();
        proxy
    }

    /// Where Tessera connects instead of the real server.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    pub fn stats(&self) -> &ProxyStats {
        &self.stats
    }

    /// Take the server away: stop listening (connects are refused) and reset every open
    /// connection, on Tessera's side and on the server's. When this returns, both are done.
    pub async fn cut(&self) {
        let task = self.accept.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            // The listener is dropped (closed) with the task.
            let _ = task.await;
        }
        self.epoch.send_modify(|epoch| *epoch += 1);
        // Each connection task holds a receiver until it has reset its sockets; with the
        // accept loop gone, none is left once all of them are done.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.epoch.receiver_count() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "proxy: {} connections not reset 5 s after the cut",
                self.epoch.receiver_count()
            );
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Bring the server back: listen on the same port again and forward new connections.
    pub async fn restore(&self) {
        assert!(
            self.accept.lock().unwrap().is_none(),
            "restore() of a proxy that is not cut"
        );
        self.listen();
    }

    fn listen(&self) {
        let socket = reusable_socket();
        socket
            .bind(self.addr)
            .unwrap_or_else(|e| panic!("proxy: bind {} again: {e}", self.addr));
        let listener = socket
            .listen(1024)
            .unwrap_or_else(|e| panic!("proxy: listen on {}: {e}", self.addr));
        let task = tokio::spawn(accept_loop(
            listener,
            self.upstream,
            self.epoch.subscribe(),
            Arc::clone(&self.stats),
        ));
        *self.accept.lock().unwrap() = Some(task);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
        // Dropping `epoch` ends every forwarded connection (their receivers see it closed).
    }
}

fn reusable_socket() -> TcpSocket {
    let socket = TcpSocket::new_v4().expect("a TCP socket");
    socket.set_reuseaddr(true).unwrap();
    socket.set_reuseport(true).unwrap();
    socket
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    epoch: watch::Receiver<u64>,
    stats: Arc<ProxyStats>,
) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            // e.g. too many open files: keep serving the next ones.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let born = *epoch.borrow();
        tokio::spawn(forward(
            client,
            upstream,
            epoch.clone(),
            born,
            Arc::clone(&stats),
        ));
    }
}

/// Pass bytes both ways until either side closes, or reset both sides at the next cut.
async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    mut epoch: watch::Receiver<u64>,
    born: u64,
    stats: Arc<ProxyStats>,
) {
    let mut client = client;
    // Completes at the first cut after this connection was accepted (at once when one came
    // in between), or when the proxy is dropped.
    let mut cut = Box::pin(async move {
        let _ = epoch.wait_for(|now| *now != born).await;
    });
    let mut server = tokio::select! {
        _ = &mut cut => {
            reset(&client, None, &stats);
            return;
        }
        server = TcpStream::connect(upstream) => match server {
            Ok(server) => server,
            Err(_) => {
                // The real server refused: pass that on as a reset.
                reset(&client, None, &stats);
                return;
            }
        },
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = &mut cut => reset(&client, Some(&server), &stats),
    }
}

/// Close with SO_LINGER 0 (when the caller drops the sockets): the peer gets a RST, as from
/// a server that died, not an orderly FIN.
fn reset(client: &TcpStream, server: Option<&TcpStream>, stats: &ProxyStats) {
    let _ = client.set_zero_linger();
    if let Some(server) = server {
        let _ = server.set_zero_linger();
    }
    stats.reset.fetch_add(1, Ordering::Relaxed);
}
