//! Where SRC and LAKE live: a local path, a `file://` URL or an `s3://` URL,
//! all behind one `Arc<dyn ObjectStore>` and a prefix inside it, parsed once
//! per run. Every location counts the requests made to it (HTTP requests on
//! S3, counted by the connector every request goes through; directory reads
//! and file reads locally), so a run report can say what a run cost, and
//! [`describe`] renders a store error without a server's response body or
//! anything that looks like a credential.

pub mod aws;
pub mod retry;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore};

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("{location}: {reason}")]
    Invalid { location: String, reason: String },
    /// The AWS credential chain found nothing usable: the run cannot
    /// start, though nothing on the command line is wrong.
    #[error("{location}: {reason}")]
    Credentials { location: String, reason: String },
}

/// Requests made to one location, by kind.
#[derive(Debug, Default)]
pub struct Requests {
    list: AtomicU64,
    get: AtomicU64,
    head: AtomicU64,
    put: AtomicU64,
    delete: AtomicU64,
    other: AtomicU64,
}

/// A snapshot of [`Requests`], as run reports carry it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestCounts {
    pub list: u64,
    pub get: u64,
    pub head: u64,
    pub put: u64,
    pub delete: u64,
    pub other: u64,
}

/// What a request was, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    List,
    Get,
    Head,
    Put,
    Delete,
    Other,
}

impl Requests {
    pub fn count(&self, kind: RequestKind) {
        let c = match kind {
            RequestKind::List => &self.list,
            RequestKind::Get => &self.get,
            RequestKind::Head => &self.head,
            RequestKind::Put => &self.put,
            RequestKind::Delete => &self.delete,
            RequestKind::Other => &self.other,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> RequestCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequestCounts {
            list: get(&self.list),
            get: get(&self.get),
            head: get(&self.head),
            put: get(&self.put),
            delete: get(&self.delete),
            other: get(&self.other),
        }
    }
}

impl RequestCounts {
    /// Every request, whatever its kind.
    pub fn total(&self) -> u64 {
        self.list + self.get + self.head + self.put + self.delete + self.other
    }
}

/// A prefix in an object store, with the URL it was given as for messages.
#[derive(Clone)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
    /// `file:///abs/dir` or `s3://bucket/prefix`, without a trailing slash.
    pub url: String,
    /// The directory, for a local location.
    pub local: Option<PathBuf>,
    pub requests: Arc<Requests>,
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
            let chain = aws::chain().map_err(|reason| LocationError::Credentials {
                location: s.to_string(),
                reason,
            })?;
            return Self::s3(s, chain).map_err(invalid);
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
        let abs = std::fs::canonicalize(&local).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => invalid("no such directory".into()),
            _ => invalid(e.to_string()),
        })?;
        if !abs.is_dir() {
            return Err(invalid("not a directory".into()));
        }
        let prefix = Path::from_filesystem_path(&abs).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new()),
            url: format!("file://{}", escape(abs.as_os_str().as_encoded_bytes())),
            prefix,
            local: Some(abs),
            requests: Arc::default(),
        })
    }

    /// A lake that a dry run may find missing: a local directory that does
    /// not exist yet is taken as it would be made, and not made.
    pub fn parse_maybe_missing(s: &str) -> Result<Self, LocationError> {
        let local = s.strip_prefix("file://").unwrap_or(s);
        if s.contains("://") && !s.starts_with("file://") || std::path::Path::new(local).exists() {
            return Self::parse(s, false);
        }
        let abs = std::path::absolute(local).map_err(|e| LocationError::Invalid {
            location: s.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new()),
            url: format!("file://{}", escape(abs.as_os_str().as_encoded_bytes())),
            prefix: Path::from_filesystem_path(&abs).unwrap_or_default(),
            local: Some(abs),
            requests: Arc::default(),
        })
    }

    /// An S3 location: credentials from the AWS chain ([`aws`]), the
    /// region the bucket's own (asked of S3, unsigned) or else the chain's,
    /// the rest from the environment as object_store reads it
    /// (`AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...). Transient errors are
    /// retried with exponential backoff; listings are paginated by
    /// object_store. Every request is counted.
    fn s3(s: &str, chain: &aws::Chain) -> Result<Self, String> {
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
        let requests: Arc<Requests> = Arc::default();
        let mut builder = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry)
            .with_http_connector(CountingConnector(requests.clone()));
        if let Some(credentials) = &chain.credentials {
            builder = builder.with_credentials(credentials.clone());
        }
        // An S3-compatible server's endpoint, if any (the variables
        // object_store reads).
        let endpoint = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
            .iter()
            .find_map(|k| std::env::var(k).ok());
        // An endpoint given as `http://` (MinIO, LocalStack, moto on a
        // laptop) is plain HTTP by the user's own word, as the AWS CLI takes
        // it; object_store alone refuses it ("builder error") unless
        // AWS_ALLOW_HTTP is set. An explicit AWS_ALLOW_HTTP still decides.
        let http_endpoint = endpoint
            .as_ref()
            .is_some_and(|e| e.trim().to_ascii_lowercase().starts_with("http://"));
        if http_endpoint && std::env::var_os("AWS_ALLOW_HTTP").is_none() {
            builder = builder.with_allow_http(true);
        }
        // On AWS itself (no endpoint given) the bucket's own region (the
        // trail's bucket and the lake's may be in different ones), else the
        // chain's.
        let own = endpoint.is_none().then(|| bucket_region(bucket)).flatten();
        if let Some(region) = own.or_else(|| chain.region.clone()) {
            builder = builder.with_region(region);
        }
        let store = builder.build().map_err(|e| describe(&e))?;
        let key = url.path().trim_matches('/');
        let prefix = Path::parse(key).map_err(|e| e.to_string())?;
        Ok(Self {
            store: Arc::new(retry::Retrying::new(
                Arc::new(store),
                retry::Policy::default(),
            )),
            url: if key.is_empty() {
                format!("s3://{bucket}")
            } else {
                format!("s3://{bucket}/{key}")
            },
            prefix,
            local: None,
            requests,
        })
    }

    pub fn is_local(&self) -> bool {
        self.local.is_some()
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
        self.url_of_relative(&self.relative(path))
    }

    /// Full URL of an object given relative to the prefix.
    pub fn url_of_relative(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.url.clone()
        } else {
            format!("{}/{rel}", self.url)
        }
    }

    /// The local file behind a path relative to the prefix; none for a
    /// path that could leave the location (`..`, absolute).
    pub fn local_path(&self, rel: &str) -> Option<PathBuf> {
        if !rel.is_empty() && !is_safe_rel(rel) {
            return None;
        }
        self.local.as_ref().map(|d| d.join(rel))
    }

    /// The location as a user would pass it: the local path, else the URL.
    pub fn arg(&self) -> String {
        self.local
            .as_ref()
            .map_or(self.url.clone(), |p| p.display().to_string())
    }

    /// True when `other` lies at or below this location.
    pub fn contains(&self, other: &Location) -> bool {
        other.url == self.url || other.url.starts_with(&format!("{}/", self.url))
    }
}

