//! Which of a partition's files a run rewrites with its new rows.
//!
//! New rows go to a new file; the lake's files are left as they are, unless
//! small files of one generation pile up. A file at three quarters of the
//! target size or more is *full* and never rewritten. A run's new file is
//! generation 0; when a partition holds `merge_at - 1` small files of
//! generation 0, the run merges them with its new rows into one of
//! generation 1, and so on up (files at the target size that a merge makes
//! are full). So a row is rewritten about once per generation, and with
//! `merge_at` = 8, a day compacted in 24 hourly runs writes under 2x its
//! final bytes (each row once new, once merged), where merging every run
//! wrote ~12x; a partition holds at most `merge_at - 1` small files per
//! generation. This is the tiered compaction of LSM stores, and what Delta
//! Lake's auto-compaction does with its file-count threshold.

use crate::lake::layout::{self, Owner};
use crate::lake::LakeFile;

/// A partition's files, split by what the run does with them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Choice {
    /// Rewritten with the new rows.
    pub merge: Vec<LakeFile>,
    /// Left as they are (duplicates of them among the new rows are dropped).
    pub settled: Vec<LakeFile>,
    /// The generation of the files the run writes.
    pub generation: u32,
}

/// Decides for the files `existing` of one partition. Only `owner`'s own
/// files are merged (a shard never rewrites another's).
pub fn choose(existing: &[LakeFile], owner: Owner, target_bytes: u64, merge_at: usize) -> Choice {
    let full = |f: &LakeFile| f.size.saturating_mul(4) >= target_bytes.saturating_mul(3);
    let mergeable = |f: &LakeFile| owner.owns(f.name()) && !full(f);
    let mut merge: Vec<LakeFile> = Vec::new();
    let mut generation = 0u32;
    loop {
        let of_generation: Vec<&LakeFile> = existing
            .iter()
            .filter(|f| mergeable(f) && layout::generation(f.name()) == generation)
            .collect();
        // The run's own output counts as one more file of this generation.
        if of_generation.len() + 1 < merge_at.max(2) {
            break;
        }
        merge.extend(of_generation.into_iter().cloned());
        generation += 1;
    }
    let settled = existing
        .iter()
        .filter(|f| !merge.contains(f))
        .cloned()
        .collect();
    Choice {
        merge,
        settled,
        generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(run: &str, generation: u32, size: u64) -> LakeFile {
        LakeFile {
            rel: format!("p/{}", layout::data_file_name(run, generation, 0)),
            size,
        }
    }

    #[test]
    fn small_files_merge_by_generation_and_full_ones_stay() {
        let t = 1000;
        let g0: Vec<LakeFile> = (0..7)
            .map(|i| file(&format!("r{i}-all-1"), 0, 10))
            .collect();
        // Six small files and the new one: not yet.
        let c = choose(&g0[..6], Owner::All, t, 8);
        assert!(c.merge.is_empty());
        assert_eq!(c.generation, 0);
        assert_eq!(c.settled.len(), 6);
        // Seven and the new one: merged into generation 1.
        let c = choose(&g0, Owner::All, t, 8);
        assert_eq!(c.merge.len(), 7);
        assert_eq!(c.generation, 1);
        // Seven of generation 1 as well: both merged, into generation 2.
        let mut files = g0.clone();
        files.extend((0..7).map(|i| file(&format!("q{i}-all-1"), 1, 80)));
        files.push(file("big-all-1", 1, 900));
        let c = choose(&files, Owner::All, t, 8);
        assert_eq!(c.merge.len(), 14);
        assert_eq!(c.generation, 2);
        assert_eq!(c.settled, [file("big-all-1", 1, 900)]);
    }

    #[test]
    fn a_shard_merges_only_its_own_files() {
        let mine: Vec<LakeFile> = (0..7)
            .map(|i| file(&format!("r{i}-s0of2-1"), 0, 10))
            .collect();
        let mut all = mine.clone();
        all.extend((0..7).map(|i| file(&format!("o{i}-s1of2-1"), 0, 10)));
        let c = choose(&all, Owner::Shard { index: 0, count: 2 }, 1000, 8);
        assert_eq!(c.merge, mine);
        assert_eq!(c.settled.len(), 7);
        // An unsharded run merges everyone's.
        let c = choose(&all, Owner::All, 1000, 8);
        assert_eq!(c.merge.len(), 14);
    }
}
