//! Which blobs a rebuild reads: the newest copy of each instance (an overwrite or a lost
//! duplicate race can leave older copies, which the sweeper removes), oldest first.

use std::collections::HashMap;
use std::time::SystemTime;

use crate::storage::{BlobKey, BlobListing};

/// The blobs to index and how many older copies were passed over.
#[derive(Debug, Default)]
pub struct Plan {
    pub chosen: Vec<BlobListing>,
    pub superseded: u64,
}

/// Keep one blob per instance: the most recently written, the greater key on a tie. Keys
/// of another shape than Tessera's are each their own instance (what they hold is read).
pub fn choose(listing: Vec<BlobListing>) -> Plan {
    let mut newest: HashMap<String, BlobListing> = HashMap::new();
    let mut superseded = 0;
    for item in listing {
        let instance = item
            .key
            .instance_uid()
            .map_or_else(|| item.key.to_string(), str::to_string);
        match newest.get(&instance) {
            Some(kept) if later(kept, &item) => superseded += 1,
            Some(_) => {
                superseded += 1;
                newest.insert(instance, item);
            }
            None => {
                newest.insert(instance, item);
            }
        }
    }
    let mut chosen: Vec<BlobListing> = newest.into_values().collect();
    chosen.sort_by(|a, b| order(a).cmp(&order(b)));
    Plan { chosen, superseded }
}

fn order(item: &BlobListing) -> (SystemTime, &BlobKey) {
    (item.last_modified, &item.key)
}

/// Whether `a` was written after `b`.
fn later(a: &BlobListing, b: &BlobListing) -> bool {
    order(a) > order(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn blob(key: &str, seconds: u64) -> BlobListing {
        BlobListing {
            key: BlobKey::from_stored(key.to_string()),
            last_modified: SystemTime::UNIX_EPOCH + Duration::from_secs(seconds),
            size: 10,
        }
    }

    #[test]
    fn the_newest_copy_of_each_instance_is_chosen_oldest_first() {
        let plan = choose(vec![
            blob("instances/1/2/3.00000000000000aa.dcm", 20),
            blob("instances/1/2/3.00000000000000bb.dcm", 30),
            blob("instances/1/2/4.00000000000000cc.dcm", 10),
            blob("instances/1/2/3.00000000000000dd.dcm", 5),
            blob("instances/odd.dcm", 1),
        ]);
        let keys: Vec<&str> = plan.chosen.iter().map(|b| b.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "instances/odd.dcm",
                "instances/1/2/4.00000000000000cc.dcm",
                "instances/1/2/3.00000000000000bb.dcm"
            ]
        );
        assert_eq!(plan.superseded, 2);
    }
}
