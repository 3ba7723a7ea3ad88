//! The HubSpot connect page (`/connect`): static HTML, CSS and JavaScript compiled into the
//! binary, no build step. The page calls the installation routes with the caller's own token;
//! HubSpot's consent page opens in a popup and comes back to the OAuth callback, which answers
//! a browser with a small page that hands the outcome to the connect page (same origin only).

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;

use crate::ApiState;
use crate::web_assets::{asset, guarded};

const PAGE: &str = include_str!("../static/connect.html");
const SCRIPT: &str = include_str!("../static/connect.js");
const CALLBACK_SCRIPT: &str = include_str!("../static/callback.js");
const STYLE: &str = include_str!("../static/connect.css");

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/connect",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/connect/connect.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/connect/callback.js",
            get(|| async { asset("text/javascript; charset=utf-8", CALLBACK_SCRIPT) }),
        )
        .route(
            "/connect/connect.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}

/// Whether the caller is a browser navigating (HubSpot's redirect), not an API client.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// The callback's answer to a browser: the outcome as data attributes, read by
/// `callback.js`, which posts it to the connect page that opened the popup.
pub(crate) fn callback_page(
    status: StatusCode,
    ok: bool,
    message: &str,
    portal_id: Option<i64>,
) -> Response {
    let heading = if ok {
        "HubSpot is connected"
    } else {
        "HubSpot could not be connected"
    };
    let portal = portal_id.map(|id| id.to_string()).unwrap_or_default();
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{heading} - WARP</title>
<link rel="stylesheet" href="/connect/connect.css"></head>
<body><main id="callback" data-ok="{ok}" data-message="{message}" data-portal-id="{portal}">
<h1>{heading}</h1><p role="{role}">{message}</p>
<p><a href="/connect">Back to the HubSpot connection</a></p></main>
<script src="/connect/callback.js"></script></body></html>"#,
        message = escape(message),
        role = if ok { "status" } else { "alert" },
    );
    guarded("text/html; charset=utf-8", status, body)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[tokio::test]
    async fn the_callback_page_escapes_what_it_repeats() {
        let page = callback_page(
            StatusCode::BAD_REQUEST,
            false,
            r#"<script>alert("x")</script>"#,
            None,
        );
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
        let headers = page.headers().clone();
        let body = axum::body::to_bytes(page.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(!body.contains("<script>alert"), "{body}");
        assert!(
            body.contains("data-message=\"&lt;script&gt;alert(&quot;x&quot;)"),
            "{body}"
        );
        assert!(body.contains(r#"data-ok="false""#), "{body}");
        let page = headers;
        assert!(
            page[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
    }

    #[test]
    fn only_a_browser_navigation_gets_html() {
        let mut headers = HeaderMap::new();
        assert!(!wants_html(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert!(!wants_html(&headers));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml,*/*;q=0.8"),
        );
        assert!(wants_html(&headers));
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
