//! Data derived from the instance rows and kept in step with them by both the batch writer
//! and delete: counts, ModalitiesInStudy and SOPClassesInStudy, the stored default QIDO
//! members of study and series rows, person-name words for fuzzy matching, and the values of
//! extra query attributes.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{AnyConnection, Row};

use super::statements::placeholders;
use super::IndexError;
use crate::query::attributes::{Level, ATTRIBUTES};
use crate::query::extra::ExtraAttribute;
use crate::query::fragments;
use crate::query::values::RowValue;
use tessera_dicom::person_name;

/// A person name in its matching forms.
pub(super) struct NameForms {
    pub(super) groups: [Option<String>; 3],
    pub(super) words: Vec<(String, String)>,
}

impl NameForms {
    pub(super) fn of(value: Option<&str>) -> Self {
        match value {
            Some(v) => NameForms {
                groups: person_name::literal_groups(v),
                words: person_name::words(v),
            },
            None => NameForms {
                groups: [None, None, None],
                words: Vec::new(),
            },
        }
    }
}

/// The values of a multi-valued column stored joined by backslashes.
pub(super) fn split_multi(value: Option<&str>) -> BTreeSet<String> {
    value
        .iter()
        .flat_map(|v| v.split('\\'))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// Values joined by backslashes as a multi-valued column stores them; none is NULL.
pub(super) fn joined(values: Vec<String>) -> Option<String> {
    (!values.is_empty()).then(|| values.join("\\"))
}

/// ModalitiesInStudy from the study's series rows.
pub(super) async fn list_modalities(
    conn: &mut AnyConnection,
    study: &str,
) -> Result<Option<String>, IndexError> {
    let modalities: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT modality FROM series WHERE study_uid = $1 AND modality IS NOT NULL \
         ORDER BY modality",
    )
    .bind(study)
    .fetch_all(&mut *conn)
    .await
    .map_err(IndexError::db("list modalities"))?;
    Ok(joined(modalities))
}

/// The stored default QIDO members of a study or series row from its columns' values
/// (every column of a default attribute of `level` must be given).
pub(super) fn row_fragment(
    level: Level,
    columns: &[(&str, RowValue)],
) -> Result<String, IndexError> {
    let mut values = BTreeMap::new();
    for attribute in ATTRIBUTES.iter().filter(|a| a.level == level) {
        let value = columns
            .iter()
            .find(|(column, _)| *column == attribute.column)
            .map(|(_, value)| value.clone())
            .ok_or_else(|| {
                IndexError::Corrupt(format!("no value for column {}", attribute.column))
            })?;
        values.insert(attribute.keyword, value);
    }
    Ok(fragments::fragment(level, &values))
}

/// Recount one series from its instances (rare: after an overwrite moved an instance away).
pub(super) async fn recount_series(
    conn: &mut AnyConnection,
    series: &str,
) -> Result<(), IndexError> {
    sqlx::query(
        "UPDATE series SET num_instances = \
         (SELECT COUNT(*) FROM instances WHERE instances.series_uid = $1) WHERE series_uid = $1",
    )
    .bind(series)
    .execute(&mut *conn)
    .await
    .map_err(IndexError::db("count series"))?;
    sqlx::query("DELETE FROM series WHERE series_uid = $1 AND num_instances = 0")
        .bind(series)
        .execute(&mut *conn)
        .await
        .map_err(IndexError::db("drop empty series"))?;
    Ok(())
}

/// Recount one study from its series and instances (rare path, like [`recount_series`]).
pub(super) async fn recount_study(
    conn: &mut AnyConnection,
    study: &str,
    now: i64,
) -> Result<(), IndexError> {
    let modalities = list_modalities(conn, study).await?;
    let classes: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT sop_class_uid FROM instances WHERE study_uid = $1 ORDER BY sop_class_uid",
    )
    .bind(study)
    .fetch_all(&mut *conn)
    .await
    .map_err(IndexError::db("list SOP classes"))?;
    sqlx::query(
        "UPDATE studies SET \
         num_series = (SELECT COUNT(*) FROM series WHERE series.study_uid = $1), \
         num_instances = (SELECT COUNT(*) FROM instances WHERE instances.study_uid = $1), \
         modalities_in_study = $2, sop_classes_in_study = $3, updated_at = $4 \
         WHERE study_uid = $1",
    )
    .bind(study)
    .bind(modalities)
    .bind(joined(classes))
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(IndexError::db("count study"))?;
    sqlx::query("DELETE FROM studies WHERE study_uid = $1 AND num_instances = 0")
        .bind(study)
        .execute(&mut *conn)
        .await
        .map_err(IndexError::db("drop empty study"))?;
    drop_orphan_name_words(conn, study).await
}

/// Name words of a study whose row is gone.
async fn drop_orphan_name_words(conn: &mut AnyConnection, study: &str) -> Result<(), IndexError> {
    sqlx::query(
        "DELETE FROM name_words WHERE study_uid = $1 \
         AND NOT EXISTS (SELECT 1 FROM studies WHERE study_uid = $1)",
    )
    .bind(study)
    .execute(&mut *conn)
    .await
    .map_err(IndexError::db("drop name words"))?;
    Ok(())
}

