//! The floor under a compaction: the stages no run can skip, each timed
//! alone on all threads, with the same libraries and settings the run uses
//! and nothing else (no listing, no reads from disk, no sort, no dedupe, no
//! spills, no files written, no commit):
//!
//! - gunzip: libdeflate, into buffers reused across rounds;
//! - parse: simd-json's tape of each file where it lies, buffers reused;
//! - decode: the decoder (the tape and the Arrow builders), 40 files a slice;
//! - encode: each partition's decoded batches through parquet's ArrowWriter
//!   with the lake's writer properties, into memory: a file per partition,
//!   or per four row groups of a bigger one, files spread over the threads.
//!
//! `scripts/bench-floor.sh` runs it beside a real compaction and DuckDB.
//!
//!   cargo run --release --example stage_floors -- SRC [THREADS] [ROUNDS]
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use traillake::decode::Decoder;
use traillake::partition::PartitionKey;
use traillake::sink::WriteOptions;
use traillake::source::gunzip::{gunzip, Inflater, MAX_DECOMPRESSED};

/// A log object: its path and its gzipped bytes.
type File = (String, Vec<u8>);

fn main() {
    let mut args = std::env::args().skip(1);
    let src = args
        .next()
        .expect("usage: stage_floors SRC [THREADS] [ROUNDS]");
    let threads: usize = args.next().map_or(2, |s| s.parse().expect("THREADS"));
    let rounds: usize = args.next().map_or(3, |s| s.parse().expect("ROUNDS"));
    let mut paths: Vec<PathBuf> = walk(Path::new(&src))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "gz"))
        .collect();
    paths.sort();
    let files: Vec<File> = paths
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read(p).expect("read")))
        .collect();
    // Each thread takes every THREADS-th file (the shapes' folders are
    // evenly sized, so the shares are too).
    let shares: Vec<Vec<File>> = (0..threads)
        .map(|t| files.iter().skip(t).step_by(threads).cloned().collect())
        .collect();
    // Each thread's files in slices of 40, gunzipped end to end into one
    // buffer per slice, as a run reads them.
    let slices: Vec<Vec<&[File]>> = shares.iter().map(|s| s.chunks(40).collect()).collect();
    let mut texts: Vec<Vec<Text>> = slices
        .iter()
        .map(|s| vec![Text::default(); s.len()])
        .collect();
    let mut times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut json_bytes = 0;
    let mut out_bytes = 0;
    for _ in 0..rounds {
        let t = inflate(&slices, &mut texts);
        times.entry("gunzip").or_default().push(t);
        json_bytes = texts.iter().flatten().map(|t| t.bytes.len()).sum::<usize>();

        // Parsing leaves the text modified, so the decoder gets it afresh.
        // A file that does not parse (real logs have some) costs what its
        // parse cost, as in a run, which then quarantines it.
        let t = Instant::now();
        std::thread::scope(|s| {
            for texts in texts.iter_mut() {
                s.spawn(move || {
                    let mut buffers = simd_json::Buffers::default();
                    let mut empty = simd_json::Tape::null();
                    for Text { bytes, lens } in texts.iter_mut() {
                        // Each file parsed where it lies, padded by what
                        // follows it, as the decoder does.
                        let end = bytes.len();
                        bytes.resize(end + simd_json::INPUT_PADDING, b' ');
                        let mut at = 0;
                        for &len in lens.iter() {
                            let mut tape = empty.reset();
                            let _ = simd_json::fill_tape_padded(
                                &mut bytes[at..],
                                len,
                                &mut buffers,
                                &mut tape,
                            );
                            empty = tape.reset();
                            at += len;
                        }
                        bytes.truncate(end);
                    }
                });
            }
        });
        times.entry("parse").or_default().push(t.elapsed());
        inflate(&slices, &mut texts);

        let t = Instant::now();
        let decoded: Vec<Vec<(PartitionKey, RecordBatch)>> = std::thread::scope(|s| {
            let handles: Vec<_> = slices
                .iter()
                .zip(texts.iter_mut())
                .map(|(slices, texts)| {
                    s.spawn(move || {
                        let mut decoder = Decoder::new();
                        let mut out = Vec::new();
                        for (files, text) in slices.iter().zip(texts.iter_mut()) {
                            let keys: Vec<(&str, usize)> = files
                                .iter()
                                .zip(&text.lens)
                                .map(|((key, _), &len)| (key.as_str(), len))
                                .collect();
                            decoder.decode_files(&mut text.bytes, &keys);
                            out.extend(decoder.finish());
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("decode"))
                .collect()
        });
        times.entry("decode").or_default().push(t.elapsed());

        let mut partitions: BTreeMap<PartitionKey, Vec<RecordBatch>> = BTreeMap::new();
        for (key, batch) in decoded.into_iter().flatten() {
            partitions.entry(key).or_default().push(batch);
        }
        // A file per partition, or per four row groups of a bigger one, so
        // a hot partition's rows are encoded on every thread too.
        let options = WriteOptions::default();
        let file_rows = 4 * options.row_group_rows;
        let mut outputs: Vec<Vec<RecordBatch>> = Vec::new();
        for batches in partitions.into_values() {
            let mut rows = 0;
            for b in batches {
                if rows == 0 || rows + b.num_rows() > file_rows {
                    outputs.push(Vec::new());
                    rows = 0;
                }
                rows += b.num_rows();
                outputs.last_mut().expect("pushed").push(b);
            }
        }
        let props = options.properties();
        let t = Instant::now();
        out_bytes = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    let (outputs, props) = (&outputs, props.clone());
                    s.spawn(move || {
                        let mut bytes = 0;
                        for batches in outputs.iter().skip(i).step_by(threads) {
                            let mut w = ArrowWriter::try_new(
                                Vec::new(),
                                batches[0].schema(),
                                Some(props.clone()),
                            )
                            .expect("writer");
                            for b in batches {
                                w.write(b).expect("write");
                            }
                            bytes += w.into_inner().expect("close").len();
                        }
                        bytes
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("encode"))
                .sum::<usize>()
        });
        times.entry("encode").or_default().push(t.elapsed());
    }
    let mb = json_bytes as f64 / 1e6;
    println!(
        "{} files, {mb:.0} MB of JSON, {:.1} MB of Parquet; {threads} threads, medians of {rounds} rounds",
        files.len(),
        out_bytes as f64 / 1e6
    );
    let median = |stage: &str| {
        let mut v = times[stage].clone();
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    for stage in ["gunzip", "parse", "decode", "encode"] {
        let s = median(stage);
        println!("{stage:<8} {s:>7.3} s {:>7.0} MB/s of JSON", mb / s);
    }
    let bare = median("gunzip") + median("parse") + median("encode");
    let full = median("gunzip") + median("decode") + median("encode");
    println!("floor, builders free (gunzip + parse + encode): {bare:.3} s");
    println!("floor with the builders (gunzip + decode + encode): {full:.3} s");
}

/// A slice's files gunzipped end to end, and each one's length in `bytes`.
#[derive(Clone, Default)]
struct Text {
    bytes: Vec<u8>,
    lens: Vec<usize>,
}

/// Gunzips each slice's files end to end into its text, on a thread per
/// share; returns the time taken. A file that does not gunzip adds nothing
/// (a run quarantines it).
fn inflate(slices: &[Vec<&[File]>], texts: &mut [Vec<Text>]) -> Duration {
    let t = Instant::now();
    std::thread::scope(|s| {
        for (slices, texts) in slices.iter().zip(texts.iter_mut()) {
            s.spawn(move || {
                let mut inflater = Inflater::new();
                for (files, text) in slices.iter().zip(texts.iter_mut()) {
                    text.bytes.clear();
                    text.lens.clear();
                    for (_, gz) in files.iter() {
                        let at = text.bytes.len();
                        let _ = gunzip(gz, &mut inflater, &mut text.bytes, MAX_DECOMPRESSED);
                        text.lens.push(text.bytes.len() - at);
                    }
                }
            });
        }
    });
    t.elapsed()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
