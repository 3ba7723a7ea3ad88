//! Replays every input saved under `fuzz/regressions/<target>/` (seeds, and every crash
//! `make fuzz` ever found, copied there with its fix) through the fuzz targets' own checks.

use std::path::PathBuf;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails its check", path.display());
        replayed += 1;
    }
    assert!(replayed > 0, "no saved inputs for {target}");
}

#[test]
fn saved_webhook_bodies_pass() {
    replay("webhook_body", warp_domain::fuzz_checks::webhook_body);
}

#[test]
fn saved_signature_inputs_pass() {
    replay("signature", warp_domain::fuzz_checks::signature);
}

#[test]
fn saved_customer_inputs_pass() {
    replay("customer_input", warp_domain::fuzz_checks::customer_input);
}
