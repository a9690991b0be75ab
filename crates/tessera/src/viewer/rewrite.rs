//! Move a stock OHIF build (made for `/`) under a prefix such as `/viewer/`: index.html's
//! `src="/..."`/`href="/..."` and `window.PUBLIC_URL`, webpack's public path in the bundles
//! (`__webpack_require__.p = "/"`, where lazily loaded chunks, workers and WebAssembly come
//! from), and `url(/...)` in style sheets. Protocol-relative `//host` URLs are left alone.

/// What kind of text a file is, by its extension; `None`: never rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Html,
    Script,
    Style,
}

impl Kind {
    pub fn of(path: &str) -> Option<Kind> {
        let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
        match ext.as_str() {
            "html" | "htm" => Some(Kind::Html),
            "js" | "mjs" => Some(Kind::Script),
            "css" => Some(Kind::Style),
            _ => None,
        }
    }
}

/// The rewritten text, or `None` when nothing needed to change.
pub fn rewrite(kind: Kind, text: &str, prefix: &str) -> Option<String> {
    debug_assert!(prefix.starts_with('/') && prefix.ends_with('/'));
    let out = match kind {
        Kind::Html => {
            let out = text.replace(
                "window.PUBLIC_URL=\"/\"",
                &format!("window.PUBLIC_URL=\"{prefix}\""),
            );
            let out = prefix_after(&out, "src=\"/", prefix);
            prefix_after(&out, "href=\"/", prefix)
        }
        Kind::Script => text
            .replace(
                "__webpack_require__.p = \"/\";",
                &format!("__webpack_require__.p = \"{prefix}\";"),
            )
            .replace(
                "window.PUBLIC_URL=\"/\"",
                &format!("window.PUBLIC_URL=\"{prefix}\""),
            ),
        Kind::Style => prefix_after(text, "url(/", prefix),
    };
    (out != text).then_some(out)
}

/// After each `marker` (which ends with `/`), insert the prefix unless the URL is already
/// under it or is protocol-relative (`//`).
fn prefix_after(text: &str, marker: &str, prefix: &str) -> String {
    let already = &prefix[1..];
    let mut out = String::with_capacity(text.len() + 1024);
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let end = at + marker.len();
        out.push_str(&rest[..end]);
        let tail = &rest[end..];
        if !tail.starts_with('/') && !tail.starts_with(already) {
            out.push_str(already);
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_html_moves_under_the_prefix() {
        let html = r#"<script>window.PUBLIC_URL="/"</script><link href="/app.css" rel="stylesheet"><script src="/app-config.js"></script><a href="//cdn.example/x"></a><img src="/viewer/a.png">"#;
        let out = rewrite(Kind::Html, html, "/viewer/").unwrap();
        assert_eq!(
            out,
            r#"<script>window.PUBLIC_URL="/viewer/"</script><link href="/viewer/app.css" rel="stylesheet"><script src="/viewer/app-config.js"></script><a href="//cdn.example/x"></a><img src="/viewer/a.png">"#
        );
        assert_eq!(rewrite(Kind::Html, &out, "/viewer/"), None, "idempotent");
    }

    #[test]
    fn webpack_public_path_and_css_urls() {
        let js = "(() => {\n__webpack_require__.p = \"/\";\n})();";
        assert_eq!(
            rewrite(Kind::Script, js, "/viewer/").unwrap(),
            "(() => {\n__webpack_require__.p = \"/viewer/\";\n})();"
        );
        assert_eq!(rewrite(Kind::Script, "var a = 1;", "/viewer/"), None);
        assert_eq!(
            rewrite(
                Kind::Style,
                "src:url(/a.woff2) format(\"woff2\")",
                "/viewer/"
            )
            .unwrap(),
            "src:url(/viewer/a.woff2) format(\"woff2\")"
        );
        assert_eq!(Kind::of("x/app.bundle.1.js"), Some(Kind::Script));
        assert_eq!(Kind::of("a.wasm"), None);
    }
}
