//! IP addresses and network prefixes, one matcher for every caller:
//! Trino's `ipaddress`, `ipprefix` and `contains`, and AWS's published
//! ranges for `is_aws_address` (the presets, the built-in rules).
//! Addresses live in one 128-bit space, IPv4 mapped into IPv6, so they
//! order as addresses and one mask test serves both families.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BinaryArray, BooleanArray, ListArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use super::{list_of_strings, str_at, strings, udf};

/// An address as 16 bytes (IPv4 mapped into IPv6), ordered as addresses.
/// Text that is not an address (a service name, leading zeros) is `None`.
pub fn address(s: &str) -> Option<[u8; 16]> {
    match s.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => Some(v4.to_ipv6_mapped().octets()),
        IpAddr::V6(v6) => Some(v6.octets()),
    }
}

/// A network prefix `a.b.c.d/n` or `x::/n`, in the 128-bit space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    net: u128,
    /// Leading bits that must match (an IPv4 prefix's length + 96).
    bits: u32,
}

impl Prefix {
    pub fn parse(s: &str) -> Option<Self> {
        let (ip, len) = s.trim().split_once('/')?;
        let len: u32 = len.parse().ok()?;
        let v4 = ip.parse::<Ipv4Addr>().is_ok();
        let bits = if v4 { len.checked_add(96)? } else { len };
        (bits <= 128 && (!v4 || len <= 32)).then_some(())?;
        Some(Self {
            net: u128::from_be_bytes(address(ip)?),
            bits,
        })
    }

    /// Whether `ip` (as [`address`] gives it) lies in the prefix.
    pub fn contains(&self, ip: &[u8; 16]) -> bool {
        let mask = u128::MAX.checked_shl(128 - self.bits).unwrap_or(0);
        u128::from_be_bytes(*ip) & mask == self.net & mask
    }
}

const UNGUESSED: u8 = 0;
const GUESSED: u8 = 1;
const TOLD: u8 = 2;

/// Where `role-outside-aws` learns AWS's addresses.
#[derive(Debug, Default)]
pub struct AwsRanges {
    prefixes: Vec<Prefix>,
    /// Whether an address was judged without the ranges: [`UNGUESSED`],
    /// [`GUESSED`], or [`TOLD`] once the caller has said so.
    guessed: AtomicU8,
}

