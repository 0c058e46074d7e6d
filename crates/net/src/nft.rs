//! nftables over nfnetlink: berth's table `ip berth`, its base chains and
//! its rules, encoded directly (no `nft` binary, no libnftnl).
//!
//! Changes go in one batch (`BATCH_BEGIN … BATCH_END`), which the kernel
//! applies atomically: all of it or none.

use std::io;

use crate::nl::{attrs, Msg, Socket, F_ACK, F_APPEND, F_CREATE, F_DUMP};
use crate::rules::{Action, Chain, Match, Rule};

/// The table every berth rule lives in (family `ip`).
pub(crate) const TABLE: &str = "berth";

pub(crate) const BATCH_BEGIN: u16 = 0x10;
const BATCH_END: u16 = 0x11;
const SUBSYS_NFTABLES: u16 = 10;
const NFPROTO_IPV4: u8 = 2;

const MSG_NEWTABLE: u16 = 0;
const MSG_DELTABLE: u16 = 2;
const MSG_NEWCHAIN: u16 = 3;
const MSG_NEWRULE: u16 = 6;
const MSG_GETRULE: u16 = 7;
const MSG_DELRULE: u16 = 8;

const TABLE_NAME: u16 = 1;
const CHAIN_TABLE: u16 = 1;
const CHAIN_NAME: u16 = 3;
const CHAIN_HOOK: u16 = 4;
const CHAIN_POLICY: u16 = 5;
const CHAIN_TYPE: u16 = 7;
const HOOK_HOOKNUM: u16 = 1;
const HOOK_PRIORITY: u16 = 2;
const RULE_TABLE: u16 = 1;
const RULE_CHAIN: u16 = 2;
const RULE_HANDLE: u16 = 3;
const RULE_EXPRESSIONS: u16 = 4;
const RULE_USERDATA: u16 = 7;
const LIST_ELEM: u16 = 1;
const EXPR_NAME: u16 = 1;
const EXPR_DATA: u16 = 2;
const DATA_VALUE: u16 = 1;
const DATA_VERDICT: u16 = 2;
const VERDICT_CODE: u16 = 1;

const REG_VERDICT: u32 = 0;
const REG_1: u32 = 1;
const REG_2: u32 = 2;
const CMP_EQ: u32 = 0;
const CMP_NEQ: u32 = 1;
const META_IIFNAME: u32 = 6;
const META_OIFNAME: u32 = 7;
const META_L4PROTO: u32 = 16;
const PAYLOAD_NETWORK: u32 = 1;
const PAYLOAD_TRANSPORT: u32 = 2;
const FIB_RESULT_ADDRTYPE: u32 = 3;
const FIB_F_DADDR: u32 = 1 << 1;
const RTN_LOCAL: u32 = 2;
const CT_STATUS: u32 = 2;
const IPS_DST_NAT: u32 = 1 << 5;
const NAT_DNAT: u32 = 1;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;

fn nfgen(family: u8, res_id: u16) -> [u8; 4] {
    let r = res_id.to_be_bytes();
    [family, 0, r[0], r[1]]
}

fn msg(ty: u16, flags: u16) -> Msg {
    Msg::new(
        (SUBSYS_NFTABLES << 8) | ty,
        flags,
        &nfgen(NFPROTO_IPV4, 0),
        true,
    )
}

/// Wraps `msgs` into one atomic batch.
pub(crate) fn batch(msgs: Vec<Msg>) -> Vec<Msg> {
    let begin = Msg::new(BATCH_BEGIN, 0, &nfgen(0, SUBSYS_NFTABLES), true);
    let end = Msg::new(BATCH_END, 0, &nfgen(0, SUBSYS_NFTABLES), true);
    let mut out = Vec::with_capacity(msgs.len() + 2);
    out.push(begin);
    out.extend(msgs);
    out.push(end);
    out
}

/// Sends `msgs` as one batch; the first error fails it (and the kernel
/// then applies none of it).
pub(crate) fn apply(sock: &mut Socket, msgs: Vec<Msg>) -> io::Result<()> {
    if msgs.is_empty() {
        return Ok(());
    }
    sock.exec_all(&batch(msgs)).map_err(|(_, e)| e)
}

