//! The table `cloudtrail`: the lake's Parquet files with the partition
//! columns `account, region, year, month, day` from their paths.
//!
//! The listing follows the partition filters down the folders: each level
//! (`account=`, `region=`, ...) is listed only below the folders the level
//! above kept, and a filter is applied at the first level whose columns it
//! needs. So `year = '2024' AND month = '01' AND day = '15'` lists every
//! account and region once and then one day folder each, where a listing of
//! the whole lake would list every file of every day.
//!
//! The files read are those of the last committed run: a journal still
//! being carried out (or left by a run killed mid-switch) is applied to what
//! the listing saw, so a reader never counts a partition's old and new files
//! together. The figures `--explain` prints come from this same listing.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;
use futures::StreamExt;
use object_store::ObjectStoreExt;

use crate::lake::delta::{self, ActiveFile, AsOf};
use crate::lake::{layout, Lake};
use crate::partition::{Date, Days, PartitionKey};
use crate::schema::{self, PARTITION_COLUMNS};

/// What the last scan listed, for `--explain`.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Listing {
    /// Folders listed (one delimiter listing each).
    pub folders_listed: usize,
    /// Folders the partition filters dropped, by level, without listing
    /// below them.
    pub folders_pruned: usize,
    /// Partitions whose files are read.
    pub partitions_kept: usize,
    /// Data files in them (after any journal is applied), and their bytes.
    pub files: usize,
    pub file_bytes: u64,
    /// Journals of commits in progress that the view applied.
    pub journals_applied: usize,
    /// The Delta version read, when the lake has a Delta log (the files
    /// are then those of that version, and no folder of data is listed).
    pub delta_version: Option<u64>,
}

/// The days a session may read (`--since`/`--until`, inclusive, UTC): a
/// filter on the partition folders, applied to every scan of the table, so
/// a query over a year-long lake lists and reads only the window's days.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since: Option<Date>,
    pub until: Option<Date>,
    /// The lake's version read (`--as-of`): the latest by default.
    pub as_of: AsOf,
}

impl Window {
    /// The days before this window, at the same version: every day before
    /// `since`, or none when the window has no start.
    pub fn before(&self) -> Self {
        let until = match self.since {
            Some(d) => Date::from_days(d.to_days() - 1),
            // Before any day a lake can hold.
            None => Date::from_days(-1),
        };
        Self {
            since: None,
            until: Some(until),
            as_of: self.as_of,
        }
    }

    /// Whether a folder with these leading partition values (account,
    /// region, year, month, day) may hold days of the window.
    fn admits(&self, values: &[String]) -> bool {
        let [_, _, year, rest @ ..] = values else {
            return true;
        };
        let Ok(year) = year.parse::<i32>() else {
            return true;
        };
        let month = rest.first().and_then(|m| m.parse::<u32>().ok());
        let day = rest.get(1).and_then(|d| d.parse::<u32>().ok());
        Days {
            since: self.since,
            until: self.until,
        }
        .overlaps(year, month, day)
    }
}

#[derive(Debug)]
pub struct LakeTable {
    lake: Lake,
    store_url: ObjectStoreUrl,
    schema: SchemaRef,
    window: Window,
    /// Whether events an update superseded are left out (`cloudtrail`) or
    /// every version is read (`cloudtrail_all_versions`).
    current_only: bool,
    /// Listings of the scans planned, in order.
    pub listings: Arc<Mutex<Vec<Listing>>>,
    /// The Delta version a statement reads, loaded by its first scan and
    /// shared by every scan of it (and by both tables of a session), so a
    /// statement reads one version however many times it names the lake.
    pub snapshot: SharedSnapshot,
}

/// What a statement's scans read: a Delta version's files, or (a lake
/// without a log) the partition folders.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub version: Option<u64>,
    pub files: Option<Vec<ActiveFile>>,
}

pub type SharedSnapshot = Arc<SnapshotCell>;

/// The version a session's statements read.
#[derive(Debug, Default)]
pub struct SnapshotCell {
    loaded: tokio::sync::Mutex<Option<Arc<Snapshot>>>,
    /// Kept for every statement of the session (`detect`: every rule
    /// reads the same version), not loaded again per statement.
    pinned: std::sync::atomic::AtomicBool,
}

