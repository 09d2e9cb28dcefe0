//! Partition manifests: which data files each partition should hold, and
//! which source folders its rows came from. A run that changes a partition
//! writes its manifest through the journal, beside the data; a later run
//! that touches the partition compares the files it lists with it, so a
//! file that went missing, changed size or was dropped in by someone else
//! stops the run (naming `traillake repair`) instead of losing rows
//! silently. `repair` re-reads the manifest's source folders to restore what
//! was lost.
//!
//! One manifest per partition and owner tag (`all`, `s1of4`): a file
//! belongs to the manifest of the tag in its name, and only that tag's runs
//! (or an unsharded run, which excludes every shard) rewrite it, so shards
//! running at once never write the same manifest. Reading one partition's
//! manifests costs one LIST and a GET per owner that wrote to it.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use super::layout::{self, Owner};
use super::{Lake, LakeError, LakeFile};
use crate::partition::PartitionKey;

/// What a partition (of one owner tag) should hold.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The partition's Hive path, for people reading the state.
    pub partition: String,
    /// In name order.
    pub files: Vec<ManifestFile>,
    /// The source folders (URLs) whose objects brought rows here, ever.
    #[serde(default)]
    pub sources: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestFile {
    pub name: String,
    pub size: u64,
    /// Rows, when the writer knew them.
    #[serde(default)]
    pub rows: Option<u64>,
}

/// The owner tag a data file belongs to: the shard tag in its name, or
/// `all`.
pub fn tag_of(name: &str) -> String {
    name.split('-')
        .find(|part| layout::is_shard_tag(part))
        .unwrap_or("all")
        .to_string()
}

/// Whether a `.parquet` name is one traillake writes (`part-...`): any other
/// Parquet file in a partition was put there by someone else.
pub fn is_ours(name: &str) -> bool {
    name.starts_with("part-") && layout::is_data_file(name)
}

/// What is wrong with one file of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// In the manifest, not in the partition.
    Missing,
    /// In both, with another size (truncated, overwritten).
    Changed { expected: u64, found: u64 },
    /// A Parquet file traillake did not write.
    Foreign,
    /// Named like ours but recorded by no run.
    Unrecorded,
    /// Its footer or schema cannot be read.
    Unreadable(String),
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Missing => write!(f, "missing (a run wrote it; it is gone)"),
            Damage::Changed { expected, found } => write!(
                f,
                "changed since it was written ({found} bytes, written as {expected})"
            ),
            Damage::Foreign => write!(f, "not written by traillake"),
            Damage::Unrecorded => write!(f, "recorded by no run's manifest"),
            Damage::Unreadable(why) => write!(f, "unreadable: {why}"),
        }
    }
}

/// A partition's manifests as read: `(path, manifest)`.
#[derive(Debug, Default, Clone)]
pub struct Manifests {
    pub read: Vec<(String, Manifest)>,
}

impl Manifests {
    /// Every source folder any manifest names.
    pub fn sources(&self) -> BTreeSet<String> {
        self.read
            .iter()
            .flat_map(|(_, m)| m.sources.iter().cloned())
            .collect()
    }

    /// The files recorded, by name.
    pub fn files(&self) -> BTreeMap<&str, &ManifestFile> {
        self.read
            .iter()
            .flat_map(|(_, m)| m.files.iter().map(|f| (f.name.as_str(), f)))
            .collect()
    }

