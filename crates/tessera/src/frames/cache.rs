//! The retrieval cache: stored frame bytes, decoded frames and pixel descriptions, bounded
//! by bytes, least recently used out first.
//!
//! Entries are keyed by the blob key, which is unique to one stored copy of an instance
//! (`storage::keys`): a blob never changes under its key, so an entry can never be stale,
//! and several server processes need no coordination. The blob store stays the truth; the
//! cache only saves range GETs and decoding.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::info::PixelInfo;
use crate::metrics::Metrics;

/// What an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A frame's bytes as stored (native, or the compressed bitstream).
    Stored,
    /// A frame decoded to native little endian (see `decode::NativeFrame`).
    Native,
    /// The pixel description of the instance (frame number 0).
    Info,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub blob: Arc<str>,
    pub frame: u32,
    pub kind: Kind,
}

impl CacheKey {
    pub fn new(blob: &Arc<str>, frame: u32, kind: Kind) -> Self {
        CacheKey {
            blob: Arc::clone(blob),
            frame,
            kind,
        }
    }
}

/// A cached value.
#[derive(Debug, Clone)]
pub enum Cached {
    Bytes(Bytes),
    Info(Arc<PixelInfo>),
}

impl Cached {
    fn size(&self) -> u64 {
        match self {
            Cached::Bytes(b) => b.len() as u64,
            Cached::Info(info) => info.approximate_size(),
        }
    }
}

/// Per-entry bookkeeping overhead counted against the budget.
const ENTRY_OVERHEAD: u64 = 128;

struct Slot {
    value: Cached,
    size: u64,
    tick: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<CacheKey, Slot>,
    /// Recency order: tick -> key; the smallest tick is evicted first.
    order: BTreeMap<u64, CacheKey>,
    bytes: u64,
    tick: u64,
}

/// A byte-bounded LRU map shared by every request of the process.
pub struct FrameCache {
    capacity: u64,
    inner: Mutex<Inner>,
    metrics: Arc<Metrics>,
}

impl FrameCache {
    /// A cache holding at most `capacity` bytes (0 turns caching off).
    pub fn new(capacity: u64, metrics: Arc<Metrics>) -> Self {
        metrics
            .cache_capacity_bytes
            .store(capacity, std::sync::atomic::Ordering::Relaxed);
        FrameCache {
            capacity,
            inner: Mutex::new(Inner::default()),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Look an entry up, counting a hit or a miss.
    pub fn get(&self, key: &CacheKey) -> Option<Cached> {
        let found = {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            match inner.map.get_mut(key) {
                Some(slot) => {
                    let old = std::mem::replace(&mut slot.tick, tick);
                    let value = slot.value.clone();
                    inner.order.remove(&old);
                    inner.order.insert(tick, key.clone());
                    Some(value)
                }
                None => None,
            }
        };
        let counter = if found.is_some() {
            &self.metrics.cache_hits
        } else {
            &self.metrics.cache_misses
        };
        self.metrics.inc(counter);
        found
    }

    pub fn get_bytes(&self, key: &CacheKey) -> Option<Bytes> {
        match self.get(key) {
            Some(Cached::Bytes(b)) => Some(b),
            _ => None,
        }
    }

    /// Insert (or replace) an entry, evicting the least recently used ones as needed.
    /// Entries larger than an eighth of the cache are not kept: one huge frame must not
    /// flush everything else.
    pub fn insert(&self, key: CacheKey, value: Cached) {
        let size = value.size() + ENTRY_OVERHEAD;
        if size > self.capacity / 8 {
            return;
        }
        let mut evicted = 0u64;
        let (bytes, entries) = {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            if let Some(old) = inner.map.remove(&key) {
                inner.order.remove(&old.tick);
                inner.bytes -= old.size;
            }
            while inner.bytes + size > self.capacity {
                let Some((_, oldest)) = inner.order.pop_first() else {
                    break;
                };
                if let Some(slot) = inner.map.remove(&oldest) {
                    inner.bytes -= slot.size;
                    evicted += 1;
                }
            }
            inner.order.insert(tick, key.clone());
            inner.map.insert(key, Slot { value, size, tick });
            inner.bytes += size;
            (inner.bytes, inner.map.len() as u64)
        };
        use std::sync::atomic::Ordering::Relaxed;
        self.metrics.cache_evictions.fetch_add(evicted, Relaxed);
        self.metrics.cache_bytes.store(bytes, Relaxed);
        self.metrics.cache_entries.store(entries, Relaxed);
    }

    pub fn insert_bytes(&self, key: CacheKey, bytes: Bytes) {
        self.insert(key, Cached::Bytes(bytes));
    }

    /// Bytes currently held.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    fn key(blob: &str, frame: u32) -> CacheKey {
        CacheKey::new(&Arc::from(blob), frame, Kind::Stored)
    }

    #[test]
    fn evicts_least_recently_used_by_bytes() {
        let metrics = Arc::new(Metrics::new());
        // Room for eight 1000-byte entries (with overhead), not nine.
        let cache = FrameCache::new(8 * 1200, Arc::clone(&metrics));
        let data = Bytes::from(vec![0u8; 1000]);
        for i in 0..3 {
            cache.insert_bytes(key("a", i), data.clone());
        }
        assert!(cache.get(&key("a", 0)).is_some()); // 0 is now the most recent
        for i in 3..9 {
            cache.insert_bytes(key("a", i), data.clone());
        }
        assert!(cache.bytes() <= 8 * 1200);
        assert!(cache.get(&key("a", 1)).is_none(), "1 was least recent");
        assert!(cache.get(&key("a", 0)).is_some());
        assert!(cache.get(&key("a", 8)).is_some());
        assert!(metrics.cache_evictions.load(Relaxed) >= 1);
        assert_eq!(metrics.cache_hits.load(Relaxed), 3);
        assert_eq!(metrics.cache_misses.load(Relaxed), 1);
    }

    #[test]
    fn replacing_keeps_the_byte_count_right_and_huge_entries_are_skipped() {
        let cache = FrameCache::new(80_000, Arc::new(Metrics::new()));
        cache.insert_bytes(key("a", 1), Bytes::from(vec![0u8; 100]));
        cache.insert_bytes(key("a", 1), Bytes::from(vec![0u8; 300]));
        assert_eq!(cache.bytes(), 300 + ENTRY_OVERHEAD);
        cache.insert_bytes(key("b", 1), Bytes::from(vec![0u8; 20_000]));
        assert!(cache.get(&key("b", 1)).is_none());
        let off = FrameCache::new(0, Arc::new(Metrics::new()));
        off.insert_bytes(key("a", 1), Bytes::from_static(b"x"));
        assert!(off.get(&key("a", 1)).is_none());
    }
}
