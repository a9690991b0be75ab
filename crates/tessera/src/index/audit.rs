//! The audit trail in the index ([`crate::audit::AuditLog`]). Rows are only appended and,
//! past the retention period, deleted: nothing updates one.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::SqlIndex;
use crate::audit::{
    Action, Agent, AuditLog, AuditLogError, AuditQuery, AuditRecord, EventType, Interaction,
    Outcome,
};

const COLUMNS: &str = "id, recorded_at, event_type, interaction, action, outcome, status, \
     subject, client_id, api_key, issuer, address, method, path, query, patient_id, \
     study_uid, series_uid, sop_uid, detail, partition_name";

fn failed(operation: &str) -> impl FnOnce(sqlx::Error) -> AuditLogError + '_ {
    move |err| AuditLogError(format!("{operation}: {err}"))
}

fn record(row: &AnyRow) -> Result<AuditRecord, AuditLogError> {
    let read = |err: sqlx::Error| AuditLogError(format!("reading an audit row: {err}"));
    let text = |name: &str| -> Result<Option<String>, AuditLogError> {
        row.try_get::<Option<String>, _>(name).map_err(read)
    };
    let event: String = row.try_get("event_type").map_err(read)?;
    let action: String = row.try_get("action").map_err(read)?;
    let status: i64 = row.try_get("status").map_err(read)?;
    Ok(AuditRecord {
        id: row.try_get("id").map_err(read)?,
        recorded_micros: row.try_get("recorded_at").map_err(read)?,
        event: EventType::from_code(&event)
            .ok_or_else(|| AuditLogError(format!("unknown audit event type {event:?}")))?,
        interaction: text("interaction")?
            .as_deref()
            .and_then(Interaction::from_code),
        action: Action::from_code(&action)
            .ok_or_else(|| AuditLogError(format!("unknown audit action {action:?}")))?,
        outcome: Outcome::from_code(row.try_get("outcome").map_err(read)?),
        status: u16::try_from(status).unwrap_or(0),
        agent: Agent {
            subject: text("subject")?,
            client_id: text("client_id")?,
            api_key: text("api_key")?,
            issuer: text("issuer")?,
            address: text("address")?,
        },
        method: row.try_get("method").map_err(read)?,
        path: row.try_get("path").map_err(read)?,
        query: text("query")?,
        patient_id: text("patient_id")?,
        study_uid: text("study_uid")?,
        series_uid: text("series_uid")?,
        sop_uid: text("sop_uid")?,
        detail: text("detail")?,
        partition: text("partition_name")?,
    })
}

#[async_trait]
impl AuditLog for SqlIndex {
    async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), AuditLogError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await.map_err(failed("begin"))?;
        for r in records {
            // The patient of the named study when the record has none (reads name a study
            // by its UID only). Not for a partition's record: its studies are in its own
            // index (the guard looked its patient up there), and a study of the same UID
            // here is another patient's.
            sqlx::query(
                "INSERT INTO audit_events (recorded_at, event_type, interaction, action, \
                 outcome, status, subject, client_id, api_key, issuer, address, method, path, \
                 query, patient_id, study_uid, series_uid, sop_uid, detail, partition_name) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
                 COALESCE($15, CASE WHEN $20 IS NULL THEN \
                 (SELECT patient_id FROM studies WHERE study_uid = $16) END), \
                 $16, $17, $18, $19, $20)",
            )
            .bind(r.recorded_micros)
            .bind(r.event.code())
            .bind(r.interaction.map(Interaction::code))
            .bind(r.action.code())
            .bind(i64::from(r.outcome.code()))
            .bind(i64::from(r.status))
            .bind(r.agent.subject.as_deref())
            .bind(r.agent.client_id.as_deref())
            .bind(r.agent.api_key.as_deref())
            .bind(r.agent.issuer.as_deref())
            .bind(r.agent.address.as_deref())
            .bind(r.method.as_str())
            .bind(r.path.as_str())
            .bind(r.query.as_deref())
            .bind(r.patient_id.as_deref())
            .bind(r.study_uid.as_deref())
            .bind(r.series_uid.as_deref())
            .bind(r.sop_uid.as_deref())
            .bind(r.detail.as_deref())
            .bind(r.partition.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(failed("append audit record"))?;
        }
        tx.commit().await.map_err(failed("commit audit records"))
    }

    async fn search_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditLogError> {
        // Values in placeholder order: `$n` is the n-th pushed.
        let mut values: Vec<Bound> = Vec::new();
        let mut bind = |value: Bound| {
            values.push(value);
            values.len()
        };
        let mut sql = format!("SELECT {COLUMNS} FROM audit_events WHERE 1 = 1");
        if let Some(from) = query.from_micros {
            sql.push_str(&format!(" AND recorded_at >= ${}", bind(Bound::Int(from))));
        }
        if let Some(until) = query.until_micros {
            sql.push_str(&format!(" AND recorded_at < ${}", bind(Bound::Int(until))));
        }
        if let Some(agent) = &query.agent {
            let i = bind(Bound::Text(agent.clone()));
            sql.push_str(&format!(
                " AND (subject = ${i} OR api_key = ${i} OR client_id = ${i})"
            ));
        }
        if let Some(study) = &query.study_uid {
            sql.push_str(&format!(
                " AND study_uid = ${}",
                bind(Bound::Text(study.clone()))
            ));
        }
        if let Some(patient) = &query.patient_id {
            sql.push_str(&format!(
                " AND patient_id = ${}",
                bind(Bound::Text(patient.clone()))
            ));
        }
        let limit = bind(Bound::Int(i64::from(query.limit)));
        let offset = bind(Bound::Int(i64::from(query.offset)));
        sql.push_str(&format!(
            " ORDER BY recorded_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}"
        ));
        let mut q = sqlx::query(&sql);
        for value in values {
            q = match value {
                Bound::Int(v) => q.bind(v),
                Bound::Text(v) => q.bind(v),
            };
        }
        let rows = q
            .fetch_all(self.pool())
            .await
            .map_err(failed("search audit records"))?;
        rows.iter().map(record).collect()
    }

    async fn audit_record(&self, id: i64) -> Result<Option<AuditRecord>, AuditLogError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM audit_events WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(failed("read audit record"))?;
        row.as_ref().map(record).transpose()
    }

    async fn prune_audit(&self, before_micros: i64) -> Result<u64, AuditLogError> {
        let done = sqlx::query("DELETE FROM audit_events WHERE recorded_at < $1")
            .bind(before_micros)
            .execute(self.pool())
            .await
            .map_err(failed("prune audit records"))?;
        Ok(done.rows_affected())
    }
}

enum Bound {
    Int(i64),
    Text(String),
}
