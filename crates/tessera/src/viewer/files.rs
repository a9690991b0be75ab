//! How viewer files are described over HTTP: content type by extension, caching (hashed
//! bundle names never change, so they are cached for a year; everything else is revalidated),
//! and which precompressed sibling (`.br`, `.gz`) the client can take.

/// The Content-Type of a file by its extension.
pub fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "xml" => "application/xml",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether a file name carries a content hash (a dot-separated part of at least eight hex
/// digits, as webpack names bundles: `app.bundle.0f6159c501addfe9.js`, `0ddf166f7a343eda.wasm`).
pub fn is_hashed(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    file.split('.')
        .any(|part| part.len() >= 8 && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Cache-Control for a file.
pub fn cache_control(name: &str) -> &'static str {
    if is_hashed(name) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

/// A content coding the client accepts, in Tessera's order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    pub fn suffix(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gz",
        }
    }

    pub fn header(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// The codings an Accept-Encoding header allows (q=0 refuses), brotli first.
pub fn accepted_codings(accept_encoding: Option<&str>) -> Vec<Coding> {
    let Some(raw) = accept_encoding else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, coding) in [("br", Coding::Brotli), ("gzip", Coding::Gzip)] {
        let allowed = raw.split(',').any(|item| {
            let mut parts = item.split(';');
            let token = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (token.eq_ignore_ascii_case(name) || token == "*") && !refused
        });
        if allowed {
            out.push(coding);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_hashes_and_codings() {
        assert_eq!(
            content_type("a/app.bundle.0f6159c501addfe9.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("0ddf166f7a343eda.wasm"), "application/wasm");
        assert_eq!(content_type("a34f9d1faa5f3315.woff2"), "font/woff2");
        assert!(is_hashed("app.bundle.0f6159c501addfe9.js"));
        assert!(is_hashed("assets/0ddf166f7a343eda.wasm"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("dicomMicroscopyViewer.min.js"));
        assert_eq!(cache_control("index.html"), "no-cache");
        assert_eq!(
            accepted_codings(Some("gzip, deflate, br, zstd")),
            [Coding::Brotli, Coding::Gzip]
        );
        assert_eq!(accepted_codings(Some("gzip;q=0, br")), [Coding::Brotli]);
        assert!(accepted_codings(None).is_empty());
    }
}
