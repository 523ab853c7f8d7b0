//! The strict grammar of every user-supplied value that can reach frr.conf. A value is turned into
//! one of these types (or a number) before it enters the desired state, so the renderer cannot be
//! handed a newline, a `!`, a control character or an over-long string: injection is impossible by
//! construction, not by escaping. Error messages quote values with `{:?}` (control characters
//! escaped) and never echo a password.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use crate::model::core::Redacted;

/// Longest interface name Linux accepts (IFNAMSIZ 16, including the NUL).
const IFNAME_MAX: usize = 15;
/// FRR's BFD profile names are at most 64 bytes including the NUL (BFD_PROFILE_NAME_LEN).
const PROFILE_NAME_MAX: usize = 63;
/// TCP MD5 keys are at most 80 bytes (TCP_MD5SIG_MAXKEYLEN).
const PASSWORD_MAX: usize = 80;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn check_name(s: &str, max: usize, what: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if s.len() > max {
        return Err(format!("{what} {:?} is longer than {max} characters", excerpt(s)));
    }
    if s == "." || s == ".." {
        return Err(format!("{what} {s:?} is not allowed"));
    }
    if let Some(c) = s.chars().find(|c| !is_name_char(*c)) {
        return Err(format!(
            "{what} {:?} contains {c:?}: only letters, digits, '-', '_' and '.' are allowed",
            excerpt(s)
        ));
    }
    Ok(())
}

