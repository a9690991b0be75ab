//! De-identification (issue 19): PS3.15 Annex E applied to files built with every attribute
//! of Table E.1-1 and to real files. The tests live in `deid::` so that
//! `cargo test -p tessera-dicom deid` selects them with the unit tests of `src/deid/`.

mod deid {
    // Paths inside this inline module are relative to tests/deid/.
    #[path = "corpus.rs"]
    mod corpus;
    #[path = "every_attribute.rs"]
    mod every_attribute;
    #[path = "external.rs"]
    mod external;
    #[path = "pixels.rs"]
    mod pixels;
    #[path = "support.rs"]
    mod support;
}
