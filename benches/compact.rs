//! Criterion benches, throughput in bytes of uncompressed JSON:
//! - `decode`: gunzipped JSON -> per-partition Arrow batches (one thread);
//! - `merge_encode`: dedupe + sort + Parquet zstd(1) of the decoded rows;
//! - `compact`: the whole binary path on generated logs (list, gunzip,
//!   decode, merge, write, commit), 2 threads.
//!
//! `cargo bench --bench compact`; `scripts/bench-vs-duckdb.sh` compares the
//! end-to-end figure with DuckDB.

use std::io::Read;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use traillake::compact::{compact, CompactOptions};
use traillake::decode::Decoder;
use traillake::generate::{generate, GenerateOptions};
use traillake::sink::{self, WriteOptions};
use traillake::store::Location;

struct Corpus {
    _dir: tempfile::TempDir,
    src: std::path::PathBuf,
    /// (key, gunzipped JSON) of every log file.
    files: Vec<(String, Vec<u8>)>,
    json_bytes: u64,
}

fn corpus() -> Corpus {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let opts = GenerateOptions {
        out: src.clone(),
        accounts: 2,
        regions: 2,
        days: 1,
        events_per_day: 6_000,
        ..GenerateOptions::default()
    };
    let summary = generate(&opts).expect("generate");
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".json.gz")
                && !p.to_string_lossy().contains("Digest")
            {
                let gz = std::fs::read(&p).expect("read");
                let mut json = Vec::new();
                flate2::read::MultiGzDecoder::new(&gz[..])
                    .read_to_end(&mut json)
                    .expect("gunzip");
                files.push((p.to_string_lossy().to_string(), json));
            }
        }
    }
    files.sort();
    Corpus {
        _dir: dir,
        src,
        files,
        json_bytes: summary.json_bytes,
    }
}

fn benches(c: &mut Criterion) {
    let corpus = corpus();
    let mut g = c.benchmark_group("cloudtrail");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(corpus.json_bytes));

    g.bench_function("decode", |b| {
        b.iter_batched(
            || corpus.files.clone(),
            |mut files| {
                let mut d = Decoder::new();
                for (key, json) in &mut files {
                    d.decode_file(key, json);
                }
                d.finish()
            },
            BatchSize::LargeInput,
        )
    });

    let mut d = Decoder::new();
    for (key, json) in &corpus.files {
        d.decode_file(key, &mut json.clone());
    }
    let batches = d.finish();
    g.bench_function("merge_encode", |b| {
        b.iter(|| {
            let opts = WriteOptions::default();
            for (_, batch) in &batches {
                let merged = sink::merge(vec![batch.clone()]);
                sink::encode(&merged, &opts).expect("encode");
            }
        })
    });

    g.bench_function("compact", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("tempdir"),
            |lake| {
                let source =
                    Location::parse(corpus.src.to_str().expect("utf-8"), false).expect("source");
                let lake_loc =
                    Location::parse(lake.path().to_str().expect("utf-8"), true).expect("lake");
                let mut opts = CompactOptions::new(source, lake_loc);
                opts.threads = 2;
                compact(&opts).expect("compact");
                lake
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(compact_benches, benches);
criterion_main!(compact_benches);
