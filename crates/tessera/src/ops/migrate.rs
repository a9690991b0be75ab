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
    let report = index::migrate(&settings.database_url()).await?;
    let applied: Vec<String> = report
        .applied
        .iter()
        .map(|m| format!("{:04} {}", m.version, m.description))
        .collect();
    let detail = if applied.is_empty() {
        format!("index schema already at version {}", report.latest)
    } else {
        format!(
            "index schema migrated to version {}: {}",
            report.latest,
            applied.join(", ")
        )
    };
    let archive = Archive::open(settings).await?;
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
