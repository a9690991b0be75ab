//! Recording a STOW batch: one transaction, a fixed number of statements per request
//! whatever the batch size, and counters kept by increments (never by scanning a study).
//!
//! Order: study rows (sorted: the lock order across nodes; on PostgreSQL the row lock
//! serialises writers of one study), series rows, instances in multi-row INSERTs, then one
//! UPDATE per touched series and study carrying attributes and count increments.

mod batch;
mod instances;
mod rows;

use sqlx::AnyConnection;

use super::dialect::Dialect;
use super::statements::now_micros;
use crate::query::extra::ExtraAttribute;

/// What the batch changed for one series or study.
#[derive(Default)]
struct Delta {
    /// Instances added (stored, or moved here by an overwrite).
    added: i64,
    /// The stored instance whose attributes the row now carries.
    source: Option<usize>,
}

/// An instance that an overwrite moved out of another series or study.
struct Moved {
    study: String,
    series: String,
}

pub(super) struct BatchWriter<'c> {
    conn: &'c mut AnyConnection,
    dialect: Dialect,
    now: i64,
    extras: &'c [ExtraAttribute],
}

impl<'c> BatchWriter<'c> {
    pub(super) fn new(
        conn: &'c mut AnyConnection,
        dialect: Dialect,
        extras: &'c [ExtraAttribute],
    ) -> Self {
        BatchWriter {
            conn,
            dialect,
            now: now_micros(),
            extras,
        }
    }
}
