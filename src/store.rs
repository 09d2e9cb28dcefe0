//! Where SRC and LAKE live: a local path, a `file://` URL or an `s3://` URL,
//! all behind one `Arc<dyn ObjectStore>` and a prefix inside it.

use std::fmt;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("{location}: {reason}")]
    Invalid { location: String, reason: String },
}

/// A prefix in an object store, with the URL it was given as for messages.
#[derive(Clone)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
    /// `file:///abs/dir` or `s3://bucket/prefix`, without a trailing slash.
    pub url: String,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl Location {
    /// Opens a location. A local directory is created when `create` is set
    /// (the lake), and must exist otherwise (the source).
    pub fn parse(s: &str, create: bool) -> Result<Self, LocationError> {
        let invalid = |reason: String| LocationError::Invalid {
            location: s.to_string(),
            reason,
        };
        if s.starts_with("s3://") {
            return Self::s3(s).map_err(invalid);
        }
        let local = match s.strip_prefix("file://") {
            Some(p) => p.to_string(),
            None if s.contains("://") => {
                return Err(invalid(
                    "unsupported URL scheme (use a path, file:// or s3://)".into(),
                ))
            }
            None => s.to_string(),
        };
        if create {
            std::fs::create_dir_all(&local).map_err(|e| invalid(e.to_string()))?;
        }
        let abs = std::fs::canonicalize(&local).map_err(|e| invalid(e.to_string()))?;
        if !abs.is_dir() {
            return Err(invalid("not a directory".into()));
        }
        let prefix = Path::from_filesystem_path(&abs).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new()),
            url: format!("file://{}", abs.display()),
            prefix,
        })
    }

    /// An S3 location, configured from the standard AWS environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
    /// `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...). Transient
    /// errors are retried with exponential backoff; listings are paginated
    /// by object_store. Errors never carry credentials.
    fn s3(s: &str) -> Result<Self, String> {
        let url = url::Url::parse(s).map_err(|e| e.to_string())?;
        let bucket = url
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or("no bucket in the URL")?;
        let retry = object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: std::time::Duration::from_millis(100),
                max_backoff: std::time::Duration::from_secs(15),
                base: 2.0,
            },
            max_retries: 8,
            retry_timeout: std::time::Duration::from_secs(180),
        };
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry)
            .build()
            .map_err(|e| e.to_string())?;
        let key = url.path().trim_matches('/');
        let prefix = Path::parse(key).map_err(|e| e.to_string())?;
        Ok(Self {
            store: Arc::new(store),
            url: if key.is_empty() {
                format!("s3://{bucket}")
            } else {
                format!("s3://{bucket}/{key}")
            },
            prefix,
        })
    }

    pub fn is_local(&self) -> bool {
        self.url.starts_with("file://")
    }

    /// A path below the prefix.
    pub fn child(&self, rel: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            p = p.join(part);
        }
        p
    }

    /// The part of `path` below the prefix, `/`-separated.
    pub fn relative(&self, path: &Path) -> String {
        match path.prefix_match(&self.prefix) {
            Some(parts) => parts
                .map(|p| p.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/"),
            None => path.to_string(),
        }
    }

    /// Full URL of an object, for messages and reports.
    pub fn url_of(&self, path: &Path) -> String {
        format!("{}/{}", self.url, self.relative(path))
    }

    /// True when `other` lies at or below this location.
    pub fn contains(&self, other: &Location) -> bool {
        other.url == self.url || other.url.starts_with(&format!("{}/", self.url))
    }
}
