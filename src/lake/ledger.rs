//! The ledger: which source objects the lake holds, kept per source folder
//! (`AWSLogs/.../<region>/<yyyy>/<mm>/<dd>`), so a run reads only the
//! ledgers of the folders it lists, however many objects were ever
//! ingested.
//!
//! Each run that ingests objects of a folder adds a segment for it, named by
//! the run: one file, its objects' names (relative to the folder) with the
//! size and ETag or modification time they were read with, so an object
//! rewritten in place is noticed and read again. Segments only add, so
//! shards and runs never contend for one; when a folder has
//! [`COMPACT_AT`] segments or more, the run that adds the next one writes
//! all of them as one instead and deletes the rest (through its journal).
//! A reader takes the union of whatever segments it finds.
//!
//! In memory a folder's ledger is a map from names to the identities they
//! were read with: about 100 bytes an object, for the folders in a run's
//! window only.

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{layout, Lake, LakeError};

/// Segments of a folder at which a run compacts them into one.
pub const COMPACT_AT: usize = 4;

/// An object as a ledger records it: `(name, size, tag)`.
pub type Entry = (String, Option<u64>, Option<String>);

/// What a segment file holds.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Segment {
    /// The source's URL, for people reading the lake's state.
    pub source: String,
    /// The folder, relative to the source.
    pub folder: String,
    /// `(name, size, tag)` of each object. `null` size and tag stand for
    /// "any" (objects recorded before releases that kept them).
    pub objects: Vec<Entry>,
}

/// The identities a name was ingested with.
type Identities = Vec<(Option<u64>, Option<String>)>;

/// One folder's ledger.
#[derive(Debug, Default, Clone)]
pub struct FolderLedger {
    objects: HashMap<String, Identities>,
    /// The segment files read, relative to the lake's root.
    pub segments: Vec<String>,
}

/// Whether, and how, an object is in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Never ingested.
    New,
    /// Ingested as it is now.
    Ingested,
    /// Ingested, but it has been rewritten since (size or tag differ).
    Rewritten,
}

impl FolderLedger {
    pub fn seen(&self, name: &str, size: u64, tag: Option<&str>) -> Seen {
        let Some(ids) = self.objects.get(name) else {
            return Seen::New;
        };
        let same = ids.iter().any(|(s, t)| {
            s.is_none_or(|s| s == size) && (t.is_none() || tag.is_none() || t.as_deref() == tag)
        });
        if same {
            Seen::Ingested
        } else {
            Seen::Rewritten
        }
    }

    fn add(&mut self, segment: Segment) {
        for (name, size, tag) in segment.objects {
            let ids = self.objects.entry(name).or_default();
            if !ids.contains(&(size, tag.clone())) {
                ids.push((size, tag));
            }
        }
    }

