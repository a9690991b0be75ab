//! Statement helpers every writer in index/ uses: the clock of its rows, numbered
//! placeholders, and `IN (...)` lists cut to a size every database accepts.

use sqlx::AnyConnection;

use super::IndexError;

/// Microseconds since the epoch, as rows record their creation and updates.
pub(super) use crate::time::now_micros;

/// `$from, $from+1, ...` for `count` parameters.
pub(super) fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Values per `IN (...)` list.
const IN_LIST: usize = 500;

/// Run `{prefix} IN ($1, ...)` over `values`, as many statements as the list needs.
pub(super) async fn execute_in(
    conn: &mut AnyConnection,
    prefix: &str,
    values: &[&str],
    what: &'static str,
) -> Result<(), IndexError> {
    for chunk in values.chunks(IN_LIST) {
        let sql = format!("{prefix} IN ({})", placeholders(1, chunk.len()));
        let mut query = sqlx::query(&sql);
        for value in chunk {
            query = query.bind(*value);
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(IndexError::db(what))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_from_the_start() {
        assert_eq!(placeholders(1, 3), "$1, $2, $3");
        assert_eq!(placeholders(20, 1), "$20");
        assert_eq!(placeholders(5, 0), "");
    }
}
