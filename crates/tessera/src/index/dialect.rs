//! Which database the index speaks to.

/// The few places where the two databases need different words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}
