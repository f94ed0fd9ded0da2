//! Extractors whose rejections are problem documents naming what is wrong.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Bodies larger than this are refused with 413.
pub use muster_domain::limits::BODY_LIMIT;

/// A JSON body: 415 unless the content type is JSON, 413 when too large,
/// 400 when it is not JSON, 422 naming the field when a value is wrong.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        require_json(req.headers())?;
        let bytes = read_body(req.into_body()).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be left out: no body at all (or `null`) reads as
/// `T::default()` (for routes that took no body before); otherwise as
/// [`ApiJson`].
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let json = require_json(req.headers());
        let bytes = read_body(req.into_body()).await?;
        // No body, or JSON's null, is the default.
        if bytes.trim_ascii().is_empty() || bytes.trim_ascii() == b"null" {
            return Ok(OptionalJson(T::default()));
        }
        json?;
        parse_json(&bytes).map(OptionalJson)
    }
}

/// 415 unless the content type is JSON (`application/json` or `…+json`).
pub fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false);
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as JSON with Content-Type: application/json",
        ))
    }
}

/// Reads a body of at most [`BODY_LIMIT`] bytes: 413 beyond, 400 when it
/// cannot be read (the client stalled past the body read timeout, or left).
/// Handlers that must check something first (an integration key) take the
/// raw body and call this after.
pub async fn read_body(body: axum::body::Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|e| {
        // The body's own error is some layers down (each body wrapper boxes it).
        let mut causes = std::iter::successors(std::error::Error::source(&e), |c| c.source());
        let source = std::error::Error::source(&e);
        if causes.any(|c| c.is::<tower_http::timeout::TimeoutError>()) {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "body-timeout", "the body stalled; send it without pauses")
        } else if source.is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                format!("the body is larger than {BODY_LIMIT} bytes"),
            )
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "unreadable-body", format!("the body could not be read: {e}"))
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Some(field) = nul_field(bytes) {
        return Err(ApiError::invalid(&field, "text may not contain NUL characters"));
    }
    // serde takes a list for a struct, field by field in order: a body
    // object with named fields is asked for, so a list is refused.
    if bytes.trim_ascii_start().starts_with(b"[")
        && let Some(fields) = fields_of::<T>()
    {
        return Err(ApiError::invalid(
            ".",
            in_api_words("invalid type: sequence, expected struct Body", ".", Some(fields)),
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let first: Result<T, _> = serde_path_to_error::deserialize(de);
    let result = match first {
        // JSON Schema counts `16.0` as an integer, so the document's integers
        // accept it: read the body again with such numbers made integers.
        Err(e) if e.inner().to_string().starts_with("invalid type: floating point") => {
            match serde_json::from_slice::<serde_json::Value>(bytes) {
                Ok(mut value) => {
                    integral_floats_as_integers(&mut value);
                    serde_path_to_error::deserialize(value)
                }
                Err(_) => Err(e),
            }
        }
        other => other,
    };
    result.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = strip_position(&inner.to_string());
                let field = if path == "." { missing_field(&message).unwrap_or(path) } else { path };
                let top = (field == ".").then(fields_of::<T>).flatten();
                ApiError::invalid(&field, in_api_words(&message, &field, top))
            }
            _ => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                format!("the body is not valid JSON: {}", strip_position(&inner.to_string())),
            ),
        }
    })
}

/// The fields of `T` when it is a plain struct, read from its `Deserialize`
/// (which names them when it asks for a struct), for messages about the
/// body as a whole.
fn fields_of<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    use serde::de::{self, Visitor};
    struct Fields(Option<&'static [&'static str]>);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("stop")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    impl<'de> de::Deserializer<'de> for &mut Fields {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut probe = Fields(None);
    let _ = T::deserialize(&mut probe);
    probe.0.filter(|f| !f.is_empty())
}

