//! A run's quarantine: every file and record that could not be taken,
//! written out as it is found (one JSON line each, the record verbatim) to
//! a local file that the commit moves into the lake with the run's other
//! state. Memory holds the counts by reason and the first few entries for
//! the report, whatever the input: a gzip of a million bad records costs a
//! file on disk, not a million entries in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use crate::decode::{QuarantineSink, Quarantined};

/// Entries kept in memory for the report and for stderr.
pub use crate::report::QUARANTINE_EXAMPLES as EXAMPLES;

#[derive(Default)]
struct Tally {
    examples: Vec<Quarantined>,
    by_reason: BTreeMap<String, u64>,
    files: u64,
    records: u64,
    error: Option<std::io::Error>,
}

pub struct QuarantineFile {
    pub path: PathBuf,
    out: Mutex<Option<BufWriter<File>>>,
    tally: Mutex<Tally>,
}

/// The kind of a reason: its words before the first `:` (`invalid JSON`,
/// `read failed`, ...), so counts by reason stay few.
pub fn reason_kind(reason: &str) -> String {
    // Quoted values and numbers vary; the words around them are the kind.
    let mut plain = String::with_capacity(reason.len());
    let mut quoted = false;
    let mut escaped = false;
    let mut number = false;
    for c in reason.chars() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
                plain.push_str("\"...\"");
            }
            continue;
        }
        if c == '"' {
            quoted = true;
        } else if c.is_ascii_digit()
            && (number || !plain.ends_with(|p: char| p.is_ascii_alphanumeric() || p == '-'))
        {
            // A count or a size; not a name's digits (`ISO-8601`).
            if !number {
                plain.push('N');
            }
            number = true;
            continue;
        } else {
            plain.push(c);
        }
        number = false;
    }
    let kind = plain.split(':').next().unwrap_or(&plain);
    let kind: String = kind
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(80)
        .collect();
    if kind.is_empty() {
        "other".into()
    } else {
        kind
    }
}

impl QuarantineFile {
    pub fn create(path: PathBuf) -> std::io::Result<Self> {
        let f = File::create(&path)?;
        Ok(Self {
            path,
            out: Mutex::new(Some(BufWriter::with_capacity(1 << 20, f))),
            tally: Mutex::default(),
        })
    }

    /// Flushes and closes the file; the first write error, if any.
    pub fn close(&self) -> std::io::Result<()> {
        if let Some(mut w) = self.out.lock().expect("no panic holding it").take() {
            w.flush()?;
        }
        match self.tally.lock().expect("no panic holding it").error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub fn files(&self) -> u64 {
        self.tally.lock().expect("no panic holding it").files
    }

    pub fn records(&self) -> u64 {
        self.tally.lock().expect("no panic holding it").records
    }

    /// The first entries, and the counts by kind of reason.
    pub fn summary(&self) -> (Vec<Quarantined>, BTreeMap<String, u64>) {
        let t = self.tally.lock().expect("no panic holding it");
        (t.examples.clone(), t.by_reason.clone())
    }

    pub fn is_empty(&self) -> bool {
        let t = self.tally.lock().expect("no panic holding it");
        t.files == 0 && t.records == 0
    }
}

impl QuarantineSink for QuarantineFile {
    fn put(&self, q: Quarantined) {
        let line = format!(
            "{{\"key\":{},\"record\":{},\"reason\":{},\"raw\":{}}}\n",
            serde_json::to_string(&q.key).expect("string"),
            q.record.map_or("null".to_string(), |r| r.to_string()),
            serde_json::to_string(&q.reason).expect("string"),
            q.raw.as_deref().unwrap_or("null"),
        );
        let written = match self.out.lock().expect("no panic holding it").as_mut() {
            Some(w) => w.write_all(line.as_bytes()),
            None => Ok(()),
        };
        let mut t = self.tally.lock().expect("no panic holding it");
        if let Err(e) = written {
            t.error.get_or_insert(e);
        }
        *t.by_reason.entry(reason_kind(&q.reason)).or_default() += 1;
        if q.record.is_some() {
            t.records += 1;
        } else {
            t.files += 1;
        }
        if t.examples.len() < EXAMPLES {
            t.examples.push(Quarantined { raw: None, ..q });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reason_kind;

    #[test]
    fn reasons_group_by_their_words_not_their_values() {
        for (reason, kind) in [
            (
                r#"eventTime "2024-01-15T12:00:00+99:99" is not an ISO-8601 time"#,
                r#"eventTime "..." is not an ISO-8601 time"#,
            ),
            (
                r#"eventTime "0000-01-01T00:00:00+01:00" is before CloudTrail began (2013)"#,
                r#"eventTime "..." is before CloudTrail began (N)"#,
            ),
            (
                "record of about 20000000 bytes is over the 16777216-byte limit",
                "record of about N bytes is over the N-byte limit",
            ),
            (
                "invalid JSON: InvalidUtf8 at character 12 ('x')",
                "invalid JSON",
            ),
            ("", "other"),
        ] {
            assert_eq!(reason_kind(reason), kind, "{reason}");
        }
    }
}
