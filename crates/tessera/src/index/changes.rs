//! The change feed: an ordered, durable log of every store, overwrite and delete, written in
//! the transaction of the change itself ([`append`]), and read by sequence number.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::dialect::Dialect;
use super::statements::{now_micros, placeholders};
use crate::index::IndexError;

/// What happened to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeAction {
    /// Stored for the first time (or again after a delete).
    Create,
    /// Stored again over an existing copy (overwrite policy).
    Update,
    Delete,
}

/// What the instance version a change produced is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeState {
    /// The version this change stored is the one in the archive.
    Current,
    /// A later store replaced it.
    Replaced,
    /// The instance has since been deleted (or this change is the delete).
    Deleted,
}

impl ChangeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeAction::Create => "create",
            ChangeAction::Update => "update",
            ChangeAction::Delete => "delete",
        }
    }

    fn parse(value: &str) -> Result<Self, IndexError> {
        match value {
            "create" => Ok(ChangeAction::Create),
            "update" => Ok(ChangeAction::Update),
            "delete" => Ok(ChangeAction::Delete),
            other => Err(IndexError::Corrupt(format!("change action {other}"))),
        }
    }
}

impl ChangeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Current => "current",
            ChangeState::Replaced => "replaced",
            ChangeState::Deleted => "deleted",
        }
    }

    fn parse(value: &str) -> Result<Self, IndexError> {
        match value {
            "current" => Ok(ChangeState::Current),
            "replaced" => Ok(ChangeState::Replaced),
            "deleted" => Ok(ChangeState::Deleted),
            other => Err(IndexError::Corrupt(format!("change state {other}"))),
        }
    }
}

/// One change to append.
#[derive(Debug, Clone)]
pub struct NewChange {
    pub action: ChangeAction,
    pub study: String,
    pub series: String,
    pub sop: String,
}

/// One entry of the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEntry {
    pub seq: i64,
    /// Microseconds since the Unix epoch.
    pub changed_at: i64,
    pub action: ChangeAction,
    pub study_uid: String,
    pub series_uid: String,
    pub sop_uid: String,
    pub state: ChangeState,
    /// The instance's DICOM JSON when asked for and the entry is current.
    pub metadata: Option<String>,
}

/// The advisory lock key that orders change-feed writers on PostgreSQL ("TSRA").
const FEED_LOCK: i64 = 0x5453_5241;

/// Rows per INSERT (6 parameters each).
const CHUNK: usize = 200;

