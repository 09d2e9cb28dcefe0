//! Retries for what object_store does not retry: a LIST, DeleteObjects or
//! other response whose body is cut mid-way, a POST whose request could
//! not be sent, a connection reset after the server acted. object_store
//! retries a request whose status is 5xx or whose connection fails before
//! an answer, and a GET's body (resumed by range); everything else here
//! is retried as a whole operation, with backoff and a bound on total time:
//!
//! - a listing resumes after the last key it returned (`list_with_offset`,
//!   S3 lists in key order), so a cut page costs one page, not the listing;
//! - deletes are retried per batch (deleting twice is deleting once);
//! - puts and copies are retried whole: an unconditional one is the same
//!   object again; a conditional create that the server applied before its
//!   answer was lost comes back as `AlreadyExists`, which its caller reads
//!   back (see `crate::lake::lease`).
//!
//! Multipart uploads are left to object_store (each part is retried).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, Error, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// How often and how long an operation is tried again.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// No retry starts after this much time since the first attempt.
    pub total: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            attempts: 8,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            total: Duration::from_secs(180),
        }
    }
}

impl Policy {
    /// Waits before attempt `attempt + 1`, or says there is none.
    async fn again(&self, attempt: &mut u32, started: Instant) -> bool {
        *attempt += 1;
        if *attempt >= self.attempts || started.elapsed() >= self.total {
            return false;
        }
        let backoff = self
            .first_backoff
            .saturating_mul(1 << (*attempt - 1).min(16))
            .min(self.max_backoff);
        tokio::time::sleep(backoff).await;
        true
    }
}

/// Whether an error is the network's or the server's passing fault, as
/// opposed to an answer (not found, exists, denied, bad request).
pub fn transient(e: &Error) -> bool {
    let Error::Generic { source, .. } = e else {
        return false;
    };
    let mut text = source.to_string().to_ascii_lowercase();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = source.source();
    while let Some(c) = cause {
        text.push_str(" / ");
        text.push_str(&c.to_string().to_ascii_lowercase());
        cause = c.source();
    }
    // A client error the server answered is no passing fault.
    if [
        "400 bad request",
        "403 forbidden",
        "404 not found",
        "405 ",
        "409 conflict",
        "411 ",
        "412 precondition",
        "416 ",
    ]
    .iter()
    .any(|s| text.contains(s))
    {
        return false;
    }
    [
        "body error",
        "error sending request",
        "error decoding",
        "connection",
        "timed out",
        "timeout",
        "reset",
        "broken pipe",
        "closed",
        "incomplete",
        "unexpected eof",
        "500 internal",
        "502 ",
        "503 ",
        "504 ",
        "slowdown",
    ]
    .iter()
    .any(|s| text.contains(s))
}

/// An object store whose operations are retried as above.
#[derive(Debug)]
pub struct Retrying {
    inner: Arc<dyn ObjectStore>,
    policy: Policy,
}

impl Retrying {
    pub fn new(inner: Arc<dyn ObjectStore>, policy: Policy) -> Self {
        Self { inner, policy }
    }

    async fn retry<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match op().await {
                Err(e) if transient(&e) && self.policy.again(&mut attempt, started).await => {}
                r => return r,
            }
        }
    }

    /// A listing that resumes after the last key it returned.
    fn resuming(
        &self,
        prefix: Option<&Path>,
        offset: Option<&Path>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        struct State {
            inner: Arc<dyn ObjectStore>,
            policy: Policy,
            prefix: Option<Path>,
            after: Option<Path>,
            pages: Option<BoxStream<'static, Result<ObjectMeta>>>,
            attempt: u32,
            started: Instant,
            done: bool,
        }
        let state = State {
            inner: self.inner.clone(),
            policy: self.policy,
            prefix: prefix.cloned(),
            after: offset.cloned(),
            pages: None,
            attempt: 0,
            started: Instant::now(),
            done: false,
        };
        stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            loop {
                let pages = st.pages.get_or_insert_with(|| match &st.after {
                    Some(after) => st.inner.list_with_offset(st.prefix.as_ref(), after),
                    None => st.inner.list(st.prefix.as_ref()),
                });
                match pages.next().await {
                    None => return None,
                    Some(Ok(meta)) => {
                        st.after = Some(meta.location.clone());
                        return Some((Ok(meta), st));
                    }
                    Some(Err(e))
                        if transient(&e) && st.policy.again(&mut st.attempt, st.started).await =>
                    {
                        st.pages = None;
                    }
                    Some(Err(e)) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                }
            }
        })
        .boxed()
    }
}

impl fmt::Display for Retrying {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Retrying({})", self.inner)
    }
}

/// Deletes at once per DeleteObjects request (S3's limit).
const DELETE_BATCH: usize = 1000;

#[async_trait]
impl ObjectStore for Retrying {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.retry(|| self.inner.put_opts(location, payload.clone(), opts.clone()))
            .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.retry(|| self.inner.put_multipart_opts(location, opts.clone()))
            .await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.retry(|| self.inner.get_opts(location, options.clone()))
            .await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.retry(|| self.inner.get_ranges(location, ranges)).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let (inner, policy) = (self.inner.clone(), self.policy);
        locations
            .chunks(DELETE_BATCH)
            .then(move |batch| {
                let inner = inner.clone();
                async move {
                    let mut out: Vec<Result<Path>> = Vec::new();
                    let mut paths = Vec::new();
                    for p in batch {
                        match p {
                            Ok(p) => paths.push(p),
                            Err(e) => out.push(Err(e)),
                        }
                    }
                    let started = Instant::now();
                    let mut attempt = 0;
                    loop {
                        let asked = stream::iter(paths.clone().into_iter().map(Ok)).boxed();
                        let results: Vec<Result<Path>> = inner.delete_stream(asked).collect().await;
                        let failed = results.iter().any(|r| r.as_ref().is_err_and(transient));
                        if failed && policy.again(&mut attempt, started).await {
                            continue;
                        }
                        out.extend(results);
                        return stream::iter(out);
                    }
                }
            })
            .flatten()
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.resuming(prefix, None)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.resuming(prefix, Some(offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.retry(|| self.inner.list_with_delimiter(prefix)).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.retry(|| self.inner.copy_opts(from, to, options.clone()))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(msg: &str) -> Error {
        Error::Generic {
            store: "S3",
            source: msg.to_string().into(),
        }
    }

    #[test]
    fn cut_bodies_and_resets_are_passing_faults_answers_are_not() {
        for m in [
            "Error getting list response body: HTTP error: request or response body error",
            "Error performing POST http://x/lake?delete in 13ms - HTTP error: error sending request",
            "Error getting DeleteObjects response body: HTTP error: request or response body error",
            "Server returned non-2xx status code: 503 Service Unavailable: SlowDown",
        ] {
            assert!(transient(&generic(m)), "{m}");
        }
        for m in [
            "Server returned non-2xx status code: 403 Forbidden: AccessDenied",
            "Server returned non-2xx status code: 400 Bad Request: InvalidArgument",
        ] {
            assert!(!transient(&generic(m)), "{m}");
        }
        assert!(!transient(&Error::NotFound {
            path: "x".into(),
            source: "gone".into()
        }));
    }
}
