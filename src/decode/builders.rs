//! Arrow builders filled straight from simd-json's tape: a batch's columns
//! (strings, lists, structs nested to [`MAX_DEPTH`]), keys matched to
//! columns ignoring ASCII case, and the catch-all column for what fits no
//! column.

use std::sync::Arc;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{ArrayRef, ListArray, StringBuilder, StructArray};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Fields};
use arrow::record_batch::RecordBatch;
use simd_json::{Node, StaticNode};

use super::json_text::{span, write_string, write_value};
use super::object_entries;
use crate::schema::{self, Column, Kind, COLUMNS};

/// How deep struct columns nest, at most, plus room for the root: the
/// keys of the structs a value lies in, and the catch-all's open objects,
/// are never more. A unit test checks the schema against it.
pub(super) const MAX_DEPTH: usize = 6;

/// A stack of at most [`MAX_DEPTH`] items, kept inline: the path of struct
/// keys down to a value and the catch-all's open objects, which as `Vec`s
/// were allocated and freed for nearly every record.
#[derive(Clone, Copy)]
pub(super) struct Stack<T> {
    items: [T; MAX_DEPTH],
    len: usize,
}

impl<T: Copy + Default> Stack<T> {
    pub(super) fn new() -> Self {
        Self {
            items: [T::default(); MAX_DEPTH],
            len: 0,
        }
    }

    /// Panics past [`MAX_DEPTH`]: the schema's nesting bounds every push.
    #[inline]
    pub(super) fn push(&mut self, item: T) {
        self.items[self.len] = item;
        self.len += 1;
    }

    #[inline]
    pub(super) fn pop(&mut self) {
        self.len -= 1;
    }

    #[inline]
    pub(super) fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }

    #[inline]
    pub(super) fn last_mut(&mut self) -> Option<&mut T> {
        self.items[..self.len].last_mut()
    }
}

/// Builds the catch-all JSON object, nested as in the record: an unknown key
/// inside `userIdentity.sessionContext` lands at the same path.
pub(super) struct CatchAll<'a, 'i> {
    out: &'a mut String,
    /// Keys of the objects currently open below the root.
    open: Stack<&'i str>,
    /// Whether the next member at each open level (root first) is the first.
    first: Stack<bool>,
}

impl<'a, 'i> CatchAll<'a, 'i> {
    pub(super) fn new(out: &'a mut String) -> Self {
        out.clear();
        Self {
            out,
            open: Stack::new(),
            first: Stack::new(),
        }
    }

    pub(super) fn member(&mut self) {
        let first = self.first.last_mut().expect("a level is open");
        if !*first {
            self.out.push(',');
        }
        *first = false;
    }

    pub(super) fn add(&mut self, path: &[&'i str], key: &str, value: &[Node<'_>]) {
        if self.first.len == 0 {
            self.out.push('{');
            self.first.push(true);
        }
        let common = self
            .open
            .as_slice()
            .iter()
            .zip(path)
            .take_while(|(a, b)| a == b)
            .count();
        while self.open.len > common {
            self.out.push('}');
            self.open.pop();
            self.first.pop();
        }
        for p in &path[common..] {
            self.member();
            write_string(p, self.out);
            self.out.push_str(":{");
            self.open.push(p);
            self.first.push(true);
        }
        self.member();
        write_string(key, self.out);
        self.out.push(':');
        write_value(value, self.out);
    }

    /// Closes the object; `false` when nothing was added.
    pub(super) fn finish(self) -> bool {
        if self.first.len == 0 {
            return false;
        }
        for _ in 0..self.first.len {
            self.out.push('}');
        }
        true
    }
}

/// Builders for one partition's rows, following [`schema::COLUMNS`].
pub(super) struct BatchBuilder {
    columns: Vec<ColumnBuilder>,
    pub(super) rows: usize,
    order: KeyOrder,
}

pub(super) enum ColumnBuilder {
    Str(StrBuilder),
    Struct(StructBuilder),
    List(ListBuilder),
}

pub(super) struct StructBuilder {
    columns: &'static [Column],
    children: Vec<ColumnBuilder>,
    validity: NullBufferBuilder,
    order: KeyOrder,
}

pub(super) struct ListBuilder {
    offsets: Vec<i32>,
    validity: NullBufferBuilder,
    element: StructBuilder,
}

impl ListBuilder {
    /// A null list: no elements, and not valid.
    pub(super) fn append_null(&mut self) {
        let last = *self.offsets.last().expect("offsets start at 0");
        self.offsets.push(last);
        self.validity.append_null();
    }
}

