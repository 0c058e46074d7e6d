//! The generated device filter: its shape, and its decisions under a small interpreter of the
//! instructions we emit.

use crate::bpf::*;
use crate::devices::{rules, DevKind, DeviceRule};
use crate::testing::res;

fn spec_rules(json: &str) -> Vec<DeviceRule> {
    let r = res(&format!(r#"{{"devices":{json}}}"#));
    rules(r.devices().as_deref().unwrap_or_default()).expect("valid rules")
}

/// Runs the program on (type, access, major, minor); panics on an instruction we never emit.
fn run(p: &[Insn], ty: u32, access: u32, major: u32, minor: u32) -> u64 {
    let ctx = [(access << 16) | ty, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    for _ in 0..10_000 {
        let i = p[pc];
        let (dst, src) = (usize::from(i.regs & 0xf), usize::from(i.regs >> 4));
        let imm = i.imm as u32;
        pc += 1;
        match i.code {
            LDX_W_MEM => {
                assert_eq!(src, 1, "loads only from the context");
                r[dst] = u64::from(ctx[usize::try_from(i.off).expect("offset") / 4]);
            }
            ALU32_AND_K => r[dst] = u64::from((r[dst] as u32) & imm),
            ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> imm),
            ALU32_MOV_X => r[dst] = u64::from(r[src] as u32),
            ALU64_MOV_K => r[dst] = i64::from(i.imm) as u64,
            JMP32_JNE_K | JMP32_JEQ_K => {
                let eq = (r[dst] as u32) == imm;
                if eq == (i.code == JMP32_JEQ_K) {
                    pc += usize::try_from(i.off).expect("forward jump");
                }
            }
            EXIT => return r[0],
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
    panic!("program did not terminate")
}

const BLK: u32 = 1;
const CHR: u32 = 2;
const M: u32 = 1;
const R: u32 = 2;
const W: u32 = 4;

#[test]
fn empty_program_denies_everything() {
    let p = compile(&[]);
    assert_eq!(p.len(), 8, "prologue of 6, then r0 = 0; exit");
    assert_eq!(
        p[6],
        Insn {
            code: ALU64_MOV_K,
            regs: 0,
            off: 0,
            imm: 0
        }
    );
    assert_eq!(p[7].code, EXIT);
    assert_eq!(run(&p, CHR, R, 1, 3), 0);
}

#[test]
fn shape_of_one_rule() {
    let p = compile(&spec_rules(
        r#"[{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]"#,
    ));
    let block: Vec<(u8, u8, i16, i32)> = p[6..p.len() - 2]
        .iter()
        .map(|i| (i.code, i.regs, i.off, i.imm))
        .collect();
    assert_eq!(
        block,
        vec![
            (JMP32_JNE_K, 2, 4, 2), // type != char -> next block
            (JMP32_JNE_K, 4, 3, 1), // major != 1 -> next block
            (JMP32_JNE_K, 5, 2, 3), // minor != 3 -> next block
            (ALU64_MOV_K, 0, 0, 1), // allow
            (EXIT, 0, 0, 0),
        ]
    );
    // Partial access adds a mask test: r1 = r3; r1 &= ~rw (= m); if r1 != 0 -> next.
    let p = compile(&spec_rules(r#"[{"allow":true,"type":"a","access":"rw"}]"#));
    let block: Vec<(u8, u8, i16, i32)> = p[6..p.len() - 2]
        .iter()
        .map(|i| (i.code, i.regs, i.off, i.imm))
        .collect();
    assert_eq!(
        block,
        vec![
            (ALU32_MOV_X, 0x31, 0, 0),
            (ALU32_AND_K, 1, 0, 1),
            (JMP32_JNE_K, 1, 2, 0),
            (ALU64_MOV_K, 0, 0, 1),
            (EXIT, 0, 0, 0),
        ]
    );
}

#[test]
fn later_rules_override_earlier_ones() {
    // The usual runtime default: deny all, then allow a few.
    let p = compile(&spec_rules(
        r#"[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
            {"allow":true,"type":"c","major":136,"access":"rw"},
            {"allow":true,"type":"b","major":8,"minor":0,"access":"r"},
            {"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]"#,
    ));
    let cases = [
        (CHR, R, 1, 3, 1),       // /dev/null read: allowed
        (CHR, W, 1, 3, 0),       // ... but write denied by the last rule
        (CHR, R | W, 1, 3, 0),   // a request touching a denied bit is denied
        (CHR, M, 1, 3, 1),       // mknod still allowed
        (CHR, R | W, 136, 7, 1), // any pty
        (CHR, M, 136, 7, 0),     // but no mknod of it
        (BLK, R, 8, 0, 1),
        (BLK, W, 8, 0, 0),
        (BLK, R, 8, 1, 0),
        (CHR, R, 8, 0, 0), // type matters
        (CHR, R, 1, 5, 0), // /dev/zero: not allowed
    ];
    for (ty, acc, maj, min, want) in cases {
        assert_eq!(
            run(&p, ty, acc, maj, min),
            want,
            "type {ty} access {acc} {maj}:{min}"
        );
    }
}

#[test]
fn nothing_follows_a_catch_all_rule() {
    // The common "deny all, then allow" list: the deny-all block is last and nothing follows
    // it, because the verifier rejects unreachable instructions.
    let p = compile(&spec_rules(
        r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]"#,
    ));
    assert_eq!(p.len(), 6 + 5 + 2);
    assert_eq!(
        &p[11..],
        &[
            Insn {
                code: ALU64_MOV_K,
                regs: 0,
                off: 0,
                imm: 0
            },
            Insn {
                code: EXIT,
                regs: 0,
                off: 0,
                imm: 0
            }
        ]
    );
    // Rules before a catch-all (in spec order) are shadowed and not emitted.
    let p = compile(&spec_rules(
        r#"[{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},{"allow":true,"access":"rwm"}]"#,
    ));
    assert_eq!(p.len(), 6 + 2);
    assert_eq!(run(&p, BLK, W, 8, 0), 1);
    // Every jump lands inside the program.
    for (i, ins) in p.iter().enumerate() {
        if ins.code == JMP32_JNE_K || ins.code == JMP32_JEQ_K {
            assert!(i + 1 + usize::try_from(ins.off).expect("fwd") < p.len());
        }
    }
}

#[test]
fn allow_all_and_big_device_numbers() {
    let p = compile(&spec_rules(r#"[{"allow":true,"access":"rwm"}]"#));
    assert_eq!(run(&p, BLK, R | W | M, 259, 1), 1);
    let big = u32::MAX - 1;
    let p = compile(&[DeviceRule {
        allow: true,
        kind: DevKind::Char,
        major: Some(big),
        minor: None,
        access: 7,
    }]);
    assert_eq!(run(&p, CHR, R, big, 0), 1);
    assert_eq!(run(&p, CHR, R, 1, 0), 0);
}
