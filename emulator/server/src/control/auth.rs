//! Who may use the control API. Without a token (the default, and only on
//! loopback) anyone on the machine may, as before. With `--control-token`
//! every request carries the token: `Authorization: Bearer TOKEN`
//! (`amtemu ctl --token`, scripts) or the `amtemu_token` cookie that the
//! dashboard gets when opened once as `/?token=TOKEN`. A control address
//! off loopback is refused without a token (`EmulatorBuilder`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use amtemu_wire::digest::same_digest;

/// The cookie the dashboard keeps the token in.
pub const COOKIE: &str = "amtemu_token";

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// `token=` in a query string.
fn query_token(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|kv| kv.strip_prefix("token="))
}

/// Constant-time, so the answer's timing says nothing about the token.
fn same(given: &str, token: &str) -> bool {
    same_digest(given, token) && given == token
}

/// Middleware: refuses requests without the token with 401.
pub(super) async fn require_token(
    State(token): State<Arc<str>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if bearer(headers)
        .or(cookie(headers))
        .is_some_and(|t| same(t, &token))
    {
        return next.run(request).await;
    }
    // The dashboard's link with the token: keep it in a cookie the
    // browser sends back (WebSockets and EventSource included), and drop
    // it from the address bar.
    if request.uri().path() == "/"
        && query_token(request.uri().query()).is_some_and(|t| same(t, &token))
    {
        let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
        return (
            StatusCode::SEE_OTHER,
            [(header::SET_COOKIE, cookie), (header::LOCATION, "/".into())],
        )
            .into_response();
    }
    ApiError(
        StatusCode::UNAUTHORIZED,
        "this control API needs its token: `Authorization: Bearer TOKEN`, or open the dashboard as /?token=TOKEN".into(),
    )
    .into_response()
}

/// Refuses a browser request made by a page from another origin (a
/// WebSocket is not bound by the same-origin policy, and pages anywhere
/// can reach loopback). Requests without `Origin` come from programs.
pub(super) fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
    });
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(ApiError(
            StatusCode::FORBIDDEN,
            "a page from another origin may not open a console".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_token_comes_as_bearer_or_cookie() {
        let h = headers(&[(header::AUTHORIZATION, "Bearer s3cret")]);
        assert_eq!(bearer(&h), Some("s3cret"));
        let h = headers(&[(header::COOKIE, "a=b; amtemu_token=s3cret; c=d")]);
        assert_eq!(cookie(&h), Some("s3cret"));
        assert_eq!(query_token(Some("x=1&token=abc")), Some("abc"));
        assert!(same("abc", "abc"));
        assert!(!same("abd", "abc"));
        assert!(!same("ABC", "abc"), "tokens are case-sensitive");
    }

    #[test]
    fn consoles_open_only_from_the_dashboards_own_origin() {
        assert!(same_origin(&headers(&[])).is_ok());
        let h = headers(&[
            (header::HOST, "127.0.0.1:17000"),
            (header::ORIGIN, "http://127.0.0.1:17000"),
        ]);
        assert!(same_origin(&h).is_ok());
        let h = headers(&[
            (header::HOST, "127.0.0.1:17000"),
            (header::ORIGIN, "https://evil.example"),
        ]);
        assert!(same_origin(&h).is_err());
        let h = headers(&[(header::HOST, "127.0.0.1:17000"), (header::ORIGIN, "null")]);
        assert!(same_origin(&h).is_err());
    }
}