    /// Files with the tags whose manifests were read. A partition with no
    /// manifest (written before manifests existed) is checked for foreign
    /// files only.
    pub fn check(
        &self,
        key: &PartitionKey,
        listed: &[LakeFile],
        owner: Owner,
    ) -> Vec<(String, Damage)> {
        let mut out = Vec::new();
        let recorded = self.files();
        let tags: BTreeSet<String> = self
            .read
            .iter()
            .map(|(rel, _)| manifest_tag(rel).to_string())
            .collect();
        let mut seen = BTreeSet::new();
        for f in listed {
            let name = f.name();
            if !is_ours(name) {
                out.push((f.rel.clone(), Damage::Foreign));
                continue;
            }
            if !owner.owns(name) {
                continue;
            }
            seen.insert(name.to_string());
            match recorded.get(name) {
                Some(m) if m.size != f.size => out.push((
                    f.rel.clone(),
                    Damage::Changed {
                        expected: m.size,
                        found: f.size,
                    },
                )),
                Some(_) => {}
                None if tags.contains(&tag_of(name)) => {
                    out.push((f.rel.clone(), Damage::Unrecorded))
                }
                None => {}
            }
        }
        let dir = key.hive_path();
        for (_, m) in &self.read {
            for f in &m.files {
                if owner.owns(&f.name) && !seen.contains(&f.name) {
                    out.push((format!("{dir}/{}", f.name), Damage::Missing));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The manifests a run writes after changing the partition: one per
    /// owner tag among `files` (an unsharded run writes every tag's; a
    /// shard only its own), and the manifests to delete (tags with no file
    /// left). The sources go to the writer's own manifest.
    pub fn next(
        &self,
        key: &PartitionKey,
        owner: Owner,
        files: &[ManifestFile],
        new_sources: &BTreeSet<String>,
    ) -> (Vec<(String, Manifest)>, Vec<String>) {
        let own = owner.tag();
        let mut by_tag: BTreeMap<String, Manifest> = BTreeMap::new();
        for f in files {
            let tag = tag_of(&f.name);
            if owner != Owner::All && tag != own {
                continue;
            }
            by_tag
                .entry(tag)
                .or_insert_with(|| Manifest {
                    partition: key.hive_path(),
                    ..Manifest::default()
                })
                .files
                .push(f.clone());
        }
        let mut sources: BTreeSet<String> = match owner {
            Owner::All => self.sources(),
            Owner::Shard { .. } => self
                .read
                .iter()
                .filter(|(rel, _)| manifest_tag(rel) == own)
                .flat_map(|(_, m)| m.sources.iter().cloned())
                .collect(),
        };
        sources.extend(new_sources.iter().cloned());
        let mine = by_tag.entry(own.clone()).or_insert_with(|| Manifest {
            partition: key.hive_path(),
            ..Manifest::default()
        });
        mine.sources = sources;
        let writes: Vec<(String, Manifest)> = by_tag
            .into_iter()
            .map(|(tag, mut m)| {
                m.files.sort_by(|a, b| a.name.cmp(&b.name));
                (layout::manifest(key, &tag), m)
            })
            .collect();
        let deletes = self
            .read
            .iter()
            .map(|(rel, _)| rel.clone())
            .filter(|rel| {
                (owner == Owner::All || manifest_tag(rel) == own)
                    && !writes.iter().any(|(w, _)| w == rel)
            })
            .collect();
        (writes, deletes)
    }
}

/// The tag a manifest's path names (`.../all.json` -> `all`).
fn manifest_tag(rel: &str) -> &str {
    rel.rsplit('/')
        .next()
        .and_then(|n| n.strip_suffix(".json"))
        .unwrap_or("")
}

/// Reads a partition's manifests: every owner's for an unsharded run, the
/// shard's own for a shard. An unreadable manifest is an error naming it.
pub async fn read(lake: &Lake, key: &PartitionKey, owner: Owner) -> Result<Manifests, LakeError> {
    let rels: Vec<String> = match owner {
        Owner::All => lake
            .list_dir(&layout::manifest_dir(key))
            .await?
            .0
            .iter()
            .map(|m| lake.loc.relative(&m.location))
            .filter(|r| layout::is_state_file(r))
            .collect(),
        Owner::Shard { .. } => vec![layout::manifest(key, &owner.tag())],
    };
    let mut out = Manifests::default();
    for rel in rels {
        if let Some(m) = lake.get_json::<Manifest>(&rel).await? {
            out.read.push((rel, m));
        }
    }
    Ok(out)
}

/// What a `_superseded-<owner>.json` holds: the `eventID`s of events an
/// update (`addendum.reason = UPDATED_DATA`, `addendum.originalEventID`)
/// replaced, in that partition.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Superseded {
    pub original_event_ids: BTreeSet<String>,
}

/// Adds to `into` the original event ids that `batch`'s updates supersede.
/// The addendum is null on nearly every row: a batch without one costs a
/// look at its null count.
pub fn note_superseded(batch: &RecordBatch, into: &mut BTreeSet<String>) {
    let Some(col) = batch.column_by_name("addendum") else {
        return;
    };
    if col.null_count() == col.len() {
        return;
    }
    let Some(text) = col.as_string_opt::<i32>() else {
        return;
    };
    for v in text.iter().flatten() {
        let Ok(a) = serde_json::from_str::<serde_json::Value>(v) else {
            continue;
        };
        let field = |name: &str| {
            a.as_object().and_then(|o| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .and_then(|(_, v)| v.as_str())
            })
        };
        if field("reason") == Some("UPDATED_DATA") {
            if let Some(id) = field("originalEventID") {
                into.insert(id.to_string());
            }
        }
    }
}

/// Adds the folders of the `sourcekey`s of `batch` to `into` (rows of one
/// object come together, so mostly one comparison a row).
pub fn note_sources(batch: &RecordBatch, into: &mut BTreeSet<String>) {
    let Some(col) = batch.column_by_name(crate::schema::SOURCE_KEY) else {
        return;
    };
    let Some(keys) = col.as_string_opt::<i32>() else {
        return;
    };
    let mut last: Option<&str> = None;
    for i in 0..keys.len() {
        if keys.is_null(i) {
            continue;
        }
        let folder = keys.value(i).rsplit_once('/').map_or("", |(f, _)| f);
        if last != Some(folder) {
            if !into.contains(folder) {
                into.insert(folder.to_string());
            }
            last = Some(folder);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str, size: u64) -> LakeFile {
        LakeFile {
            rel: rel.to_string(),
            size,
        }
    }

    fn key() -> PartitionKey {
        PartitionKey::from_hive_path("account=1/region=r/year=2024/month=01/day=15").unwrap()
    }

    fn recorded(names: &[(&str, u64)]) -> Vec<ManifestFile> {
        names
            .iter()
            .map(|(n, s)| ManifestFile {
                name: n.to_string(),
                size: *s,
                rows: None,
            })
            .collect()
    }

    #[test]
    fn a_missing_changed_foreign_or_unrecorded_file_is_named() {
        let dir = key().hive_path();
        let a = "part-20240101T000000-000001-all-1-g0-00000.parquet";
        let b = "part-20240101T000000-000001-all-1-g0-00001.parquet";
        let c = "part-20240102T000000-000001-all-2-g0-00000.parquet";
        let (writes, _) = Manifests::default().next(
            &key(),
            Owner::All,
            &recorded(&[(a, 10), (b, 20)]),
            &BTreeSet::from(["s3://t/AWSLogs/1/CloudTrail/r/2024/01/15".to_string()]),
        );
        let m = Manifests { read: writes };
        let listed = vec![
            file(&format!("{dir}/{a}"), 11),
            file(&format!("{dir}/{c}"), 5),
            file(&format!("{dir}/notes.parquet"), 1),
        ];
        let damage = m.check(&key(), &listed, Owner::All);
        assert_eq!(
            damage,
            vec![
                (format!("{dir}/notes.parquet"), Damage::Foreign),
                (
                    format!("{dir}/{a}"),
                    Damage::Changed {
                        expected: 10,
                        found: 11
                    }
                ),
                (format!("{dir}/{b}"), Damage::Missing),
                (format!("{dir}/{c}"), Damage::Unrecorded),
            ]
        );
        // Exactly what the manifest says: nothing wrong.
        let listed = vec![
            file(&format!("{dir}/{a}"), 10),
            file(&format!("{dir}/{b}"), 20),
        ];
        assert!(m.check(&key(), &listed, Owner::All).is_empty());
        assert_eq!(m.sources().len(), 1);
    }

    #[test]
    fn shards_keep_manifests_of_their_own() {
        let shard = Owner::Shard { index: 1, count: 2 };
        let mine = "part-20240101T000000-000001-s1of2-1-g0-00000.parquet";
        let theirs = "part-20240101T000000-000001-s0of2-1-g0-00000.parquet";
        let old = "part-20230101T000000-000001-all-1-g0-00000.parquet";
        // An unsharded run writes one manifest per tag.
        let (writes, deletes) = Manifests::default().next(
            &key(),
            Owner::All,
            &recorded(&[(mine, 1), (theirs, 2), (old, 3)]),
            &BTreeSet::new(),
        );
        let tags: Vec<&str> = writes.iter().map(|(r, _)| manifest_tag(r)).collect();
        assert_eq!(tags, ["all", "s0of2", "s1of2"]);
        assert!(deletes.is_empty());
        let m = Manifests { read: writes };
        // The shard merged its file away: only its manifest changes.
        let new = "part-20240103T000000-000001-s1of2-1-g1-00000.parquet";
        let (writes, deletes) = m.next(&key(), shard, &recorded(&[(new, 4)]), &BTreeSet::new());
        assert_eq!(writes.len(), 1);
        assert_eq!(manifest_tag(&writes[0].0), "s1of2");
        assert_eq!(writes[0].1.files[0].name, new);
        assert!(deletes.is_empty());
        // A shard checks only its own files.
        let dir = key().hive_path();
        let listed = vec![file(&format!("{dir}/{theirs}"), 99)];
        assert_eq!(
            m.check(&key(), &listed, shard),
            vec![(format!("{dir}/{mine}"), Damage::Missing)]
        );
        assert_eq!(tag_of(mine), "s1of2");
        assert_eq!(tag_of(old), "all");
        assert!(!is_ours("notes.parquet") && is_ours(old));
    }
}
