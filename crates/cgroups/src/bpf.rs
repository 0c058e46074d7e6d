//! cgroup v2 device filter: the rules compiled to a `BPF_PROG_TYPE_CGROUP_DEVICE` program,
//! loaded with bpf(2) and attached to the cgroup directory with `BPF_F_ALLOW_MULTI`.
//!
//! Program shape (the idea of crun's `src/libcrun/ebpf.c`; the code is our own):
//!
//! ```text
//! prologue:  r2 = ctx->access_type & 0xffff   (device type: 1 block, 2 char)
//!            r3 = ctx->access_type >> 16      (requested access: 1 mknod, 2 read, 4 write)
//!            r4 = ctx->major, r5 = ctx->minor
//! per rule, last rule first (a later rule overrides an earlier one, as in v1):
//!            if type given:  if r2 != type goto next
//!            if access != rwm: allow: if r3 & ~access goto next   (request within the rule)
//!                              deny:  if r3 &  access == 0 goto next (request touches the rule)
//!            if major given: if r4 != major goto next
//!            if minor given: if r5 != minor goto next
//!            r0 = allow; exit
//! epilogue:  r0 = 0; exit                    (nothing matched: deny)
//!            (left out after a rule that matches everything: the verifier refuses dead code)
//! ```
//! Comparisons use the 32-bit jump class so device numbers above 2^31 compare correctly.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::devices::{DevKind, DeviceRule, ACC_ALL};
use crate::Error;

/// One eBPF instruction, laid out as `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// `src << 4 | dst`.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcodes (class | op | source).
pub const LDX_W_MEM: u8 = 0x61; // BPF_LDX | BPF_W | BPF_MEM
pub const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
pub const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
pub const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
pub const JMP32_JNE_K: u8 = 0x56; // BPF_JMP32 | BPF_JNE | BPF_K
pub const JMP32_JEQ_K: u8 = 0x16; // BPF_JMP32 | BPF_JEQ | BPF_K
pub const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// Compiles the rules. Pure: unit tests check the shape.
pub fn compile(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W_MEM, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_W_MEM, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_W_MEM, 4, 1, 4, 0),
        insn(LDX_W_MEM, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        p.extend(rule_block(r));
        if matches_everything(r) {
            // Everything after is unreachable, and the verifier rejects unreachable code.
            return p;
        }
    }
    p.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

fn matches_everything(r: &DeviceRule) -> bool {
    r.kind == DevKind::All
        && r.access & ACC_ALL == ACC_ALL
        && r.major.is_none()
        && r.minor.is_none()
}

/// Reinterprets a u32 as the i32 immediate field (the JMP32 compare sees the same bits).
fn imm32(v: u32) -> i32 {
    i32::from_ne_bytes(v.to_ne_bytes())
}