impl AwsRanges {
    /// Parses AWS's published `ip-ranges.json`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut prefixes = Vec::new();
        for (list, key) in [("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")] {
            for p in doc[list].as_array().into_iter().flatten() {
                let Some(cidr) = p[key].as_str() else {
                    continue;
                };
                prefixes.push(Prefix::parse(cidr).ok_or(format!("bad prefix {cidr}"))?);
            }
        }
        if prefixes.is_empty() {
            return Err("no prefixes: not an ip-ranges.json".to_string());
        }
        Ok(Self {
            prefixes,
            guessed: AtomicU8::new(UNGUESSED),
        })
    }

    /// Address prefixes held.
    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// AWS's own: a service name (`ecs-tasks.amazonaws.com`, `AWS Internal`)
    /// or an address inside a published prefix. Without the ranges, every
    /// IP address literal counts as outside AWS.
    pub fn is_aws(&self, source: &str) -> bool {
        let Some(ip) = address(source) else {
            return true;
        };
        if self.prefixes.is_empty() && self.guessed.load(Ordering::Relaxed) == UNGUESSED {
            let _ = self.guessed.compare_exchange(
                UNGUESSED,
                GUESSED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        self.prefixes.iter().any(|p| p.contains(&ip))
    }

    /// Whether an address was judged outside AWS only because no ranges
    /// were given.
    pub fn guessed(&self) -> bool {
        self.guessed.load(Ordering::Relaxed) != UNGUESSED
    }

    /// True the first time it is asked after an address was judged without
    /// the ranges, so the caller warns once however many statements ran.
    pub fn tell_guess(&self) -> bool {
        self.guessed
            .compare_exchange(GUESSED, TOLD, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

/// Registers the address functions in `ctx`; `is_aws_address` answers
/// from `ranges`.
pub fn register(ctx: &SessionContext, ranges: Arc<AwsRanges>) {
    udf(ctx, "ipaddress", &[1], DataType::Binary, |a, _| {
        let s = strings(&a[0])?;
        let out: BinaryArray = s
            .iter()
            .map(|v| v.and_then(address).map(|b| b.to_vec()))
            .collect();
        Ok(Arc::new(out))
    });
    udf(ctx, "ipprefix", &[1], DataType::Utf8, |a, _| {
        let s = strings(&a[0])?;
        let out: StringArray = s
            .iter()
            .map(|v| {
                let v = v?;
                Prefix::parse(v)?;
                Some(v.trim().to_string())
            })
            .collect();
        Ok(Arc::new(out))
    });
    udf(ctx, "contains", &[2], DataType::Boolean, |a, rows| {
        match a[0].data_type() {
            DataType::List(_) | DataType::LargeList(_) => {
                let list = cast(&a[0], &list_of_strings())?;
                let list = list
                    .as_any()
                    .downcast_ref::<ListArray>()
                    .ok_or_else(|| DataFusionError::Execution("contains: not an array".into()))?;
                let needle = strings(&a[1])?;
                let out: BooleanArray = (0..rows)
                    .map(|i| {
                        if list.is_null(i) {
                            return None;
                        }
                        let n = str_at(&needle, i)?;
                        let values = list.value(i);
                        let values = values.as_string::<i32>();
                        Some(values.iter().any(|v| v == Some(n)))
                    })
                    .collect();
                Ok(Arc::new(out))
            }
            _ => {
                // contains(IPPREFIX '10.0.0.0/8', address): the address as
                // text or as `ipaddress`'s bytes.
                let p = strings(&a[0])?;
                let ips: Vec<Option<[u8; 16]>> = match a[1].data_type() {
                    DataType::Binary => a[1]
                        .as_binary::<i32>()
                        .iter()
                        .map(|v| v.and_then(|b| b.try_into().ok()))
                        .collect(),
                    _ => strings(&a[1])?
                        .iter()
                        .map(|v| v.and_then(address))
                        .collect(),
                };
                let out: BooleanArray = (0..rows)
                    .map(|i| {
                        let pre = Prefix::parse(str_at(&p, i)?)?;
                        Some(pre.contains(&ips[i]?))
                    })
                    .collect();
                Ok(Arc::new(out))
            }
        }
    });
    udf(
        ctx,
        "is_aws_address",
        &[1],
        DataType::Boolean,
        move |a, _| {
            let s = strings(&a[0])?;
            let out: BooleanArray = s.iter().map(|v| v.map(|v| ranges.is_aws(v))).collect();
            Ok(Arc::new(out))
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_order_and_prefixes_contain_them() {
        let a = address("10.0.0.1").unwrap();
        let b = address("10.0.0.10").unwrap();
        assert!(a < b);
        let ten = Prefix::parse("10.0.0.0/8").unwrap();
        assert!(ten.contains(&a));
        assert!(!ten.contains(&address("11.0.0.1").unwrap()));
        assert!(
            !ten.contains(&address("::a00:1").unwrap()),
            "not IPv4's 10/8"
        );
        let v6 = Prefix::parse("2600:1f00::/24").unwrap();
        assert!(v6.contains(&address("2600:1f00::1").unwrap()));
        assert!(!v6.contains(&address("34.234.236.212").unwrap()));
        assert!(Prefix::parse("0.0.0.0/0").unwrap().contains(&a));
        assert!(
            address("035.1.2.3").is_none(),
            "leading zeros are not an address"
        );
        assert!(address("ecs-tasks.amazonaws.com").is_none());
        assert!(Prefix::parse("10.0.0.0/33").is_none());
        assert!(Prefix::parse("10.0.0.0").is_none());
    }

    #[test]
    fn aws_ranges_classify_addresses() {
        let r = AwsRanges::parse(
            r#"{"prefixes":[{"ip_prefix":"34.224.0.0/12"}],"ipv6_prefixes":[{"ipv6_prefix":"2600:1f00::/24"}]}"#,
        )
        .unwrap();
        assert!(r.is_aws("34.234.236.212"));
        assert!(!r.is_aws("104.102.221.250"));
        assert!(r.is_aws("2600:1f00::1"));
        assert!(r.is_aws("ecs-tasks.amazonaws.com"));
        assert!(r.is_aws("AWS Internal"));
        assert!(!r.guessed());
        let none = AwsRanges::default();
        assert!(none.is_aws("ecs-tasks.amazonaws.com"));
        assert!(!none.guessed(), "a service name needs no ranges");
        assert!(!none.tell_guess(), "nothing guessed yet");
        assert!(!none.is_aws("34.234.236.212"));
        assert!(none.guessed());
        assert!(none.tell_guess());
        assert!(!none.is_aws("1.2.3.4"));
        assert!(!none.tell_guess(), "told once");
        assert!(none.guessed());
    }
}
