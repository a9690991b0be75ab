//! `tessera migrate`: apply the index schema's missing migrations and nothing else, for
//! deployments that start their nodes with `--migrate false`.

use crate::audit::dicom_message::MIGRATE_COMMAND;
use crate::audit::{Action, AuditRecord, EventType, Outcome};
use crate::config::Settings;
use crate::index::{self, MigrationReport};

use super::{Archive, OpsError};

/// Migrate, then record what was done in the audit trail (the trail's table exists only once
/// migrated, so the record follows the migration).
pub async fn run(settings: &Settings) -> Result<MigrationReport, OpsError> {
    let report = index::migrate(
        &settings.database_url(),
        settings.index_pool().acquire_timeout,
    )
    .await?;
    let mut applied: Vec<String> = report
        .applied
        .iter()
        .map(|m| format!("{:04} {}", m.version, m.description))
        .collect();
    // Every partition's index too: their schemas are the default's.
    let archive = Archive::open(settings).await?;
    let partitions = std::sync::Arc::clone(&archive.index)
        .partition_registry()
        .partitions()
        .await?;
    for partition in &partitions {
        let done = index::migrate_partition(
            &settings.database_url(),
            &partition.name,
            settings.index_pool().acquire_timeout,
        )
        .await?;
        applied.extend(done.applied.iter().map(|m| {
            format!(
                "{:04} {} (partition {})",
                m.version, m.description, partition.name
            )
        }));
    }
    let detail = if applied.is_empty() {
        format!("index schema already at version {}", report.latest)
    } else {
        format!(
            "index schema migrated to version {}: {}",
            report.latest,
            applied.join(", ")
        )
    };
    archive
        .audit(AuditRecord::of_command(
            EventType::SecurityAlert,
            Action::Update,
            Outcome::Success,
            MIGRATE_COMMAND,
            &settings.redacted_database_url(),
            detail,
        ))
        .await?;
    Ok(report)
}