/// serde's message for a wrong value in the API's words: what the field
/// must be and what was sent, without Rust's type names (`u32`, `struct
/// DeclareRequest with 4 elements`). `fields` are the body's fields when
/// the body as a whole is wrong. Messages of Muster's own types pass as
/// they are.
pub fn in_api_words(message: &str, field: &str, fields: Option<&[&str]>) -> String {
    let subject = if field == "." || field.is_empty() { "the body".to_owned() } else { format!("`{field}`") };
    let (sent, expected) = if let Some(rest) = message.strip_prefix("invalid type: ") {
        match rest.split_once(", expected ") {
            Some((sent, expected)) => (Some(sent_in_words(sent)), expected),
            None => return message.to_owned(),
        }
    } else if let Some(rest) = message.strip_prefix("invalid value: ") {
        match rest.split_once(", expected ") {
            Some((sent, expected)) => (Some(sent_in_words(sent)), expected),
            None => return message.to_owned(),
        }
    } else if let Some(rest) = message.strip_prefix("invalid length ") {
        match rest.split_once(", expected ") {
            Some((_, expected)) if expected.starts_with("struct ") => (Some("a list".to_owned()), expected),
            Some((n, expected)) => (Some(format!("{n} items")), expected),
            None => return message.to_owned(),
        }
    } else if let Some(number) = number_message(message) {
        return format!("{subject} must be {number}");
    } else {
        return message.to_owned();
    };
    let expected = match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => {
            if field == "limit" {
                format!("a whole number from 1 to {}", muster_domain::MAX_PAGE_SIZE)
            } else {
                "a whole number, 0 or more".to_owned()
            }
        }
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a boolean" => "true or false".to_owned(),
        "a string" | "a borrowed string" | "a string or bytes" | "a character" => "text (a JSON string)".to_owned(),
        "a sequence" => "a list (a JSON array)".to_owned(),
        "a map" => "a JSON object".to_owned(),
        e if e.starts_with("struct ") || e.starts_with("tuple struct ") => match fields {
            Some(fields) => {
                let names: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
                format!("a JSON object with the fields {}", names.join(", "))
            }
            None => "a JSON object".to_owned(),
        },
        e if e.starts_with("enum ") || e.starts_with("internally tagged enum ") => {
            "one of the documented values".to_owned()
        }
        e if e.starts_with("unit variant ") || e.starts_with("variant ") => "one of the documented values".to_owned(),
        e => e.to_owned(),
    };
    match sent {
        Some(sent) => format!("{subject} must be {expected}, not {sent}"),
        None => format!("{subject} must be {expected}"),
    }
}

/// serde's words for what was sent, as a person would say them.
fn sent_in_words(sent: &str) -> String {
    let quoted = |prefix: &str| sent.strip_prefix(prefix).map(str::to_owned);
    if let Some(v) = quoted("integer ").or_else(|| quoted("floating point ")).or_else(|| quoted("boolean ")) {
        return v.trim_matches('`').to_owned();
    }
    if let Some(v) = quoted("string ") {
        return v;
    }
    match sent {
        "sequence" => "a list".to_owned(),
        "map" => "an object".to_owned(),
        "unit value" | "null" => "null".to_owned(),
        other => other.to_owned(),
    }
}

/// What the standard library says when text does not parse as a number
/// (query parameters are text), in the API's words.
fn number_message(message: &str) -> Option<&'static str> {
    match message {
        "invalid digit found in string"
        | "cannot parse integer from empty string"
        | "number too large to fit in target type"
        | "number too small to fit in target type" => Some("a whole number"),
        "invalid float literal" => Some("a number"),
        "provided string was not `true` or `false`" => Some("true or false"),
        _ => None,
    }
}

/// Turns every number like `16.0` (a float with no fraction that fits an
/// `i64` or `u64`) into the integer it is.
fn integral_floats_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && f >= 0.0 && f < u64::MAX as f64 {
                *value = serde_json::Value::from(f as u64);
            } else if f.fract() == 0.0 && f < 0.0 && f >= i64::MIN as f64 {
                *value = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

/// serde reports a missing field at the top level as "missing field `x`".
fn missing_field(message: &str) -> Option<String> {
    let rest = message.split("missing field `").nth(1)?;
    Some(rest.split('`').next()?.to_owned())
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Query parameters, with problems for rejections.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let field = e.path().to_string();
            let mut detail = in_api_words(&e.into_inner().to_string(), &field, None);
            if field == "limit" && detail.starts_with("`limit` must be a whole number") {
                detail = format!("`limit` must be a whole number from 1 to {}", muster_domain::MAX_PAGE_SIZE);
            }
            ApiError::field(StatusCode::BAD_REQUEST, "invalid-query", field, detail)
        })
    }
}

/// The path of the first string (or key) holding a NUL character, if any.
/// PostgreSQL cannot store NUL in text, so such input is refused at the
/// edge on every backend alike. JSON can only carry NUL as the escape
/// `\u0000`, so bodies without one skip the walk.
pub fn nul_field(bytes: &[u8]) -> Option<String> {
    if !bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    fn walk(v: &serde_json::Value, path: &str) -> Option<String> {
        let here = |p: &str| if p.is_empty() { ".".to_owned() } else { p.to_owned() };
        match v {
            serde_json::Value::String(s) if s.contains('\0') => Some(here(path)),
            serde_json::Value::Array(items) => {
                items.iter().enumerate().find_map(|(i, item)| walk(item, &format!("{path}[{i}]")))
            }
            serde_json::Value::Object(map) => map.iter().find_map(|(k, item)| {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                if k.contains('\0') { Some(here(path)) } else { walk(item, &p) }
            }),
            _ => None,
        }
    }
    walk(&value, "")
}