/// The table and its base chains; creating them again is harmless.
pub(crate) fn base() -> Vec<Msg> {
    let mut out = Vec::new();
    let mut t = msg(MSG_NEWTABLE, F_CREATE | F_ACK);
    t.str(TABLE_NAME, TABLE);
    out.push(t);
    for chain in Chain::ALL {
        let (kind, hook, prio) = chain.hook();
        let mut c = msg(MSG_NEWCHAIN, F_CREATE | F_ACK);
        c.str(CHAIN_TABLE, TABLE).str(CHAIN_NAME, chain.name());
        c.nest(CHAIN_HOOK)
            .be32(HOOK_HOOKNUM, hook)
            .be32(HOOK_PRIORITY, prio as u32)
            .end();
        c.be32(CHAIN_POLICY, NF_ACCEPT).str(CHAIN_TYPE, kind);
        out.push(c);
    }
    out
}

/// Deletes berth's table with everything in it.
pub(crate) fn del_table() -> Msg {
    let mut m = msg(MSG_DELTABLE, F_ACK);
    m.str(TABLE_NAME, TABLE);
    m
}

/// Appends `rule` to its chain.
pub(crate) fn new_rule(rule: &Rule) -> Msg {
    let mut m = msg(MSG_NEWRULE, F_CREATE | F_APPEND | F_ACK);
    m.str(RULE_TABLE, TABLE).str(RULE_CHAIN, rule.chain.name());
    m.nest(RULE_EXPRESSIONS);
    for cond in &rule.matches {
        lower_match(&mut m, cond);
    }
    lower_action(&mut m, &rule.action);
    m.end();
    m.attr(RULE_USERDATA, rule.tag.as_bytes());
    m
}

/// Deletes the rule `handle` of `chain`.
pub(crate) fn del_rule(chain: &str, handle: u64) -> Msg {
    let mut m = msg(MSG_DELRULE, F_ACK);
    m.str(RULE_TABLE, TABLE)
        .str(RULE_CHAIN, chain)
        .attr(RULE_HANDLE, &handle.to_be_bytes());
    m
}

/// A rule of berth's table as listed by the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub chain: String,
    pub handle: u64,
    pub tag: String,
}

/// Every rule of berth's table (none when the table does not exist).
pub(crate) fn list_rules(sock: &mut Socket) -> io::Result<Vec<Listed>> {
    let mut m = msg(MSG_GETRULE, F_DUMP);
    m.str(RULE_TABLE, TABLE);
    let replies = match sock.dump(&m) {
        Ok(r) => r,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOENT.raw_os_error()) => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for p in replies {
        let mut r = Listed {
            chain: String::new(),
            handle: 0,
            tag: String::new(),
        };
        let mut table = String::new();
        for (ty, data) in attrs(p.get(4..).unwrap_or_default()) {
            match ty {
                RULE_TABLE => table = crate::nl::attr_str(data),
                RULE_CHAIN => r.chain = crate::nl::attr_str(data),
                RULE_HANDLE => r.handle = data.try_into().map(u64::from_be_bytes).unwrap_or(0),
                RULE_USERDATA => r.tag = String::from_utf8_lossy(data).into_owned(),
                _ => {}
            }
        }
        if table == TABLE && Chain::from_name(&r.chain).is_some() {
            out.push(r);
        }
    }
    Ok(out)
}

fn expr(m: &mut Msg, name: &str, body: impl FnOnce(&mut Msg)) {
    m.nest(LIST_ELEM).str(EXPR_NAME, name);
    m.nest(EXPR_DATA);
    body(m);
    m.end().end();
}

fn meta(m: &mut Msg, key: u32) {
    expr(m, "meta", |m| {
        m.be32(1, REG_1).be32(2, key);
    });
}

fn cmp(m: &mut Msg, op: u32, data: &[u8]) {
    expr(m, "cmp", |m| {
        m.be32(1, REG_1).be32(2, op);
        m.nest(3).attr(DATA_VALUE, data).end();
    });
}