/// A string column's builder that counts its nulls and appends them only
/// when a value (or the end) comes: most columns are null in most records
/// (`errorcode`, `addendum`, absent structs' fields), and appending those
/// nulls one at a time was ~3% of a run (perf).
pub(super) struct StrBuilder {
    builder: StringBuilder,
    /// Nulls not yet appended to `builder`.
    nulls: usize,
}

impl StrBuilder {
    #[inline]
    pub(super) fn append_value(&mut self, value: impl AsRef<str>) {
        self.flush();
        self.builder.append_value(value);
    }

    #[inline]
    pub(super) fn append_null(&mut self) {
        self.nulls += 1;
    }

    #[inline]
    pub(super) fn flush(&mut self) {
        if self.nulls > 0 {
            self.builder.append_nulls(self.nulls);
            self.nulls = 0;
        }
    }

    /// Appends the compact JSON text of `v` (a scalar's text for a string
    /// column), written straight into the column's buffer.
    #[inline]
    pub(super) fn append_json(&mut self, v: &[Node<'_>]) {
        self.flush();
        write_value(v, &mut self.builder);
        self.builder.append_value("");
    }

    /// Rows, counted nulls included.
    pub(super) fn len(&self) -> usize {
        self.builder.offsets_slice().len() - 1 + self.nulls
    }

    pub(super) fn finish(&mut self) -> arrow::array::StringArray {
        self.flush();
        self.builder.finish()
    }
}

/// Reads a builder's recorded sizes, divided by `div`; zeros once they run
/// out (no sizes recorded yet).
pub(super) struct Sizes<'a> {
    it: std::slice::Iter<'a, usize>,
    div: usize,
}

impl Sizes<'_> {
    /// The next size with an eighth more room: the next builder's values
    /// rarely match the last one's exactly, and running over by one byte
    /// doubled (and copied) the buffer. Fewer page faults (88-95k -> 84-89k
    /// on 430 MB of JSON).
    pub(super) fn next(&mut self) -> usize {
        self.it.next().map_or(0, |n| (n + n / 8) / self.div)
    }
}

impl ColumnBuilder {
    pub(super) fn new(kind: &Kind, sizes: &mut Sizes<'_>) -> Self {
        match kind {
            Kind::Struct(cols) => ColumnBuilder::Struct(StructBuilder::new(cols, sizes)),
            Kind::ListOfStruct(cols) => {
                let n = sizes.next();
                let mut offsets = Vec::with_capacity(n + 1);
                offsets.push(0);
                ColumnBuilder::List(ListBuilder {
                    offsets,
                    validity: NullBufferBuilder::new(n),
                    element: StructBuilder::new(cols, sizes),
                })
            }
            _ => {
                let (items, bytes) = (sizes.next(), sizes.next());
                ColumnBuilder::Str(StrBuilder {
                    builder: StringBuilder::with_capacity(items.max(1), bytes),
                    nulls: 0,
                })
            }
        }
    }

    /// Records the sizes [`ColumnBuilder::new`] reads, in the same order.
    pub(super) fn sizes(&self, out: &mut Vec<usize>) {
        match self {
            ColumnBuilder::Str(b) => out.extend([b.len(), b.builder.values_slice().len()]),
            ColumnBuilder::Struct(b) => b.sizes(out),
            ColumnBuilder::List(b) => {
                out.push(b.offsets.len() - 1);
                b.element.sizes(out);
            }
        }
    }

    pub(super) fn append_null(&mut self) {
        match self {
            ColumnBuilder::Str(b) => b.append_null(),
            ColumnBuilder::Struct(b) => b.append_null(),
            ColumnBuilder::List(b) => b.append_null(),
        }
    }

    pub(super) fn finish(&mut self, kind: &Kind) -> ArrayRef {
        match (self, kind) {
            (ColumnBuilder::Str(b), _) => Arc::new(b.finish()),
            (ColumnBuilder::Struct(b), _) => Arc::new(b.finish()),
            (ColumnBuilder::List(b), Kind::ListOfStruct(cols)) => {
                let offsets = std::mem::replace(&mut b.offsets, vec![0]);
                let values = b.element.finish();
                let field = Arc::new(Field::new(
                    schema::LIST_ELEMENT,
                    DataType::Struct(struct_fields(cols)),
                    true,
                ));
                Arc::new(
                    ListArray::try_new(
                        field,
                        OffsetBuffer::new(ScalarBuffer::from(offsets)),
                        Arc::new(values),
                        b.validity.finish(),
                    )
                    .expect("list built consistently"),
                )
            }
            _ => unreachable!("builder matches its schema kind"),
        }
    }
}

pub(super) fn struct_fields(cols: &[Column]) -> Fields {
    schema::fields(cols)
}

