//! `/viewer` (an OHIF build served under a prefix, with Tessera's app-config), the built-in
//! page at `/`, and CORS origins, against a real app and real files laid out like npm's
//! @ohif/app dist/ (the browser test in tests/browser runs the real OHIF).

use std::io::Read as _;
use std::path::Path;

use crate::helpers::{Backend, TestApp};

const BUNDLE: &str = "app.bundle.0123456789abcdef.js";
const WASM: &str = "0123456789abcdef.wasm";

/// A folder shaped like OHIF's dist/ (made for `/`, as npm ships it).
fn fake_dist(dir: &Path) {
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        format!(
            "<!doctype html><html><head><script>window.PUBLIC_URL=\"/\"</script>\
             <link rel=\"icon\" href=\"/assets/favicon.ico\"><script src=\"/app-config.js\"></script>\
             <script defer src=\"/{BUNDLE}\"></script><link href=\"/app.bundle.css\" rel=\"stylesheet\">\
             </head><body><div id=\"root\"></div></body></html>"
        ),
    )
    .unwrap();
    let mut js = String::from("(() => {\n__webpack_require__.p = \"/\";\n})();\n");
    js.push_str(&"// padding so that gzip is worth it\n".repeat(100));
    std::fs::write(dir.join(BUNDLE), js).unwrap();
    std::fs::write(
        dir.join("app.bundle.css"),
        "@font-face{src:url(/a34f9d1faa5f3315.woff2) format(\"woff2\")}",
    )
    .unwrap();
    std::fs::write(
        dir.join("app-config.js"),
        "window.config = 'the packaged one';",
    )
    .unwrap();
    std::fs::write(dir.join(WASM), b"\0asm plain").unwrap();
    std::fs::write(dir.join(format!("{WASM}.gz")), b"pretend gzip").unwrap();
    std::fs::write(dir.join("assets/favicon.ico"), b"ico").unwrap();
}

async fn spawn_viewer(
    tweak: impl FnOnce(&mut tessera::config::Settings),
) -> (TestApp, tempfile::TempDir) {
    let dist = tempfile::tempdir().unwrap();
    fake_dist(dist.path());
    let path = dist.path().to_path_buf();
    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, move |s| {
        s.viewer_dir = Some(path);
        tweak(s);
    })
    .await;
    (app, dist)
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn viewer_is_served_under_its_prefix_with_tessera_app_config() {
    let (app, _dist) = spawn_viewer(|_| {}).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let r = client.get(app.url("/viewer")).send().await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(header(&r, "location"), "/viewer/");

    let r = client.get(app.url("/viewer/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&r, "cache-control"), "no-cache");
    let index = r.text().await.unwrap();
    assert!(index.contains("window.PUBLIC_URL=\"/viewer/\""), "{index}");
    assert!(
        index.contains(&format!("src=\"/viewer/{BUNDLE}\"")),
        "{index}"
    );
    assert!(
        index.contains("href=\"/viewer/assets/favicon.ico\""),
        "{index}"
    );
    assert!(index.contains("src=\"/viewer/app-config.js\""), "{index}");

    // A deep link (an OHIF route) is the app itself.
    let r = client
        .get(app.url("/viewer/viewer?StudyInstanceUIDs=1.2.3"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), index);

    // Bundles: webpack's public path moved, cached for a year, gzip once asked for.
    let r = client
        .get(app.url(&format!("/viewer/{BUNDLE}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/javascript; charset=utf-8");
    assert_eq!(
        header(&r, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    let plain = r.text().await.unwrap();
    assert!(plain.contains("__webpack_require__.p = \"/viewer/\";"));
    let r = client
        .get(app.url(&format!("/viewer/{BUNDLE}")))
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "content-encoding"), "gzip");
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&r.bytes().await.unwrap()[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain);

    let css = client
        .get(app.url("/viewer/app.bundle.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&css, "content-type"), "text/css; charset=utf-8");
    assert!(css
        .text()
        .await
        .unwrap()
        .contains("url(/viewer/a34f9d1faa5f3315.woff2)"));

    // Precompressed siblings for clients that take them, the file otherwise.
    let r = client
        .get(app.url(&format!("/viewer/{WASM}")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "content-type"), "application/wasm");
    assert_eq!(header(&r, "content-encoding"), "gzip");
    assert_eq!(&r.bytes().await.unwrap()[..], b"pretend gzip");
    let r = client
        .get(app.url(&format!("/viewer/{WASM}")))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "content-encoding"), "");
    assert_eq!(&r.bytes().await.unwrap()[..], b"\0asm plain");

    // app-config.js is Tessera's, not the packaged one.
    let r = client
        .get(app.url("/viewer/app-config.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/javascript; charset=utf-8");
    let config = r.text().await.unwrap();
    assert!(!config.contains("the packaged one"));
    assert!(config.contains("routerBasename: '/viewer'"));
    assert!(config.contains("var root = window.location.origin + '/dicom-web';"));
    assert!(config.contains("imageRendering: 'wadors'"));
    assert!(config.contains("thumbnailRendering: 'thumbnail'"));

    // Missing files with an extension are 404; nothing outside the folder is reachable.
    let r = client
        .get(app.url("/viewer/missing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client
        .get(app.url("/viewer/..%2F..%2F..%2Fetc%2Fpasswd"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The built-in page links into the viewer.
    let r = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert!(r.text().await.unwrap().contains("data-viewer=\"/viewer/\""));
    app.stop().await;
}

#[tokio::test]
async fn app_config_points_at_a_configured_dicomweb_root() {
    let (app, _dist) =
        spawn_viewer(|s| s.viewer_dicomweb_url = Some("https://pacs.example.org/dicom-web".into()))
            .await;
    let config = app
        .client
        .get(app.url("/viewer/app-config.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(config.contains("var root = \"https://pacs.example.org/dicom-web\";"));
    app.stop().await;
}

#[tokio::test]
async fn without_a_viewer_the_page_says_so_and_viewer_is_404() {
    let app = TestApp::spawn(Backend::SQLITE_LOCAL).await;
    let r = app.client.get(app.url("/viewer/")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("--viewer-dir"));
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("data-viewer=\"\""));
    app.stop().await;
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url("/dicom-web/studies"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "accept,authorization")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_allows_any_origin_by_default_or_only_the_configured_ones() {
    let app = TestApp::spawn(Backend::SQLITE_LOCAL).await;
    let r = preflight(&app, "http://anywhere.example").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
    // Mirrored, not `*`: browsers never let `*` cover Authorization.
    assert_eq!(
        header(&r, "access-control-allow-headers").to_ascii_lowercase(),
        "accept,authorization"
    );
    app.stop().await;

    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, |s| {
        s.cors_allowed_origins = vec!["http://viewer.example:3000".into()];
    })
    .await;
    let r = preflight(&app, "http://viewer.example:3000").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        "http://viewer.example:3000"
    );
    let allowed = header(&r, "access-control-allow-headers").to_ascii_lowercase();
    assert!(
        allowed.contains("accept") && allowed.contains("authorization"),
        "{allowed}"
    );
    let r = preflight(&app, "http://elsewhere.example").await;
    assert_eq!(header(&r, "access-control-allow-origin"), "");
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "http://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "CORS does not block the server side");
    assert_eq!(header(&r, "access-control-allow-origin"), "");
    app.stop().await;
}