fn payload(m: &mut Msg, base: u32, offset: u32, len: u32) {
    expr(m, "payload", |m| {
        m.be32(1, REG_1).be32(2, base).be32(3, offset).be32(4, len);
    });
}

fn bitwise_and(m: &mut Msg, mask: &[u8]) {
    expr(m, "bitwise", |m| {
        m.be32(1, REG_1).be32(2, REG_1).be32(3, mask.len() as u32);
        m.nest(4).attr(DATA_VALUE, mask).end();
        m.nest(5).attr(DATA_VALUE, &vec![0u8; mask.len()]).end();
    });
}

fn immediate(m: &mut Msg, reg: u32, data: &[u8]) {
    expr(m, "immediate", |m| {
        m.be32(1, reg);
        m.nest(2).attr(DATA_VALUE, data).end();
    });
}

fn ifname(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

fn lower_match(m: &mut Msg, cond: &Match) {
    match cond {
        Match::IifName(n) => {
            meta(m, META_IIFNAME);
            cmp(m, CMP_EQ, &ifname(n));
        }
        Match::IifNameNot(n) => {
            meta(m, META_IIFNAME);
            cmp(m, CMP_NEQ, &ifname(n));
        }
        Match::OifName(n) => {
            meta(m, META_OIFNAME);
            cmp(m, CMP_EQ, &ifname(n));
        }
        Match::OifNameNot(n) => {
            meta(m, META_OIFNAME);
            cmp(m, CMP_NEQ, &ifname(n));
        }
        Match::OifPrefix(p) => {
            meta(m, META_OIFNAME);
            cmp(m, CMP_EQ, p.as_bytes());
        }
        Match::SaddrIn(s) => {
            payload(m, PAYLOAD_NETWORK, 12, 4);
            let mask = u32::MAX << (32 - s.prefix());
            bitwise_and(m, &mask.to_be_bytes());
            cmp(m, CMP_EQ, &s.addr().octets());
        }
        Match::DaddrIs(ip) => {
            payload(m, PAYLOAD_NETWORK, 16, 4);
            cmp(m, CMP_EQ, &ip.octets());
        }
        Match::DaddrLocal => {
            expr(m, "fib", |m| {
                m.be32(1, REG_1)
                    .be32(2, FIB_RESULT_ADDRTYPE)
                    .be32(3, FIB_F_DADDR);
            });
            cmp(m, CMP_EQ, &RTN_LOCAL.to_ne_bytes());
        }
        Match::L4Proto(p) => {
            meta(m, META_L4PROTO);
            cmp(m, CMP_EQ, &[p.number()]);
        }
        Match::Dport(port) => {
            payload(m, PAYLOAD_TRANSPORT, 2, 2);
            cmp(m, CMP_EQ, &port.to_be_bytes());
        }
        Match::CtDnat(yes) => {
            expr(m, "ct", |m| {
                m.be32(1, REG_1).be32(2, CT_STATUS);
            });
            bitwise_and(m, &IPS_DST_NAT.to_ne_bytes());
            cmp(m, if *yes { CMP_NEQ } else { CMP_EQ }, &0u32.to_ne_bytes());
        }
    }
}

fn lower_action(m: &mut Msg, action: &Action) {
    match action {
        Action::Masquerade => {
            m.nest(LIST_ELEM).str(EXPR_NAME, "masq").end();
        }
        Action::Dnat(ip, port) => {
            immediate(m, REG_1, &ip.octets());
            immediate(m, REG_2, &port.to_be_bytes());
            expr(m, "nat", |m| {
                m.be32(1, NAT_DNAT)
                    .be32(2, u32::from(NFPROTO_IPV4))
                    .be32(3, REG_1)
                    .be32(5, REG_2);
            });
        }
        Action::Drop => {
            expr(m, "immediate", |m| {
                m.be32(1, REG_VERDICT);
                m.nest(2)
                    .nest(DATA_VERDICT)
                    .be32(VERDICT_CODE, NF_DROP)
                    .end()
                    .end();
            });
        }
    }
}
