//! Which nftables rules a network and a container's published ports need,
//! as plain data. `nft.rs` encodes them; the tests here check the policy.
//!
//! Everything lives in berth's own table `ip berth`, with four base chains:
//!
//! | chain       | hook        | what                                                  |
//! |-------------|-------------|-------------------------------------------------------|
//! | prerouting  | nat, -100   | DNAT of published ports (traffic from outside/containers) |
//! | output      | nat, -100   | DNAT of published ports (the host's own processes)    |
//! | postrouting | nat, 100    | masquerade: leaving the host; 127/8 and hairpin into the bridge |
//! | forward     | filter, 0   | isolation between networks; internal networks         |
//!
//! Every rule carries a tag (its nftables userdata) naming its owner, so that
//! rules are found and removed by owner, including after a crash.

use std::net::Ipv4Addr;

use crate::ipam::Subnet;
use crate::ports::{Proto, PublishedPort};

/// Prefix of every bridge berth creates (the isolation rules match on it).
pub(crate) const BRIDGE_PREFIX: &str = "berth";

/// A base chain of berth's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chain {
    Prerouting,
    Output,
    Postrouting,
    Forward,
}

impl Chain {
    pub(crate) const ALL: [Chain; 4] = [
        Chain::Prerouting,
        Chain::Output,
        Chain::Postrouting,
        Chain::Forward,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Chain::Prerouting => "prerouting",
            Chain::Output => "output",
            Chain::Postrouting => "postrouting",
            Chain::Forward => "forward",
        }
    }

    /// (chain type, netfilter hook number, priority)
    pub(crate) fn hook(self) -> (&'static str, u32, i32) {
        match self {
            Chain::Prerouting => ("nat", 0, -100),
            Chain::Output => ("nat", 3, -100),
            Chain::Postrouting => ("nat", 4, 100),
            Chain::Forward => ("filter", 2, 0),
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Chain> {
        Chain::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// One condition of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Match {
    IifName(String),
    OifName(String),
    OifNameNot(String),
    /// The output interface's name starts with this.
    OifPrefix(String),
    IifNameNot(String),
    SaddrIn(Subnet),
    DaddrIs(Ipv4Addr),
    /// The destination is an address of this host (`fib daddr type local`).
    DaddrLocal,
    L4Proto(Proto),
    Dport(u16),
    /// Whether the connection was destination-NATed (`ct status dnat`).
    CtDnat(bool),
}

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Masquerade,
    Dnat(Ipv4Addr, u16),
    Drop,
}

/// One rule: conditions, action, owner tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub chain: Chain,
    pub matches: Vec<Match>,
    pub action: Action,
    pub tag: String,
}

/// The tag of a network's rules.
pub(crate) fn network_tag(network_id: &str) -> String {
    format!("berth/net/{network_id}")
}

/// The tag of a container's rules on one network.
pub(crate) fn container_tag(container_id: &str, network_id: &str) -> String {
    format!("berth/ctr/{container_id}/{network_id}")
}

/// What a network's rules depend on.
#[derive(Debug, Clone)]
pub(crate) struct NetworkRules<'a> {
    pub id: &'a str,
    pub bridge: &'a str,
    pub subnet: Subnet,
    pub internal: bool,
}

