//! DIMSE messages over an established association (PS3.8 9.3.5, PS3.7 6.3.1): a command set,
//! then its data set when it has one, each cut into P-DATA fragments. Every read and write
//! has a deadline, so a silent or stalled peer cannot hold the association forever.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::time::Duration;

use dicom_ul::association::AsyncAssociation;
use dicom_ul::pdu::{PDataValue, PDataValueType};
use dicom_ul::Pdu;
use futures::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::command::{Command, Field};
use super::error::DimseError;

/// Bytes of a PDU and of a PDV item header: a fragment carries at most max PDU - 6 bytes.
const PDV_HEADER: usize = 6;

/// What the peer did next.
pub enum Event {
    /// A command set arrived on this presentation context.
    Command { context: u8, command: Box<Command> },
    /// The peer asked for a release (answered) or aborted.
    Ended,
}

/// The byte stream under an association: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The TCP socket underneath.
    fn socket(&self) -> &TcpStream;
}

impl Io for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl Io for tokio_rustls::server::TlsStream<TcpStream> {
    fn socket(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// Acknowledge what arrives at once rather than after the delayed-ACK timer (Linux,
/// TCP_QUICKACK, which the kernel clears again by itself, so it is set before every read).
/// A requestor that writes a command and then its data set in two small writes without
/// TCP_NODELAY (pynetdicom, many devices) otherwise waits for that timer before the second:
/// a C-FIND took 47 ms here instead of about 2.
fn quick_ack(socket: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        let _ = socket2::SockRef::from(socket).set_tcp_quickack(true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

/// One association and its fragments not yet consumed.
pub struct Link<A, S> {
    association: A,
    stream: PhantomData<S>,
    pending: VecDeque<PDataValue>,
    /// How long a read or a write may wait.
    idle: Duration,
    /// The peer released or aborted while an operation was running.
    ended: bool,
    /// A C-CANCEL came while a response was awaited: reported by the next [`Link::cancelled`].
    cancel_seen: bool,
}

impl<A, S> Link<A, S>
where
    A: AsyncAssociation<S> + Send,
    S: Io,
{
    pub fn new(association: A, idle: Duration) -> Self {
        Link {
            association,
            stream: PhantomData,
            pending: VecDeque::new(),
            idle,
            ended: false,
            cancel_seen: false,
        }
    }

    pub fn association(&self) -> &A {
        &self.association
    }

    fn timeout(&self) -> DimseError {
        DimseError::Timeout(self.idle.as_secs())
    }

    /// The next fragment; `None` when the peer released (answered here) or aborted.
    async fn next_value(&mut self) -> Result<Option<PDataValue>, DimseError> {
        loop {
            if let Some(value) = self.pending.pop_front() {
                return Ok(Some(value));
            }
            if self.ended {
                return Ok(None);
            }
            quick_ack(<A as AsyncAssociation<S>>::inner_stream(&mut self.association).socket());
            let pdu = tokio::time::timeout(
                self.idle,
                <A as AsyncAssociation<S>>::receive(&mut self.association),
            )
            .await
            .map_err(|_| self.timeout())??;
            match pdu {
                Pdu::PData { data } => self.pending.extend(data),
                Pdu::ReleaseRQ => {
                    let answer =
                        <A as AsyncAssociation<S>>::send(&mut self.association, &Pdu::ReleaseRP);
                    let _ = tokio::time::timeout(self.idle, answer).await;
                    return Ok(None);
                }
                Pdu::AbortRQ { .. } => return Ok(None),
                other => {
                    return Err(DimseError::Malformed(format!(
                        "unexpected {} during the association",
                        pdu_name(&other)
                    )))
                }
            }
        }
    }

    /// Wait for the next command set.
    pub async fn next_command(&mut self) -> Result<Event, DimseError> {
        let mut bytes = Vec::new();
        let mut context = None;
        loop {
            let Some(value) = self.next_value().await? else {
                return Ok(Event::Ended);
            };
            if value.value_type != PDataValueType::Command {
                return Err(DimseError::Malformed(
                    "a data fragment came where a command was expected".into(),
                ));
            }
            if *context.get_or_insert(value.presentation_context_id)
                != value.presentation_context_id
            {
                return Err(DimseError::Malformed(
                    "a command's fragments came on two presentation contexts".into(),
                ));
            }
            bytes.extend_from_slice(&value.data);
            if value.is_last {
                let command = Command::decode(&bytes)?;
                return Ok(Event::Command {
                    context: value.presentation_context_id,
                    command: Box::new(command),
                });
            }
            if bytes.len() > 1 << 16 {
                return Err(DimseError::Malformed(
                    "a command set longer than 64 KiB".into(),
                ));
            }
        }
    }

    /// The next fragment of the data set that follows a command: `(bytes, is_last)`.
    pub async fn next_data(&mut self, context: u8) -> Result<(Vec<u8>, bool), DimseError> {
        let value = self.next_value().await?.ok_or_else(|| {
            DimseError::Malformed("the association ended in the middle of a data set".into())
        })?;
        if value.value_type != PDataValueType::Data {
            return Err(DimseError::Malformed(
                "a command fragment came where a data set was expected".into(),
            ));
        }
        if value.presentation_context_id != context {
            return Err(DimseError::Malformed(
                "a data set's fragments came on another presentation context".into(),
            ));
        }
        Ok((value.data, value.is_last))
    }

    /// A whole (small) data set: a C-FIND, C-MOVE or C-GET identifier, an N-ACTION's
    /// information. More than `limit` bytes is an error.
    pub async fn read_data_set(
        &mut self,
        context: u8,
        limit: usize,
    ) -> Result<Vec<u8>, DimseError> {
        let mut out = Vec::new();
        loop {
            let (bytes, last) = self.next_data(context).await?;
            if out.len() + bytes.len() > limit {
                return Err(DimseError::Malformed(format!(
                    "a data set of more than {limit} bytes where an identifier was expected"
                )));
            }
            out.extend_from_slice(&bytes);
            if last {
                return Ok(out);
            }
        }
    }

    /// The largest fragment the peer accepts (capped at 1 MiB; never above the peer's limit).
    fn fragment_size(&self) -> usize {
        let max = self.association.peer_max_pdu_length() as usize;
        max.saturating_sub(PDV_HEADER).clamp(1, 1 << 20)
    }

    async fn send_pdu(&mut self, pdu: Pdu) -> Result<(), DimseError> {
        tokio::time::timeout(
            self.idle,
            <A as AsyncAssociation<S>>::send(&mut self.association, &pdu),
        )
        .await
        .map_err(|_| self.timeout())??;
        Ok(())
    }

    /// Send a command set (its CommandDataSetType says whether a data set follows).
    pub async fn send_command(&mut self, context: u8, command: &Command) -> Result<(), DimseError> {
        let bytes = command.encode();
        let size = self.fragment_size();
        let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
        let count = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            self.send_pdu(Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: context,
                    value_type: PDataValueType::Command,
                    is_last: i + 1 == count,
                    data: chunk.to_vec(),
                }],
            })
            .await?;
        }
        Ok(())
    }

