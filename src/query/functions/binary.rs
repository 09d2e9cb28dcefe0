//! Trino's binary, hashing and encoding functions: `to_utf8`, `md5`,
//! `to_hex`, `sha1`, `sha256`,
//! `sha512` (varbinary, as `md5`), `to_base64`/`from_base64`, `from_hex`,
//! `from_utf8`, and `url_encode`/`url_decode` (Java's URLEncoder, as Trino).

use std::sync::Arc;

use base64::Engine;
use datafusion::arrow::array::{ArrayRef, AsArray, BinaryArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::prelude::SessionContext;

use super::{strings, udf};

/// The argument as bytes: varbinary as it is, text as its UTF-8.
fn bytes(a: &ArrayRef) -> Result<BinaryArray> {
    Ok(cast(a, &DataType::Binary)?.as_binary::<i32>().clone())
}

fn hash(ctx: &SessionContext, name: &str, digest: fn(&[u8]) -> Vec<u8>) {
    udf(ctx, name, &[1], DataType::Binary, move |a, _| {
        let out: BinaryArray = bytes(&a[0])?.iter().map(|v| v.map(digest)).collect();
        Ok(Arc::new(out))
    });
}

/// What Java's URLEncoder leaves as it is; a space is `+`, the rest
/// `%XX` of its UTF-8.
const URL_SAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'*')
    .remove(b'_')
    .remove(b' ');

/// Registers every function of this module in `ctx`.
pub fn register(ctx: &SessionContext) {
    udf(ctx, "to_utf8", &[1], DataType::Binary, |a, _| {
        let s = strings(&a[0])?;
        let out: BinaryArray = s.iter().map(|v| v.map(str::as_bytes)).collect();
        Ok(Arc::new(out))
    });
    udf(ctx, "md5", &[1], DataType::Binary, |a, _| {
        use md5::Digest;
        let bytes = cast(&a[0], &DataType::Binary)?;
        let out: BinaryArray = bytes
            .as_binary::<i32>()
            .iter()
            .map(|v| v.map(|b| md5::Md5::digest(b).to_vec()))
            .collect();
        Ok(Arc::new(out))
    });
    udf(ctx, "to_hex", &[1], DataType::Utf8, |a, _| {
        let out: StringArray = match a[0].data_type() {
            dt if dt.is_integer() => {
                let n = cast(&a[0], &DataType::Int64)?;
                n.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .iter()
                    .map(|v| v.map(|v| format!("{v:x}")))
                    .collect()
            }
            _ => {
                let b = cast(&a[0], &DataType::Binary)?;
                b.as_binary::<i32>()
                    .iter()
                    .map(|v| v.map(|b| b.iter().map(|x| format!("{x:02X}")).collect::<String>()))
                    .collect()
            }
        };
        Ok(Arc::new(out))
    });
    hash(ctx, "sha1", |b| {
        use sha1::Digest;
        sha1::Sha1::digest(b).to_vec()
    });
    hash(ctx, "sha256", |b| {
        use sha2::Digest;
        sha2::Sha256::digest(b).to_vec()
    });
    hash(ctx, "sha512", |b| {
        use sha2::Digest;
        sha2::Sha512::digest(b).to_vec()
    });
    udf(ctx, "to_base64", &[1], DataType::Utf8, |a, _| {
        let engine = base64::engine::general_purpose::STANDARD;
        let out: StringArray = bytes(&a[0])?
            .iter()
            .map(|v| v.map(|b| engine.encode(b)))
            .collect();
        Ok(Arc::new(out))
    });
    udf(ctx, "from_base64", &[1], DataType::Binary, |a, _| {
        let engine = base64::engine::general_purpose::STANDARD;
        let out: BinaryArray = strings(&a[0])?
            .iter()
            .map(|v| engine.decode(v?.trim()).ok())
            .collect();
        Ok(Arc::new(out))
    });
    udf(ctx, "from_hex", &[1], DataType::Binary, |a, _| {
        let out: BinaryArray = strings(&a[0])?
            .iter()
            .map(|v| {
                let v = v?;
                if v.len() % 2 != 0 || !v.is_ascii() {
                    return None;
                }
                (0..v.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&v[i..i + 2], 16).ok())
                    .collect::<Option<Vec<u8>>>()
            })
            .collect();
        Ok(Arc::new(out))
    });
    // Invalid UTF-8 becomes U+FFFD, as Trino's from_utf8(binary).
    udf(ctx, "from_utf8", &[1], DataType::Utf8, |a, _| {
        let out: StringArray = bytes(&a[0])?
            .iter()
            .map(|v| v.map(|b| String::from_utf8_lossy(b).into_owned()))
            .collect();
        Ok(Arc::new(out))
    });
    udf(ctx, "url_encode", &[1], DataType::Utf8, |a, _| {
        let out: StringArray = strings(&a[0])?
            .iter()
            .map(|v| {
                v.map(|s| {
                    percent_encoding::utf8_percent_encode(s, URL_SAFE)
                        .to_string()
                        .replace(' ', "+")
                })
            })
            .collect();
        Ok(Arc::new(out))
    });
    udf(ctx, "url_decode", &[1], DataType::Utf8, |a, _| {
        let out: StringArray = strings(&a[0])?
            .iter()
            .map(|v| {
                let s = v?.replace('+', " ");
                percent_encoding::percent_decode_str(&s)
                    .decode_utf8()
                    .ok()
                    .map(|d| d.into_owned())
            })
            .collect();
        Ok(Arc::new(out))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_is_javas() {
        let e = percent_encoding::utf8_percent_encode("a b&c/é*-_.~", URL_SAFE)
            .to_string()
            .replace(' ', "+");
        assert_eq!(e, "a+b%26c%2F%C3%A9*-_.%7E");
    }
}