/// The rules of one network.
pub(crate) fn network_rules(n: &NetworkRules<'_>) -> Vec<Rule> {
    let tag = network_tag(n.id);
    let br = n.bridge.to_string();
    let rule = |chain, matches, action| Rule {
        chain,
        matches,
        action,
        tag: tag.clone(),
    };
    if n.internal {
        // No way in or out of the bridge but between its own ports.
        return vec![
            rule(
                Chain::Forward,
                vec![Match::IifName(br.clone()), Match::OifNameNot(br.clone())],
                Action::Drop,
            ),
            rule(
                Chain::Forward,
                vec![Match::OifName(br.clone()), Match::IifNameNot(br)],
                Action::Drop,
            ),
        ];
    }
    let loopback = Subnet::new(Ipv4Addr::new(127, 0, 0, 0), 8).ok();
    let mut rules = vec![
        // Leaving the host: the containers' replies come back through conntrack.
        rule(
            Chain::Postrouting,
            vec![Match::SaddrIn(n.subnet), Match::OifNameNot(br.clone())],
            Action::Masquerade,
        ),
        // A container reaching a published port of its own network through
        // the host (hairpin): without this the answer would skip the host.
        rule(
            Chain::Postrouting,
            vec![
                Match::OifName(br.clone()),
                Match::SaddrIn(n.subnet),
                Match::CtDnat(true),
            ],
            Action::Masquerade,
        ),
        // Other networks' bridges are out of reach, except through published ports.
        rule(
            Chain::Forward,
            vec![
                Match::IifName(br.clone()),
                Match::OifPrefix(BRIDGE_PREFIX.to_string()),
                Match::OifNameNot(br.clone()),
                Match::CtDnat(false),
            ],
            Action::Drop,
        ),
    ];
    // The host's own 127.0.0.1 reaching a published port (needs route_localnet).
    if let Some(lo) = loopback {
        rules.insert(
            1,
            rule(
                Chain::Postrouting,
                vec![Match::OifName(br), Match::SaddrIn(lo)],
                Action::Masquerade,
            ),
        );
    }
    rules
}

/// The DNAT rules of one container's published ports: for traffic arriving
/// from outside or from containers (prerouting) and from the host's own
/// processes (output).
pub(crate) fn port_rules(tag: &str, ip: Ipv4Addr, ports: &[PublishedPort]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for p in ports {
        let dst = if p.host_ip.is_unspecified() {
            Match::DaddrLocal
        } else {
            Match::DaddrIs(p.host_ip)
        };
        for chain in [Chain::Prerouting, Chain::Output] {
            rules.push(Rule {
                chain,
                matches: vec![
                    dst.clone(),
                    Match::L4Proto(p.proto),
                    Match::Dport(p.host_port),
                ],
                action: Action::Dnat(ip, p.container_port),
                tag: tag.to_string(),
            });
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(internal: bool) -> Vec<Rule> {
        network_rules(&NetworkRules {
            id: "n1",
            bridge: "berth0",
            subnet: "10.213.0.0/16".parse().expect("must succeed"),
            internal,
        })
    }

    #[test]
    fn bridge_network_masquerades_and_isolates() {
        let rules = net(false);
        assert!(rules.iter().all(|r| r.tag == "berth/net/n1"));
        let masq: Vec<_> = rules
            .iter()
            .filter(|r| r.action == Action::Masquerade)
            .collect();
        assert_eq!(masq.len(), 3);
        assert!(masq.iter().all(|r| r.chain == Chain::Postrouting));
        // Outbound masquerade never applies to traffic staying on the bridge.
        assert!(masq[0]
            .matches
            .contains(&Match::OifNameNot("berth0".into())));
        let drop: Vec<_> = rules.iter().filter(|r| r.action == Action::Drop).collect();
        assert_eq!(drop.len(), 1);
        assert_eq!(drop[0].chain, Chain::Forward);
        // Published ports stay reachable across networks.
        assert!(drop[0].matches.contains(&Match::CtDnat(false)));
    }

    #[test]
    fn internal_network_has_no_way_out_and_no_nat() {
        let rules = net(true);
        assert_eq!(rules.len(), 2);
        assert!(rules
            .iter()
            .all(|r| r.action == Action::Drop && r.chain == Chain::Forward));
    }

    #[test]
    fn ports_dnat_in_prerouting_and_output() {
        let ports = [
            PublishedPort {
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_port: 8080,
                container_port: 80,
                proto: Proto::Tcp,
            },
            PublishedPort {
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: 5353,
                container_port: 53,
                proto: Proto::Udp,
            },
        ];
        let ip = Ipv4Addr::new(10, 213, 0, 2);
        let rules = port_rules(&container_tag("c1", "n1"), ip, &ports);
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[0].chain, Chain::Prerouting);
        assert_eq!(rules[1].chain, Chain::Output);
        assert_eq!(rules[0].matches[0], Match::DaddrLocal);
        assert_eq!(rules[2].matches[0], Match::DaddrIs(Ipv4Addr::LOCALHOST));
        assert_eq!(rules[3].action, Action::Dnat(ip, 53));
        assert!(rules.iter().all(|r| r.tag == "berth/ctr/c1/n1"));
    }
}