/// Finds the column of each key of an object, guessing first the column
/// that followed the previous key's column last time: records of a kind
/// repeat their key order, so the guess is nearly always right, and a
/// search through ~30 names per key was ~3% of a run.
#[derive(Clone)]
pub(super) struct KeyOrder {
    /// `follow[i]`: the column seen after column `i` (`follow[n]`: first).
    follow: Vec<u8>,
}

impl KeyOrder {
    pub(super) fn new(columns: &[Column]) -> Self {
        Self {
            follow: vec![0; columns.len() + 1],
        }
    }

    /// The column of `key` when it comes after column `prev` (`None`: the
    /// object's first key).
    #[inline(always)]
    pub(super) fn find(
        &mut self,
        columns: &[Column],
        prev: Option<usize>,
        key: &str,
    ) -> Option<usize> {
        let from = prev.unwrap_or(columns.len());
        let guess = self.follow[from] as usize;
        if is_column(&columns[guess], key) {
            return Some(guess);
        }
        self.search(columns, from, key)
    }

    /// The guess was wrong: search, and guess this next time.
    #[cold]
    #[inline(never)]
    pub(super) fn search(&mut self, columns: &[Column], from: usize, key: &str) -> Option<usize> {
        let found = column_for(columns, key)?;
        self.follow[from] = found as u8;
        Some(found)
    }
}

#[inline]
pub(super) fn is_column(c: &Column, key: &str) -> bool {
    eq_lowercase(key, c.name) && !matches!(c.kind, Kind::CatchAll | Kind::SourceKey)
}

/// `key` equals `lower` ignoring ASCII case, where `lower` is made of
/// lowercase ASCII letters only (every column name is; a unit test checks).
/// Then `byte | 0x20 == letter` holds exactly for the letter and its
/// uppercase form, so eight bytes compare at once. `eq_ignore_ascii_case`,
/// a byte at a time, was ~6% of a run (perf) in the key-to-column lookup.
#[inline]
pub(super) fn eq_lowercase(key: &str, lower: &str) -> bool {
    let (k, l) = (key.as_bytes(), lower.as_bytes());
    if k.len() != l.len() {
        return false;
    }
    const CASE: u64 = 0x2020_2020_2020_2020;
    let word =
        |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("eight bytes"));
    let n = k.len();
    if n < 8 {
        return k.iter().zip(l).all(|(a, b)| a | 0x20 == *b);
    }
    let mut at = 0;
    while at + 8 <= n {
        if word(k, at) | CASE != word(l, at) {
            return false;
        }
        at += 8;
    }
    // The tail as the last eight bytes, overlapping what was compared.
    at == n || word(k, n - 8) | CASE == word(l, n - 8)
}

/// Index of the column a JSON key belongs to, ignoring ASCII case.
#[inline]
pub(super) fn column_for(columns: &[Column], key: &str) -> Option<usize> {
    columns.iter().position(|c| is_column(c, key))
}

impl StructBuilder {
    pub(super) fn new(columns: &'static [Column], sizes: &mut Sizes<'_>) -> Self {
        let rows = sizes.next();
        Self {
            columns,
            children: columns
                .iter()
                .map(|c| ColumnBuilder::new(&c.kind, sizes))
                .collect(),
            validity: NullBufferBuilder::new(rows),
            order: KeyOrder::new(columns),
        }
    }

    pub(super) fn sizes(&self, out: &mut Vec<usize>) {
        out.push(self.validity.len());
        for c in &self.children {
            c.sizes(out);
        }
    }

    pub(super) fn append_null(&mut self) {
        for c in &mut self.children {
            c.append_null();
        }
        self.validity.append_null();
    }

    /// Appends one object's fields; what has no column goes to `extra` at
    /// `path`. Returns true when something went to `extra`.
    pub(super) fn append_object<'i>(
        &mut self,
        obj: &[Node<'i>],
        path: &mut Stack<&'i str>,
        extra: &mut CatchAll<'_, 'i>,
    ) -> bool {
        let mut filled = 0u64;
        let mut spilled = false;
        let mut prev = None;
        for (k, v) in object_entries(obj) {
            let col = self.order.find(self.columns, prev, k);
            prev = col.or(prev);
            match col {
                Some(i) if filled & (1 << i) == 0 => {
                    filled |= 1 << i;
                    let kind = &self.columns[i].kind;
                    spilled |= append_value(&mut self.children[i], kind, k, v, path, extra);
                }
                _ => {
                    extra.add(path.as_slice(), k, v);
                    spilled = true;
                }
            }
        }
        for (i, c) in self.children.iter_mut().enumerate() {
            if filled & (1 << i) == 0 {
                c.append_null();
            }
        }
        self.validity.append_non_null();
        spilled
    }

    pub(super) fn finish(&mut self) -> StructArray {
        let children: Vec<ArrayRef> = self
            .children
            .iter_mut()
            .zip(self.columns)
            .map(|(b, c)| b.finish(&c.kind))
            .collect();
        StructArray::try_new(
            struct_fields(self.columns),
            children,
            self.validity.finish(),
        )
        .expect("struct built consistently")
    }
}

