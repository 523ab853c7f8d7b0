//! A rendered frr.conf as the agent keeps it: the text around the `network` blocks, and each block
//! as the desired state's persistent map (prefix → tag). Pure.
//!
//! At 100,000 Services nearly all of frr.conf is `network` lines. Kept this way, a Service change
//! neither renders nor walks them: two configs compare, and the lines that turn one into the other
//! are found (`network_delta`), in time proportional to what differs (the maps share the rest).
//! The whole text is made only where it is needed whole: frr.conf on disk, a full reconcile,
//! `frr-speaker render`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::delta::Delta;
use super::extras;
use crate::desired::state::Networks;
use crate::model::core::ObjKey;

/// A rendered config. `text()` is exactly what the template would have written.
#[derive(Clone, Debug, Default)]
pub struct Conf {
    /// The text before, between and after the blocks: one more than `blocks` (or both empty).
    pieces: Vec<String>,
    blocks: Vec<Block>,
}

/// The `network` lines of one address family of one BGP instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// Its instance's header line (`router bgp 64512 vrf red`).
    pub router: String,
    /// Its address family's header line (`address-family ipv6 unicast`).
    pub af: String,
    pub networks: Networks,
}

/// One `network` line as the template writes it (indented for its address family), without the
/// newline.
pub(crate) fn network_line(out: &mut String, prefix: &ipnet::IpNet, tag: u16) {
    let _ = write!(out, "network {prefix} route-map fs-tag-{tag}");
}

impl Conf {
    /// A config known only as text (frr.conf read from disk, a test's config).
    pub fn from_text(text: impl Into<String>) -> Conf {
        Conf { pieces: vec![text.into()], blocks: Vec::new() }
    }

    /// `pieces[0]`, `blocks[0]`, `pieces[1]`, … (`pieces` has one more element than `blocks`).
    pub(crate) fn new(pieces: Vec<String>, blocks: Vec<Block>) -> Conf {
        debug_assert_eq!(pieces.len(), blocks.len() + 1);
        Conf { pieces, blocks }
    }

    /// The whole text.
    pub fn text(&self) -> String {
        let lines: usize = self.blocks.iter().map(|b| b.networks.len()).sum();
        // Room for the longest line (an IPv6 prefix of 43 characters, a 5-digit tag: 77 with
        // indent and newline), not a doubling of a large text; what is left over is given
        // back without a copy.
        let mut out = String::with_capacity(self.pieces.iter().map(String::len).sum::<usize>() + lines * 77);
        for (i, piece) in self.pieces.iter().enumerate() {
            out.push_str(piece);
            if let Some(b) = self.blocks.get(i) {
                for (prefix, tag) in b.networks.iter() {
                    out.push_str("  ");
                    network_line(&mut out, prefix, *tag);
                    out.push('\n');
                }
            }
        }
        out.shrink_to_fit();
        out
    }

    /// The text without the blocks' `network` lines (each block's address family left as the
    /// template wrote it around them).
    pub fn skeleton(&self) -> String {
        self.pieces.concat()
    }

    /// The `network` blocks, in the text's order.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The operator's extras (`bgpextras`), when the config has them.
    pub fn extras(&self) -> Option<&str> {
        extras::split(self.pieces.last()?).1
    }

    /// This config followed by the extras of ConfigMap `key` (`extras::append`).
    pub fn with_extras(mut self, key: &ObjKey, text: &str) -> Conf {
        match self.pieces.last_mut() {
            Some(last) => *last = extras::append(last, key, text),
            None => self.pieces.push(extras::append("", key, text)),
        }
        self
    }

    /// This config followed by raw lines from `from` (`extras::append_from`).
    pub fn with_raw(mut self, from: &str, text: &str) -> Conf {
        match self.pieces.last_mut() {
            Some(last) => *last = extras::append_from(last, from, text),
            None => self.pieces.push(extras::append_from("", from, text)),
        }
        self
    }

    /// This config without its extras.
    pub fn without_extras(&self) -> Conf {
        let mut c = self.clone();
        if let Some(last) = c.pieces.last_mut() {
            *last = extras::split(last).0.to_string();
        }
        c
    }

    /// The same blocks at the same places.
    fn same_shape(&self, other: &Conf) -> bool {
        self.blocks.len() == other.blocks.len()
            && self.blocks.iter().zip(&other.blocks).all(|(a, b)| a.router == b.router && a.af == b.af)
    }

    /// The script from `from` to `to` when they differ only in the blocks' `network` lines: the
    /// script `diff::network_delta` finds in their texts, in time proportional to the lines that
    /// differ. `None` when anything else differs, or when extras are present that have `network`
    /// lines of their own (they merge with the agent's: only the full diff knows the result).
    pub fn network_delta(from: &Conf, to: &Conf) -> Option<Delta> {
        if !from.same_shape(to) || from.pieces != to.pieces {
            return None;
        }
        if to
            .extras()
            .is_some_and(|e| e.lines().any(|l| l.trim_start().trim_start_matches("no ").starts_with("network ")))
        {
            return None;
        }
        // Routers in the order the text diff writes them: the default instance first, then by header.
        type Afs<'a> = Vec<(&'a str, Vec<String>)>;
        let mut per_router: BTreeMap<(bool, &str), Afs<'_>> = BTreeMap::new();
        let mut d = Delta::default();
        for (a, b) in from.blocks.iter().zip(&to.blocks) {
            let (mut gone, mut added) = (Vec::new(), Vec::new());
            for item in a.networks.diff(&b.networks) {
                let mut line = String::new();
                match item {
                    imbl::ordmap::DiffItem::Remove(p, t) => {
                        line.push_str("no ");
                        network_line(&mut line, p, *t);
                        gone.push(line);
                    }
                    imbl::ordmap::DiffItem::Add(p, t) | imbl::ordmap::DiffItem::Update { new: (p, t), .. } => {
                        network_line(&mut line, p, *t);
                        added.push(line);
                    }
                }
            }
            if gone.is_empty() && added.is_empty() {
                continue;
            }
            d.changes += gone.len() + added.len();
            gone.extend(added);
            let vrf = a.router.split(' ').nth(3) == Some("vrf");
            per_router.entry((vrf, a.router.as_str())).or_default().push((a.af.as_str(), gone));
        }
        for ((_, router), afs) in per_router {
            d.script.push_str(router);
            d.script.push('\n');
            for (af, lines) in afs {
                let _ = writeln!(d.script, " {af}");
                for l in lines {
                    let _ = writeln!(d.script, "  {l}");
                }
                d.script.push_str(" exit-address-family\n");
            }
            d.script.push_str("exit\n");
        }
        Some(d)
    }
}

