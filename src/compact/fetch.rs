//! Fetching and decoding: the objects to read, in steps ("chunks") of about
//! `chunk_bytes` stored bytes; while one chunk's results are taken in, the
//! next is queued for decoding and the one after is being fetched. A chunk
//! is decoded as slices of its objects, a rayon job each.
//!
//! Memory: a file is gunzipped with a cap (`max_file_bytes`), so a
//! decompression bomb costs at most that; a slice's files are decoded in
//! groups of at most [`GROUP_BYTES`] of JSON, so no decoded batch comes near
//! arrow's 32-bit offsets; quarantined records go to the run's quarantine
//! file as they are found.

use std::sync::{mpsc, Arc};

use futures::StreamExt;
use object_store::ObjectStoreExt;

use crate::decode::{Decoder, QuarantineSink};
use crate::partition::PartitionKey;
use crate::source::{self, Handle, SourceObject};
use crate::store::{describe, Location, RequestKind};

/// JSON decoded between two hand-overs of the decoder's batches.
pub const GROUP_BYTES: usize = 256 << 20;

/// What decoding one slice of a chunk produced.
#[derive(Default)]
pub struct DecodedSlice {
    pub batches: Vec<(PartitionKey, arrow::record_batch::RecordBatch)>,
    /// Objects read whole (their records taken or quarantined one by one).
    pub read: Vec<SourceObject>,
    /// Objects quarantined whole (unreadable, not gzip, not JSON, ...).
    pub failed: Vec<SourceObject>,
    pub records: u64,
    pub records_quarantined: u64,
    pub json_bytes: u64,
    pub bytes_in: u64,
}

pub type Fetched = (SourceObject, Result<bytes::Bytes, String>);

/// Splits the objects into steps of about `limit` stored bytes.
pub fn chunks(objects: &[SourceObject], limit: u64) -> Vec<&[SourceObject]> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0u64);
    for (i, o) in objects.iter().enumerate() {
        if i > start && size + o.size > limit {
            out.push(&objects[start..i]);
            start = i;
            size = 0;
        }
        size += o.size;
    }
    if start < objects.len() {
        out.push(&objects[start..]);
    }
    out
}

/// Fetches a chunk's objects, a bounded number at a time, in order. An
/// object over `max_bytes` as stored is not fetched at all.
pub async fn fetch(src: Location, chunk: Vec<SourceObject>, max_bytes: u64) -> Vec<Fetched> {
    let too_big = move |o: &SourceObject| {
        (o.size > max_bytes).then(|| {
            format!(
                "{} bytes as stored, over the per-file limit of {max_bytes} (compact.max_file_mb)",
                o.size
            )
        })
    };
    if src.is_local() {
        // Local files are read in one blocking task per chunk: a hop to the
        // blocking pool for every file cost ~4% of a run with thousands of
        // small logs (perf: try_to_wake_up, finish_task_switch).
        let requests = src.requests.clone();
        let read = tokio::task::spawn_blocking(move || {
            chunk
                .into_iter()
                .map(|o| {
                    if let Some(reason) = too_big(&o) {
                        return (o, Err(reason));
                    }
                    requests.count(RequestKind::Get);
                    let data = match &o.handle {
                        Handle::File(p) => std::fs::read(p).map_err(|e| e.to_string()),
                        Handle::Store(_) => Err("not a local file".to_string()),
                    };
                    (o, data.map(bytes::Bytes::from))
                })
                .collect()
        });
        return read.await.expect("reading files does not panic");
    }
    let src = &src;
    futures::stream::iter(chunk)
        .map(|o| async move {
            if let Some(reason) = too_big(&o) {
                return (o, Err(reason));
            }
            let r = match &o.handle {
                Handle::Store(path) => match src.store.get(path).await {
                    Ok(r) => r.bytes().await.map_err(|e| describe(&e)),
                    Err(e) => Err(describe(&e)),
                },
                Handle::File(_) => Err("not an object of the store".to_string()),
            };
            (o, r)
        })
        .buffered(16)
        .collect()
        .await
}

thread_local! {
    static INFLATER: std::cell::RefCell<source::Inflater> =
        std::cell::RefCell::new(source::Inflater::new());
    /// A decoder per pool thread, kept across slices and chunks: its parse
    /// buffers and builder sizes are reused instead of grown from nothing.
    static DECODER: std::cell::Cell<Option<(Decoder, Vec<u8>)>> =
        const { std::cell::Cell::new(None) };
}

/// How slices are decoded.
#[derive(Clone)]
pub struct DecodeSettings {
    /// Largest JSON a file may decompress to.
    pub max_file_bytes: usize,
    pub quarantine: Arc<dyn QuarantineSink>,
}

/// One chunk being decoded on the pool, a job per slice of its objects.
pub struct Decoding {
    rx: mpsc::Receiver<(usize, DecodedSlice)>,
    slices: usize,
}

impl Decoding {
    pub fn start(
        pool: &rayon::ThreadPool,
        fetched: Vec<Fetched>,
        threads: usize,
        settings: &DecodeSettings,
    ) -> Self {
        let fetched = Arc::new(fetched);
        let per = fetched.len().div_ceil(threads.max(1) * 4).max(1);
        let slices = fetched.len().div_ceil(per);
        let (tx, rx) = mpsc::channel();
        for j in 0..slices {
            let (fetched, tx, settings) = (fetched.clone(), tx.clone(), settings.clone());
            pool.spawn(move || {
                let end = (j * per + per).min(fetched.len());
                // The receiver is dropped only when the run already failed.
                let _ = tx.send((j, decode_slice(&fetched[j * per..end], &settings)));
            });
        }
        Self { rx, slices }
    }

