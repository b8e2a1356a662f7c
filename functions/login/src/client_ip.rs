//! The client address as a rate-limit key: IPv4 as is, IPv6 grouped by its /64 prefix (one
//! customer usually holds a whole /64, so per-address keys would be trivial to rotate).

use std::fmt;
use std::net::IpAddr;

/// A client address reduced to the unit that is rate limited.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientIp {
    addr: IpAddr,
    key: String,
}

impl ClientIp {
    /// Parses the request context's `sourceIp`; `None` when it is not an IP address.
    pub fn parse(raw: &str) -> Option<Self> {
        let addr: IpAddr = raw.trim().parse().ok()?;
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        let key = match addr {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        };
        Some(Self { addr, key })
    }

    /// The rate-limit unit: the IPv4 address or the IPv6 /64 prefix.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The full address (shown to the user in the sign-in notice).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
}

impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.addr.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_kept_and_ipv6_is_grouped_by_64() {
        assert_eq!(ClientIp::parse("203.0.113.7").unwrap().key(), "203.0.113.7");
        let a = ClientIp::parse("2001:db8:1:2:aaaa::1").unwrap();
        let b = ClientIp::parse("2001:0db8:0001:0002:ffff:ffff:ffff:ffff").unwrap();
        assert_eq!(a.key(), "2001:db8:1:2::/64");
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), ClientIp::parse("2001:db8:1:3::1").unwrap().key());
        assert_eq!(
            ClientIp::parse("::ffff:198.51.100.1").unwrap().key(),
            "198.51.100.1"
        );
        assert!(ClientIp::parse("not-an-ip").is_none());
        assert!(ClientIp::parse("").is_none());
    }
}
