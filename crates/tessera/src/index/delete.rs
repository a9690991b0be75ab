//! Deleting a study, a series or an instance from the index: one transaction that removes
//! the rows, recounts what remains, refreshes the stored QIDO members and appends the
//! change feed. The blobs are removed by the caller after the commit (or by the sweeper).

use std::collections::BTreeSet;

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};

use super::changes::{self, ChangeAction, NewChange};
use super::dialect::Dialect;
use super::model::{DeleteTarget, Deleted};
use super::statements::{execute_in, now_micros};
use super::upkeep::{recount_series, recount_study, refresh_fragment};
use crate::index::IndexError;
use crate::query::attributes::Level;
use crate::storage::BlobKey;

type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// Delete what `target` names; `None` when it names nothing stored.
pub(super) async fn delete(
    conn: &mut AnyConnection,
    dialect: Dialect,
    target: &DeleteTarget,
) -> Result<Option<Deleted>, IndexError> {
    // The study row first, locked on PostgreSQL: the same order as the STOW writer.
    let lock = match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    };
    let study = target.study.as_str();
    let found = sqlx::query(&format!(
        "SELECT study_uid FROM studies WHERE study_uid = $1{lock}"
    ))
    .bind(study)
    .fetch_optional(&mut *conn)
    .await
    .map_err(IndexError::db("lock study"))?;
    if found.is_none() {
        return Ok(None);
    }
    let mut filter = String::from("study_uid = $1");
    if target.series.is_some() {
        filter.push_str(" AND series_uid = $2");
    }
    if target.sop.is_some() {
        filter.push_str(if target.series.is_some() {
            " AND sop_uid = $3"
        } else {
            " AND sop_uid = $2"
        });
    }
    let select = format!("SELECT sop_uid, series_uid, blob_key FROM instances WHERE {filter}");
    let rows = scoped(&select, target)
        .fetch_all(&mut *conn)
        .await
        .map_err(IndexError::db("read instances to delete"))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut removed = Vec::with_capacity(rows.len());
    for row in &rows {
        let get = |c: &str| {
            row.try_get::<String, _>(c)
                .map_err(IndexError::db("read instances to delete"))
        };
        removed.push((get("sop_uid")?, get("series_uid")?, get("blob_key")?));
    }
    let delete = format!("DELETE FROM instances WHERE {filter}");
    scoped(&delete, target)
        .execute(&mut *conn)
        .await
        .map_err(IndexError::db("delete instances"))?;

    let sops: Vec<&str> = removed.iter().map(|(sop, _, _)| sop.as_str()).collect();
    execute_in(
        conn,
        "DELETE FROM extra_query_values WHERE owner_uid",
        &sops,
        "delete extra values",
    )
    .await?;
    let series: BTreeSet<&str> = removed.iter().map(|(_, s, _)| s.as_str()).collect();
    for uid in &series {
        recount_series(conn, uid).await?;
        refresh_fragment(conn, Level::Series, uid).await?;
        drop_orphan_extra_values(conn, uid, "series", "series_uid").await?;
    }
    recount_study(conn, study, now_micros()).await?;
    refresh_fragment(conn, Level::Study, study).await?;
    drop_orphan_extra_values(conn, study, "studies", "study_uid").await?;

    let changes: Vec<NewChange> = removed
        .iter()
        .map(|(sop, series, _)| NewChange {
            action: ChangeAction::Delete,
            study: study.to_string(),
            series: series.clone(),
            sop: sop.clone(),
        })
        .collect();
    changes::append(conn, dialect, &changes).await?;
    Ok(Some(Deleted {
        instances: removed.len() as u64,
        blobs: removed
            .into_iter()
            .map(|(_, _, key)| BlobKey::from_stored(key))
            .collect(),
    }))
}

/// A query bound with the target's UIDs, in the order of its filter.
fn scoped<'q>(sql: &'q str, target: &'q DeleteTarget) -> AnyQuery<'q> {
    let mut query = sqlx::query(sql).bind(target.study.as_str());
    if let Some(series) = &target.series {
        query = query.bind(series.as_str());
    }
    if let Some(sop) = &target.sop {
        query = query.bind(sop.as_str());
    }
    query
}

/// Extra attribute values of a series or study whose row is gone.
async fn drop_orphan_extra_values(
    conn: &mut AnyConnection,
    uid: &str,
    table: &str,
    key: &str,
) -> Result<(), IndexError> {
    let sql = format!(
        "DELETE FROM extra_query_values WHERE owner_uid = $1 \
         AND NOT EXISTS (SELECT 1 FROM {table} WHERE {key} = $1)"
    );
    sqlx::query(&sql)
        .bind(uid)
        .execute(&mut *conn)
        .await
        .map_err(IndexError::db("delete extra values"))?;
    Ok(())
}
