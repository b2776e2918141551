//! Release builds lay out first the functions a TUI session runs (assets/link/hot-functions.txt,
//! written by bench/link-order.sh): the kernel maps code 64 KB around each page touched, so
//! those functions scattered among the code a session never runs (Gaian's server, sqlx,
//! backups) would keep ~10 MB of the binary resident instead of ~3 MB.
//!
//! They also pack the position-independent binary's relative relocations (RELR, glibc 2.36
//! and later): as plain RELA entries they are ~920 KB that the loader reads once at start-up
//! and that then stay resident for the whole session.

use std::env;
use std::path::Path;
use std::process::Command;

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
    // The binary needs the glibc it links against anyway; an older one cannot load RELR.
    if release && lld && env::var("HOST") == env::var("TARGET") && glibc_reads_relr() {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether this machine's glibc is 2.36 or later (`getconf GNU_LIBC_VERSION`: "glibc 2.36").
fn glibc_reads_relr() -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some((major, minor)) = text
        .trim()
        .strip_prefix("glibc ")
        .and_then(|v| v.split_once('.'))
    else {
        return false;
    };
    let minor: String = minor.chars().take_while(char::is_ascii_digit).collect();
    match (major.parse::<u32>(), minor.parse::<u32>()) {
        (Ok(major), Ok(minor)) => (major, minor) >= (2, 36),
        _ => false,
    }
}
