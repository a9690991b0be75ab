//! Where an instance's frames are, kept in memory after the index gave it: a viewer asks for
//! the frames of one instance many times (every frame of a multi-frame instance, every
//! slice again on a second pass), and each lookup otherwise costs an index round trip.
//!
//! A stored instance's frame locations never change: a new copy of it (an overwrite) is a
//! new blob, and the old blob is deleted once the index points at the new one. A kept entry
//! is therefore used only for answers read from the blob itself (frames as stored from a
//! local store: `FrameService::reads_blob`), never for answers from a cache keyed by the
//! blob, and what can make it out of date shows as an error the handler answers by asking
//! the index again (`http::frames`):
//! - an overwrite: a frame past the kept frame count, or the old blob not found;
//! - a delete: the blob not found (and a delete on this node clears these entries,
//!   [`Locators::clear`]);
//! - a study or series UID asked that is not the entry's: the index is asked at once.
//!
//! What is left: an overwrite or delete on another node whose old blob could not be removed
//! (the sweeper removes it later) leaves that blob readable; entries are trusted for [`TTL`]
//! only, so such a blob is served for at most that long after the change.
//!
//! Two generations approximate least-recently-used at the cost of a map lookup: entries go
//! into the young map; when it is full the old map is dropped and the young one becomes old;
//! a hit in the old map moves the entry back to the young one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an entry is trusted without asking the index.
pub const TTL: Duration = Duration::from_secs(5);

/// Entries per generation: two generations hold at most twice this.
const GENERATION: usize = 8_192;

type Generation<T> = HashMap<Arc<str>, (Arc<T>, Instant)>;

struct Generations<T> {
    young: Generation<T>,
    old: Generation<T>,
}

/// Instances (`T`: the frames service's `Instance`) by SOP Instance UID, for one
/// partition's frames service.
pub struct Locators<T> {
    generations: Mutex<Generations<T>>,
    ttl: Duration,
    generation: usize,
}

impl<T> Default for Locators<T> {
    fn default() -> Self {
        Locators::new(TTL, GENERATION)
    }
}

impl<T> Locators<T> {
    pub fn new(ttl: Duration, generation: usize) -> Self {
        Locators {
            generations: Mutex::new(Generations {
                young: HashMap::new(),
                old: HashMap::new(),
            }),
            ttl,
            generation: generation.max(1),
        }
    }

    /// The instance kept for `sop`, unless it is older than the TTL.
    pub fn get(&self, sop: &str) -> Option<Arc<T>> {
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = |at: &Instant| at.elapsed() < self.ttl;
        if let Some((instance, at)) = g.young.get(sop) {
            return fresh(at).then(|| Arc::clone(instance));
        }
        let (key, (instance, at)) = g.old.remove_entry(sop)?;
        if !fresh(&at) {
            return None;
        }
        let found = Arc::clone(&instance);
        self.put(&mut g, key, instance, at);
        Some(found)
    }

    /// Keep `instance` of `sop`, found in the index just now.
    pub fn insert(&self, sop: &str, instance: Arc<T>) {
        let key: Arc<str> = Arc::from(sop);
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        g.old.remove(&key);
        self.put(&mut g, key, instance, Instant::now());
    }

    /// Forget the entry of `sop`.
    pub fn remove(&self, sop: &str) {
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        g.young.remove(sop);
        g.old.remove(sop);
    }

    /// Forget every entry (after a delete).
    pub fn clear(&self) {
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        g.young.clear();
        g.old.clear();
    }

    fn put(&self, g: &mut Generations<T>, key: Arc<str>, instance: Arc<T>, at: Instant) {
        if g.young.len() >= self.generation && !g.young.contains_key(&key) {
            g.old = std::mem::take(&mut g.young);
        }
        g.young.insert(key, (instance, at));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(locators: &Locators<String>, sop: &str) {
        locators.insert(sop, Arc::new(format!("instance {sop}")));
    }

    #[test]
    fn keeps_the_recently_used_and_drops_the_oldest_generation() {
        let locators = Locators::new(TTL, 2);
        add(&locators, "1");
        add(&locators, "2");
        add(&locators, "3"); // young {3}, old {1, 2}
        assert!(locators.get("1").is_some()); // moved back: young {3, 1}, old {2}
        add(&locators, "4"); // young {4}, old {3, 1}
        assert!(locators.get("2").is_none());
        assert_eq!(
            locators.get("1").as_deref().map(String::as_str),
            Some("instance 1")
        );
        assert!(locators.get("3").is_some());
        assert!(locators.get("4").is_some());
    }

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let expired = Locators::new(Duration::ZERO, 10);
        add(&expired, "1");
        assert!(expired.get("1").is_none());

        let locators = Locators::new(TTL, 10);
        add(&locators, "1");
        add(&locators, "2");
        locators.remove("1");
        assert!(locators.get("1").is_none());
        assert!(locators.get("2").is_some());
        locators.clear();
        assert!(locators.get("2").is_none());
    }
}