/// A word as a shell reads it back: quoted when it holds anything but
/// plain path characters.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:=@+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The region a bucket is in, asked of S3 itself (one unsigned HEAD
/// request, answered even without access); `None` off AWS's main
/// partition or without network.
fn bucket_region(bucket: &str) -> Option<String> {
    block_on_own(object_store::aws::resolve_bucket_region(
        bucket,
        &ClientOptions::default(),
    ))
    .and_then(Result::ok)
}

/// Runs `fut` to its end on a thread and runtime of its own, so a
/// location can be opened inside or outside a runtime; `None` when no
/// runtime could be started or the future panicked.
fn block_on_own<F: std::future::Future + Send>(fut: F) -> Option<F::Output>
where
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            Some(rt.block_on(fut))
        })
        .join()
        .ok()
        .flatten()
    })
}

/// Escapes a name for URLs, messages and the ledger: control characters
/// (tab, LF, CR, ESC, DEL, ...), `%` and bytes that are not UTF-8 become
/// `%XX`, so a name prints safely on a terminal, cannot forge a line of a
/// report, and two different names never escape alike.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || c == '%' {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Counts every HTTP request an S3 store makes, by what it is.
#[derive(Debug)]
struct CountingConnector(Arc<Requests>);

impl HttpConnector for CountingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(Counting {
            inner,
            requests: self.0.clone(),
        }))
    }
}

#[derive(Debug)]
struct Counting {
    inner: HttpClient,
    requests: Arc<Requests>,
}

#[async_trait::async_trait]
impl HttpService for Counting {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let query = req.uri().query().unwrap_or("");
        let kind = match req.method().as_str() {
            "GET" if query.contains("list-type=") || query.contains("delimiter=") => {
                RequestKind::List
            }
            "GET" => RequestKind::Get,
            "HEAD" => RequestKind::Head,
            "PUT" => RequestKind::Put,
            "DELETE" => RequestKind::Delete,
            // Multipart create and complete, and bulk deletes.
            _ => RequestKind::Other,
        };
        self.requests.count(kind);
        self.inner.execute(req).await
    }
}

