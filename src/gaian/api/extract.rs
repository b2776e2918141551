//! The typed request-body extractor: every JSON body goes through [`IdempotentJson`], whose
//! rejection is [`ApiError`], so the type a handler declares is both its OpenAPI schema and
//! what the body is checked against. [`Field`] lets a body type accept any JSON object and
//! leave the judgement of each field to the type's own validation, which reports problems in
//! a fixed order with the API's codes instead of serde's first-error-wins wording.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::ApiError;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;
const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// A JSON object body of type `T` and the request's `Idempotency-Key` header.
///
/// Checked in this order, each with its own answer: content type (415), size (413), JSON
/// syntax (400), the header's characters (422), the body being an object (422); then `T`.
pub struct IdempotentJson<T> {
    pub body: T,
    /// The header's value; its rules (length, agreement with the body) are the handler's.
    pub header_key: Option<String>,
}

/// One field of a body as sent: absent or `null`, a value of the declared type, or anything
/// else. Deserializing it never fails, so the body type's validation decides what a wrong
/// type means.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    #[default]
    Absent,
    Value(T),
    WrongType,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => Field::Absent,
            v => serde_json::from_value(v).map_or(Field::WrongType, Field::Value),
        })
    }
}

impl<T> Field<T> {
    /// `Ok(None)` when absent, the value, or `wrong` for a value of another type.
    pub fn optional(self, wrong: impl FnOnce() -> ApiError) -> Result<Option<T>, ApiError> {
        match self {
            Field::Absent => Ok(None),
            Field::Value(v) => Ok(Some(v)),
            Field::WrongType => Err(wrong()),
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    if !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType(
            "Content-Type must be application/json".into(),
        ));
    }
    // A declared length over the limit is refused before reading a byte of it.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT) {
        return Err(ApiError::TooLarge);
    }
    axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ApiError::TooLarge)
}

/// The answer for an idempotency key that is not 1-128 visible ASCII characters.
pub fn invalid_key() -> ApiError {
    ApiError::invalid(
        "invalid_idempotency_key",
        "idempotency_key",
        "the idempotency key must be 1-128 visible ASCII characters",
    )
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for IdempotentJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = read_body(&parts.headers, body).await?;
        // Through `Value` first: serde_json's syntax errors stay separate from type errors,
        // and a key given twice keeps its last value instead of failing.
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::MalformedJson(format!("malformed JSON: {e}")))?;
        let header_key = match parts.headers.get(IDEMPOTENCY_HEADER) {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| invalid_key())?.to_owned()),
        };
        if !value.is_object() {
            return Err(ApiError::Invalid {
                code: "invalid_body",
                message: "the body must be a JSON object".into(),
                field: None,
            });
        }
        let body = serde_json::from_value(value).map_err(|e| ApiError::Invalid {
            code: "invalid_body",
            message: format!("the body does not match its schema: {e}"),
            field: None,
        })?;
        Ok(IdempotentJson { body, header_key })
    }
}
