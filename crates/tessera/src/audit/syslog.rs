//! DICOM audit messages ([`super::dicom_message`]) sent as syslog to an IHE ATNA audit record
//! repository: RFC 5424 messages, over UDP (RFC 5426, one datagram each) or TLS (RFC 5425,
//! octet-counted frames).
//!
//! - <https://www.rfc-editor.org/rfc/rfc5424>, <https://www.rfc-editor.org/rfc/rfc5425>,
//!   <https://www.rfc-editor.org/rfc/rfc5426>
//! - IHE ITI TF-2 3.20 Record Audit Event [ITI-20]

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::dicom_message;
use super::record::{AuditRecord, Outcome};
use crate::time::rfc3339_millis as instant;

/// authpriv (10): ITI-20 sends audit messages as security/authorization messages.
const FACILITY: u8 = 10;
/// notice (5) for what went as asked, warning (4) for failures.
const NOTICE: u8 = 5;
const WARNING: u8 = 4;
const APP_NAME: &str = "tessera";
/// ITI-20 asks for MSGID "IHE+RFC-3881" for audit messages in the DICOM schema (which extends
/// RFC 3881's); "DICOM+RFC3881" appears in older implementations only.
const MSG_ID: &str = "IHE+RFC-3881";
/// RFC 5424 6.4: a UTF-8 MSG starts with the byte order mark.
const BOM: char = '\u{feff}';
const UDP_PORT: u16 = 514;
const TLS_PORT: u16 = 6514;
/// How long a connection, handshake or write may take before the repository counts as down.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SyslogError {
    #[error("invalid syslog target {target:?}: {reason}")]
    InvalidTarget {
        target: String,
        reason: &'static str,
    },
    #[error("cannot resolve syslog host {target}: {source}")]
    Resolve { target: String, source: io::Error },
    #[error("cannot connect to syslog at {target}: {source}")]
    Connect { target: String, source: io::Error },
    #[error("syslog at {target} did not answer within {seconds} s")]
    Timeout { target: String, seconds: u64 },
    #[error("cannot read the CA certificates in {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("no trusted CA certificates for syslog over TLS: {0}")]
    NoRoots(String),
    #[error("invalid TLS server name {host:?}")]
    ServerName { host: String },
    #[error("cannot send to syslog at {target}: {source}")]
    Send { target: String, source: io::Error },
}

/// Where audit messages go: `udp://host[:port]` (port 514 by default) or `tls://host[:port]`
/// (6514). IPv6 addresses are written in brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogTarget {
    /// `host:port`, resolved when connecting.
    Udp(String),
    Tls {
        host: String,
        port: u16,
    },
}

impl fmt::Display for SyslogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyslogTarget::Udp(address) => write!(f, "udp://{address}"),
            SyslogTarget::Tls { host, port } if host.contains(':') => {
                write!(f, "tls://[{host}]:{port}")
            }
            SyslogTarget::Tls { host, port } => write!(f, "tls://{host}:{port}"),
        }
    }
}

/// `host[:port]` with the host unbracketed; `None` port when absent.
fn split_authority(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed '['")?;
        return match after {
            "" => Ok((host, None)),
            _ => after
                .strip_prefix(':')
                .map(|port| (host, Some(port)))
                .ok_or("expected ':' after ']'"),
        };
    }
    match authority.split_once(':') {
        Some((_, port)) if port.contains(':') => Err("IPv6 addresses go in brackets"),
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((authority, None)),
    }
}

impl FromStr for SyslogTarget {
    type Err = SyslogError;

    fn from_str(target: &str) -> Result<SyslogTarget, SyslogError> {
        let invalid = |reason| SyslogError::InvalidTarget {
            target: target.to_owned(),
            reason,
        };
        let (scheme, authority) = target
            .split_once("://")
            .ok_or_else(|| invalid("expected udp://host:port or tls://host:port"))?;
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(invalid("only a host and a port may follow the scheme"));
        }
        let (host, port) = split_authority(authority).map_err(invalid)?;
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(invalid("missing host"));
        }
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| invalid("the port must be a number from 1 to 65535"))?,
            ),
        };
        match scheme.to_ascii_lowercase().as_str() {
            "udp" => {
                let port = port.unwrap_or(UDP_PORT);
                Ok(SyslogTarget::Udp(if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                }))
            }
            "tls" => Ok(SyslogTarget::Tls {
                host: host.to_owned(),
                port: port.unwrap_or(TLS_PORT),
            }),
            _ => Err(invalid("the scheme must be udp or tls")),
        }
    }
}