/// Record the values of extra query attributes found in one instance's metadata;
/// `owners` are its study, series and SOP Instance UIDs.
pub(super) async fn insert_extra_values(
    conn: &mut AnyConnection,
    extras: &[ExtraAttribute],
    owners: &[String; 3],
    metadata: &str,
) -> Result<(), IndexError> {
    let json = tessera_dicom::json::read_stored(metadata)
        .map_err(|err| IndexError::Corrupt(format!("metadata: {err}")))?;
    for extra in extras {
        let owner = match extra.level {
            Level::Study => &owners[0],
            Level::Series => &owners[1],
            Level::Instance => &owners[2],
        };
        for (value, norm) in extra.values(&json) {
            sqlx::query(
                "INSERT INTO extra_query_values (tag, owner_uid, value, value_norm) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (tag, owner_uid, value) DO NOTHING",
            )
            .bind(extra.tag_hex.as_str())
            .bind(owner.as_str())
            .bind(value)
            .bind(norm)
            .execute(&mut *conn)
            .await
            .map_err(IndexError::db("index extra attribute"))?;
        }
    }
    Ok(())
}

/// Rebuild the stored default QIDO members of one study or series from its row (a row that
/// no longer exists is left alone).
pub(super) async fn refresh_fragment(
    conn: &mut AnyConnection,
    level: Level,
    uid: &str,
) -> Result<(), IndexError> {
    let (table, key) = match level {
        Level::Study => ("studies", "study_uid"),
        Level::Series => ("series", "series_uid"),
        Level::Instance => return Ok(()),
    };
    let attributes: Vec<_> = ATTRIBUTES.iter().filter(|a| a.level == level).collect();
    let columns: Vec<&str> = attributes.iter().map(|a| a.column).collect();
    let sql = format!(
        "SELECT {} FROM {table} WHERE {key} = $1",
        columns.join(", ")
    );
    let Some(row) = sqlx::query(&sql)
        .bind(uid)
        .fetch_optional(&mut *conn)
        .await
        .map_err(IndexError::db("read row for QIDO members"))?
    else {
        return Ok(());
    };
    let mut values = Vec::new();
    for attribute in attributes {
        let value = if attribute.is_integer() {
            RowValue::Int(
                row.try_get(attribute.column)
                    .map_err(IndexError::db("read row"))?,
            )
        } else {
            RowValue::Text(
                row.try_get(attribute.column)
                    .map_err(IndexError::db("read row"))?,
            )
        };
        values.push((attribute.column, value));
    }
    let qido = row_fragment(level, &values)?;
    let sql = format!("UPDATE {table} SET qido_json = $2 WHERE {key} = $1");
    sqlx::query(&sql)
        .bind(uid)
        .bind(qido)
        .execute(&mut *conn)
        .await
        .map_err(IndexError::db("store QIDO members"))?;
    Ok(())
}

/// Replace the fuzzy-matching words of a study's person names.
pub(super) async fn replace_name_words(
    conn: &mut AnyConnection,
    study: &str,
    names: &[(&str, &NameForms)],
) -> Result<(), IndexError> {
    sqlx::query("DELETE FROM name_words WHERE study_uid = $1")
        .bind(study)
        .execute(&mut *conn)
        .await
        .map_err(IndexError::db("replace name words"))?;
    let rows: Vec<(&str, &str, &str)> = names
        .iter()
        .flat_map(|(attribute, forms)| {
            forms
                .words
                .iter()
                .map(move |(position, word)| (*attribute, position.as_str(), word.as_str()))
        })
        .collect();
    for chunk in rows.chunks(200) {
        let values = (0..chunk.len())
            .map(|r| format!("({})", placeholders(r * 4 + 1, 4)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO name_words (study_uid, attribute, position, word) VALUES {values}"
        );
        let mut query = sqlx::query(&sql);
        for (attribute, position, word) in chunk {
            query = query
                .bind(study)
                .bind(*attribute)
                .bind(*position)
                .bind(*word);
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(IndexError::db("replace name words"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_valued_columns_split_and_join() {
        let values = split_multi(Some("MR\\CT\\\\MR"));
        assert_eq!(values.iter().collect::<Vec<_>>(), ["CT", "MR"]);
        assert!(split_multi(None).is_empty());
        assert_eq!(
            joined(values.into_iter().collect()).as_deref(),
            Some("CT\\MR")
        );
        assert_eq!(
            joined(Vec::new()),
            None,
            "no values is NULL, not an empty string"
        );
    }

    #[test]
    fn a_row_fragment_needs_every_default_column() {
        let columns: Vec<(&str, RowValue)> = ATTRIBUTES
            .iter()
            .filter(|a| a.level == Level::Series)
            .map(|a| (a.column, RowValue::Text(None)))
            .collect();
        let complete = row_fragment(Level::Series, &columns).unwrap();
        assert!(
            complete.contains("\"00080060\":{\"vr\":\"CS\"}"),
            "{complete}"
        );
        let missing = row_fragment(Level::Series, &columns[1..]).unwrap_err();
        assert!(matches!(missing, IndexError::Corrupt(_)), "{missing}");
    }

    #[test]
    fn name_forms_hold_groups_and_words() {
        let forms = NameForms::of(Some("Yamada^Tarou=山田^太郎"));
        assert_eq!(forms.groups[0].as_deref(), Some("yamada^tarou"));
        assert!(forms.groups[1].is_some());
        assert!(forms.words.iter().any(|(_, word)| word == "tarou"));
        let none = NameForms::of(None);
        assert_eq!(none.groups, [None, None, None]);
        assert!(none.words.is_empty());
    }
}