/// Equal when the texts are equal. Two configs of the same shape compare by parts (maps that
/// share structure compare in time proportional to what differs); otherwise by their texts.
impl PartialEq for Conf {
    fn eq(&self, other: &Conf) -> bool {
        if self.same_shape(other) {
            self.pieces == other.pieces && self.blocks.iter().zip(&other.blocks).all(|(a, b)| a.networks == b.networks)
        } else {
            self.text() == other.text()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frr::diff::network_delta;

    fn conf(v4: &[(&str, u16)], v6: &[(&str, u16)]) -> Conf {
        let map = |v: &[(&str, u16)]| {
            v.iter().map(|(p, t)| (p.parse::<ipnet::IpNet>().expect("prefix"), *t)).collect::<Networks>()
        };
        Conf::new(
            vec![
                "router bgp 64512\n neighbor 192.0.2.1 remote-as 64500\n !\n address-family ipv4 unicast\n".into(),
                "  neighbor 192.0.2.1 activate\n exit-address-family\n !\n address-family ipv6 unicast\n".into(),
                "  neighbor 192.0.2.1 activate\n exit-address-family\nexit\n!\n".into(),
            ],
            vec![
                Block {
                    router: "router bgp 64512".into(),
                    af: "address-family ipv4 unicast".into(),
                    networks: map(v4),
                },
                Block {
                    router: "router bgp 64512".into(),
                    af: "address-family ipv6 unicast".into(),
                    networks: map(v6),
                },
            ],
        )
    }

    #[test]
    fn the_delta_of_the_maps_is_the_delta_of_the_texts() {
        let a = conf(&[("203.0.113.1/32", 7), ("203.0.113.2/32", 7), ("203.0.113.3/32", 7)], &[("2001:db8::1/128", 7)]);
        let b = conf(&[("203.0.113.1/32", 7), ("203.0.113.3/32", 9), ("203.0.113.4/32", 7)], &[]);
        let fast = Conf::network_delta(&a, &b).expect("only networks differ");
        assert_eq!(Some(fast.clone()), network_delta(&a.text(), &b.text()));
        assert_eq!(
            fast.script,
            "router bgp 64512\n address-family ipv4 unicast\n  no network 203.0.113.2/32 route-map fs-tag-7\n  network 203.0.113.3/32 route-map fs-tag-9\n  network 203.0.113.4/32 route-map fs-tag-7\n exit-address-family\n address-family ipv6 unicast\n  no network 2001:db8::1/128 route-map fs-tag-7\n exit-address-family\nexit\n"
        );
        assert_eq!(fast.changes, 4);
        assert!(Conf::network_delta(&a, &a).expect("same").is_empty());
        // Anything else differs: no fast delta.
        let mut c = b.clone();
        c.pieces[0] = c.pieces[0].replace("64500", "64501");
        assert!(Conf::network_delta(&a, &c).is_none());
        assert!(Conf::network_delta(&a, &Conf::from_text(a.text())).is_none());
    }

    #[test]
    fn equality_is_equality_of_the_texts() {
        let a = conf(&[("203.0.113.1/32", 7)], &[]);
        assert_eq!(a, Conf::from_text(a.text()));
        assert_ne!(a, conf(&[("203.0.113.1/32", 8)], &[]));
        assert_ne!(a, conf(&[], &[]));
        assert_eq!(Conf::default().text(), "");
    }

    #[test]
    fn extras_with_network_lines_take_the_full_diff() {
        let key = ObjKey::new("metallb-system", "bgpextras");
        let a = conf(&[("203.0.113.1/32", 7)], &[]);
        let b = conf(&[], &[]);
        let (ae, be) = (
            a.clone().with_extras(&key, "ip prefix-list x permit 198.51.100.0/24\n"),
            b.clone().with_extras(&key, "ip prefix-list x permit 198.51.100.0/24\n"),
        );
        assert_eq!(ae.extras(), Some("ip prefix-list x permit 198.51.100.0/24\n"));
        assert_eq!(ae.without_extras(), a);
        assert_eq!(Conf::network_delta(&ae, &be).expect("extras without networks").changes, 1);
        let net =
            "router bgp 64512\n address-family ipv4 unicast\n  network 203.0.113.1/32\n exit-address-family\nexit\n";
        let (an, bn) = (a.with_extras(&key, net), b.with_extras(&key, net));
        assert!(Conf::network_delta(&an, &bn).is_none());
    }
}
