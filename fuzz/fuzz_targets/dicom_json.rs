#![no_main]
// See tessera_fuzz::dicom_json for what the input is and what is checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzz::dicom_json(data));
