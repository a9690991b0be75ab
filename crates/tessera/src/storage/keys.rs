//! The blob key scheme, in one place.
//!
//! `instances/{study}/{series}/{sop}.{version}.dcm`. The version is random per stored copy,
//! so an overwrite or two concurrent uploads of one SOP Instance UID never write the same
//! key: readers of the old row keep reading old bytes until the index switches rows.

use std::fmt;

use tessera_dicom::uid::{SeriesUid, SopInstanceUid, StudyUid};

/// Prefix under which every instance blob lives (the sweeper lists only this).
pub const INSTANCE_PREFIX: &str = "instances";

/// Prefix under which each partition's blobs live, `partitions/{name}/instances/...`:
/// beside the default partition's `instances/`, so that nothing listing the default's
/// instances (the sweeper, `tessera check`, `reindex`) ever sees a partition's.
pub const PARTITION_PREFIX: &str = "partitions";

/// Where partition `name`'s keys live in the store (no trailing slash).
pub fn partition_prefix(name: &crate::partition::PartitionName) -> String {
    format!("{PARTITION_PREFIX}/{name}")
}

/// A key in the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

impl BlobKey {
    /// A new, unique key for one stored copy of an instance.
    pub fn new_instance(study: &StudyUid, series: &SeriesUid, sop: &SopInstanceUid) -> Self {
        let version: u64 = rand::random();
        BlobKey(format!(
            "{INSTANCE_PREFIX}/{study}/{series}/{sop}.{version:016x}.dcm"
        ))
    }

    /// Wrap a key read back from the index or a listing.
    pub fn from_stored(key: impl Into<String>) -> Self {
        BlobKey(key.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SOP Instance UID a key of [`BlobKey::new_instance`]'s scheme was made for: all
    /// copies of one instance share it. `None` for a key of another shape.
    pub fn instance_uid(&self) -> Option<&str> {
        let rest = self.0.strip_prefix(INSTANCE_PREFIX)?.strip_prefix('/')?;
        let mut parts = rest.split('/');
        let (_study, _series, file) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let stem = file.strip_suffix(".dcm")?;
        let (sop, version) = stem.rsplit_once('.')?;
        (version.len() == 16 && version.bytes().all(|b| b.is_ascii_hexdigit())).then_some(sop)
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_per_copy() {
        let study = StudyUid::parse("1.2.3").unwrap();
        let series = SeriesUid::parse("1.2.3.4").unwrap();
        let sop = SopInstanceUid::parse("1.2.3.4.5").unwrap();
        let a = BlobKey::new_instance(&study, &series, &sop);
        let b = BlobKey::new_instance(&study, &series, &sop);
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("instances/1.2.3/1.2.3.4/1.2.3.4.5."));
        assert!(a.as_str().ends_with(".dcm"));
        assert_eq!(a.instance_uid(), Some("1.2.3.4.5"));
        assert_eq!(BlobKey::from_stored("instances/x.dcm").instance_uid(), None);
        assert_eq!(
            BlobKey::from_stored("instances/1/2/3.4.zz.dcm").instance_uid(),
            None
        );
    }
}
