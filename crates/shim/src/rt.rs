//! The release build's whole runtime: no C library and no std are linked
//! (build.rs), so the entry point, the memory functions the compiler calls
//! and the panic handler are here. A panic cannot happen by design (no
//! indexing is left unchecked on a path that could fail), and would end
//! the shim with 134 like an abort.

use core::panic::PanicInfo;

// The kernel starts a static executable with the stack pointer on argc,
// followed by argv and envp; nothing else is set up.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {entry}",
    "ud2",
    entry = sym start,
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "mov x29, #0",
    "mov x30, #0",
    "mov x0, sp",
    "bl {entry}",
    "udf #0",
    entry = sym start,
);

/// # Safety
/// Called once, by `_start`, with the initial stack pointer.
unsafe extern "C" fn start(sp: *const usize) -> ! {
    // SAFETY: the initial stack holds argc, then argc argument pointers and
    // a null, then the environment pointers and a null.
    let code = unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        let envp = argv.add(argc + 1);
        berth_shim::shim_main(argc, argv, envp)
    };
    berth_shim::sys::exit(code)
}

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    berth_shim::sys::exit(134)
}

// The memory functions compiled code calls. The crate is `no_builtins` in
// this build, so these loops are not turned back into calls to themselves.

/// # Safety
/// As C's memcpy: non-overlapping regions of n bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract; byte by byte within n.
    unsafe {
        for i in 0..n {
            *dst.add(i) = *src.add(i);
        }
    }
    dst
}

/// # Safety
/// As C's memmove: regions of n bytes that may overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract; copying backwards when dst is above
    // src keeps overlapping bytes intact.
    unsafe {
        if (dst as usize) <= (src as usize) {
            for i in 0..n {
                *dst.add(i) = *src.add(i);
            }
        } else {
            for i in (0..n).rev() {
                *dst.add(i) = *src.add(i);
            }
        }
    }
    dst
}

/// # Safety
/// As C's memset: n writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract.
    unsafe {
        for i in 0..n {
            *dst.add(i) = c as u8;
        }
    }
    dst
}

/// # Safety
/// As C's memcmp: two readable regions of n bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        for i in 0..n {
            let (x, y) = (*a.add(i), *b.add(i));
            if x != y {
                return i32::from(x) - i32::from(y);
            }
        }
    }
    0
}

/// # Safety
/// As memcmp.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's contract, passed on.
    unsafe { memcmp(a, b, n) }
}

/// # Safety
/// As C's strlen: a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the caller's contract: reading stops at the NUL.
    unsafe {
        while *s.add(n) != 0 {
            n += 1;
        }
    }
    n
}
