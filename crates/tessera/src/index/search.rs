//! QIDO-RS queries in SQL: one statement per request, every value a bind parameter.
//! Wild cards become GLOB patterns on SQLite and LIKE patterns on PostgreSQL (both
//! case-sensitive, so person names are matched on their lower-cased columns); characters that
//! are special to GLOB or LIKE are escaped, so `%`, `_`, `[` in a query are literal.

use std::collections::BTreeMap;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Row};

use super::dialect::Dialect;
use super::model::SearchRow;
use crate::index::IndexError;
use crate::query::attributes::{Attribute, Kind, Level};
use crate::query::values::RowValue;
use crate::query::{Filter, Matcher, SearchQuery, Target};
use tessera_dicom::person_name::FuzzyTerm;

/// A bind parameter.
enum Bind {
    Text(String),
    Int(i64),
}

struct Builder {
    dialect: Dialect,
    binds: Vec<Bind>,
}

fn alias(level: Level) -> &'static str {
    match level {
        Level::Study => "st",
        Level::Series => "se",
        Level::Instance => "i",
    }
}

fn uid_column(level: Level) -> &'static str {
    match level {
        Level::Study => "st.study_uid",
        Level::Series => "se.series_uid",
        Level::Instance => "i.sop_uid",
    }
}

impl Builder {
    fn bind_text(&mut self, value: impl Into<String>) -> String {
        self.binds.push(Bind::Text(value.into()));
        format!("${}", self.binds.len())
    }

    fn bind_int(&mut self, value: i64) -> String {
        self.binds.push(Bind::Int(value));
        format!("${}", self.binds.len())
    }

    /// A DICOM wild card pattern (`*`, `?`) as this database's case-sensitive pattern.
    fn pattern(&self, dicom: &str) -> String {
        let mut out = String::with_capacity(dicom.len() + 4);
        for c in dicom.chars() {
            match (self.dialect, c) {
                (Dialect::Sqlite, '*' | '?') => out.push(c),
                (Dialect::Sqlite, '[') => out.push_str("[[]"),
                (Dialect::Postgres, '*') => out.push('%'),
                (Dialect::Postgres, '?') => out.push('_'),
                (Dialect::Postgres, '%' | '_' | '\\') => {
                    out.push('\\');
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        out
    }

    fn pattern_op(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "GLOB",
            Dialect::Postgres => "LIKE",
        }
    }

    fn like(&mut self, column: &str, dicom_pattern: &str) -> String {
        let pattern = self.pattern(dicom_pattern);
        let op = self.pattern_op();
        let p = self.bind_text(pattern);
        match self.dialect {
            Dialect::Sqlite => format!("{column} {op} {p}"),
            Dialect::Postgres => format!("{column} {op} {p} ESCAPE '\\'"),
        }
    }

    /// Exact or wild card comparison of a text column.
    fn text(&mut self, column: &str, value: &str) -> String {
        if value.contains(['*', '?']) {
            self.like(column, value)
        } else {
            let p = self.bind_text(value);
            format!("{column} = {p}")
        }
    }

    fn list(&mut self, column: &str, values: &[String]) -> String {
        let params: Vec<String> = values.iter().map(|v| self.bind_text(v.clone())).collect();
        format!("{column} IN ({})", params.join(", "))
    }

    fn range(&mut self, column: &str, from: &Option<String>, to: &Option<String>) -> String {
        let mut parts = vec![format!("{column} IS NOT NULL")];
        if let Some(from) = from {
            let p = self.bind_text(from.clone());
            parts.push(format!("{column} >= {p}"));
        }
        if let Some(to) = to {
            let p = self.bind_text(to.clone());
            parts.push(format!("{column} <= {p}"));
        }
        parts.join(" AND ")
    }

    /// A fuzzy name term: studies with a word of that name starting with the term's prefix,
    /// at the term's position when it has one (an index range scan on `name_words`).
    fn fuzzy(&mut self, attribute: &str, term: &FuzzyTerm) -> String {
        // The term's own wild cards (`*essera`) stay wild cards; a prefix match is a trailing one.
        let prefix = match self.dialect {
            Dialect::Sqlite => format!("{}*", self.pattern(&term.prefix)),
            Dialect::Postgres => format!("{}%", self.pattern(&term.prefix)),
        };
        let op = self.pattern_op();
        let escape = match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " ESCAPE '\\'",
        };
        let name = self.bind_text(attribute);
        let word = self.bind_text(prefix);
        let mut sql = format!(
            "st.study_uid IN (SELECT w.study_uid FROM name_words w WHERE w.attribute = {name} \
             AND w.word {op} {word}{escape}"
        );
        match (term.group, term.component) {
            (None, None) => {}
            (group, component) => {
                let position = format!(
                    "{}{}",
                    group.unwrap_or('?'),
                    component
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "?".into())
                );
                if position.contains('?') {
                    let pattern = match self.dialect {
                        Dialect::Sqlite => position,
                        Dialect::Postgres => position.replace('?', "_"),
                    };
                    let p = self.bind_text(pattern);
                    sql.push_str(&format!(" AND w.position {op} {p}"));
                } else {
                    let p = self.bind_text(position);
                    sql.push_str(&format!(" AND w.position = {p}"));
                }
            }
        }
        sql.push(')');
        sql
    }

