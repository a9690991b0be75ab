//! Storage URLs: `file:///path`, `memory://`, `s3://bucket[/prefix]?endpoint=http://host:port&region=r`.
//! S3 credentials come from the usual `AWS_*` environment variables.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
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
            std::fs::create_dir_all(&root).map_err(|source| StorageError::Io {
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
            let retry = RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(15),
            };
            // Tighter than object_store's defaults so that a dead store turns into a 503
            // within seconds; set through config keys so AWS_* client settings survive.
            let store = builder
                .with_retry(retry)
                .with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                    "5s",
                )
                .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "120s")
                .build()
                .map_err(|err| invalid(&err.to_string()))?;
            // s3://bucket/some/prefix keeps this archive under a prefix of a shared bucket.
            let prefix = url.path().trim_matches('/');
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(store)
            } else {
                Arc::new(PrefixStore::new(store, prefix))
            };
            Ok(Built {
                store,
                local_root: None,
                description: format!("s3://{bucket}/{prefix}"),
                remote: true,
            })
        }
        other => Err(invalid(&format!(
            "scheme {other:?} is not supported (use file://, memory:// or s3://)"
        ))),
    }
}
