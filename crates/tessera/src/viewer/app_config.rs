//! The `app-config.js` Tessera writes for OHIF: one DICOMweb data source pointing at Tessera.
//!
//! Option values are those of OHIF 3.13's DICOMweb data source
//! (extensions/default/src/DicomWebDataSource): QIDO with `includefield`, fuzzy matching
//! and wildcards (Tessera's QIDO supports all three), images by WADO-RS frames
//! (`imageRendering: 'wadors'`), series thumbnails fetched from Tessera's `/thumbnail`
//! resources, bulk data by the BulkDataURIs of the metadata, multipart Accept types without
//! quotes (Tessera's Accept parsing takes both forms).

/// The JavaScript text. `dicomweb_root`: an absolute URL of a DICOMweb root, or `None` for
/// this server's own `/dicom-web` on whatever origin the browser reached it by.
pub fn generate(dicomweb_root: Option<&str>) -> String {
    let root = match dicomweb_root {
        Some(url) => serde_json::Value::from(url.trim_end_matches('/')).to_string(),
        None => "window.location.origin + '/dicom-web'".to_string(),
    };
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
    showErrorDetails: 'always',
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_origin_or_configured_root() {
        let own = generate(None);
        assert!(own.contains("var root = window.location.origin + '/dicom-web';"));
        assert!(own.contains("routerBasename: '/viewer'"));
        assert!(own.contains("imageRendering: 'wadors'"));
        let other = generate(Some("http://127.0.0.1:9000/dicom-web/"));
        assert!(other.contains("var root = \"http://127.0.0.1:9000/dicom-web\";"));
    }
}
