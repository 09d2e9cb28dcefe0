//! Where a staged file is written: a local file, or an S3 object (one PUT
//! when small, a multipart upload once it passes 16 MiB). The encoder
//! writes to a [`FileSink`] on a pool thread; uploads block on the run's
//! I/O runtime.

use std::io::Write;

use object_store::WriteMultipart;

use super::Lake;
use crate::sink::{FileSink, SinkError};

/// Where a staged file goes: a local file, or an S3 object (one PUT when
/// small, a multipart upload once it passes 16 MiB).
pub fn open_sink(
    lake: &Lake,
    rel: &str,
    handle: &tokio::runtime::Handle,
) -> Result<Box<dyn FileSink>, SinkError> {
    lake.loc.requests.count(crate::store::RequestKind::Put);
    if let Some(path) = lake.loc.local_path(rel) {
        let io = |source| SinkError::Io {
            file: lake.loc.url_of_relative(rel),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let f = std::fs::File::create(&path).map_err(io)?;
        return Ok(Box::new(LocalSink {
            out: std::io::BufWriter::with_capacity(1 << 20, f),
            url: lake.loc.url_of_relative(rel),
        }));
    }
    Ok(Box::new(S3Sink {
        lake: lake.clone(),
        rel: rel.to_string(),
        handle: handle.clone(),
        buf: Vec::new(),
        upload: None,
    }))
}

struct LocalSink {
    out: std::io::BufWriter<std::fs::File>,
    url: String,
}

impl Write for LocalSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl FileSink for LocalSink {
    fn finish(mut self: Box<Self>) -> Result<(), SinkError> {
        self.out.flush().map_err(|source| SinkError::Io {
            file: self.url.clone(),
            source,
        })
    }
}

const SINGLE_PUT: usize = 16 << 20;

struct S3Sink {
    lake: Lake,
    rel: String,
    handle: tokio::runtime::Handle,
    buf: Vec<u8>,
    upload: Option<WriteMultipart>,
}

impl S3Sink {
    fn store_err(&self, e: impl std::fmt::Display) -> std::io::Error {
        std::io::Error::other(format!("{}: {e}", self.lake.loc.url_of_relative(&self.rel)))
    }
}

impl Write for S3Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        if self.buf.len() >= SINGLE_PUT {
            if self.upload.is_none() {
                let up = self
                    .handle
                    .block_on(self.lake.upload(&self.rel))
                    .map_err(|e| self.store_err(e))?;
                self.upload = Some(up);
            }
            let _guard = self.handle.enter();
            let up = self.upload.as_mut().expect("started");
            self.handle
                .block_on(up.wait_for_capacity(4))
                .map_err(|e| std::io::Error::other(crate::store::describe(&e)))?;
            up.write(&self.buf);
            self.buf.clear();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl FileSink for S3Sink {
    fn finish(mut self: Box<Self>) -> Result<(), SinkError> {
        let buf = std::mem::take(&mut self.buf);
        match self.upload.take() {
            None => self
                .handle
                .block_on(self.lake.put(&self.rel, buf))
                .map_err(|e| SinkError::Store(e.to_string())),
            Some(mut up) => {
                let _guard = self.handle.enter();
                up.write(&buf);
                self.handle.block_on(up.finish()).map(|_| ()).map_err(|e| {
                    SinkError::Store(format!(
                        "{}: {}",
                        self.lake.loc.url_of_relative(&self.rel),
                        crate::store::describe(&e)
                    ))
                })
            }
        }
    }
}