/// Append changes in the caller's transaction, marking earlier entries of the same instances
/// replaced or deleted. Call it last in the transaction: on PostgreSQL it takes the feed's
/// lock, which is held until commit, so that entries commit in sequence order.
pub(super) async fn append(
    conn: &mut AnyConnection,
    dialect: Dialect,
    changes: &[NewChange],
) -> Result<(), IndexError> {
    if changes.is_empty() {
        return Ok(());
    }
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FEED_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(IndexError::db("lock change feed"))?;
    }
    // The last change of each instance in this batch decides the state of its other entries.
    let mut last_of: HashMap<&str, usize> = HashMap::new();
    for (i, change) in changes.iter().enumerate() {
        last_of.insert(change.sop.as_str(), i);
    }
    let finally = |action: ChangeAction| -> Vec<&str> {
        last_of
            .iter()
            .filter(|(_, &i)| changes[i].action == action)
            .map(|(sop, _)| *sop)
            .collect()
    };
    // Earlier entries of overwritten and deleted instances; a create has no current entry
    // (its instance was not stored), so a STOW of new instances adds no statement here.
    mark(
        conn,
        &finally(ChangeAction::Update),
        "UPDATE change_feed SET state = 'replaced' WHERE state = 'current' AND sop_uid",
    )
    .await?;
    mark(
        conn,
        &finally(ChangeAction::Delete),
        "UPDATE change_feed SET state = 'deleted' WHERE state <> 'deleted' AND sop_uid",
    )
    .await?;
    let states: Vec<ChangeState> = changes
        .iter()
        .enumerate()
        .map(|(i, change)| {
            let last = last_of.get(change.sop.as_str()).copied().unwrap_or(i);
            if change.action == ChangeAction::Delete || changes[last].action == ChangeAction::Delete
            {
                ChangeState::Deleted
            } else if last == i {
                ChangeState::Current
            } else {
                ChangeState::Replaced
            }
        })
        .collect();
    // Sequence numbers continue the feed's: each row's is the largest stored before the
    // statement plus its place in the statement, read by the INSERT itself.
    let now = now_micros();
    for (chunk, states) in changes.chunks(CHUNK).zip(states.chunks(CHUNK)) {
        let values = (0..chunk.len())
            .map(|r| format!("({})", placeholders(r * 6 + 2, 6)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO change_feed (seq, action, study_uid, series_uid, sop_uid, state, \
             changed_at) SELECT (SELECT COALESCE(MAX(seq), 0) FROM change_feed) + v.column1, \
             v.column2, v.column3, v.column4, v.column5, v.column6, $1 FROM (VALUES {values}) AS v"
        );
        let mut query = sqlx::query(&sql).bind(now);
        for (place, (change, state)) in chunk.iter().zip(states).enumerate() {
            query = query
                .bind(place as i64 + 1)
                .bind(change.action.as_str())
                .bind(change.study.as_str())
                .bind(change.series.as_str())
                .bind(change.sop.as_str())
                .bind(state.as_str());
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(IndexError::db("append changes"))?;
    }
    Ok(())
}

/// Run `prefix IN (...)` over these SOP Instance UIDs.
async fn mark(conn: &mut AnyConnection, sops: &[&str], prefix: &str) -> Result<(), IndexError> {
    super::statements::execute_in(conn, prefix, sops, "update change states").await
}

fn entry(row: &AnyRow, with_metadata: bool) -> Result<ChangeEntry, IndexError> {
    let read = |err: sqlx::Error| IndexError::db("read change feed")(err);
    let action: String = row.try_get("action").map_err(read)?;
    let state: String = row.try_get("state").map_err(read)?;
    Ok(ChangeEntry {
        seq: row.try_get("seq").map_err(read)?,
        changed_at: row.try_get("changed_at").map_err(read)?,
        action: ChangeAction::parse(&action)?,
        study_uid: row.try_get("study_uid").map_err(read)?,
        series_uid: row.try_get("series_uid").map_err(read)?,
        sop_uid: row.try_get("sop_uid").map_err(read)?,
        state: ChangeState::parse(&state)?,
        metadata: if with_metadata {
            row.try_get("metadata").map_err(read)?
        } else {
            None
        },
    })
}

const ENTRY_COLUMNS: &str = "c.seq, c.changed_at, c.action, c.study_uid, c.series_uid, \
     c.sop_uid, c.state";

/// Entries after `after`, oldest first, at most `limit`.
pub(super) async fn read(
    pool: &AnyPool,
    after: i64,
    limit: u32,
    with_metadata: bool,
) -> Result<Vec<ChangeEntry>, IndexError> {
    let sql = if with_metadata {
        format!(
            "SELECT {ENTRY_COLUMNS}, CASE WHEN c.state = 'current' THEN i.metadata END \
             AS metadata FROM change_feed c LEFT JOIN instances i ON i.sop_uid = c.sop_uid \
             WHERE c.seq > $1 ORDER BY c.seq LIMIT $2"
        )
    } else {
        format!(
            "SELECT {ENTRY_COLUMNS} FROM change_feed c WHERE c.seq > $1 ORDER BY c.seq LIMIT $2"
        )
    };
    let rows = sqlx::query(&sql)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(IndexError::db("read change feed"))?;
    rows.iter().map(|r| entry(r, with_metadata)).collect()
}

/// The newest entry, of the whole feed or of one study.
pub(super) async fn latest(
    pool: &AnyPool,
    study: Option<&str>,
) -> Result<Option<ChangeEntry>, IndexError> {
    let row = match study {
        Some(study) => {
            sqlx::query(&format!(
                "SELECT {ENTRY_COLUMNS} FROM change_feed c WHERE c.study_uid = $1 \
                 ORDER BY c.seq DESC LIMIT 1"
            ))
            .bind(study)
            .fetch_optional(pool)
            .await
        }
        None => {
            sqlx::query(&format!(
                "SELECT {ENTRY_COLUMNS} FROM change_feed c ORDER BY c.seq DESC LIMIT 1"
            ))
            .fetch_optional(pool)
            .await
        }
    }
    .map_err(IndexError::db("read change feed"))?;
    row.map(|r| entry(&r, false)).transpose()
}
