//! IP addresses and network prefixes, one matcher for every caller (Trino's
//! `ipaddress`, `ipprefix` and `contains`, and AWS's published ranges for
//! `is_aws_address` and the presets): addresses in one 128-bit space, IPv4
//! mapped into IPv6, so they order as addresses and one mask test serves
//! both families.

use std::net::{IpAddr, Ipv4Addr};

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
}
