//! Security headers on every response (one middleware, the outermost layer of the router, so
//! problem documents, 404s and caught panics get them too):
//!
//! - `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`;
//! - `Content-Security-Policy` from [`content_security_policy`] unless the handler set one;
//! - `Strict-Transport-Security: max-age=31536000` only when the server itself speaks HTTPS
//!   (sent over plain HTTP it would be ignored, and behind a proxy the proxy owns it);
//! - `Cache-Control: no-store` on responses to requests that carry credentials
//!   (`Authorization`), unless the handler chose a policy itself (status lists, for instance,
//!   set their own caching and keep it).

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The policy of everything that is not a page (JSON, problem documents, status lists, metrics):
/// nothing may be loaded, and nothing may frame it.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The policy of server-rendered pages (`text/html`): assets only from this server (every asset
/// is served by the binary; no inline script or style, no CDN), forms only to this server, and no
/// framing.
pub const PAGE_CSP: &str =
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// HSTS for one year, sent only when the server terminates TLS itself.
pub const HSTS: &str = "max-age=31536000";

/// The Content-Security-Policy for a response, chosen by its media type: HTML pages get
/// [`PAGE_CSP`], every other response [`API_CSP`].
pub fn content_security_policy(content_type: Option<&str>) -> &'static str {
    let is_html = content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/html"))
    });
    if is_html {
        PAGE_CSP
    } else {
        API_CSP
    }
}

/// The middleware; its state says whether the server speaks HTTPS (then HSTS is sent).
pub async fn security_headers(State(tls): State<bool>, request: Request, next: Next) -> Response {
    let with_credentials = request.headers().contains_key(header::AUTHORIZATION);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let csp = content_security_policy(content_type);
        set(headers, header::CONTENT_SECURITY_POLICY, csp);
    }
    if tls {
        set(headers, header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    if with_credentials && !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &'static str) {
    headers.insert(name, HeaderValue::from_static(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_by_media_type() {
        let cases = [
            (None, API_CSP),
            (Some("application/json"), API_CSP),
            (Some("application/problem+json"), API_CSP),
            (Some("application/statuslist+jwt"), API_CSP),
            (Some("text/plain; version=0.0.4"), API_CSP),
            (Some("text/html"), PAGE_CSP),
            (Some("text/html; charset=utf-8"), PAGE_CSP),
            (Some("TEXT/HTML;charset=utf-8"), PAGE_CSP),
            (Some("text/htmlx"), API_CSP),
        ];
        for (content_type, expected) in cases {
            assert_eq!(
                content_security_policy(content_type),
                expected,
                "{content_type:?}"
            );
        }
    }
}
