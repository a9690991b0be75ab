//! Storage URLs: `file:///path`, `memory://`, `s3://bucket[/prefix]?endpoint=http://host:port&region=r`,
//! `az://container[/prefix]?account=A&endpoint=URL`, `gs://bucket[/prefix]`. Credentials come from
//! each cloud's usual environment variables (`AWS_*`, `AZURE_STORAGE_*`, `GOOGLE_*`), never the URL.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};

use crate::storage::StorageError;

pub(super) struct Built {
    pub store: Arc<dyn ObjectStore>,
    pub local_root: Option<PathBuf>,
    pub description: String,
    /// Reads cross a network (S3): worth caching what was read.
    pub remote: bool,
}

pub(super) fn build(raw: &str) -> Result<Built, StorageError> {
    let invalid = |reason: &str| StorageError::InvalidUrl {
        url: raw.split('?').next().unwrap_or_default().to_string(),
        reason: reason.to_string(),
    };
    let url = url::Url::parse(raw).map_err(|err| invalid(&err.to_string()))?;
    match url.scheme() {
        "memory" => Ok(Built {
            store: Arc::new(InMemory::new()),
            local_root: None,
            description: "memory".into(),
            remote: false,
        }),
        "file" => {
            let root = url
                .to_file_path()
                .map_err(|_| invalid("file URLs need an absolute path"))?;
            super::local::create_folder_synced(&root).map_err(|source| StorageError::Io {
                operation: "create",
                path: root.clone(),
                source,
            })?;
            let store = LocalFileSystem::new_with_prefix(&root)
                .map_err(|err| invalid(&err.to_string()))?
                .with_automatic_cleanup(true);
            Ok(Built {
                store: Arc::new(store),
                description: format!("file://{}", root.display()),
                remote: false,
                local_root: Some(root),
            })
        }
        "s3" => {
            let bucket = url
                .host_str()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| invalid("s3 URLs name a bucket: s3://bucket"))?;
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            for (name, value) in url.query_pairs() {
                builder = match name.as_ref() {
                    "endpoint" => builder
                        .with_allow_http(value.starts_with("http://"))
                        .with_endpoint(value.to_string()),
                    "region" => builder.with_region(value.to_string()),
                    "virtual_hosted_style" => {
                        builder.with_virtual_hosted_style_request(value == "true")
                    }
                    other => return Err(invalid(&format!("unknown parameter {other:?}"))),
                };
            }
            // Set through config keys so that AWS_* client settings survive.
            let store = builder
                .with_retry(retry())
                .with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                    CONNECT_TIMEOUT,
                )
                .with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                    REQUEST_TIMEOUT,
                )
                .build()
                .map_err(|err| invalid(&err.to_string()))?;
            Ok(remote(Arc::new(store), "s3", bucket, &url))
        }
        "az" => {
            let container = url
                .host_str()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| invalid("az URLs name a container: az://container"))?;
            let mut builder = MicrosoftAzureBuilder::from_env().with_container_name(container);
            for (name, value) in url.query_pairs() {
                builder = match name.as_ref() {
                    // An account's own endpoint (a private link, Azure Stack, Azurite):
                    // https://host[:port][/account].
                    "endpoint" => builder
                        .with_allow_http(value.starts_with("http://"))
                        .with_endpoint(value.to_string()),
                    "account" => builder.with_account(value.to_string()),
                    other => return Err(invalid(&format!("unknown parameter {other:?}"))),
                };
            }
            let store = builder
                .with_retry(retry())
                .with_config(
                    AzureConfigKey::Client(ClientConfigKey::ConnectTimeout),
                    CONNECT_TIMEOUT,
                )
                .with_config(
                    AzureConfigKey::Client(ClientConfigKey::Timeout),
                    REQUEST_TIMEOUT,
                )
                .build()
                .map_err(|err| invalid(&err.to_string()))?;
            Ok(remote(Arc::new(store), "az", container, &url))
        }
        "gs" => {
            let bucket = url
                .host_str()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| invalid("gs URLs name a bucket: gs://bucket"))?;
            if let Some((other, _)) = url.query_pairs().next() {
                return Err(invalid(&format!("unknown parameter {other:?}")));
            }
            let store = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry())
                .with_config(
                    GoogleConfigKey::Client(ClientConfigKey::ConnectTimeout),
                    CONNECT_TIMEOUT,
                )
                .with_config(
                    GoogleConfigKey::Client(ClientConfigKey::Timeout),
                    REQUEST_TIMEOUT,
                )
                .build()
                .map_err(|err| invalid(&err.to_string()))?;
            Ok(remote(Arc::new(store), "gs", bucket, &url))
        }
        other => Err(invalid(&format!(
            "scheme {other:?} is not supported (use file://, memory://, s3://, az:// or gs://)"
        ))),
    }
}

/// Tighter than object_store's defaults, so that a dead store turns into a 503 within seconds.
const CONNECT_TIMEOUT: &str = "5s";
const REQUEST_TIMEOUT: &str = "120s";

fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(15),
    }
}

/// A cloud store, under the URL's path as a prefix when it has one (several archives, or an
/// archive and other data, in one bucket or container).
fn remote(store: Arc<dyn ObjectStore>, scheme: &str, bucket: &str, url: &url::Url) -> Built {
    let prefix = url.path().trim_matches('/');
    let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    };
    Built {
        store,
        local_root: None,
        description: format!("{scheme}://{bucket}/{prefix}"),
        remote: true,
    }
}