/// Appends the value `v` (under JSON key `key`) to a column builder of kind
/// `kind`. Returns true when (part of) it went to the catch-all.
pub(super) fn append_value<'i>(
    builder: &mut ColumnBuilder,
    kind: &Kind,
    key: &'i str,
    v: &[Node<'i>],
    path: &mut Stack<&'i str>,
    extra: &mut CatchAll<'_, 'i>,
) -> bool {
    let is_null = matches!(v[0], Node::Static(StaticNode::Null));
    match (builder, kind) {
        (b, _) if is_null => {
            b.append_null();
            false
        }
        (ColumnBuilder::Str(b), _) => {
            match v[0] {
                Node::String(s) if matches!(kind, Kind::Str) => b.append_value(s),
                _ => b.append_json(v),
            }
            false
        }
        (ColumnBuilder::Struct(b), _) => {
            if matches!(v[0], Node::Object { .. }) {
                path.push(key);
                let spilled = b.append_object(v, path, extra);
                path.pop();
                spilled
            } else {
                b.append_null();
                extra.add(path.as_slice(), key, v);
                true
            }
        }
        (ColumnBuilder::List(b), _) => {
            let Node::Array { len, .. } = v[0] else {
                b.append_null();
                extra.add(path.as_slice(), key, v);
                return true;
            };
            // An element that does not fit the struct keeps the whole array
            // in the catch-all: list indexes do not nest well in JSON paths.
            let mut scratch_extra = String::new();
            let mut element_extra = CatchAll::new(&mut scratch_extra);
            let mut misfit = false;
            let mut i = 1;
            for _ in 0..len {
                let e = &v[i..i + span(&v[i..])];
                i += e.len();
                if matches!(e[0], Node::Object { .. }) {
                    let mut p = Stack::new();
                    misfit |= b.element.append_object(e, &mut p, &mut element_extra);
                } else {
                    b.element.append_null();
                    misfit |= !matches!(e[0], Node::Static(StaticNode::Null));
                }
            }
            let last = *b.offsets.last().expect("offsets start at 0");
            b.offsets.push(last + len as i32);
            b.validity.append_non_null();
            if misfit {
                extra.add(path.as_slice(), key, v);
            }
            misfit
        }
    }
}

impl BatchBuilder {
    /// Builders at `sizes` (from [`BatchBuilder::sizes`]) divided by `div`;
    /// empty `sizes` means Arrow's defaults.
    pub(super) fn with_sizes(sizes: &[usize], div: usize) -> Self {
        let mut sizes = Sizes {
            it: sizes.iter(),
            div,
        };
        Self {
            columns: COLUMNS
                .iter()
                .map(|c| ColumnBuilder::new(&c.kind, &mut sizes))
                .collect(),
            rows: 0,
            order: KeyOrder::new(COLUMNS),
        }
    }

    pub(super) fn sizes(&self, out: &mut Vec<usize>) {
        for c in &self.columns {
            c.sizes(out);
        }
    }

    pub(super) fn append(&mut self, rec: &[Node<'_>], source_key: &str, extra_text: &mut String) {
        let mut extra = CatchAll::new(extra_text);
        let mut path = Stack::new();
        let mut filled = 0u64;
        let mut prev = None;
        for (k, v) in object_entries(rec) {
            let col = self.order.find(COLUMNS, prev, k);
            prev = col.or(prev);
            match col {
                Some(i) if filled & (1 << i) == 0 => {
                    filled |= 1 << i;
                    append_value(
                        &mut self.columns[i],
                        &COLUMNS[i].kind,
                        k,
                        v,
                        &mut path,
                        &mut extra,
                    );
                }
                _ => extra.add(path.as_slice(), k, v),
            }
        }
        let has_extra = extra.finish();
        for (i, (b, c)) in self.columns.iter_mut().zip(COLUMNS).enumerate() {
            match (&c.kind, b) {
                (Kind::CatchAll, ColumnBuilder::Str(b)) => {
                    if has_extra {
                        b.append_value(&*extra_text)
                    } else {
                        b.append_null()
                    }
                }
                (Kind::SourceKey, ColumnBuilder::Str(b)) => b.append_value(source_key),
                (_, b) if filled & (1 << i) == 0 => b.append_null(),
                _ => {}
            }
        }
        self.rows += 1;
    }

    pub(super) fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .zip(COLUMNS)
            .map(|(b, c)| b.finish(&c.kind))
            .collect();
        self.rows = 0;
        RecordBatch::try_new(schema::arrow_schema(), columns).expect("batch matches schema")
    }
}
