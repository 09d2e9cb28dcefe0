//! Trino's maps: the aggregates that build one, `histogram(x)` (each
//! distinct value with its count) and `map_agg(key, value)` (one value per
//! key), and `element_at`, which reads a map as well as an array.
//! Both skip NULL keys, as Trino does; a map's entries are in key order, so
//! an answer prints the same every time (Trino's are in no order).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, MapArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// Registers `histogram`, `map_agg` and `element_at` in `ctx`.
pub fn register(ctx: &SessionContext) {
    ctx.register_udaf(AggregateUDF::from(MapAggregate::new(Kind::Histogram)));
    ctx.register_udaf(AggregateUDF::from(MapAggregate::new(Kind::MapAgg)));
    ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(
        ElementAt::default(),
    ));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `histogram(x)`: map(x, bigint).
    Histogram,
    /// `map_agg(k, v)`: map(k, v), the first value seen for a key.
    MapAgg,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MapAggregate {
    kind: Kind,
    signature: Signature,
}

impl MapAggregate {
    fn new(kind: Kind) -> Self {
        let arity = match kind {
            Kind::Histogram => 1,
            Kind::MapAgg => 2,
        };
        Self {
            kind,
            signature: Signature::any(arity, Volatility::Immutable),
        }
    }
}

/// Trino's map type as Arrow's: entries of a non-NULL key and a value.
fn map_type(key: &DataType, value: &DataType) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", key.clone(), false),
                Field::new("value", value.clone(), true),
            ])),
            false,
        )),
        false,
    )
}

/// The key and value fields of a map type.
fn entry_fields(map: &DataType) -> Result<(FieldRef, FieldRef)> {
    match map {
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(f) if f.len() == 2 => Ok((f[0].clone(), f[1].clone())),
            other => exec_err!("a map's entries are a struct of two, not {other}"),
        },
        other => exec_err!("not a map: {other}"),
    }
}

impl AggregateUDFImpl for MapAggregate {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Histogram => "histogram",
            Kind::MapAgg => "map_agg",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Histogram => map_type(&args[0], &DataType::Int64),
            Kind::MapAgg => map_type(&args[0], &args[1]),
        })
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let (key, value) = entry_fields(args.return_field.data_type())?;
        Ok(Box::new(MapAccumulator {
            kind: self.kind,
            key,
            value,
            entries: HashMap::new(),
            bytes: 0,
        }))
    }
}

#[derive(Debug)]
struct MapAccumulator {
    kind: Kind,
    key: FieldRef,
    value: FieldRef,
    entries: HashMap<ScalarValue, ScalarValue>,
    /// What the keys and values hold on the heap, for `size`.
    bytes: usize,
}

impl MapAccumulator {
    fn add(&mut self, key: ScalarValue, value: ScalarValue) -> Result<()> {
        if key.is_null() {
            return Ok(());
        }
        match self.kind {
            Kind::Histogram => {
                let ScalarValue::Int64(Some(n)) = value else {
                    return exec_err!("histogram counts are bigints, not {value:?}");
                };
                match self.entries.get_mut(&key) {
                    Some(ScalarValue::Int64(Some(c))) => {
                        *c = c.checked_add(n).ok_or_else(|| {
                            datafusion::common::DataFusionError::Execution(
                                "histogram: a count passed 2^63".into(),
                            )
                        })?
                    }
                    _ => {
                        self.bytes += key.size();
                        self.entries.insert(key, ScalarValue::Int64(Some(n)));
                    }
                }
            }
            Kind::MapAgg => {
                if !self.entries.contains_key(&key) {
                    self.bytes += key.size() + value.size();
                    self.entries.insert(key, value);
                }
            }
        }
        Ok(())
    }