    fn condition(&mut self, filter: &Filter) -> String {
        match &filter.target {
            Target::Column(attribute) => self.column_condition(attribute, &filter.matcher),
            Target::StudyDateTime => match &filter.matcher {
                Matcher::Range { from, to } => self.range("st.study_datetime", from, to),
                _ => "1 = 0".into(),
            },
            Target::Extra(extra) => {
                let tag = self.bind_text(extra.tag_hex.clone());
                let inner = match &filter.matcher {
                    Matcher::Exact(v) => self.text("x.value", v),
                    Matcher::Wildcard(v) => self.like("x.value", v),
                    Matcher::List(vs) => self.list("x.value", vs),
                    Matcher::Range { from, to } => self.range("x.value_norm", from, to),
                    _ => "1 = 0".into(),
                };
                format!(
                    "EXISTS (SELECT 1 FROM extra_query_values x WHERE x.tag = {tag} \
                     AND x.owner_uid = {} AND {inner})",
                    uid_column(extra.level)
                )
            }
        }
    }

    fn column_condition(&mut self, attribute: &Attribute, matcher: &Matcher) -> String {
        let table = alias(attribute.level);
        let column = format!("{table}.{}", attribute.column);
        match (attribute.kind, matcher) {
            (Kind::Modalities, Matcher::List(values)) => {
                // A probe of (modality, study_uid) per study the rest of the query reaches,
                // not `IN (every study with such a series)`: that list grows with the
                // archive (2.1 ms for MR at a million instances) and kept SQLite from
                // starting at the studies' date index when a date was also asked (14.6 ms
                // against 0.2).
                let list = self.list("ms.modality", values);
                format!(
                    "EXISTS (SELECT 1 FROM series ms WHERE ms.study_uid = st.study_uid AND {list})"
                )
            }
            (Kind::PersonName(name), Matcher::NameLiteral(groups)) => {
                let parts: Vec<String> = groups
                    .iter()
                    .map(|(group, pattern)| {
                        let columns: Vec<String> = match group {
                            Some(g) => vec![format!("{table}.pn_{name}_{}", ['a', 'i', 'p'][*g])],
                            None => ['a', 'i', 'p']
                                .iter()
                                .map(|g| format!("{table}.pn_{name}_{g}"))
                                .collect(),
                        };
                        let alternatives: Vec<String> =
                            columns.iter().map(|c| self.text(c, pattern)).collect();
                        format!("({})", alternatives.join(" OR "))
                    })
                    .collect();
                parts.join(" AND ")
            }
            (Kind::PersonName(name), Matcher::NameFuzzy(terms)) => {
                let parts: Vec<String> = terms.iter().map(|t| self.fuzzy(name, t)).collect();
                parts.join(" AND ")
            }
            (Kind::Time, Matcher::Range { from, to }) => {
                self.range(&format!("{column}_norm"), from, to)
            }
            (_, Matcher::Range { from, to }) => self.range(&column, from, to),
            (_, Matcher::Integer(n)) => {
                let p = self.bind_int(*n);
                format!("{column} = {p}")
            }
            (_, Matcher::Exact(v)) => {
                let p = self.bind_text(v.clone());
                format!("{column} = {p}")
            }
            (_, Matcher::Wildcard(v)) => self.like(&column, v),
            (_, Matcher::List(vs)) => self.list(&column, vs),
            _ => "1 = 0".into(),
        }
    }
}

fn from_clause(level: Level) -> &'static str {
    match level {
        Level::Study => "studies st",
        Level::Series => "series se JOIN studies st ON st.study_uid = se.study_uid",
        Level::Instance => {
            "instances i JOIN series se ON se.series_uid = i.series_uid \
             JOIN studies st ON st.study_uid = i.study_uid"
        }
    }
}