/// A store error as it may be shown: what failed and the server's status,
/// never the body of its response (a server may echo the request's headers
/// there, credentials among them), and with anything that looks like a
/// credential withheld.
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    for marker in [
        "Server returned non-2xx status code: ",
        "Server returned error response: ",
    ] {
        if let Some(at) = text.find(marker) {
            let rest = &text[at + marker.len()..];
            // Keep the status ("403 Forbidden"), not what follows it.
            let status: String = rest
                .split(": ")
                .next()
                .unwrap_or("")
                .chars()
                .take(40)
                .collect();
            let status = if marker.contains("non-2xx") {
                status
            } else {
                "error".to_string()
            };
            text = format!(
                "{}server answered {} (response body withheld)",
                &text[..at],
                status.trim()
            );
        }
    }
    redact(&text)
}

/// Withholds credentials from a message: the values of the AWS credential
/// variables in this process's environment, and what looks like an access
/// key id, a signature or a session token anywhere else.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for var in [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECURITY_TOKEN",
    ] {
        if let Ok(v) = std::env::var(var) {
            if v.len() >= 4 {
                out = out.replace(&v, "[withheld]");
            }
        }
    }
    // Access key ids: AKIA/ASIA followed by 16 upper-case letters or digits.
    let mut cleaned = String::with_capacity(out.len());
    let b = out.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let is_key_id = b.len() - i >= 20
            && (b[i..].starts_with(b"AKIA") || b[i..].starts_with(b"ASIA"))
            && b[i + 4..i + 20]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if is_key_id {
            cleaned.push_str("[withheld]");
            i += 20;
        } else {
            let c = out[i..].chars().next().expect("in bounds");
            cleaned.push(c);
            i += c.len_utf8();
        }
    }
    // `Credential=...`, `Signature=...`, `X-Amz-Security-Token: ...` and
    // `Authorization: ...` up to the next separator.
    for key in [
        "Credential=",
        "Signature=",
        "X-Amz-Security-Token",
        "x-amz-security-token",
        "Authorization",
        "authorization",
    ] {
        let mut from = 0;
        while let Some(at) = cleaned[from..].find(key) {
            let start = from + at + key.len();
            let value_start = start
                + cleaned[start..]
                    .find(|c: char| !matches!(c, ':' | '=' | ' ' | '"'))
                    .unwrap_or(cleaned.len() - start);
            let end = value_start
                + cleaned[value_start..]
                    .find(|c: char| c.is_whitespace() || matches!(c, ',' | '&' | '"' | '<' | ';'))
                    .unwrap_or(cleaned.len() - value_start);
            if end > value_start {
                cleaned.replace_range(value_start..end, "[withheld]");
                from = value_start + "[withheld]".len();
            } else {
                from = start;
            }
        }
    }
    cleaned
}

/// Whether a path read from a state file is one the lake could have
/// written: relative, `/`-separated, with no empty, `.` or `..` part, no
/// backslash or NUL. Anything else is refused, so no state file, however
/// made, can point a run outside the lake.
pub fn is_safe_rel(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.contains(['\\', '\0'])
        && rel
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_keeps_printable_names_and_escapes_the_rest_unambiguously() {
        assert_eq!(escape(b"a b.json.gz"), "a b.json.gz");
        assert_eq!(escape("résumé".as_bytes()), "résumé");
        assert_eq!(escape(b"tab\there"), "tab%09here");
        assert_eq!(escape(b"esc\x1b[31m"), "esc%1B[31m");
        assert_eq!(escape(b"del\x7f"), "del%7F");
        assert_eq!(escape(b"bad\xffutf8"), "bad%FFutf8");
        // `%` itself is escaped, so "a%09b" and "a\tb" stay apart.
        assert_eq!(escape(b"100%"), "100%25");
        assert_ne!(escape(b"a%09b"), escape(b"a\tb"));
    }

    #[test]
    fn redact_withholds_key_ids_signatures_and_tokens() {
        let t = redact(
            "403: <Headers>Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2024, \
             Signature=abcdef0123\nx-amz-security-token: FwoGZXIvYXdz\n\
             key AKIAABCDEFGHIJKLMNOP</Headers>",
        );
        assert!(!t.contains("AKIDEXAMPLE"), "{t}");
        assert!(!t.contains("abcdef0123"), "{t}");
        assert!(!t.contains("FwoGZXIvYXdz"), "{t}");
        assert!(!t.contains("AKIAABCDEFGHIJKLMNOP"), "{t}");
        assert!(t.contains("403"), "{t}");
    }

    #[test]
    fn describe_keeps_the_status_and_drops_the_body() {
        #[derive(Debug)]
        struct E;
        impl fmt::Display for E {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "Generic S3 error: Error performing GET http://127.0.0.1:9/b/k in 1ms - \
                     Server returned non-2xx status code: 403 Forbidden: <Echo>secret-token</Echo>",
                )
            }
        }
        impl std::error::Error for E {}
        let d = describe(&E);
        assert!(d.contains("403 Forbidden"), "{d}");
        assert!(d.contains("http://127.0.0.1:9/b/k"), "{d}");
        assert!(!d.contains("secret-token"), "{d}");
    }
}