/// RFC 5424 HOSTNAME: printable US-ASCII without spaces, at most 255 characters, or `-`.
fn header_field(value: &str, max: usize) -> String {
    let field: String = value
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if field.is_empty() {
        "-".to_owned()
    } else {
        field
    }
}

/// The RFC 5424 message of a record: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID -`
/// then the DICOM audit message, after a byte order mark. `source_id` is the AuditSourceID.
pub fn frame(record: &AuditRecord, source_id: &str, hostname: &str) -> String {
    let severity = if record.outcome == Outcome::Success {
        NOTICE
    } else {
        WARNING
    };
    let pri = u16::from(FACILITY) * 8 + u16::from(severity);
    format!(
        "<{pri}>1 {} {} {APP_NAME} {} {MSG_ID} - {BOM}{}",
        instant(record.recorded_micros),
        header_field(hostname, 255),
        std::process::id(),
        dicom_message::to_xml(record, source_id)
    )
}

/// Trusted roots: the CA file's certificates when given, else the system's.
fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, SyslogError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let ca_error = |reason: String| SyslogError::CaFile {
                path: path.to_owned(),
                reason,
            };
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| ca_error(e.to_string()))?;
            for cert in certs {
                let cert = cert.map_err(|e| ca_error(e.to_string()))?;
                roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(ca_error("no certificate in it".into()));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                let errors: Vec<String> = native.errors.iter().map(|e| e.to_string()).collect();
                return Err(SyslogError::NoRoots(if errors.is_empty() {
                    "the system has none; give a CA file".into()
                } else {
                    errors.join("; ")
                }));
            }
        }
    }
    Ok(roots)
}

fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, SyslogError> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SyslogError::NoRoots(e.to_string()))?
        .with_root_certificates(root_store(ca_file)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

enum Connection {
    Udp(UdpSocket),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A connection to an audit record repository, opened again once when a send fails.
pub struct SyslogSender {
    target: SyslogTarget,
    tls: Option<Arc<ClientConfig>>,
    connection: Option<Connection>,
}

async fn timed<T>(
    target: &SyslogTarget,
    future: impl std::future::Future<Output = Result<T, SyslogError>>,
) -> Result<T, SyslogError> {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .map_err(|_| SyslogError::Timeout {
            target: target.to_string(),
            seconds: TIMEOUT.as_secs(),
        })?
}

impl SyslogSender {
    /// Connects to `target`; for TLS, trusting the certificates in `ca_file` (PEM) or, without
    /// one, the system's.
    pub async fn connect(
        target: SyslogTarget,
        ca_file: Option<&Path>,
    ) -> Result<SyslogSender, SyslogError> {
        let tls = match target {
            SyslogTarget::Tls { .. } => Some(tls_config(ca_file)?),
            SyslogTarget::Udp(_) => None,
        };
        let mut sender = SyslogSender {
            target,
            tls,
            connection: None,
        };
        sender.connection = Some(sender.open().await?);
        Ok(sender)
    }

    pub fn target(&self) -> &SyslogTarget {
        &self.target
    }

    async fn open(&self) -> Result<Connection, SyslogError> {
        let name = self.target.to_string();
        let connect_error = |source| SyslogError::Connect {
            target: name.clone(),
            source,
        };
        match (&self.target, &self.tls) {
            (SyslogTarget::Udp(address), _) => {
                let remote = tokio::net::lookup_host(address.as_str())
                    .await
                    .map_err(|source| SyslogError::Resolve {
                        target: name.clone(),
                        source,
                    })?
                    .next()
                    .ok_or_else(|| SyslogError::Resolve {
                        target: name.clone(),
                        source: io::Error::new(io::ErrorKind::NotFound, "no address"),
                    })?;
                let local = if remote.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let socket = UdpSocket::bind(local).await.map_err(connect_error)?;
                socket.connect(remote).await.map_err(connect_error)?;
                Ok(Connection::Udp(socket))
            }
            (SyslogTarget::Tls { host, port }, Some(config)) => {
                let server_name = ServerName::try_from(host.clone())
                    .map_err(|_| SyslogError::ServerName { host: host.clone() })?;
                timed(&self.target, async {
                    let tcp = TcpStream::connect((host.as_str(), *port))
                        .await
                        .map_err(connect_error)?;
                    let _ = tcp.set_nodelay(true);
                    let stream = TlsConnector::from(Arc::clone(config))
                        .connect(server_name, tcp)
                        .await
                        .map_err(connect_error)?;
                    Ok(Connection::Tls(Box::new(stream)))
                })
                .await
            }
            (SyslogTarget::Tls { host, .. }, None) => {
                Err(SyslogError::ServerName { host: host.clone() })
            }
        }
    }

    async fn write(&mut self, message: &str) -> Result<(), SyslogError> {
        let target = self.target.clone();
        let send_error = |source| SyslogError::Send {
            target: target.to_string(),
            source,
        };
        match self.connection.as_mut() {
            None => Err(send_error(io::Error::new(
                io::ErrorKind::NotConnected,
                "not connected",
            ))),
            Some(Connection::Udp(socket)) => {
                socket.send(message.as_bytes()).await.map_err(send_error)?;
                Ok(())
            }
            Some(Connection::Tls(stream)) => {
                // RFC 5425 4.3: MSG-LEN SP SYSLOG-MSG, the length in octets.
                let mut frame = format!("{} ", message.len()).into_bytes();
                frame.extend_from_slice(message.as_bytes());
                timed(&target, async {
                    stream.write_all(&frame).await.map_err(send_error)?;
                    stream.flush().await.map_err(send_error)
                })
                .await
            }
        }
    }

    /// Sends one message (a [`frame`]); when that fails, connects again and retries once.
    pub async fn send(&mut self, message: &str) -> Result<(), SyslogError> {
        if self.connection.is_some() && self.write(message).await.is_ok() {
            return Ok(());
        }
        self.connection = None;
        self.connection = Some(self.open().await?);
        self.write(message).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::samples;
    use rustls_pki_types::PrivateKeyDer;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::TlsAcceptor;

    #[test]
    fn targets() {
        assert_eq!(
            "udp://audit.example.org:514".parse::<SyslogTarget>().ok(),
            Some(SyslogTarget::Udp("audit.example.org:514".into()))
        );
        assert_eq!(
            "udp://[::1]".parse::<SyslogTarget>().ok(),
            Some(SyslogTarget::Udp("[::1]:514".into()))
        );
        let tls: SyslogTarget = "TLS://arr.example.org:6515/".parse().expect("tls target");
        assert_eq!(
            tls,
            SyslogTarget::Tls {
                host: "arr.example.org".into(),
                port: 6515
            }
        );
        assert_eq!(tls.to_string(), "tls://arr.example.org:6515");
        let v6: SyslogTarget = "tls://[2001:db8::1]".parse().expect("v6 target");
        assert_eq!(
            v6,
            SyslogTarget::Tls {
                host: "2001:db8::1".into(),
                port: 6514
            }
        );
        assert_eq!(v6.to_string(), "tls://[2001:db8::1]:6514");
        for bad in [
            "audit.example.org:514",
            "tcp://audit.example.org:514",
            "udp://",
            "udp://:514",
            "udp://host:0",
            "udp://host:70000",
            "udp://host:port",
            "tls://2001:db8::1:6514",
            "tls://host:6514/path",
            "tls://user@host",
            "tls://[::1",
        ] {
            let error = bad.parse::<SyslogTarget>().expect_err(bad);
            assert!(
                matches!(error, SyslogError::InvalidTarget { .. }),
                "{bad}: {error}"
            );
        }
    }

    /// PRI, VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID, STRUCTURED-DATA, MSG.
    fn parse(message: &str) -> (u16, Vec<&str>, &str) {
        let rest = message.strip_prefix('<').expect("PRI");
        let (pri, rest) = rest.split_once('>').expect("PRI end");
        let fields: Vec<&str> = rest.splitn(8, ' ').collect();
        assert_eq!(fields.len(), 8, "{message}");
        let msg = fields[7];
        (pri.parse().expect("PRI number"), fields[..7].to_vec(), msg)
    }

    fn check_message(message: &str, record: &AuditRecord, severity: u16) {
        let (pri, fields, msg) = parse(message);
        assert_eq!(pri, 10 * 8 + severity);
        assert_eq!(fields[0], "1");
        assert_eq!(fields[1], "2024-02-29T12:00:00.123Z");
        assert_eq!(fields[2], "pacs-1.example.org");
        assert_eq!(fields[3], "tessera");
        assert_eq!(fields[4], std::process::id().to_string());
        assert_eq!(fields[5], "IHE+RFC-3881");
        assert_eq!(fields[6], "-");
        let xml = msg.strip_prefix('\u{feff}').expect("BOM");
        assert_eq!(xml, dicom_message::to_xml(record, "tessera@pacs-1"));
        assert!(xml.contains(&format!("csd-code=\"{}\"", record.event.code())));
    }

    #[test]
    fn frames_are_rfc_5424() {
        let record = samples::stow();
        let message = frame(&record, "tessera@pacs-1", "pacs-1.example.org");
        check_message(&message, &record, 5);
        let failed = samples::failed_authentication();
        check_message(
            &frame(&failed, "tessera@pacs-1", "pacs-1.example.org"),
            &failed,
            4,
        );
        let odd = frame(&record, "s", "host with spaces\u{e9}");
        assert!(odd.contains(" hostwithspaces tessera "));
        assert!(frame(&record, "s", "").contains(" - tessera "));
    }

    #[tokio::test]
    async fn udp_sends_one_datagram_per_message() {
        let receiver = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let address = receiver.local_addr().expect("address");
        let target: SyslogTarget = format!("udp://{address}").parse().expect("target");
        let mut sender = SyslogSender::connect(target, None).await.expect("connect");
        let records = [samples::qido(), samples::failed_authentication()];
        for record in &records {
            let message = frame(record, "tessera@pacs-1", "pacs-1.example.org");
            sender.send(&message).await.expect("send");
        }
        for (record, severity) in records.iter().zip([5, 4]) {
            let mut buffer = vec![0; 65_536];
            let (len, _) = tokio::time::timeout(TIMEOUT, receiver.recv_from(&mut buffer))
                .await
                .expect("a datagram in time")
                .expect("receive");
            let message = std::str::from_utf8(&buffer[..len]).expect("UTF-8");
            check_message(message, record, severity);
        }
    }

    /// A TLS syslog receiver on loopback with a fresh self-signed certificate; the CA file
    /// the client must trust is that certificate.
    async fn tls_receiver() -> (TcpListener, TlsAcceptor, tempfile::NamedTempFile) {
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("certificate");
        let key = PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .expect("server config");
        let ca = tempfile::NamedTempFile::new().expect("CA file");
        std::fs::write(ca.path(), certified.cert.pem()).expect("write CA");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        (listener, TlsAcceptor::from(Arc::new(config)), ca)
    }

    /// Reads one RFC 5425 frame: digits, a space, then that many octets.
    async fn read_frame(stream: &mut (impl AsyncReadExt + Unpin)) -> String {
        let mut length = String::new();
        loop {
            let byte = stream.read_u8().await.expect("length");
            if byte == b' ' {
                break;
            }
            assert!(byte.is_ascii_digit(), "MSG-LEN digit");
            length.push(char::from(byte));
        }
        let mut message = vec![0; length.parse().expect("MSG-LEN")];
        stream.read_exact(&mut message).await.expect("message");
        String::from_utf8(message).expect("UTF-8")
    }

    #[tokio::test]
    async fn tls_sends_octet_counted_frames_to_a_trusted_server() {
        let (listener, acceptor, ca) = tls_receiver().await;
        let port = listener.local_addr().expect("address").port();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut stream = acceptor.accept(tcp).await.expect("handshake");
            let first = read_frame(&mut stream).await;
            let second = read_frame(&mut stream).await;
            (first, second)
        });
        let target = SyslogTarget::Tls {
            host: "127.0.0.1".into(),
            port,
        };
        let mut sender = SyslogSender::connect(target, Some(ca.path()))
            .await
            .expect("connect");
        let stow = samples::stow();
        let key = samples::api_key_created();
        for record in [&stow, &key] {
            let message = frame(record, "tessera@pacs-1", "pacs-1.example.org");
            sender.send(&message).await.expect("send");
        }
        let (first, second) = tokio::time::timeout(TIMEOUT, server)
            .await
            .expect("frames in time")
            .expect("server task");
        check_message(&first, &stow, 5);
        check_message(&second, &key, 5);
    }

    #[tokio::test]
    async fn tls_refuses_a_server_it_does_not_trust() {
        let (listener, acceptor, _ca) = tls_receiver().await;
        let (_, _, other_ca) = tls_receiver().await;
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move {
            if let Ok((tcp, _)) = listener.accept().await {
                let _ = acceptor.accept(tcp).await;
            }
        });
        let target = SyslogTarget::Tls {
            host: "127.0.0.1".into(),
            port,
        };
        let result = SyslogSender::connect(target, Some(other_ca.path())).await;
        assert!(
            matches!(result, Err(SyslogError::Connect { .. })),
            "{:?}",
            result.err()
        );
    }

    #[tokio::test]
    async fn a_missing_ca_file_is_named() {
        let target = SyslogTarget::Tls {
            host: "127.0.0.1".into(),
            port: 6514,
        };
        let missing = Path::new("/nonexistent/ca.pem");
        match SyslogSender::connect(target, Some(missing)).await {
            Err(SyslogError::CaFile { path, .. }) => assert_eq!(path, missing),
            other => panic!("expected a CA file error, got {:?}", other.err()),
        }
    }
}
