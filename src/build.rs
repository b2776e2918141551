//! Release builds lay out first the functions a TUI session runs (assets/link/hot-functions.txt,
//! written by bench/link-order.sh): the kernel maps code 64 KB around each page touched, so
//! those functions scattered among the code a session never runs (Gaian's server, sqlx,
//! backups) would keep ~10 MB of the binary resident instead of ~3 MB.

use std::env;
use std::path::Path;

fn main() {
    let order = Path::new("assets/link/hot-functions.txt");
    println!("cargo::rerun-if-changed={}", order.display());
    println!("cargo::rerun-if-env-changed=DEVTUI_LINK_ORDER");
    let release = env::var("PROFILE").as_deref() == Ok("release");
    // lld, rustc's linker for this target since Rust 1.90, reads the file; `DEVTUI_LINK_ORDER=0`
    // links without it (a linker of your own, or the "before" of a benchmark).
    let lld = env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu");
    let wanted = env::var("DEVTUI_LINK_ORDER").as_deref() != Ok("0");
    if release && lld && wanted && order.exists() {
        let path = order.canonicalize().expect("the order file exists");
        println!(
            "cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            path.display()
        );
        // Names of functions since changed or gone only cost locality.
        println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