    /// The chunk's slices, in the order of its objects.
    pub fn wait(self) -> Vec<DecodedSlice> {
        let mut out: Vec<Option<DecodedSlice>> = (0..self.slices).map(|_| None).collect();
        for _ in 0..self.slices {
            let (j, slice) = self.rx.recv().expect("a decode job panicked");
            out[j] = Some(slice);
        }
        out.into_iter()
            .map(|s| s.expect("every slice sent"))
            .collect()
    }
}

fn decode_slice(objects: &[Fetched], settings: &DecodeSettings) -> DecodedSlice {
    let (mut decoder, mut json) = DECODER.take().unwrap_or_default();
    decoder.sink = Some(settings.quarantine.clone());
    let mut out = DecodedSlice::default();
    // Groups of files of at most GROUP_BYTES of JSON (by their gzip
    // trailers, where plausible), each decoded from one buffer.
    let mut start = 0;
    while start < objects.len() {
        let mut end = start;
        let mut bytes = 0usize;
        while end < objects.len() {
            let size = expected_size(&objects[end]).min(settings.max_file_bytes);
            if end > start && bytes + size > GROUP_BYTES {
                break;
            }
            bytes += size;
            end += 1;
        }
        decode_group(
            &objects[start..end],
            bytes,
            settings,
            &mut decoder,
            &mut json,
            &mut out,
        );
        start = end;
    }
    decoder.sink = None;
    DECODER.set(Some((decoder, json)));
    out
}

/// The JSON size an object will have: its gzip trailer's, when plausible.
fn expected_size((obj, data): &Fetched) -> usize {
    let Ok(data) = data else { return 0 };
    if obj.gzipped {
        source::gzip_size(data).unwrap_or(data.len())
    } else {
        data.len()
    }
}

fn decode_group(
    objects: &[Fetched],
    expected: usize,
    settings: &DecodeSettings,
    decoder: &mut Decoder,
    json: &mut Vec<u8>,
    out: &mut DecodedSlice,
) {
    // Every object's JSON, one after another in one buffer, so the decoder
    // can take the group's files in time order, each parsed where it lies.
    json.clear();
    json.reserve(expected + simd_json::INPUT_PADDING);
    let mut taken = Vec::with_capacity(objects.len());
    for (obj, data) in objects {
        let data = match data {
            Ok(d) => d,
            Err(e) => {
                decoder.quarantine_file(&obj.url, format!("read failed: {e}"));
                out.failed.push(obj.clone());
                continue;
            }
        };
        out.bytes_in += data.len() as u64;
        let start = json.len();
        let unpacked = if obj.gzipped {
            INFLATER
                .with(|d| source::gunzip(data, &mut d.borrow_mut(), json, settings.max_file_bytes))
        } else if data.len() > settings.max_file_bytes {
            Err(format!(
                "{} bytes, over the per-file limit of {} (compact.max_file_mb)",
                data.len(),
                settings.max_file_bytes
            ))
        } else {
            json.extend_from_slice(data);
            Ok(())
        };
        match unpacked {
            Ok(()) => taken.push((obj, json.len() - start)),
            Err(reason) => {
                decoder.quarantine_file(&obj.url, reason);
                out.failed.push(obj.clone());
            }
        }
    }
    let files: Vec<(&str, usize)> = taken
        .iter()
        .map(|(obj, len)| (obj.url.as_str(), *len))
        .collect();
    let mut stats = decoder.decode_files(json, &files);
    // A file with a number too wide for 64 bits, or one that does not
    // parse as a whole: again, from its bytes.
    for (i, s) in stats.iter_mut().enumerate() {
        if !s.wide_numbers && !s.invalid {
            continue;
        }
        let obj = taken[i].0;
        let data = objects
            .iter()
            .find(|(o, _)| o.url == obj.url)
            .and_then(|(_, d)| d.as_ref().ok())
            .expect("a decoded object was fetched");
        let mut text = Vec::new();
        let unpacked = if obj.gzipped {
            INFLATER.with(|d| {
                source::gunzip(
                    data,
                    &mut d.borrow_mut(),
                    &mut text,
                    settings.max_file_bytes,
                )
            })
        } else {
            text.extend_from_slice(data);
            Ok(())
        };
        *s = match unpacked {
            Ok(()) if s.wide_numbers => decoder.decode_with_wide_numbers(&obj.url, &text),
            Ok(()) => decoder.decode_records_alone(&obj.url, &text),
            Err(reason) => {
                decoder.quarantine_file(&obj.url, reason);
                crate::decode::FileStats {
                    failed: true,
                    ..Default::default()
                }
            }
        };
    }
    for ((obj, len), stats) in taken.iter().zip(stats) {
        // A file that failed whole contributes nothing and is not marked read.
        if stats.failed {
            out.failed.push((*obj).clone());
            continue;
        }
        out.json_bytes += *len as u64;
        out.records += stats.records;
        out.records_quarantined += stats.quarantined;
        out.read.push((*obj).clone());
    }
    out.batches.extend(decoder.finish());
}
