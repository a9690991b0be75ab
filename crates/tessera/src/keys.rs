//! The `tessera api-key` commands: create, list and revoke API keys in the index the server
//! uses (so every node sees them at once), each change recorded in the audit trail.

use std::sync::Arc;

use crate::audit::{Action, AuditRecord, EventType, Outcome};
use crate::auth::api_key::{hash_secret, new_secret, ApiKey};
use crate::auth::{PartitionAccess, Roles};
use crate::config::Settings;
use crate::index::{self, Index};
use crate::partition::PartitionName;
use crate::query::extra;
use crate::time::now_micros;

/// An API-key command failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyCommandError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    ExtraAttribute(#[from] crate::query::extra::ExtraAttributeError),
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    #[error(transparent)]
    Store(#[from] crate::auth::api_key::KeyStoreError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditLogError),
    #[error("{0}")]
    Invalid(String),
    #[error("a live API key named {0:?} exists already: revoke it first or choose another name")]
    Exists(String),
    #[error("no live API key is named {0:?}")]
    NotFound(String),
}

async fn open(settings: &Settings) -> Result<Arc<dyn Index>, KeyCommandError> {
    let extras = extra::parse_config(&settings.extra_query_attributes)?;
    let pool = index::PoolSettings {
        max_connections: 2,
        ..settings.index_pool()
    };
    Ok(index::connect_with(
        &settings.database_url(),
        pool,
        extras,
        settings.migrations(),
    )
    .await?)
}

/// The audit record of a key change made from the command line.
fn change(action: Action, command: &str, name: &str, detail: String) -> AuditRecord {
    AuditRecord::of_command(
        EventType::SecurityAlert,
        action,
        Outcome::Success,
        command,
        name,
        detail,
    )
}

/// Create a key; returns its secret (shown once, stored only as a hash).
pub async fn create(
    settings: &Settings,
    name: &str,
    roles: &[String],
) -> Result<(String, Roles), KeyCommandError> {
    create_limited(settings, name, roles, None).await
}

/// Create a key limited to `partitions` (`None`: every partition; `default` names the plain
/// routes); returns its secret.
pub async fn create_limited(
    settings: &Settings,
    name: &str,
    roles: &[String],
    partitions: Option<&[String]>,
) -> Result<(String, Roles), KeyCommandError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control()) {
        return Err(KeyCommandError::Invalid(
            "an API key name is 1 to 64 characters, no control characters".into(),
        ));
    }
    let roles =
        Roles::parse_list(&roles.join(",")).map_err(|e| KeyCommandError::Invalid(e.to_string()))?;
    if roles.is_empty() {
        return Err(KeyCommandError::Invalid(
            "give the key at least one role: --roles read,write,delete,admin".into(),
        ));
    }
    let partitions = match partitions {
        None => PartitionAccess::All,
        Some(names) => {
            let mut checked = std::collections::BTreeSet::new();
            for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
                checked.insert(
                    PartitionName::parse(name)
                        .map_err(|e| KeyCommandError::Invalid(e.to_string()))?,
                );
            }
            if checked.is_empty() {
                return Err(KeyCommandError::Invalid(
                    "--partitions names at least one partition (default: the plain routes)".into(),
                ));
            }
            PartitionAccess::Only(checked)
        }
    };
    let index = open(settings).await?;
    let secret = new_secret();
    let store = Arc::clone(&index).api_key_store();
    let stored = partitions.stored();
    if !store
        .create_api_key(
            name,
            &hash_secret(&secret),
            &roles.names(),
            stored.as_deref(),
            now_micros(),
        )
        .await?
    {
        return Err(KeyCommandError::Exists(name.to_string()));
    }
    let record = change(
        Action::Create,
        "api-key create",
        name,
        format!(
            "API key {name} created with roles {} for {}",
            roles.names(),
            partitions.describe()
        ),
    );
    index.audit_log().append_audit(&[record]).await?;
    Ok((secret, roles))
}

/// Every key, oldest first.
pub async fn list(settings: &Settings) -> Result<Vec<ApiKey>, KeyCommandError> {
    let index = open(settings).await?;
    Ok(index.api_key_store().api_keys().await?)
}

/// Revoke the live key of this name.
pub async fn revoke(settings: &Settings, name: &str) -> Result<(), KeyCommandError> {
    let index = open(settings).await?;
    let store = Arc::clone(&index).api_key_store();
    if !store.revoke_api_key(name, now_micros()).await? {
        return Err(KeyCommandError::NotFound(name.to_string()));
    }
    let record = change(
        Action::Delete,
        "api-key revoke",
        name,
        format!("API key {name} revoked"),
    );
    index.audit_log().append_audit(&[record]).await?;
    Ok(())
}
