//! The lake: where files live (a local directory or an S3 prefix, both through object_store),
//! how partitions map to paths, and the writer and table provider built on it.

pub mod compact;
pub mod direct;
pub mod grams;
pub mod layout;
pub mod listing;
pub mod lock;
pub mod merge;
pub mod spill;
pub mod store;
pub mod sync;
pub mod writer;

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, aws::AmazonS3Builder};
use url::Url;

use crate::error::{Error, Result};

/// Default lake when none is given: a directory beside the user, like `tctl`'s local state.
pub const DEFAULT_LAKE: &str = "./auditlake-lake";

/// An opened lake: an object store plus the root prefix under which `data/`, `rejects/` and
/// `_catalog/` live.
#[derive(Clone, Debug)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    /// Root prefix inside the store ("" for a directory lake; "prefix" for `s3://b/prefix`).
    root: Path,
    /// The URL DataFusion registers the store under (`file:///` or `s3://bucket`).
    store_url: Url,
    /// The URL as the user wrote it, for messages.
    display: String,
}

impl Lake {
    /// Opens a lake from a directory path or an `s3://bucket[/prefix]` URL.
    ///
    /// A trailing `/data` is accepted and stripped, so the seed's `s3: s3://bucket/data/` and the
    /// bucket root name the same lake (the Glue template puts partitions under `…/data/`).
    /// S3 settings come from the standard AWS environment (`AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// credentials, `AWS_ALLOW_HTTP`).
    pub fn open(location: &str) -> Result<Lake> {
        Self::open_with(location, &[])
    }

    /// Like `open`, with S3 settings given explicitly (`("aws_endpoint", "http://…")`, …) on top
    /// of the environment's; tests use it to point at a local S3 server without touching env.
    pub fn open_with(location: &str, s3_options: &[(&str, &str)]) -> Result<Lake> {
        let bad = |reason: String| Error::LakeUrl {
            url: location.to_string(),
            reason,
        };
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.len() < 3 {
                return Err(bad("an S3 bucket name has at least 3 characters".into()));
            }
            let prefix = strip_data_suffix(prefix.trim_matches('/'));
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            for (k, v) in s3_options {
                let key = k
                    .parse()
                    .map_err(|e: object_store::Error| bad(e.to_string()))?;
                builder = builder.with_config(key, *v);
            }
            let store = builder.build().map_err(|e| bad(e.to_string()))?;
            let store_url =
                Url::parse(&format!("s3://{bucket}")).map_err(|e| bad(e.to_string()))?;
            Ok(Lake {
                store: Arc::new(store),
                root: Path::from(prefix),
                store_url,
                display: location.to_string(),
            })
        } else if location.contains("://") && !location.starts_with("file://") {
            Err(bad("expected a directory or an s3:// URL".into()))
        } else {
            let dir = location.strip_prefix("file://").unwrap_or(location);
            let dir = std::path::Path::new(dir);
            let dir = match dir.file_name() {
                Some(n) if n == "data" => dir.parent().unwrap_or(dir),
                _ => dir,
            };
            std::fs::create_dir_all(dir).map_err(|e| Error::Io {
                op: "create",
                path: dir.into(),
                source: e,
            })?;
            let abs = std::fs::canonicalize(dir).map_err(|e| Error::Io {
                op: "resolve",
                path: dir.into(),
                source: e,
            })?;
            // Rooting the store at the lake directory keeps every object path relative, so the
            // same layout code serves S3 and disk; `automatic_cleanup` removes empty dirs on delete.
            let store = LocalFileSystem::new_with_prefix(&abs)
                .map_err(|e| bad(e.to_string()))?
                .with_automatic_cleanup(true);
            let store_url = Url::from_directory_path(&abs)
                .map_err(|_| bad("not an absolute directory".into()))?;
            Ok(Lake {
                store: Arc::new(direct::DirectLocal::new(store)),
                root: Path::default(),
                store_url,
                display: abs.display().to_string(),
            })
        }
    }

    /// A lake held in this process's memory (`memory://`), empty until written: the fuzzer's
    /// and tests' stand-in for a bucket, with the same layout and listing code as S3 and disk.
    pub fn memory() -> Lake {
        Lake {
            store: Arc::new(object_store::memory::InMemory::new()),
            root: Path::default(),
            // A constant that parses: `Url::parse` cannot fail on it.
            store_url: Url::parse("memory://").unwrap_or_else(|_| unreachable!()),
            display: "memory://".into(),
        }
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The URL under which the store is registered with DataFusion.
    pub fn store_url(&self) -> &Url {
        &self.store_url
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Is this lake on the local disk?
    pub fn is_local(&self) -> bool {
        self.store_url.scheme() == "file"
    }

    /// A path under the lake root.
    pub fn path(&self, rel: &str) -> Path {
        let mut parts: Vec<String> = self.root.parts().map(|p| p.as_ref().to_string()).collect();
        parts.extend(rel.split('/').filter(|s| !s.is_empty()).map(str::to_string));
        Path::from_iter(parts)
    }

    pub fn display(&self) -> &str {
        &self.display
    }
}

fn strip_data_suffix(prefix: &str) -> &str {
    if prefix == "data" {
        ""
    } else {
        prefix.strip_suffix("/data").unwrap_or(prefix)
    }
}