impl SnapshotCell {
    pub fn pin(&self) {
        self.pinned
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl LakeTable {
    pub fn new(lake: Lake, store_url: ObjectStoreUrl, window: Window) -> Self {
        let fields = schema::table_fields(false);
        Self {
            lake,
            store_url,
            schema: Arc::new(Schema::new(fields)),
            window,
            current_only: true,
            listings: Arc::default(),
            snapshot: Arc::default(),
        }
    }

    /// The same table, reading the version `other` reads.
    pub fn sharing_snapshot(mut self, other: &LakeTable) -> Self {
        self.snapshot = other.snapshot.clone();
        self
    }

    /// The version this statement reads: loaded once, then the same for
    /// every scan until [`LakeTable::clear_listings`].
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, crate::lake::LakeError> {
        let mut cached = self.snapshot.loaded.lock().await;
        if let Some(s) = cached.as_ref() {
            return Ok(s.clone());
        }
        let snapshot = match delta::load(&self.lake, &self.window.as_of).await? {
            Some(table) => Snapshot {
                version: table.version(),
                files: Some(delta::active_files(&self.lake, &table)?),
            },
            None if self.window.as_of != AsOf::Latest => {
                return Err(crate::lake::LakeError::NotALake {
                    url: self.lake.loc.url.clone(),
                    found: format!(
                        "it has no Delta log ({}/), so it has no older versions to read with                          --as-of; `traillake compact` writes the log from its next run",
                        delta::LOG_DIR
                    ),
                })
            }
            None => Snapshot::default(),
        };
        let snapshot = Arc::new(snapshot);
        *cached = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// The listings of the scans planned since the last clear.
    pub fn listings(&self) -> Vec<Listing> {
        self.listings.lock().expect("no panic holding it").clone()
    }

    /// Forgets the listings and the version read (a statement planned
    /// again reads the newest version).
    pub fn clear_listings(&self) {
        self.listings.lock().expect("no panic holding it").clear();
        if self
            .snapshot
            .pinned
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        if let Ok(mut s) = self.snapshot.loaded.try_lock() {
            *s = None;
        }
    }

    /// The same table with every version of an updated event.
    pub fn all_versions(mut self) -> Self {
        self.current_only = false;
        self
    }

    /// The files of the partitions that pass `conjuncts`, from the folders
    /// (a lake without a Delta log), with any commit in progress applied;
    /// and the superseded lists in those folders.
    async fn hive_files(
        &self,
        state: &dyn Session,
        conjuncts: &[Expr],
        listing: &mut Listing,
    ) -> DfResult<(Files, Vec<(String, Vec<String>)>)> {
        let partitions = self.partitions(state, conjuncts, listing).await?;
        let lake = &self.lake;
        let listed: Vec<_> = futures::stream::iter(partitions.iter().cloned())
            .map(|(rel, values)| async move {
                let files = lake.list_dir(&rel).await.map(|(objects, _)| objects);
                (values, files)
            })
            .buffer_unordered(32)
            .collect()
            .await;
        // path relative to the lake -> (size, partition values)
        let mut files: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
        let mut superseded_lists: Vec<(String, Vec<String>)> = Vec::new();
        for (values, objects) in listed {
            listing.folders_listed += 1;
            for m in objects.map_err(ext)? {
                let rel = lake.loc.relative(&m.location);
                let name = rel.rsplit('/').next().unwrap_or("");
                if layout::is_data_file(name) {
                    files.insert(rel, (m.size, values.clone()));
                } else if layout::is_superseded_list(name) {
                    superseded_lists.push((rel, values.clone()));
                }
            }
        }
        // A commit in progress: the files it replaces are gone already, and
        // the ones it brings are read from where they are now.
        let kept: HashSet<Vec<String>> = partitions.iter().map(|(_, v)| v.clone()).collect();
        let journals = lake.journals().await.map_err(ext)?;
        listing.journals_applied = journals.len();
        let mut staged: Vec<(String, String, Vec<String>)> = Vec::new();
        for j in &journals {
            for gone in &j.deletes {
                files.remove(gone);
            }
            for (from, to) in &j.moves {
                let Some(key) = PartitionKey::from_hive_path(to) else {
                    continue;
                };
                let values: Vec<String> = key.values().iter().map(|v| v.to_string()).collect();
                let passes = kept.contains(&values)
                    || !keep_passing(
                        state,
                        conjuncts,
                        PARTITION_COLUMNS.len(),
                        vec![(to.clone(), values.clone())],
                    )?
                    .is_empty();
                if passes && !files.contains_key(to) {
                    staged.push((from.clone(), to.clone(), values));
                }
            }
        }
        for (from, to, values) in staged {
            // Not moved yet: read it where it is staged (or, if it was moved
            // since, where it went).
            for rel in [&from, &to] {
                if let Ok(meta) = lake.loc.store.head(&lake.path(rel)).await {
                    files.insert(rel.clone(), (meta.size, values.clone()));
                    break;
                }
            }
        }
        Ok((files, superseded_lists))
    }

    /// The files of a Delta version in the partitions that pass
    /// `conjuncts`; and the superseded lists of those partitions (a LIST
    /// of each, for the current version of events only).
    async fn delta_files(
        &self,
        state: &dyn Session,
        conjuncts: &[Expr],
        active: &[ActiveFile],
        listing: &mut Listing,
    ) -> DfResult<(Files, Vec<(String, Vec<String>)>)> {
        let values = |k: &PartitionKey| -> Vec<String> {
            k.values().iter().map(|v| v.to_string()).collect()
        };
        let partitions: BTreeMap<Vec<String>, String> = active
            .iter()
            .map(|f| (values(&f.partition), f.partition.hive_path()))
            .collect();
        let before = partitions.len();
        let candidates: Vec<(String, Vec<String>)> = partitions
            .into_iter()
            .filter(|(v, _)| self.window.admits(v))
            .map(|(v, rel)| (rel, v))
            .collect();
        let kept = keep_passing(state, conjuncts, PARTITION_COLUMNS.len(), candidates)?;
        listing.folders_pruned += before - kept.len();
        let kept_values: HashSet<&Vec<String>> = kept.iter().map(|(_, v)| v).collect();
        let files: Files = active
            .iter()
            .filter_map(|f| {
                let v = values(&f.partition);
                kept_values
                    .contains(&v)
                    .then(|| (f.rel.clone(), (f.size, v)))
            })
            .collect();
        let mut superseded_lists = Vec::new();
        if self.current_only {
            let lake = &self.lake;
            let listed: Vec<_> = futures::stream::iter(kept.iter().cloned())
                .map(|(rel, values)| async move {
                    (
                        values,
                        lake.list_dir(&rel).await.map(|(objects, _)| objects),
                    )
                })
                .buffer_unordered(32)
                .collect()
                .await;
            for (values, objects) in listed {
                listing.folders_listed += 1;
                for m in objects.map_err(ext)? {
                    let rel = lake.loc.relative(&m.location);
                    let name = rel.rsplit('/').next().unwrap_or("");
                    if layout::is_superseded_list(name) {
                        superseded_lists.push((rel, values.clone()));
                    }
                }
            }
        }
        Ok((files, superseded_lists))
    }

    /// Partitions that pass `conjuncts`, found level by level.
    async fn partitions(
        &self,
        state: &dyn Session,
        conjuncts: &[Expr],
        listing: &mut Listing,
    ) -> DfResult<Vec<(String, Vec<String>)>> {
        let mut pruned = 0;
        let (kept, listed) = self
            .lake
            .partition_folders::<Ext>(|level, candidates| {
                let before = candidates.len();
                let candidates: Vec<_> = candidates
                    .into_iter()
                    .filter(|(_, values)| self.window.admits(values))
                    .collect();
                let kept = keep_passing(state, conjuncts, level + 1, candidates)?;
                pruned += before - kept.len();
                Ok(kept)
            })
            .await
            .map_err(|e| e.0)?;
        listing.folders_listed += listed;
        listing.folders_pruned += pruned;
        Ok(kept)
    }
}

/// Data files by path relative to the lake: size and partition values.
type Files = BTreeMap<String, (u64, Vec<String>)>;

fn ext(e: crate::lake::LakeError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(e.into())
}

/// DataFusion's error, carrying the lake's.
struct Ext(datafusion::error::DataFusionError);

impl From<crate::lake::LakeError> for Ext {
    fn from(e: crate::lake::LakeError) -> Self {
        Ext(datafusion::error::DataFusionError::External(e.into()))
    }
}

impl From<datafusion::error::DataFusionError> for Ext {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Ext(e)
    }
}

/// Of `candidates` (folders with the values of the first `known` partition
/// columns), those that pass every conjunct that needs no other column.
fn keep_passing(
    state: &dyn Session,
    conjuncts: &[Expr],
    known: usize,
    candidates: Vec<(String, Vec<String>)>,
) -> DfResult<Vec<(String, Vec<String>)>> {
    let cols = &PARTITION_COLUMNS[..known];
    let applicable: Vec<Expr> = conjuncts
        .iter()
        .filter(|e| expr_applicable_for_cols(cols, e))
        .cloned()
        .collect();
    if applicable.is_empty() || candidates.is_empty() {
        return Ok(candidates);
    }
    let fields: Vec<Field> = cols
        .iter()
        .map(|c| Field::new(*c, DataType::Utf8, true))
        .collect();
    let columns = (0..known)
        .map(|i| {
            Arc::new(
                candidates
                    .iter()
                    .map(|(_, v)| Some(v[i].as_str()))
                    .collect::<StringArray>(),
            ) as Arc<dyn Array>
        })
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    let keep = passing(state, &applicable, &batch)?;
    Ok(candidates
        .into_iter()
        .zip(keep)
        .filter_map(|(c, k)| k.then_some(c))
        .collect())
}

/// Which rows of `values` (partition columns, by name; a null value is a
/// key outside the layout) pass every one of `conjuncts`: a conjunct that
/// is null for a row drops it. The one evaluation of partition filters:
/// the table's folders, and scan-cost's raw log folders.
pub fn passing(
    state: &dyn Session,
    conjuncts: &[Expr],
    values: &RecordBatch,
) -> DfResult<Vec<bool>> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    let df_schema = DFSchema::try_from(values.schema().as_ref().clone())?;
    let mut keep = vec![true; values.num_rows()];
    for e in conjuncts {
        // A plan's filters name the table (`cloudtrail.year`); the values
        // have bare columns.
        let e = e
            .clone()
            .transform(|e| {
                Ok(match e {
                    Expr::Column(c) => Transformed::yes(Expr::Column(
                        datafusion::common::Column::new_unqualified(c.name),
                    )),
                    e => Transformed::no(e),
                })
            })?
            .data;
        let physical = state.create_physical_expr(e, &df_schema)?;
        let result = physical.evaluate(values)?.into_array(values.num_rows())?;
        let result = result.as_boolean();
        for (i, k) in keep.iter_mut().enumerate() {
            *k &= result.is_valid(i) && result.value(i);
        }
    }
    Ok(keep)
}

/// The conjuncts of `filters` that only partition columns decide.
fn partition_conjuncts(filters: &[Expr]) -> Vec<Expr> {
    filters
        .iter()
        .flat_map(split_conjunction)
        .filter(|e| expr_applicable_for_cols(&PARTITION_COLUMNS, e))
        .cloned()
        .collect()
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if expr_applicable_for_cols(&PARTITION_COLUMNS, f) {
                    // Applied exactly, to the folders.
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let conjuncts = partition_conjuncts(filters);
        let mut listing = Listing::default();
        let snapshot = self.snapshot().await.map_err(ext)?;
        let (files, superseded_lists) = match &snapshot.files {
            Some(active) => {
                listing.delta_version = snapshot.version;
                self.delta_files(state, &conjuncts, active, &mut listing)
                    .await?
            }
            None => self.hive_files(state, &conjuncts, &mut listing).await?,
        };
        let lake = &self.lake;
        // Events updates superseded, by partition: rare, so read only where
        // a list lies in a partition folder already listed.
        let mut superseded: Vec<String> = Vec::new();
        if self.current_only {
            for (rel, values) in &superseded_lists {
                let list = lake
                    .get_json::<crate::lake::manifest::Superseded>(rel)
                    .await
                    .map_err(ext)?
                    .unwrap_or_default();
                for id in list.original_event_ids {
                    superseded.push(format!("{}/{id}", values.join("/")));
                }
            }
        }
        listing.partitions_kept = files
            .values()
            .map(|(_, v)| v)
            .collect::<BTreeSet<_>>()
            .len();
        listing.files = files.len();
        listing.file_bytes = files.values().map(|(s, _)| s).sum();
        self.listings
            .lock()
            .expect("no panic holding it")
            .push(listing);

        if files.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let groups_wanted = state.config().target_partitions().max(1);
        let mut groups: Vec<Vec<PartitionedFile>> = (0..groups_wanted.min(files.len()))
            .map(|_| Vec::new())
            .collect();
        let mut sizes = vec![0u64; groups.len()];
        for (rel, (size, values)) in files {
            let mut pf = PartitionedFile::new(lake.path(&rel).to_string(), size);
            pf.partition_values = values
                .into_iter()
                .map(|v| ScalarValue::Utf8(Some(v)))
                .collect();
            // The smallest group takes the next file.
            let g = (0..sizes.len()).min_by_key(|&g| sizes[g]).expect("a group");
            sizes[g] += size;
            groups[g].push(pf);
        }
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let table_schema = TableSchema::builder(schema::arrow_schema())
            .with_table_partition_cols(
                PARTITION_COLUMNS
                    .iter()
                    .map(|c| Arc::new(Field::new(*c, DataType::Utf8, false)))
                    .collect::<Vec<_>>(),
            )
            .build();
        // With superseded events to leave out: read `eventid` and the
        // partition columns too, drop the superseded rows, then project
        // what was asked for (and no limit below the filter).
        let all: Vec<usize> = (0..self.schema.fields().len()).collect();
        let wanted: Vec<usize> = projection.cloned().unwrap_or(all);
        let mut read = wanted.clone();
        if !superseded.is_empty() {
            let mut extra = vec![self.schema.index_of(schema::EVENT_ID)?];
            for c in PARTITION_COLUMNS {
                extra.push(self.schema.index_of(c)?);
            }
            for i in extra {
                if !read.contains(&i) {
                    read.push(i);
                }
            }
        }
        let config =
            FileScanConfigBuilder::new(self.store_url.clone(), format.file_source(table_schema))
                .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
                .with_projection_indices(Some(read.clone()))?
                .with_limit(if superseded.is_empty() { limit } else { None })
                .build();
        let scan = format.create_physical_plan(state, config).await?;
        if superseded.is_empty() {
            return Ok(scan);
        }
        drop_superseded(state, scan, &read, &wanted, &self.schema, superseded)
    }
}

/// `scan` (columns `read` of `table`) without the rows whose partition
/// and `eventid` are in `superseded` (`account/region/year/month/day/id`),
/// projected to `wanted`.
fn drop_superseded(
    state: &dyn Session,
    scan: Arc<dyn ExecutionPlan>,
    read: &[usize],
    wanted: &[usize],
    table: &SchemaRef,
    superseded: Vec<String>,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    use datafusion::logical_expr::{col, in_list, lit};
    use datafusion::physical_expr::expressions::Column;
    let input = scan.schema();
    let df_schema = DFSchema::try_from(input.as_ref().clone())?;
    let mut parts: Vec<Expr> = PARTITION_COLUMNS.iter().map(|c| col(*c)).collect();
    parts.push(col(schema::EVENT_ID));
    let key = datafusion::functions::string::expr_fn::concat_ws(lit("/"), parts);
    let keep = in_list(key, superseded.into_iter().map(lit).collect(), true);
    // A row without an eventid is never superseded.
    let keep = keep.or(col(schema::EVENT_ID).is_null());
    let predicate = state.create_physical_expr(keep, &df_schema)?;
    let filtered: Arc<dyn ExecutionPlan> = Arc::new(
        datafusion::physical_plan::filter::FilterExec::try_new(predicate, scan)?,
    );
    let exprs: Vec<(Arc<dyn datafusion::physical_expr::PhysicalExpr>, String)> = wanted
        .iter()
        .map(|i| {
            let at = read.iter().position(|r| r == i).expect("read holds wanted");
            let name = table.field(*i).name().clone();
            (
                Arc::new(Column::new(&name, at))
                    as Arc<dyn datafusion::physical_expr::PhysicalExpr>,
                name,
            )
        })
        .collect();
    Ok(Arc::new(
        datafusion::physical_plan::projection::ProjectionExec::try_new(exprs, filtered)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_window_keeps_the_folders_that_overlap_it() {
        let w = Window {
            since: Date::parse("2024-02-28"),
            until: Date::parse("2024-03-02"),
            ..Window::default()
        };
        assert!(w.admits(&v(&["1", "us-east-1"])));
        assert!(w.admits(&v(&["1", "r", "2024"])));
        assert!(!w.admits(&v(&["1", "r", "2023"])));
        assert!(w.admits(&v(&["1", "r", "2024", "02"])));
        assert!(!w.admits(&v(&["1", "r", "2024", "01"])));
        assert!(!w.admits(&v(&["1", "r", "2024", "02", "27"])));
        assert!(w.admits(&v(&["1", "r", "2024", "02", "28"])));
        assert!(w.admits(&v(&["1", "r", "2024", "03", "02"])));
        assert!(!w.admits(&v(&["1", "r", "2024", "03", "03"])));
        assert!(Window::default().admits(&v(&["1", "r", "1999", "01", "01"])));
    }
}
