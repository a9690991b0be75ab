//! Property tests of WADO-RS Accept negotiation (issue 17): any Accept header or `accept`
//! parameter, even bytes that are not text, gives at least one wanted representation.

use axum::http::HeaderValue;
use proptest::prelude::*;

use super::*;

use crate::proptest_config::config;

/// Accept values built from the pieces DICOMweb clients send, and noise.
fn accept() -> impl Strategy<Value = String> {
    let range = prop_oneof![
        Just("multipart/related".to_string()),
        Just("application/dicom".to_string()),
        Just("image/*".to_string()),
        Just("*/*".to_string()),
        "[a-z*]{0,8}/[a-z+*.-]{0,12}",
    ];
    let param = prop_oneof![
        Just("type=\"application/octet-stream\"".to_string()),
        Just("type=application/dicom".to_string()),
        Just("transfer-syntax=*".to_string()),
        Just("transfer-syntax=\"\"".to_string()),
        Just("q=0".to_string()),
        Just("q=NaN".to_string()),
        Just("q=inf".to_string()),
        Just("q=-1".to_string()),
        "[a-z-]{0,6}=[\"a-z0-9.;,*]{0,8}",
    ];
    let one = (range, proptest::collection::vec(param, 0..3)).prop_map(|(range, params)| {
        std::iter::once(range)
            .chain(params)
            .collect::<Vec<_>>()
            .join("; ")
    });
    prop_oneof![
        proptest::collection::vec(one, 0..4).prop_map(|ranges| ranges.join(", ")),
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_accept_parameter_gives_something_wanted(raw in accept()) {
        let wanted = wanted_from(&HeaderMap::new(), Some(&raw));
        prop_assert!(!wanted.is_empty());
        for w in &wanted {
            prop_assert!(w.media.contains('/'), "{raw:?}: {w:?}");
            prop_assert!(w.transfer_syntax.as_deref() != Some(""));
            let _ = w.accepts("application/dicom");
        }
    }

    /// Header bytes that are not visible ASCII are ignored like a missing header.
    #[test]
    fn any_header_bytes_give_something_wanted(
        raw in proptest::collection::vec(any::<u8>(), 0..60),
    ) {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(&raw) {
            headers.insert(header::ACCEPT, value);
        }
        prop_assert!(!wanted_from(&headers, None).is_empty());
    }

    /// A multipart range's `type` is the payload wanted; without one, anything is.
    #[test]
    fn multipart_type_is_the_payload(
        kind in "[a-z]{1,8}",
        subtype in "[a-z+.-]{1,12}",
        quoted in any::<bool>(),
    ) {
        let media = format!("{kind}/{subtype}");
        let written = if quoted { format!("\"{media}\"") } else { media.clone() };
        let accept = format!("multipart/related; type={written}");
        let wanted = wanted_from(&HeaderMap::new(), Some(&accept));
        prop_assert_eq!(&wanted[0].media, &media);
        prop_assert_eq!(wanted[0].multipart, Some(true));
        prop_assert!(wanted[0].accepts(&media));
    }
}
