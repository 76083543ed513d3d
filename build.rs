//! Links the `sluice` binary as a position-dependent executable on Linux.
//!
//! Why: a sidecar's resident memory. A position-independent executable is relocated by the
//! dynamic loader at every start: it reads all of `.rela.dyn` (2.2 MiB here, one entry per
//! pointer in static data: OpenSSL's and librdkafka's tables, Rust's vtables and panic
//! locations) and writes a pointer into every page of `.data.rel.ro` (2.3 MiB), which turns
//! those pages into private memory. Together that was a third of an idle sluice's RSS
//! (BENCHMARKS.md, "Memory of a sidecar"). Linked at a fixed address, the same pages are
//! file-backed, shared, and only read when used.
//!
//! The cost is address-space randomisation of the executable's own image (libraries, heap
//! and stacks stay randomised). A build that wants it back (a distribution's hardening
//! policy) sets `SLUICE_PIE=1`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SLUICE_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let pie_wanted = std::env::var("SLUICE_PIE").is_ok_and(|value| value == "1");
    if linux && !pie_wanted {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
