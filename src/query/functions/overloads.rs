//! Trino functions that take an array or a string under one name, where
//! DataFusion has two: `reverse` (array_reverse) and `concat`
//! (array_concat). Each call goes to the one its argument types ask for.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// Registers `reverse` and `concat` over DataFusion's own in `ctx`.
pub fn register(ctx: &SessionContext) {
    use datafusion::functions::string::concat;
    use datafusion::functions::unicode::reverse;
    use datafusion::functions_nested::{concat::array_concat_udf, reverse::array_reverse_udf};
    for (text, list) in [
        (reverse(), array_reverse_udf()),
        (concat(), array_concat_udf()),
    ] {
        ctx.register_udf(ScalarUDF::from(ByType {
            name: text.name().to_string(),
            text,
            list,
            signature: Signature::user_defined(Volatility::Immutable),
        }));
    }
}

/// One name, two functions: `list` when an argument is an array, `text`
/// otherwise.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ByType {
    name: String,
    text: Arc<ScalarUDF>,
    list: Arc<ScalarUDF>,
    signature: Signature,
}

impl ByType {
    fn pick(&self, types: &[DataType]) -> &Arc<ScalarUDF> {
        let is_list = |t: &DataType| {
            matches!(
                t,
                DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
            )
        };
        if types.iter().any(is_list) {
            &self.list
        } else {
            &self.text
        }
    }
}

impl ScalarUDFImpl for ByType {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        let fields: Vec<_> = types
            .iter()
            .map(|t| {
                Arc::new(datafusion::arrow::datatypes::Field::new(
                    "f",
                    t.clone(),
                    true,
                ))
            })
            .collect();
        Ok(fields_with_udf(&fields, self.pick(types).as_ref())?
            .iter()
            .map(|f| f.data_type().clone())
            .collect())
    }

    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        self.pick(types).return_type(types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        self.pick(&types).invoke_with_args(args)
    }
}
