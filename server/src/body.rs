//! Reading what a request carries, strictly and within limits: bodies (size, content type,
//! exactly one JSON value) and query strings (only the parameters the route describes). The
//! limits themselves are in `crate::limits`.

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

/// The media type a body must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    Json,
    Form,
}

impl BodyType {
    fn essence(self) -> &'static str {
        match self {
            BodyType::Json => "application/json",
            BodyType::Form => "application/x-www-form-urlencoded",
        }
    }
}

/// Reads a request body of at most `limit` bytes (after decompression) with the content type
/// `kind`. A declared `Content-Length` over the limit is refused before a byte is read.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    kind: BodyType,
    limit: usize,
) -> Result<Bytes, ApiError> {
    check_content_type(headers, kind)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if is_length_limit(&e) {
            too_large(limit)
        } else {
            // A body that ends early or does not decompress.
            ApiError::bad_request(None, format!("cannot read the request body: {e}"))
        }
    })
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than this route accepts ({limit} bytes)"),
    )
}

/// Whether axum's body error comes from the length limit (it wraps the limit error).
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

fn check_content_type(headers: &HeaderMap, kind: BodyType) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // `application/json; charset=utf-8` is the same type; parameters are not checked.
    let essence = given.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case(kind.essence()) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        if given.is_empty() {
            format!("the request body needs Content-Type: {}", kind.essence())
        } else {
            format!(
                "Content-Type {given} is not accepted here; send {}",
                kind.essence()
            )
        },
    ))
}

/// Parses exactly one JSON value. Unknown members and repeated members are refused by the
/// request types themselves; here anything after the value (but whitespace) is. A failure
/// names the JSON path of the offending value (e.g. `changes[3].set`) in `field`.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        ApiError::bad_request(field, format!("invalid request body: {}", e.inner()))
    })?;
    de.end().map_err(|e| {
        ApiError::bad_request(
            None,
            format!("invalid request body: more after the JSON value ({e})"),
        )
    })?;
    Ok(value)
}

/// Parses a query string into `T`, which should refuse unknown parameters
/// (`#[serde(deny_unknown_fields)]`): a parameter the route does not describe is a 400, not
/// silently ignored. Absent or empty gives `T::default()`.
pub fn parse_query<T: DeserializeOwned + Default>(query: Option<&str>) -> Result<T, ApiError> {
    match query {
        None | Some("") => Ok(T::default()),
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|e| ApiError::bad_request(None, format!("invalid query: {e}"))),
    }
}

/// The query of a route that takes no parameters.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}
