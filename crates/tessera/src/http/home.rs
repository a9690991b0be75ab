//! `GET /`: a small built-in page (plain HTML and JavaScript, in the binary): server status,
//! the study list by QIDO with a search box, study thumbnails, and links into the viewer
//! when one is configured.
//!
//! When authentication is required and a public client is configured for the pages, the page
//! is given the issuer and client (as JSON) and shows nothing but a sign-in prompt until the
//! user has signed in (OpenID Connect authorization code with PKCE, RFC 7636, done by the
//! page's own JavaScript); it then sends the access token as a bearer token on every DICOMweb
//! request. The page itself holds no patient data and is served to anyone.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::viewer::sign_in::SignIn;
use crate::viewer::PREFIX;

const PAGE: &str = include_str!("home.html");

pub async fn home(State(state): State<AppState>) -> Response {
    let viewer = if state.viewer.is_some() { PREFIX } else { "" };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        render(viewer, state.sign_in.as_ref()),
    )
        .into_response()
}

/// The page with the viewer's prefix (or "") and how to sign in (or `null`) filled in.
fn render(viewer: &str, sign_in: Option<&SignIn>) -> String {
    PAGE.replace("{{VIEWER}}", viewer)
        .replace("{{SIGN_IN}}", &sign_in_json(sign_in))
}

/// The JSON the page reads from its `<script type="application/json">`: `<`, `>` and `&`
/// escaped (still the same JSON) so that no value can close the element.
fn sign_in_json(sign_in: Option<&SignIn>) -> String {
    let json = serde_json::to_string(&sign_in).unwrap_or_else(|_| "null".to_string());
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_sign_in_the_page_gets_null() {
        let page = render(PREFIX, None);
        assert!(
            page.contains(r#"<script type="application/json" id="sign-in-config">null</script>"#)
        );
        assert!(page.contains(r#"<body data-viewer="/viewer/">"#));
        assert!(!page.contains("{{"));
    }

    #[test]
    fn with_sign_in_the_page_gets_the_issuer_client_and_scope() {
        let sign_in = SignIn {
            authority: "https://login.example.org/realms/pacs".into(),
            client_id: "tessera-viewer".into(),
            scope: "openid profile".into(),
        };
        let page = render("", Some(&sign_in));
        let json = page
            .split(r#"id="sign-in-config">"#)
            .nth(1)
            .and_then(|rest| rest.split("</script>").next())
            .unwrap();
        let parsed: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({
                "authority": "https://login.example.org/realms/pacs",
                "client_id": "tessera-viewer",
                "scope": "openid profile",
            })
        );
    }

    #[test]
    fn values_cannot_close_the_script_element() {
        let sign_in = SignIn {
            authority: "https://idp.example/</script><script>alert(1)</script>".into(),
            client_id: "a&b".into(),
            scope: "openid".into(),
        };
        let json = sign_in_json(Some(&sign_in));
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        let parsed: SignInBack = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed.authority, sign_in.authority);
        assert_eq!(parsed.client_id, "a&b");
    }

    #[derive(serde::Deserialize)]
    struct SignInBack {
        authority: String,
        client_id: String,
    }
}