fn rule_block(r: &DeviceRule) -> Vec<Insn> {
    // Jumps are emitted with off = index of the jump in the block; fixed up at the end.
    let mut b: Vec<Insn> = Vec::new();
    let mut jumps: Vec<usize> = Vec::new();
    match r.kind {
        DevKind::All => {}
        DevKind::Block => {
            jumps.push(b.len());
            b.push(insn(JMP32_JNE_K, 2, 0, 0, 1));
        }
        DevKind::Char => {
            jumps.push(b.len());
            b.push(insn(JMP32_JNE_K, 2, 0, 0, 2));
        }
    }
    if r.access & ACC_ALL != ACC_ALL {
        b.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
        if r.allow {
            b.push(insn(ALU32_AND_K, 1, 0, 0, i32::from(!r.access & ACC_ALL)));
            jumps.push(b.len());
            b.push(insn(JMP32_JNE_K, 1, 0, 0, 0));
        } else {
            b.push(insn(ALU32_AND_K, 1, 0, 0, i32::from(r.access)));
            jumps.push(b.len());
            b.push(insn(JMP32_JEQ_K, 1, 0, 0, 0));
        }
    }
    if let Some(m) = r.major {
        jumps.push(b.len());
        b.push(insn(JMP32_JNE_K, 4, 0, 0, imm32(m)));
    }
    if let Some(m) = r.minor {
        jumps.push(b.len());
        b.push(insn(JMP32_JNE_K, 5, 0, 0, imm32(m)));
    }
    b.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(r.allow)));
    b.push(insn(EXIT, 0, 0, 0, 0));
    let len = b.len();
    for j in jumps {
        // A block is at most 9 instructions, so the offset always fits.
        b[j].off = i16::try_from(len - j - 1).unwrap_or(i16::MAX);
    }
    b
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(2) with an attribute struct; returns the non-negative result.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<i64> {
    let size = std::mem::size_of::<T>();
    // SAFETY: `attr` is a live, exclusively borrowed `#[repr(C)]` prefix of `union bpf_attr`
    // of exactly `size` bytes; every pointer inside it points to memory that outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, size) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn fd_from(ret: i64) -> io::Result<OwnedFd> {
    let raw = i32::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned `raw` as a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn load(prog: &[Insn], path: &Path) -> Result<OwnedFd, Error> {
    let license = b"Apache-2.0\0";
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(prog.len()).unwrap_or(u32::MAX),
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    attr.prog_name[..9].copy_from_slice(b"berth_dev");
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => return fd_from(fd).map_err(|source| bpf_err("load", path, "", source)),
        Err(e)
            if e.raw_os_error() != Some(libc::EINVAL) && e.raw_os_error() != Some(libc::EACCES) =>
        {
            return Err(bpf_err("load", path, "", e))
        }
        Err(_) => {}
    }
    // Retry with the verifier log on, to say why.
    attr.log_level = 1;
    attr.log_size = u32::try_from(log.len()).unwrap_or(0);
    attr.log_buf = log.as_mut_ptr() as u64;
    let res = bpf(BPF_PROG_LOAD, &mut attr);
    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]).trim().to_string();
    match res {
        Ok(fd) => fd_from(fd).map_err(|source| bpf_err("load", path, "", source)),
        Err(e) => Err(bpf_err("load", path, &text, e)),
    }
}

fn bpf_err(op: &'static str, path: &Path, log: &str, source: io::Error) -> Error {
    Error::Bpf {
        op,
        path: path.to_path_buf(),
        log: log.to_string(),
        source,
    }
}

fn raw(fd: BorrowedFd<'_>) -> u32 {
    u32::try_from(fd.as_raw_fd()).unwrap_or(u32::MAX)
}

/// Ids of the device programs attached to the cgroup right now.
fn query(dir: BorrowedFd<'_>, path: &Path) -> Result<Vec<u32>, Error> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: raw(dir),
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: u32::try_from(ids.len()).unwrap_or(0),
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr).map_err(|e| bpf_err("query", path, "", e))?;
    ids.truncate(usize::try_from(attr.prog_cnt).unwrap_or(0).min(64));
    Ok(ids)
}

/// Loads the program for `rules` and attaches it to the cgroup at `dir`, then detaches the
/// programs that were attached before (so `set` twice replaces, not stacks, the filter).
pub fn install(dir: BorrowedFd<'_>, path: &Path, rules: &[DeviceRule]) -> Result<(), Error> {
    let prog = compile(rules);
    let old = query(dir, path)?;
    let fd = load(&prog, path)?;
    let mut attach = AttachAttr {
        target_fd: raw(dir),
        attach_bpf_fd: u32::try_from(fd.as_raw_fd()).unwrap_or(u32::MAX),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    bpf(BPF_PROG_ATTACH, &mut attach).map_err(|e| bpf_err("attach", path, "", e))?;
    for id in old {
        let mut get = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        let old_fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut get)
            .and_then(fd_from)
            .map_err(|e| bpf_err("get-fd-by-id", path, "", e))?;
        let mut detach = AttachAttr {
            target_fd: raw(dir),
            attach_bpf_fd: u32::try_from(old_fd.as_raw_fd()).unwrap_or(u32::MAX),
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        bpf(BPF_PROG_DETACH, &mut detach).map_err(|e| bpf_err("detach", path, "", e))?;
    }
    Ok(())
}
