//! Login CSRF: the page's two forms (log on, log off) accept posts from its own origin only.

use crate::error::ApiError;
use axum::http::HeaderMap;

/// Refuses a form POST that a browser sent on behalf of another site (login CSRF: a foreign
/// page posting the attacker's credentials, so the victim works in the attacker's session; or
/// logging the victim off). Browsers mark such requests: `Sec-Fetch-Site` (every current
/// browser), else `Origin`, which must name this server's own host (the `Host` header, or
/// `X-Forwarded-Host` from a proxy — a cross-site form cannot set either). A request with
/// neither header is no browser's cross-site form, and is let through (scripts, old clients).
pub(super) fn same_origin_form(headers: &HeaderMap) -> Result<(), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let refused = || {
        ApiError::forbidden(
            "this form was posted from another site; open the inventory's own page and log on there",
        )
    };
    if let Some(site) = header("sec-fetch-site") {
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => Err(refused()),
        };
    }
    let Some(origin) = header("origin") else {
        return Ok(());
    };
    // `scheme://host[:port]`; the scheme is left out of the comparison because a TLS proxy in
    // front talks plain HTTP to the server.
    let Some((_, authority)) = origin.split_once("://") else {
        return Err(refused());
    };
    let ours = [header("host"), header("x-forwarded-host")];
    if ours
        .iter()
        .flatten()
        .any(|host| host.eq_ignore_ascii_case(authority))
    {
        Ok(())
    } else {
        Err(refused())
    }
}