    /// Send one fragment of a data set.
    pub async fn send_data(
        &mut self,
        context: u8,
        bytes: Vec<u8>,
        last: bool,
    ) -> Result<(), DimseError> {
        self.send_pdu(Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: context,
                value_type: PDataValueType::Data,
                is_last: last,
                data: bytes,
            }],
        })
        .await
    }

    /// Send a whole data set held in memory, fragment by fragment.
    pub async fn send_data_set(&mut self, context: u8, bytes: &[u8]) -> Result<(), DimseError> {
        let size = self.fragment_size();
        if bytes.is_empty() {
            return self.send_data(context, Vec::new(), true).await;
        }
        let count = bytes.len().div_ceil(size);
        for (i, chunk) in bytes.chunks(size).enumerate() {
            self.send_data(context, chunk.to_vec(), i + 1 == count)
                .await?;
        }
        Ok(())
    }

    /// A command and its data set.
    pub async fn send_message(
        &mut self,
        context: u8,
        command: &Command,
        data: Option<&[u8]>,
    ) -> Result<(), DimseError> {
        let bytes = command.encode();
        // A small message (a C-FIND match, a pending response) goes as one PDU carrying both
        // fragments: one write, one packet, instead of two.
        if let Some(data) =
            data.filter(|d| bytes.len() + d.len() + PDV_HEADER <= self.fragment_size())
        {
            return self
                .send_pdu(Pdu::PData {
                    data: vec![
                        PDataValue {
                            presentation_context_id: context,
                            value_type: PDataValueType::Command,
                            is_last: true,
                            data: bytes,
                        },
                        PDataValue {
                            presentation_context_id: context,
                            value_type: PDataValueType::Data,
                            is_last: true,
                            data: data.to_vec(),
                        },
                    ],
                })
                .await;
        }
        self.send_command(context, command).await?;
        if let Some(data) = data {
            self.send_data_set(context, data).await?;
        }
        Ok(())
    }

    /// The fragment size a streamed data set is cut into.
    pub fn data_fragment_size(&self) -> usize {
        self.fragment_size()
    }

    /// Whether the peer has sent a C-CANCEL (without waiting: only what already arrived).
    /// Any other command that arrived meanwhile is kept for [`Link::next_command`]; an ended
    /// association counts as cancelled.
    pub async fn cancelled(&mut self) -> Result<bool, DimseError> {
        if std::mem::take(&mut self.cancel_seen) {
            return Ok(true);
        }
        // A C-CANCEL may have come in the same PDU as the request.
        if let Some(at) = self.pending.iter().position(is_cancel) {
            self.pending.remove(at);
            return Ok(true);
        }
        // Polled once, not through a zero timeout: a timer costs a tick of the timer wheel
        // (about 1 ms) per check, and this runs between every two C-FIND matches. Reading
        // is buffered inside the association, so dropping the unfinished read loses nothing.
        let arrived = <A as AsyncAssociation<S>>::receive(&mut self.association).now_or_never();
        let pdu = match arrived {
            None => return Ok(false),
            Some(pdu) => pdu?,
        };
        match pdu {
            Pdu::PData { data } => {
                let mut cancel = false;
                for value in data {
                    if is_cancel(&value) {
                        cancel = true;
                    } else {
                        self.pending.push_back(value);
                    }
                }
                Ok(cancel)
            }
            Pdu::ReleaseRQ | Pdu::AbortRQ { .. } => {
                self.ended = true;
                Ok(true)
            }
            other => Err(DimseError::Malformed(format!(
                "unexpected {} during an operation",
                pdu_name(&other)
            ))),
        }
    }

    /// Wait for the response to a request this side sent (a C-GET's C-STORE sub-operation,
    /// an N-EVENT-REPORT). A C-CANCEL that comes meanwhile is noted for the next
    /// [`Link::cancelled`] and the wait goes on: the sub-operation in flight is still counted.
    pub async fn next_response(&mut self, to: Field) -> Result<Command, DimseError> {
        loop {
            match self.next_command().await? {
                Event::Ended => {
                    return Err(DimseError::Malformed(
                        "the association ended while a response was awaited".into(),
                    ))
                }
                Event::Command { command, .. } if command.field == to.response() => {
                    return Ok(*command)
                }
                Event::Command { command, .. } if command.field == Field::CCancelRq => {
                    self.cancel_seen = true;
                }
                Event::Command { command, .. } => {
                    return Err(DimseError::Malformed(format!(
                        "{} came while a {} response was awaited",
                        command.field.name(),
                        to.name()
                    )))
                }
            }
        }
    }

    /// End the association with an A-ABORT.
    pub async fn abort(self) {
        let _ = tokio::time::timeout(self.idle, self.association.abort()).await;
    }

    /// End the association with an A-RELEASE (this side asks).
    pub async fn release(self) {
        let _ = tokio::time::timeout(self.idle, self.association.release()).await;
    }
}

/// Whether a fragment is a whole C-CANCEL-RQ command set.
fn is_cancel(value: &PDataValue) -> bool {
    value.value_type == PDataValueType::Command
        && value.is_last
        && Command::decode(&value.data).is_ok_and(|c| c.field == Field::CCancelRq)
}

fn pdu_name(pdu: &Pdu) -> &'static str {
    match pdu {
        Pdu::Unknown { .. } => "unknown PDU",
        Pdu::AssociationRQ(_) => "A-ASSOCIATE-RQ",
        Pdu::AssociationAC(_) => "A-ASSOCIATE-AC",
        Pdu::AssociationRJ(_) => "A-ASSOCIATE-RJ",
        Pdu::PData { .. } => "P-DATA-TF",
        Pdu::ReleaseRQ => "A-RELEASE-RQ",
        Pdu::ReleaseRP => "A-RELEASE-RP",
        Pdu::AbortRQ { .. } => "A-ABORT",
    }
}
