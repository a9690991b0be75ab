//! The operations of the blob store and of the index whose latency is measured (the
//! `operation` label). Named here, below both, so that neither imports the other or HTTP.

/// A blob-store call (`storage::BlobStore`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOp {
    /// A whole object read into memory.
    Get,
    /// A byte range read into memory (frames).
    GetRange,
    /// An object or a range opened for streaming: until its first bytes can be read.
    OpenStream,
    /// An object written from memory.
    Put,
    /// A staging file moved or uploaded into place.
    PutStaged,
    /// Written objects made durable (folders fsynced).
    Sync,
    Delete,
    /// An object's size looked up.
    Head,
}

impl BlobOp {
    pub(super) const ALL: [BlobOp; 8] = [
        BlobOp::Get,
        BlobOp::GetRange,
        BlobOp::OpenStream,
        BlobOp::Put,
        BlobOp::PutStaged,
        BlobOp::Sync,
        BlobOp::Delete,
        BlobOp::Head,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BlobOp::Get => "get",
            BlobOp::GetRange => "get_range",
            BlobOp::OpenStream => "open_stream",
            BlobOp::Put => "put",
            BlobOp::PutStaged => "put_staged",
            BlobOp::Sync => "sync",
            BlobOp::Delete => "delete",
            BlobOp::Head => "head",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// An index call (`index::Index`), from the wait for a database connection to the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOp {
    /// QIDO: a search and its count of matches.
    Search,
    /// Rows read by key: a study, a series, instances (WADO, frames, metadata), counts.
    Read,
    /// The change feed read.
    Feed,
    /// A STOW batch written and committed (on SQLite through the group commit).
    Store,
    /// A delete written and committed.
    Delete,
    /// Feed workers' leases and cursors (the FHIR push).
    Worker,
    /// The health probe.
    Health,
    /// Checks and repairs (`tessera check`), planner statistics.
    Upkeep,
}

impl IndexOp {
    pub(super) const ALL: [IndexOp; 8] = [
        IndexOp::Search,
        IndexOp::Read,
        IndexOp::Feed,
        IndexOp::Store,
        IndexOp::Delete,
        IndexOp::Worker,
        IndexOp::Health,
        IndexOp::Upkeep,
    ];

    pub fn name(self) -> &'static str {
        match self {
            IndexOp::Search => "search",
            IndexOp::Read => "read",
            IndexOp::Feed => "feed",
            IndexOp::Store => "store",
            IndexOp::Delete => "delete",
            IndexOp::Worker => "worker",
            IndexOp::Health => "health",
            IndexOp::Upkeep => "upkeep",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_its_own_slot() {
        for (i, op) in BlobOp::ALL.iter().enumerate() {
            assert_eq!(op.index(), i, "{}", op.name());
        }
        for (i, op) in IndexOp::ALL.iter().enumerate() {
            assert_eq!(op.index(), i, "{}", op.name());
        }
    }
}