    /// Every object as a segment's list, in name order.
    pub fn entries(&self) -> Vec<Entry> {
        let sorted: BTreeMap<&String, &Identities> = self.objects.iter().collect();
        sorted
            .into_iter()
            .flat_map(|(name, ids)| ids.iter().map(|(s, t)| (name.clone(), *s, t.clone())))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// Reads the ledgers of `folders` (relative to the source), `concurrency`
/// folders at a time. A folder with no ledger yet has an empty one.
pub async fn read(
    lake: &Lake,
    source: &str,
    folders: &[String],
    concurrency: usize,
    done: &crate::progress::Count,
) -> Result<HashMap<String, FolderLedger>, LakeError> {
    let results: Vec<Result<(String, FolderLedger), LakeError>> =
        futures::stream::iter(folders.iter().cloned())
            .map(|folder| async move {
                let ledger = read_folder(lake, source, &folder).await?;
                done.add(1);
                Ok((folder, ledger))
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    results.into_iter().collect()
}

async fn read_folder(lake: &Lake, source: &str, folder: &str) -> Result<FolderLedger, LakeError> {
    // A segment may vanish between the listing and its read when another
    // run compacts the folder's segments: its objects are then in the new
    // one, so list again.
    'again: for _ in 0..3 {
        let (objects, _) = lake
            .list_dir(&layout::ledger_folder(source, folder))
            .await?;
        let mut ledger = FolderLedger::default();
        for meta in objects {
            let rel = lake.loc.relative(&meta.location);
            if !layout::is_state_file(&rel) {
                continue;
            }
            match lake.get_json::<Segment>(&rel).await? {
                Some(segment) => ledger.add(segment),
                None => continue 'again,
            }
            ledger.segments.push(rel);
        }
        return Ok(ledger);
    }
    Err(LakeError::Store {
        url: lake
            .loc
            .url_of_relative(&layout::ledger_folder(source, folder)),
        reason: "the ledger kept changing while it was read".into(),
    })
}

/// The files a run writes for one folder's ledger, and the ones it
/// replaces: the new segment alone, or, when the folder already has
/// [`COMPACT_AT`] - 1 segments or more, one segment holding all of them.
pub fn next_segment(
    source_url: &str,
    folder: &str,
    existing: &FolderLedger,
    added: Vec<Entry>,
) -> (Segment, Vec<String>) {
    let mut segment = Segment {
        source: source_url.to_string(),
        folder: folder.to_string(),
        objects: added,
    };
    if existing.segments.len() + 1 >= COMPACT_AT {
        let mut all = existing.clone();
        all.add(segment);
        segment = Segment {
            source: source_url.to_string(),
            folder: folder.to_string(),
            objects: all.entries(),
        };
        return (segment, existing.segments.clone());
    }
    segment.objects.sort();
    (segment, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(segments: &[&[(&str, u64, &str)]]) -> FolderLedger {
        let mut l = FolderLedger::default();
        for (i, s) in segments.iter().enumerate() {
            l.add(Segment {
                objects: s
                    .iter()
                    .map(|(n, size, t)| (n.to_string(), Some(*size), Some(t.to_string())))
                    .collect(),
                ..Segment::default()
            });
            l.segments.push(format!("seg{i}"));
        }
        l
    }

    #[test]
    fn an_object_is_new_ingested_or_rewritten() {
        let l = ledger(&[&[("a", 10, "e1")], &[("b", 5, "e2")]]);
        assert_eq!(l.seen("a", 10, Some("e1")), Seen::Ingested);
        assert_eq!(l.seen("a", 10, Some("e9")), Seen::Rewritten);
        assert_eq!(l.seen("a", 11, Some("e1")), Seen::Rewritten);
        assert_eq!(l.seen("c", 1, None), Seen::New);
        // Read again after the rewrite: both identities count as ingested.
        let l = ledger(&[&[("a", 10, "e1")], &[("a", 12, "e3")]]);
        assert_eq!(l.seen("a", 12, Some("e3")), Seen::Ingested);
        // Entries from before identities were kept match any identity.
        let mut old = FolderLedger::default();
        old.add(Segment {
            objects: vec![("a".into(), None, None)],
            ..Segment::default()
        });
        assert_eq!(old.seen("a", 99, Some("x")), Seen::Ingested);
    }

    #[test]
    fn segments_compact_into_one_at_the_threshold() {
        let added = vec![("z".to_string(), Some(1), Some("t".to_string()))];
        let few = ledger(&[&[("a", 1, "t")], &[("b", 1, "t")]]);
        let (seg, gone) = next_segment("s3://b", "f", &few, added.clone());
        assert_eq!(seg.objects, added);
        assert!(gone.is_empty());
        let many = ledger(&[&[("a", 1, "t")], &[("b", 1, "t")], &[("c", 1, "t")]]);
        let (seg, gone) = next_segment("s3://b", "f", &many, added);
        assert_eq!(gone, ["seg0", "seg1", "seg2"]);
        let names: Vec<&str> = seg.objects.iter().map(|o| o.0.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "z"]);
    }
}
