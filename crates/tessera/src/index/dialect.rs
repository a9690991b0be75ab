//! Which database the index speaks to.

/// The few places where the two databases need different words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Opens a transaction that will write. SQLite's deferred `BEGIN` takes the write lock
    /// only at the first write: when the transaction read first and another connection (the
    /// audit trail's writer, say) committed in between, SQLite answers SQLITE_BUSY at once,
    /// without waiting out `busy_timeout`, and a delete or STOW failed with 503 under load.
    /// `BEGIN IMMEDIATE` takes the lock up front and waits for it.
    pub fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }
}