/// The SQL text and its bind values for a query (exposed for EXPLAIN in tests and the bench).
fn build(dialect: Dialect, query: &SearchQuery) -> (String, Vec<Bind>) {
    let mut b = Builder {
        dialect,
        binds: Vec::new(),
    };
    // UIDs, the stored default members of each level returned, and only the columns that
    // includefield asks for beyond those defaults.
    let mut columns = vec!["st.study_uid AS \"StudyInstanceUID\"".to_string()];
    if query.level >= Level::Series {
        columns.push("se.series_uid AS \"SeriesInstanceUID\"".into());
    }
    if query.level == Level::Instance {
        columns.push("i.sop_uid AS \"SOPInstanceUID\"".into());
    }
    for level in query.fragment_levels() {
        columns.push(format!(
            "{}.qido_json AS frag_{}",
            alias(level),
            level.name()
        ));
    }
    for attribute in query.extra_columns() {
        columns.push(format!(
            "{}.{} AS \"{}\"",
            alias(attribute.level),
            attribute.column,
            attribute.keyword
        ));
    }
    let mut select = columns.join(", ");
    if query.needs_metadata() {
        let metadata = match query.level {
            Level::Instance => "i.metadata".to_string(),
            Level::Series => {
                "(SELECT ri.metadata FROM instances ri WHERE ri.series_uid = se.series_uid \
                              ORDER BY ri.sop_uid LIMIT 1)"
                    .to_string()
            }
            Level::Study => {
                "(SELECT ri.metadata FROM instances ri WHERE ri.study_uid = st.study_uid \
                             ORDER BY ri.sop_uid LIMIT 1)"
                    .to_string()
            }
        };
        select.push_str(&format!(", {metadata} AS rep_metadata"));
    }
    let from = from_clause(query.level);
    if let Some(modality) = only_one_modality(query) {
        // Studies by one modality and nothing else: the page is read off the series'
        // (modality, study_uid) index in study order, a page long whether the modality is
        // common or absent (0.06 ms at a million instances; probing each study in order
        // walked every study when the modality was rare).
        let modality = b.bind_text(modality);
        let limit = b.bind_int(i64::from(query.limit) + 1);
        let offset = b.bind_int(query.offset as i64);
        let key = uid_column(query.level);
        let sql = format!(
            "SELECT {select} FROM {from} WHERE {key} IN \
             (SELECT DISTINCT ms.study_uid FROM series ms WHERE ms.modality = {modality} \
             ORDER BY ms.study_uid LIMIT {limit} OFFSET {offset}) \
             ORDER BY st.study_uid"
        );
        return (sql, b.binds);
    }
    let conditions: Vec<String> = query.filters.iter().map(|f| b.condition(f)).collect();
    let order = match (query.level, &query.study, &query.series) {
        (Level::Study, _, _) => "st.study_uid",
        (Level::Series, Some(_), _) => "COALESCE(se.series_number, 0), se.series_uid",
        (Level::Series, None, _) => "se.series_uid",
        (Level::Instance, _, Some(_)) => "COALESCE(i.instance_number, 0), i.sop_uid",
        (Level::Instance, _, None) => "i.sop_uid",
    };
    let limit = b.bind_int(i64::from(query.limit) + 1);
    let offset = b.bind_int(query.offset as i64);
    // The page is chosen on keys alone (index-only where possible, so an offset skips index
    // entries, not rows); only the page's rows are then read in full.
    let key = uid_column(query.level);
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {select} FROM {from} WHERE {key} IN \
         (SELECT {key} FROM {from}{where_clause} ORDER BY {order} LIMIT {limit} OFFSET {offset}) \
         ORDER BY {order}"
    );
    (sql, b.binds)
}

/// The one value of a study-level query whose only filter is ModalitiesInStudy with one value.
fn only_one_modality(query: &SearchQuery) -> Option<String> {
    match (query.level, query.filters.as_slice()) {
        (
            Level::Study,
            [Filter {
                target: Target::Column(attribute),
                matcher: Matcher::List(values),
            }],
        ) if attribute.kind == Kind::Modalities && values.len() == 1 => Some(values[0].clone()),
        _ => None,
    }
}

/// What to read from every row of one query, worked out once per query.
struct RowShape {
    level: Level,
    extra_columns: Vec<&'static Attribute>,
    fragment_columns: Vec<String>,
    metadata: bool,
}

