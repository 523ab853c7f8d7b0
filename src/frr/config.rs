//! FRR configuration text as a tree, so that what FRR runs (`show running-config`) and what it
//! should run (our rendered frr.conf) can be compared structurally. Pure.
//!
//! FRR writes a block as its header line, its children indented by one more space, and a closing
//! `exit` (or `exit-address-family`) at the header's indentation. `!` lines are separators.

/// One line and, if it opens a block, the lines inside it. The line is borrowed from the text
/// it was parsed from (a tree of a large config is as many lines; docs/benchmarks.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node<'a> {
    pub line: &'a str,
    pub children: Vec<Node<'a>>,
}

impl<'a> Node<'a> {
    pub fn is_block(&self) -> bool {
        !self.children.is_empty()
    }

    pub fn child(&self, line: &str) -> Option<&Node<'a>> {
        self.children.iter().find(|c| c.line == line)
    }
}

const TERMINATORS: &[&str] = &["exit", "exit-address-family", "exit-vrf", "exit-vnc", "end"];

fn indent(l: &str) -> usize {
    l.len() - l.trim_start_matches(' ').len()
}

/// Parse config text into top-level nodes. Comments, separators and `end` are dropped; a block
/// that contains nothing (an empty `bfd profile`) keeps its header as a leaf.
pub fn parse(text: &str) -> Vec<Node<'_>> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end())
        .filter(|l| {
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with('!') && !t.starts_with('#')
        })
        .collect();
    let mut pos = 0;
    parse_level(&lines, &mut pos, 0)
}

fn parse_level<'a>(lines: &[&'a str], pos: &mut usize, level: usize) -> Vec<Node<'a>> {
    let mut out: Vec<Node> = Vec::new();
    // A line seen twice at one level is one node (as vtysh enters the same block again): a
    // duplicated block merges its children, a duplicated leaf counts once. FRR never prints
    // duplicates, but hand-written or corrupted text must not make a config differ from itself.
    // (Keyed by the text's own lines, not copies of them.)
    let mut seen: std::collections::HashMap<&'a str, usize> = std::collections::HashMap::new();
    while *pos < lines.len() {
        let l = lines[*pos];
        let ind = indent(l);
        if ind < level {
            return out;
        }
        let body = l.trim_start();
        if TERMINATORS.contains(&body) {
            if ind == level && level > 0 {
                // Closes the block that contains this level.
                return out;
            }
            *pos += 1;
            continue;
        }
        *pos += 1;
        let mut node = Node { line: body, children: Vec::new() };
        // Children are the following lines indented deeper than this one.
        if *pos < lines.len() && indent(lines[*pos]) > ind {
            node.children = parse_level(lines, pos, ind + 1);
        }
        // A terminator at this line's own indentation closes it.
        if *pos < lines.len() && indent(lines[*pos]) == ind && TERMINATORS.contains(&lines[*pos].trim_start()) {
            *pos += 1;
        }
        match seen.get(body) {
            Some(&i) => merge(&mut out[i], node),
            None => {
                seen.insert(body, out.len());
                out.push(node);
            }
        }
    }
    out
}

fn merge<'a>(into: &mut Node<'a>, from: Node<'a>) {
    for c in from.children {
        match into.children.iter().position(|n| n.line == c.line) {
            Some(i) => merge(&mut into.children[i], c),
            None => into.children.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_running_config_shape() {
        let text = "frr version 8.4.4\nfrr defaults traditional\nhostname x\n!\nrouter bgp 64512\n bgp router-id 192.0.2.11\n neighbor 192.0.2.1 remote-as 64500\n !\n address-family ipv4 unicast\n  network 203.0.113.1/32 route-map fs-tag-7\n  neighbor 192.0.2.1 activate\n exit-address-family\nexit\n!\nbfd\n profile a\n exit\n !\n profile b\n  detect-multiplier 5\n exit\n !\nexit\n!\nroute-map fs-tag-7 permit 10\n set tag 7\nexit\n!\nend\n";
        let t = parse(text);
        let heads: Vec<&str> = t.iter().map(|n| n.line).collect();
        assert_eq!(
            heads,
            vec![
                "frr version 8.4.4",
                "frr defaults traditional",
                "hostname x",
                "router bgp 64512",
                "bfd",
                "route-map fs-tag-7 permit 10"
            ]
        );
        let bgp = &t[3];
        assert_eq!(bgp.children.len(), 3);
        let af = bgp.child("address-family ipv4 unicast").expect("af");
        assert_eq!(af.children.len(), 2);
        let bfd = &t[4];
        assert_eq!(bfd.children.len(), 2);
        assert!(!bfd.children[0].is_block());
        assert_eq!(bfd.children[1].children[0].line, "detect-multiplier 5");
        assert_eq!(t[5].children[0].line, "set tag 7");
    }

    /// Found by the frr_config fuzz target: the same block twice made a config differ from itself.
    #[test]
    fn duplicate_blocks_merge() {
        let t = parse("router bgp 64512\n neighbor a remote-as 1\nrouter bgp 64512\n neighbor b remote-as 2\n neighbor a remote-as 1\nexit\n");
        assert_eq!(t.len(), 1);
        let lines: Vec<&str> = t[0].children.iter().map(|c| c.line).collect();
        assert_eq!(lines, vec!["neighbor a remote-as 1", "neighbor b remote-as 2"]);
        assert!(crate::frr::diff::diff(&t, &t).is_empty());
    }
}