/// At most 64 characters of a hostile value in a message.
pub fn excerpt(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A Community alias name: a name (letters, digits, '-', '_', '.'; at most 63) that cannot be
/// mistaken for a community value.
pub fn check_alias_name(s: &str) -> Result<(), String> {
    check_name(s, PROFILE_NAME_MAX, "community alias")?;
    if s.as_bytes()[0].is_ascii_digit() {
        return Err(format!("community alias {s:?} must not start with a digit (it would read as a value)"));
    }
    Ok(())
}

/// A Linux interface name (also a VRF name, since a VRF is a Linux device).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct IfName(String);

impl IfName {
    pub fn parse(s: &str, what: &str) -> Result<Self, String> {
        check_name(s, IFNAME_MAX, what)?;
        Ok(IfName(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A BFD profile name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ProfileName(String);

impl ProfileName {
    pub fn parse(s: &str) -> Result<Self, String> {
        check_name(s, PROFILE_NAME_MAX, "BFD profile name")?;
        Ok(ProfileName(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A TCP MD5 password: printable ASCII without spaces and without `!` (FRR's comment marker), 1 to
/// 80 characters. The message never contains the value.
pub fn parse_password(s: &str) -> Result<Redacted, String> {
    if s.is_empty() {
        return Err("password must not be empty".into());
    }
    if s.len() > PASSWORD_MAX {
        return Err(format!("password is longer than {PASSWORD_MAX} characters"));
    }
    if let Some(pos) = s.chars().position(|c| !c.is_ascii_graphic() || c == '!') {
        return Err(format!(
            "password contains a character that is not allowed at position {} (printable ASCII except space and '!')",
            pos + 1
        ));
    }
    Ok(Redacted::new(s.to_string()))
}

/// An IP address given as a string: no IPv4-mapped IPv6 (`::ffff:a.b.c.d` would silently become a
/// different family), no unspecified or multicast address.
pub fn parse_unicast_ip(s: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = s.trim().parse().map_err(|_| format!("{:?} is not an IP address", excerpt(s)))?;
    if let IpAddr::V6(v6) = ip {
        if v6.to_ipv4_mapped().is_some() {
            return Err(format!("{s:?} is an IPv4-mapped IPv6 address: write the IPv4 address"));
        }
    }
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(format!("{s:?} is not a unicast address"));
    }
    Ok(ip)
}

/// A BGP community, standard (RFC 1997) or large (RFC 8092).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CommunityValue {
    Standard(u32),
    Large(u32, u32, u32),
}

impl CommunityValue {
    /// `a:b` (each 0-65535) or `large:a:b:c` (each 0-4294967295), as MetalLB writes them.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{:?} is not a community: want 'a:b' (0-65535 each) or 'large:a:b:c'", excerpt(s));
        if let Some(rest) = s.strip_prefix("large:") {
            let parts: Vec<&str> = rest.split(':').collect();
            if parts.len() != 3 {
                return Err(bad());
            }
            let mut n = [0u32; 3];
            for (i, p) in parts.iter().enumerate() {
                n[i] = parse_decimal(p).and_then(|v| u32::try_from(v).ok()).ok_or_else(bad)?;
            }
            return Ok(CommunityValue::Large(n[0], n[1], n[2]));
        }
        let (a, b) = s.split_once(':').ok_or_else(bad)?;
        let a = parse_decimal(a).and_then(|v| u16::try_from(v).ok()).ok_or_else(bad)?;
        let b = parse_decimal(b).and_then(|v| u16::try_from(v).ok()).ok_or_else(bad)?;
        Ok(CommunityValue::Standard(((a as u32) << 16) | b as u32))
    }
}

/// Plain decimal digits only (no sign, no spaces), at most 10 of them.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A standard community in the form FRR 8.4's `show running-config` prints it: well-known values by
/// name (bgpd/bgp_community.c, community_com2str), others as `a:b`. Writing the same form keeps
/// the diff against the running config empty when nothing changed.
pub fn standard_community_text(v: u32) -> String {
    let name = match v {
        0x0000_0000 => Some("internet"),
        0xFFFF_0000 => Some("graceful-shutdown"),
        0xFFFF_0001 => Some("accept-own"),
        0xFFFF_0002 => Some("route-filter-translated-v4"),
        0xFFFF_0003 => Some("route-filter-v4"),
        0xFFFF_0004 => Some("route-filter-translated-v6"),
        0xFFFF_0005 => Some("route-filter-v6"),
        0xFFFF_0006 => Some("llgr-stale"),
        0xFFFF_0007 => Some("no-llgr"),
        0xFFFF_0008 => Some("accept-own-nexthop"),
        0xFFFF_029A => Some("blackhole"),
        0xFFFF_FF01 => Some("no-export"),
        0xFFFF_FF02 => Some("no-advertise"),
        0xFFFF_FF03 => Some("local-AS"),
        0xFFFF_FF04 => Some("no-peer"),
        _ => None,
    };
    name.map(str::to_string).unwrap_or_else(|| format!("{}:{}", v >> 16, v & 0xFFFF))
}

/// A Kubernetes duration (Go's time.ParseDuration syntax: `90s`, `1m30s`, `1.5h`, `500ms`), in
/// milliseconds. Negative values and more than about 10^12 ms are refused.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let bad = || format!("{:?} is not a duration (for example \"90s\" or \"1m30s\")", excerpt(s));
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() || s.len() > 32 {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let num: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += num * factor;
    }
    if !total.is_finite() || total > 1e12 {
        return Err(bad());
    }
    Ok(total.round() as u64)
}

/// A duration that must be a whole number of seconds.
pub fn parse_duration_secs(s: &str) -> Result<u64, String> {
    let ms = parse_duration_ms(s)?;
    if ms % 1000 != 0 {
        return Err(format!("{s:?} is not a whole number of seconds"));
    }
    Ok(ms / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(IfName::parse("eth0.100", "interface").is_ok());
        assert!(IfName::parse("red_vrf-1", "vrf").is_ok());
        for bad in ["", "a b", "eth0\nexit", "x!", "..", "sixteen-chars-xx", "é", "a\u{0}"] {
            assert!(IfName::parse(bad, "interface").is_err(), "{bad:?} accepted");
        }
        assert!(ProfileName::parse(&"p".repeat(63)).is_ok());
        assert!(ProfileName::parse(&"p".repeat(64)).is_err());
    }

    #[test]
    fn passwords() {
        assert!(parse_password("s3cr#t$x").is_ok());
        for bad in ["", "a b", "a!b", "a\nb", "a\tb", "ünï", &"x".repeat(81)] {
            let err = parse_password(bad).expect_err(bad);
            assert!(bad.is_empty() || !err.contains(bad), "message echoes the password: {err}");
        }
    }

    #[test]
    fn communities() {
        assert_eq!(CommunityValue::parse("65000:1"), Ok(CommunityValue::Standard((65000 << 16) | 1)));
        assert_eq!(CommunityValue::parse("large:1:2:4294967295"), Ok(CommunityValue::Large(1, 2, u32::MAX)));
        for bad in ["65536:1", "1:-1", "1", "1:2:3", "large:1:2", "large:1:2:4294967296", " 1:2", "1:2\n", "+1:2"] {
            assert!(CommunityValue::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(standard_community_text(0xFFFF_FF01), "no-export");
        assert_eq!(standard_community_text((65000 << 16) | 7), "65000:7");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("90s"), Ok(90_000));
        assert_eq!(parse_duration_ms("1m30s"), Ok(90_000));
        assert_eq!(parse_duration_ms("1.5h"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("0"), Ok(0));
        assert!(parse_duration_secs("1500ms").is_err());
        for bad in ["", "-1s", "10", "1x", "s", "1e9h", "1s\n"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ips() {
        assert!(parse_unicast_ip("192.0.2.1").is_ok());
        assert!(parse_unicast_ip("2001:db8::1").is_ok());
        for bad in ["::ffff:192.0.2.1", "0.0.0.0", "224.0.0.1", "192.0.2.256", "192.0.2.1/32", "x"] {
            assert!(parse_unicast_ip(bad).is_err(), "{bad:?} accepted");
        }
    }
}
