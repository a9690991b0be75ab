//! The `app-config.js` Tessera writes for OHIF: one DICOMweb data source pointing at Tessera.
//!
//! Option values are those of OHIF 3.13's DICOMweb data source
//! (extensions/default/src/DicomWebDataSource): QIDO with `includefield`, fuzzy matching
//! and wildcards (Tessera's QIDO supports all three), images by WADO-RS frames
//! (`imageRendering: 'wadors'`), series thumbnails fetched from Tessera's `/thumbnail`
//! resources, bulk data by the BulkDataURIs of the metadata, multipart Accept types without
//! quotes (Tessera's Accept parsing takes both forms).
//!
//! When authentication is on, the config also carries OHIF's `oidc` entry: OHIF then signs in
//! through the issuer with oidc-client-ts (authorization code with PKCE: it picks that client
//! for `response_type: 'code'`, platform/app/src/utils/OpenIdConnectRoutes.tsx), keeps every
//! route behind the sign-in, and sends `Authorization: Bearer <access_token>` on QIDO, WADO,
//! frames and thumbnails (`userAuthenticationService.getAuthorizationHeader`).

use super::sign_in::SignIn;

/// Where the issuer sends the browser back with the code: OHIF's default `/callback` below its
/// `routerBasename`, the route its OpenIdConnectRoutes answers.
pub const CALLBACK_PATH: &str = "/viewer/callback";

/// Where the issuer sends the browser after signing out. Not OHIF's default (`/` below the
/// basename, `/viewer/`): OHIF mounts its sign-out callback at that URL's full path *below* the
/// basename, so `/viewer/` would run it on every `/viewer/viewer?...` page. This path is no OHIF
/// route; OHIF shows its not-found page with a link back to the study list.
pub const SIGNED_OUT_PATH: &str = "/viewer/signed-out";

/// The JavaScript text. `dicomweb_root`: an absolute URL of a DICOMweb root, or `None` for
/// this server's own `/dicom-web` on whatever origin the browser reached it by. `sign_in`: the
/// issuer and public client OHIF signs in with, when authentication is required.
pub fn generate(dicomweb_root: Option<&str>, sign_in: Option<&SignIn>) -> String {
    let root = match dicomweb_root {
        Some(url) => serde_json::Value::from(url.trim_end_matches('/')).to_string(),
        None => "window.location.origin + '/dicom-web'".to_string(),
    };
    let oidc = sign_in.map(oidc_entry).unwrap_or_default();
    format!(
        r#"/** Written by Tessera: OHIF with Tessera as its DICOMweb data source. */
(function () {{
  var root = {root};
  window.config = {{
    name: 'tessera',
    routerBasename: '/viewer',
    extensions: [],
    modes: [],
    customizationService: {{}},
    showStudyList: true,
    maxNumberOfWebWorkers: 3,
    showCPUFallbackMessage: true,
    showLoadingIndicator: true,
    strictZSpacingForVolumeViewport: true,
    groupEnabledModesFirst: true,
    maxNumRequests: {{ interaction: 100, thumbnail: 75, prefetch: 25 }},
    showErrorDetails: 'always',{oidc}
    defaultDataSourceName: 'tessera',
    dataSources: [
      {{
        namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
        sourceName: 'tessera',
        configuration: {{
          friendlyName: 'Tessera',
          name: 'tessera',
          qidoRoot: root,
          wadoRoot: root,
          wadoUriRoot: root,
          qidoSupportsIncludeField: true,
          supportsFuzzyMatching: true,
          supportsWildcard: true,
          supportsReject: false,
          imageRendering: 'wadors',
          thumbnailRendering: 'thumbnail',
          thumbnailRequestStrategy: 'fetch',
          enableStudyLazyLoad: true,
          staticWado: false,
          singlepart: 'bulkdata,video',
          bulkDataURI: {{ enabled: true, relativeResolution: 'studies' }},
          omitQuotationForMultipartRequest: true,
        }},
      }},
    ],
  }};
}})();
"#
    )
}

/// OHIF's `oidc` entry (one issuer: OHIF uses the first), a line of the config object.
fn oidc_entry(sign_in: &SignIn) -> String {
    let text = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        r#"
    oidc: [
      {{
        authority: {authority},
        client_id: {client_id},
        redirect_uri: window.location.origin + {callback},
        post_logout_redirect_uri: window.location.origin + {signed_out},
        response_type: 'code',
        scope: {scope},
      }},
    ],"#,
        authority = text(&sign_in.authority),
        client_id = text(&sign_in.client_id),
        callback = text(CALLBACK_PATH),
        signed_out = text(SIGNED_OUT_PATH),
        scope = text(&sign_in.scope),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_in() -> SignIn {
        SignIn {
            authority: "https://login.example.org/realms/pacs".into(),
            client_id: "tessera-viewer".into(),
            scope: "openid profile".into(),
        }
    }

    #[test]
    fn own_origin_or_configured_root() {
        let own = generate(None, None);
        assert!(own.contains("var root = window.location.origin + '/dicom-web';"));
        assert!(own.contains("routerBasename: '/viewer'"));
        assert!(own.contains("imageRendering: 'wadors'"));
        let other = generate(Some("http://127.0.0.1:9000/dicom-web/"), None);
        assert!(other.contains("var root = \"http://127.0.0.1:9000/dicom-web\";"));
    }

    #[test]
    fn no_sign_in_without_authentication() {
        assert!(!generate(None, None).contains("oidc"));
    }

    #[test]
    fn sign_in_is_authorization_code_with_the_issuer_and_public_client() {
        let config = generate(None, Some(&sign_in()));
        let entry = config
            .split("oidc: [")
            .nth(1)
            .and_then(|rest| rest.split("],").next())
            .expect("an oidc array");
        for line in [
            r#"authority: "https://login.example.org/realms/pacs","#,
            r#"client_id: "tessera-viewer","#,
            r#"redirect_uri: window.location.origin + "/viewer/callback","#,
            r#"post_logout_redirect_uri: window.location.origin + "/viewer/signed-out","#,
            "response_type: 'code',",
            r#"scope: "openid profile","#,
        ] {
            assert!(entry.contains(line), "{line} missing from {entry}");
        }
        // Still one data source, at the same root.
        assert!(config.contains("var root = window.location.origin + '/dicom-web';"));
        assert_eq!(config.matches("sourceName:").count(), 1);
    }

    #[test]
    fn sign_in_values_are_javascript_strings() {
        let hostile = SignIn {
            authority: "https://idp.example/'; alert(1); '".into(),
            client_id: "a\"b</script>".into(),
            scope: "openid\nprofile".into(),
        };
        let config = generate(None, Some(&hostile));
        assert!(config.contains(r#"authority: "https://idp.example/'; alert(1); '","#));
        assert!(config.contains(r#"client_id: "a\"b</script>","#));
        assert!(config.contains(r#"scope: "openid\nprofile","#));
    }
}
