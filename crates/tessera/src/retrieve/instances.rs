//! Retrieve instances (PS3.18 10.4.1.1.1): decide every instance's representation from the
//! index rows first, so that a request that cannot be honoured is refused (406) before any
//! byte is sent; then produce the parts one at a time, streamed from the blob store when the
//! stored bytes are sent, in memory (one instance) when they are transcoded.

use bytes::Bytes;
use futures::stream::{self, StreamExt};

use super::transcode::{self, Decision, Pixels, Target};
use super::{blocking, RetrieveService, Scope};
use crate::index::InstanceRow;
use crate::retrieve::RetrieveError;
use crate::storage::ByteStream;
use crate::storage::StorageError;

/// One instance of a retrieve and how it is sent.
#[derive(Debug, Clone)]
pub struct PartPlan {
    pub row: InstanceRow,
    pub decision: Decision,
}

/// The bytes of one part.
pub enum PartBody {
    /// Streamed from the blob store; exactly `length` bytes (a shorter or longer blob ends
    /// the stream with an error rather than a silently wrong answer).
    Stream { stream: ByteStream, length: u64 },
    /// Produced in memory (transcoded).
    Bytes(Bytes),
}

impl PartBody {
    pub fn len(&self) -> u64 {
        match self {
            PartBody::Stream { length, .. } => *length,
            PartBody::Bytes(bytes) => bytes.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RetrieveService {
    /// How each instance of `scope` is sent: for each, the first of `targets` (the client's
    /// order of preference) that can be produced. One instance that none can serve makes the
    /// whole request not acceptable.
    pub async fn plan_retrieve(
        &self,
        scope: &Scope,
        targets: &[Target],
    ) -> Result<Vec<PartPlan>, RetrieveError> {
        let rows = self.rows(scope).await?;
        rows.into_iter()
            .map(|mut row| {
                // The metadata text is not needed to send the instance.
                row.metadata = String::new();
                let decision = choose(&row, targets)?;
                Ok(PartPlan { row, decision })
            })
            .collect()
    }

    /// The bytes of one planned part.
    pub async fn part_body(&self, part: &PartPlan) -> Result<PartBody, RetrieveError> {
        if !part.decision.convert {
            let (stream, length) = self.stream_blob(&part.row).await?;
            return Ok(PartBody::Stream { stream, length });
        }
        let bytes = self.read_blob(&part.row).await?;
        let to = part.decision.transfer_syntax.clone();
        let sop = part.row.sop_uid.clone();
        let out = blocking(move || {
            transcode::transcode(&bytes, &to)
                .map_err(|why| RetrieveError::NotAcceptable(format!("instance {sop}: {why}")))
        })
        .await?;
        Ok(PartBody::Bytes(Bytes::from(out)))
    }

    /// The row now stored for an instance whose blob was not found: an overwrite replaced it
    /// (and deleted the old blob) between our index read and the blob read. Only a copy in
    /// the same transfer syntax can stand in, as the part was planned for that syntax.
    async fn replacement(&self, row: &InstanceRow) -> Result<Option<InstanceRow>, RetrieveError> {
        let sop = tessera_dicom::uid::SopInstanceUid::parse(&row.sop_uid)
            .map_err(|err| RetrieveError::Unreadable(err.to_string()))?;
        Ok(self.index.instance(&sop).await?.filter(|now| {
            now.blob_key != row.blob_key && now.transfer_syntax_uid == row.transfer_syntax_uid
        }))
    }

    /// Stream a whole stored instance, checking its length against the index.
    pub(super) async fn stream_blob(
        &self,
        row: &InstanceRow,
    ) -> Result<(ByteStream, u64), RetrieveError> {
        let (stream, row) = match self.store.get_stream(&row.blob_key).await {
            Ok(stream) => (stream, row.clone()),
            Err(StorageError::NotFound { key }) => match self.replacement(row).await? {
                Some(now) => (self.store.get_stream(&now.blob_key).await?, now),
                None => return Err(StorageError::NotFound { key }.into()),
            },
            Err(err) => return Err(err.into()),
        };
        let length = row.blob_size;
        Ok((
            exact_length(stream, length, row.blob_key.to_string()),
            length,
        ))
    }

    /// Read a whole stored instance into memory (to transcode or parse it).
    pub(super) async fn read_blob(&self, row: &InstanceRow) -> Result<Bytes, RetrieveError> {
        match self.store.get(&row.blob_key).await {
            Ok(bytes) => Ok(bytes),
            Err(StorageError::NotFound { key }) => match self.replacement(row).await? {
                Some(now) => Ok(self.store.get(&now.blob_key).await?),
                None => Err(StorageError::NotFound { key }.into()),
            },
            Err(err) => Err(err.into()),
        }
    }
}

/// The first target that can serve this instance, or 406 with the reason of the first.
fn choose(row: &InstanceRow, targets: &[Target]) -> Result<Decision, RetrieveError> {
    let mut first_reason = None;
    for target in targets {
        match transcode::decide(&row.transfer_syntax_uid, target, Pixels::of(row)) {
            Ok(decision) => return Ok(decision),
            Err(reason) => {
                first_reason.get_or_insert(reason);
            }
        }
    }
    Err(RetrieveError::NotAcceptable(format!(
        "instance {}: {}",
        row.sop_uid,
        first_reason.unwrap_or_else(|| "no acceptable transfer syntax".into())
    )))
}

/// Pass `stream` through, failing it if it does not carry exactly `expected` bytes.
fn exact_length(stream: ByteStream, expected: u64, key: String) -> ByteStream {
    let mismatch = move |seen: u64| StorageError::Io {
        operation: "read",
        path: key.clone().into(),
        source: std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("blob holds {seen}+ bytes, the index says {expected}"),
        ),
    };
    stream::unfold((Some(stream), 0u64), move |(stream, seen)| {
        let mismatch = mismatch.clone();
        async move {
            let mut stream = stream?;
            match stream.next().await {
                Some(Ok(chunk)) => {
                    let seen = seen + chunk.len() as u64;
                    if seen > expected {
                        Some((Err(mismatch(seen)), (None, seen)))
                    } else {
                        Some((Ok(chunk), (Some(stream), seen)))
                    }
                }
                Some(Err(err)) => Some((Err(err), (None, seen))),
                None if seen == expected => None,
                None => Some((Err(mismatch(seen)), (None, seen))),
            }
        }
    })
    .boxed()
}
