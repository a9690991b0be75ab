#![no_main]
// See tessera_fuzz::multipart for what the input is and what is checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzz::multipart(data));