impl RowShape {
    fn of(query: &SearchQuery) -> Self {
        RowShape {
            level: query.level,
            extra_columns: query.extra_columns(),
            fragment_columns: query
                .fragment_levels()
                .iter()
                .map(|level| format!("frag_{}", level.name()))
                .collect(),
            metadata: query.needs_metadata(),
        }
    }

    fn read(&self, row: &AnyRow) -> Result<SearchRow, sqlx::Error> {
        let mut values = BTreeMap::new();
        let text = |name: &str| row.try_get::<Option<String>, _>(name);
        values.insert(
            "StudyInstanceUID",
            RowValue::Text(text("StudyInstanceUID")?),
        );
        if self.level >= Level::Series {
            values.insert(
                "SeriesInstanceUID",
                RowValue::Text(text("SeriesInstanceUID")?),
            );
        }
        if self.level == Level::Instance {
            values.insert("SOPInstanceUID", RowValue::Text(text("SOPInstanceUID")?));
        }
        for attribute in &self.extra_columns {
            let value = if attribute.is_integer() {
                RowValue::Int(row.try_get::<Option<i64>, _>(attribute.keyword)?)
            } else {
                RowValue::Text(text(attribute.keyword)?)
            };
            values.insert(attribute.keyword, value);
        }
        let fragments = self
            .fragment_columns
            .iter()
            .map(|column| Ok(text(column)?.unwrap_or_default()))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let metadata = if self.metadata {
            text("rep_metadata")?
        } else {
            None
        };
        Ok(SearchRow {
            values,
            fragments,
            metadata,
        })
    }
}

/// The statement with its values bound in order.
fn bound<'q>(sql: &'q str, binds: &'q [Bind]) -> Query<'q, Any, AnyArguments<'q>> {
    binds
        .iter()
        .fold(sqlx::query(sql), |statement, bind| match bind {
            Bind::Text(text) => statement.bind(text.as_str()),
            Bind::Int(n) => statement.bind(*n),
        })
}

/// Run a query; one more row than the limit is fetched so the caller knows if it was cut.
pub(super) async fn run(
    pool: &AnyPool,
    dialect: Dialect,
    query: &SearchQuery,
) -> Result<Vec<SearchRow>, IndexError> {
    let (sql, binds) = build(dialect, query);
    let shape = RowShape::of(query);
    let rows = bound(&sql, &binds)
        .fetch_all(pool)
        .await
        .map_err(IndexError::db("search"))?;
    rows.iter()
        .map(|row| shape.read(row))
        .collect::<Result<_, _>>()
        .map_err(IndexError::db("read search row"))
}

/// How many rows match a query's filters, whatever its limit and offset (FHIR Bundle.total).
pub(super) async fn count(
    pool: &AnyPool,
    dialect: Dialect,
    query: &SearchQuery,
) -> Result<u64, IndexError> {
    let mut b = Builder {
        dialect,
        binds: Vec::new(),
    };
    let conditions: Vec<String> = query.filters.iter().map(|f| b.condition(f)).collect();
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT COUNT(*) AS n FROM {}{where_clause}",
        from_clause(query.level)
    );
    let row = bound(&sql, &b.binds)
        .fetch_one(pool)
        .await
        .map_err(IndexError::db("count matches"))?;
    let n: i64 = row.try_get("n").map_err(IndexError::db("count matches"))?;
    Ok(n.max(0) as u64)
}

/// The query plan of a query, as the database explains it (for tests and the bench).
pub(super) async fn explain(
    pool: &AnyPool,
    dialect: Dialect,
    query: &SearchQuery,
) -> Result<String, IndexError> {
    let (sql, binds) = build(dialect, query);
    let prefix = match dialect {
        Dialect::Sqlite => "EXPLAIN QUERY PLAN ",
        Dialect::Postgres => "EXPLAIN ",
    };
    let sql = format!("{prefix}{sql}");
    // On PostgreSQL sequential scans are discouraged for the explanation, so that the plan
    // shows which indexes can serve the query even on a small table.
    let mut tx = pool.begin().await.map_err(IndexError::db("explain"))?;
    if dialect == Dialect::Postgres {
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *tx)
            .await
            .map_err(IndexError::db("explain"))?;
    }
    let statement = bound(&sql, &binds);
    let rows = statement
        .fetch_all(&mut *tx)
        .await
        .map_err(IndexError::db("explain"))?;
    let column = match dialect {
        Dialect::Sqlite => "detail",
        Dialect::Postgres => "QUERY PLAN",
    };
    let lines: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>(column))
        .collect::<Result<_, _>>()
        .map_err(IndexError::db("explain"))?;
    Ok(lines.join("\n"))
}
