//! A small bounded in-memory cache of assembled metadata documents.
//!
//! Entries are keyed by the document's ETag, which is computed from the scope, the format,
//! the base URL and every instance's (SOP Instance UID, updated_at) as the index has them
//! now. The index is the truth: a write through any server process changes the key, so an
//! entry is never served stale; old entries simply age out (first in, first out).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::metrics::Metrics;

/// Total size of the cached documents.
pub const DEFAULT_CAPACITY_BYTES: usize = 64 * 1024 * 1024;

pub struct MetadataCache {
    capacity: usize,
    inner: Mutex<Inner>,
    /// Where its hits and misses are counted.
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Bytes>,
    order: VecDeque<String>,
    bytes: usize,
}

impl MetadataCache {
    pub fn new(capacity: usize, metrics: Arc<Metrics>) -> Self {
        MetadataCache {
            capacity,
            inner: Mutex::new(Inner::default()),
            metrics,
        }
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        let found = {
            let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.entries.get(key).cloned()
        };
        self.metrics.inc(if found.is_some() {
            &self.metrics.metadata_cache_hits
        } else {
            &self.metrics.metadata_cache_misses
        });
        found
    }

    /// Keep a document; one larger than a quarter of the capacity is not kept (it would
    /// push out everything else).
    pub fn put(&self, key: String, body: Bytes) {
        if body.len() > self.capacity / 4 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.entries.contains_key(&key) {
            return;
        }
        while inner.bytes + body.len() > self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.bytes -= evicted.len();
            }
        }
        inner.bytes += body.len();
        inner.order.push_back(key.clone());
        inner.entries.insert(key, body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_first_in_first_out() {
        let metrics = Arc::new(Metrics::new());
        let cache = MetadataCache::new(40, Arc::clone(&metrics));
        cache.put("a".into(), Bytes::from(vec![0; 10]));
        cache.put("b".into(), Bytes::from(vec![0; 10]));
        cache.put("c".into(), Bytes::from(vec![0; 10]));
        cache.put("d".into(), Bytes::from(vec![0; 10]));
        assert!(cache.get("a").is_some());
        cache.put("e".into(), Bytes::from(vec![0; 10]));
        assert!(cache.get("a").is_none());
        assert!(cache.get("e").is_some());
        cache.put("huge".into(), Bytes::from(vec![0; 11]));
        assert!(cache.get("huge").is_none());
        // Every lookup counted: a and e found, then a and huge not.
        use std::sync::atomic::Ordering::Relaxed;
        assert_eq!(metrics.metadata_cache_hits.load(Relaxed), 2);
        assert_eq!(metrics.metadata_cache_misses.load(Relaxed), 2);
    }
}
