#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warp_domain::fuzz_checks::signature(data));
