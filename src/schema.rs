//! The one CloudTrail schema. It drives the decoder (which JSON key lands in
//! which column), the Arrow/Parquet schema of every lake file, and the DDL.
//!
//! The seed's Athena table columns come first, with their exact names and
//! types, so every query written for the raw table runs unchanged. Then the
//! other CloudTrail record fields, then traillake's own two columns:
//! `otherfields` (catch-all JSON for any field without a column, so no value
//! is ever lost) and `sourcekey` (the log object the row came from).

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};

/// How a JSON value is stored in a column.
#[derive(Debug)]
pub enum Kind {
    /// A string column. A JSON string is stored as is; a number or boolean as
    /// its JSON text (`true`, `42`); an object or array as compact JSON.
    Str,
    /// Free-form JSON stored as compact JSON text (`requestparameters`, ...).
    Json,
    /// A struct whose keys are matched to fields case-insensitively.
    Struct(&'static [Column]),
    /// An array of structs (`resources`).
    ListOfStruct(&'static [Column]),
    /// The catch-all: a JSON object holding every field without a column,
    /// nested as in the record, with its original key spelling.
    CatchAll,
    /// The key of the log object a row came from.
    SourceKey,
}

/// One column (or struct field) of the lake.
#[derive(Debug)]
pub struct Column {
    /// Lowercase column name; JSON keys match it ignoring ASCII case.
    pub name: &'static str,
    pub kind: Kind,
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

const fn s(name: &'static str) -> Column {
    col(name, Kind::Str)
}

const fn j(name: &'static str) -> Column {
    col(name, Kind::Json)
}

const ATTRIBUTES: &[Column] = &[s("mfaauthenticated"), s("creationdate")];

const SESSION_ISSUER: &[Column] = &[
    s("type"),
    s("principalid"),
    s("arn"),
    s("accountid"),
    s("username"),
];

const SESSION_CONTEXT: &[Column] = &[
    col("attributes", Kind::Struct(ATTRIBUTES)),
    col("sessionissuer", Kind::Struct(SESSION_ISSUER)),
];

/// Exactly the seed's `useridentity` struct. Newer keys (`identityProvider`,
/// `onBehalfOf`, `sessionContext.sourceIdentity`, ...) go to `otherfields`.
const USER_IDENTITY: &[Column] = &[
    s("type"),
    s("principalid"),
    s("arn"),
    s("accountid"),
    s("invokedby"),
    s("accesskeyid"),
    s("username"),
    col("sessioncontext", Kind::Struct(SESSION_CONTEXT)),
];

const RESOURCE: &[Column] = &[s("arn"), s("accountid"), s("type")];

const TLS_DETAILS: &[Column] = &[
    s("tlsversion"),
    s("ciphersuite"),
    s("clientprovidedhostheader"),
];

/// Every top-level column, in file order.
pub const COLUMNS: &[Column] = &[
    // The seed's table, names and types unchanged.
    s("eventversion"),
    col("useridentity", Kind::Struct(USER_IDENTITY)),
    s("eventtime"),
    s("eventsource"),
    s("eventname"),
    s("awsregion"),
    s("sourceipaddress"),
    s("useragent"),
    s("errorcode"),
    s("errormessage"),
    j("requestparameters"),
    j("responseelements"),
    s("requestid"),
    s("eventid"),
    col("resources", Kind::ListOfStruct(RESOURCE)),
    s("eventtype"),
    s("readonly"),
    s("recipientaccountid"),
    // The other documented CloudTrail record fields.
    s("apiversion"),
    j("additionaleventdata"),
    j("serviceeventdetails"),
    s("sharedeventid"),
    s("vpcendpointid"),
    s("vpcendpointaccountid"),
    s("eventcategory"),
    s("managementevent"),
    s("sessioncredentialfromconsole"),
    col("tlsdetails", Kind::Struct(TLS_DETAILS)),
    j("addendum"),
    j("edgedevicedetails"),
    j("insightdetails"),
    // traillake's own.
    col(CATCH_ALL, Kind::CatchAll),
    col(SOURCE_KEY, Kind::SourceKey),
];

pub const CATCH_ALL: &str = "otherfields";
pub const SOURCE_KEY: &str = "sourcekey";
pub const EVENT_TIME: &str = "eventtime";
pub const EVENT_ID: &str = "eventid";

/// Partition columns, in path order. They live in the directory names, not
/// in the Parquet files, as Hive, Athena, Spark and DuckDB expect.
pub const PARTITION_COLUMNS: [&str; 5] = ["account", "region", "year", "month", "day"];

/// Element name of list columns, as the Parquet LIST spec names it.
pub const LIST_ELEMENT: &str = "element";

fn data_type(kind: &Kind) -> DataType {
    match kind {
        Kind::Str | Kind::Json | Kind::CatchAll | Kind::SourceKey => DataType::Utf8,
        Kind::Struct(children) => DataType::Struct(fields(children)),
        Kind::ListOfStruct(children) => DataType::List(Arc::new(Field::new(
            LIST_ELEMENT,
            DataType::Struct(fields(children)),
            true,
        ))),
    }
}

/// Arrow fields of a struct level (or of the whole file, for [`COLUMNS`]).
pub fn fields(columns: &[Column]) -> Fields {
    columns
        .iter()
        .map(|c| Field::new(c.name, data_type(&c.kind), true))
        .collect()
}

/// The Arrow schema of every lake file (partition columns excluded).
pub fn arrow_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| Arc::new(Schema::new(fields(COLUMNS))))
        .clone()
}

/// The table's columns: the files' columns, then the partition columns
/// (strings; `nullable` as the reader wants them).
pub fn table_fields(nullable_partitions: bool) -> Vec<Field> {
    let mut fields: Vec<Field> = arrow_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.extend(
        PARTITION_COLUMNS
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, nullable_partitions)),
    );
    fields
}

/// Index of a top-level column by name.
pub fn column_index(name: &str) -> usize {
    COLUMNS
        .iter()
        .position(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name} in the schema"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_names(columns: &[Column], out: &mut Vec<String>, prefix: &str) {
        for c in columns {
            let name = format!("{prefix}{}", c.name);
            out.push(name.clone());
            if let Kind::Struct(ch) | Kind::ListOfStruct(ch) = &c.kind {
                all_names(ch, out, &format!("{name}."));
            }
        }
    }

    #[test]
    fn column_names_are_lowercase_and_unique_per_level() {
        let mut names = Vec::new();
        all_names(COLUMNS, &mut names, "");
        for n in &names {
            assert_eq!(n, &n.to_ascii_lowercase());
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
    }

    #[test]
    fn seed_columns_come_first_in_seed_order() {
        let seed = [
            "eventversion",
            "useridentity",
            "eventtime",
            "eventsource",
            "eventname",
            "awsregion",
            "sourceipaddress",
            "useragent",
            "errorcode",
            "errormessage",
            "requestparameters",
            "responseelements",
            "requestid",
            "eventid",
            "resources",
            "eventtype",
            "readonly",
            "recipientaccountid",
        ];
        let names: Vec<_> = COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(&names[..seed.len()], &seed);
    }

    #[test]
    fn partition_columns_are_not_file_columns() {
        for p in PARTITION_COLUMNS {
            assert!(COLUMNS.iter().all(|c| c.name != p));
        }
    }
}