    fn map(&self) -> Result<ScalarValue> {
        let mut sorted: Vec<(&ScalarValue, &ScalarValue)> = self.entries.iter().collect();
        sorted.sort_by(|a, b| a.0.partial_cmp(b.0).unwrap_or(std::cmp::Ordering::Equal));
        let keys = if sorted.is_empty() {
            datafusion::arrow::array::new_empty_array(self.key.data_type())
        } else {
            ScalarValue::iter_to_array(sorted.iter().map(|e| e.0.clone()))?
        };
        let values = if sorted.is_empty() {
            datafusion::arrow::array::new_empty_array(self.value.data_type())
        } else {
            ScalarValue::iter_to_array(sorted.iter().map(|e| e.1.clone()))?
        };
        let values = if values.data_type() == self.value.data_type() {
            values
        } else {
            datafusion::arrow::compute::cast(&values, self.value.data_type())?
        };
        let fields = Fields::from(vec![self.key.as_ref().clone(), self.value.as_ref().clone()]);
        let entries = StructArray::try_new(fields.clone(), vec![keys, values], None)?;
        let map = MapArray::try_new(
            Arc::new(Field::new("entries", DataType::Struct(fields), false)),
            OffsetBuffer::from_lengths([self.entries.len()]),
            entries,
            None,
            false,
        )?;
        Ok(ScalarValue::Map(Arc::new(map)))
    }
}

impl Accumulator for MapAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let keys = &values[0];
        for i in 0..keys.len() {
            if keys.is_null(i) {
                continue;
            }
            let key = ScalarValue::try_from_array(keys, i)?;
            let value = match self.kind {
                Kind::Histogram => ScalarValue::Int64(Some(1)),
                Kind::MapAgg => ScalarValue::try_from_array(&values[1], i)?,
            };
            self.add(key, value)?;
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let maps: &MapArray = states[0].as_map();
        for row in 0..maps.len() {
            if maps.is_null(row) {
                continue;
            }
            let entries = maps.value(row);
            let (keys, values) = (entries.column(0), entries.column(1));
            for i in 0..entries.len() {
                self.add(
                    ScalarValue::try_from_array(keys, i)?,
                    ScalarValue::try_from_array(values, i)?,
                )?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.map()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.map()
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.bytes
            + self.entries.len() * 2 * std::mem::size_of::<ScalarValue>()
    }
}

/// Trino's `element_at(array, index)` and `element_at(map, key)`: the
/// element at a 1-based index (from the end when negative) or the value of
/// a key; NULL when there is none.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ElementAt {
    signature: Signature,
}

impl Default for ElementAt {
    fn default() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for ElementAt {
    fn name(&self) -> &str {
        "element_at"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                Ok(f.data_type().clone())
            }
            DataType::Map(..) => Ok(entry_fields(&args[0])?.1.data_type().clone()),
            DataType::Null => Ok(DataType::Null),
            other => exec_err!("element_at takes an array or a map, not {other}"),
        }
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> Result<datafusion::logical_expr::ColumnarValue> {
        use datafusion::logical_expr::ColumnarValue;
        if !matches!(args.arg_fields[0].data_type(), DataType::Map(..)) {
            return datafusion::functions_nested::extract::array_element_udf()
                .invoke_with_args(args);
        }
        let rows = args.number_rows;
        let maps = args.args[0].to_array(rows)?;
        let keys = args.args[1].to_array(rows)?;
        let maps: &MapArray = maps.as_map();
        let mut out = Vec::with_capacity(rows);
        let none = ScalarValue::try_from(args.return_field.data_type())?;
        for row in 0..rows {
            let mut found = none.clone();
            if !maps.is_null(row) && !keys.is_null(row) {
                let key = ScalarValue::try_from_array(&keys, row)?;
                let entries = maps.value(row);
                for i in 0..entries.len() {
                    let k = ScalarValue::try_from_array(entries.column(0), i)?;
                    let k = if k.data_type() == key.data_type() {
                        k
                    } else {
                        k.cast_to(&key.data_type())?
                    };
                    if k == key {
                        found = ScalarValue::try_from_array(entries.column(1), i)?;
                        break;
                    }
                }
            }
            out.push(found);
        }
        if out.is_empty() {
            return Ok(ColumnarValue::Array(
                datafusion::arrow::array::new_empty_array(args.return_field.data_type()),
            ));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}
