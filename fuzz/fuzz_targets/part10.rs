#![no_main]
// See tessera_fuzz::part10 for what the input is and what is checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzz::part10(data));
