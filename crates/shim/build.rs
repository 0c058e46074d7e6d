//! The release build of berth-shim is `no_std` and links nothing: no C
//! library, no start files, a static executable of a few pages (see
//! src/rt.rs). Other profiles unwind on panic, which needs std, and build
//! an ordinary executable from the same code.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        for arg in ["-nostartfiles", "-nostdlib", "-static", "-no-pie"] {
            println!("cargo:rustc-link-arg-bin=berth-shim={arg}");
        }
    }
}
