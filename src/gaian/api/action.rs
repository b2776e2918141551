//! `POST /api/v1/action`: validate everything before the database, then one transaction.
//! The body is read and checked by hand so every bad input gets its own status and field:
//! 415 content type, 413 size, 400 syntax, 422 fields.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{ApiError, AppState};
use crate::gaian::money::format_micro;
use crate::gaian::store::{LedgerRow, NewAction, Outcome};
use crate::gaian::training::TrainingRecord;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;
const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// The request body (documented; parsed by hand for precise errors).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ActionRequest {
    /// 1-64 characters of A-Z a-z 0-9 _ . : -
    pub player_id: String,
    /// An action named in the rules.
    pub action: String,
    /// Integer from 1 to the rule's max_quantity; default 1.
    pub quantity: Option<i64>,
    /// Any JSON object, kept in the ledger and the training data.
    pub metadata: Option<Map<String, Value>>,
    /// Same as the Idempotency-Key header: a replay returns the original response.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct ActionResponse {
    pub action_id: i64,
    pub player_id: String,
    pub action: String,
    pub quantity: i64,
    /// SILA earned by this action, 6 decimal places.
    pub reward_sila: String,
    /// The player's balance right after this action.
    pub balance_sila: String,
    /// True when the daily cap cut the reward.
    pub capped: bool,
}

impl From<&LedgerRow> for ActionResponse {
    fn from(row: &LedgerRow) -> Self {
        ActionResponse {
            action_id: row.id,
            player_id: row.player_id.clone(),
            action: row.action.clone(),
            quantity: row.quantity,
            reward_sila: format_micro(row.reward_micro),
            balance_sila: format_micro(row.balance_after_micro),
            capped: row.capped,
        }
    }
}

/// True for 1-64 characters of [A-Za-z0-9_.:-].
pub fn valid_player_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

fn valid_key(key: &str) -> bool {
    (1..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
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

async fn read_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, ApiError> {
    if !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType(
            "Content-Type must be application/json".into(),
        ));
    }
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

fn field_str<'a>(
    obj: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, ApiError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(
            "invalid_type",
            name,
            format!("`{name}` must be a string"),
        )),
    }
}

fn required<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, ApiError> {
    field_str(obj, name)?
        .ok_or_else(|| ApiError::invalid("missing_field", name, format!("`{name}` is required")))
}

/// Turns the parsed body into a validated action, or the first problem found.
fn validate(
    state: &AppState,
    value: Value,
    header_key: Option<&str>,
) -> Result<(NewAction, crate::gaian::rules::Rule), ApiError> {
    let Value::Object(obj) = value else {
        return Err(ApiError::Invalid {
            code: "invalid_body",
            message: "the body must be a JSON object".into(),
            field: None,
        });
    };
    const KNOWN: [&str; 5] = [
        "player_id",
        "action",
        "quantity",
        "metadata",
        "idempotency_key",
    ];
    if let Some(unknown) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::Invalid {
            code: "unknown_field",
            message: format!(
                "unknown field `{unknown}`; expected one of {}",
                KNOWN.join(", ")
            ),
            field: None,
        });
    }
    let player_id = required(&obj, "player_id")?;
    if !valid_player_id(player_id) {
        return Err(ApiError::invalid(
            "invalid_player_id",
            "player_id",
            "`player_id` must be 1-64 characters of A-Z a-z 0-9 _ . : -",
        ));
    }
    let action = required(&obj, "action")?;
    let rules = state.rules.current();
    let Some(rule) = rules.actions.get(action) else {
        return Err(ApiError::invalid(
            "unknown_action",
            "action",
            format!("unknown action `{action}`; GET /api/v1/rules lists the actions"),
        ));
    };
    let quantity = match obj.get("quantity") {
        None | Some(Value::Null) => 1,
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
            ApiError::invalid("invalid_type", "quantity", "`quantity` must be an integer")
        })?,
        Some(_) => {
            return Err(ApiError::invalid(
                "invalid_type",
                "quantity",
                "`quantity` must be an integer",
            ));
        }
    };
    if quantity < 1 {
        return Err(ApiError::invalid(
            "invalid_quantity",
            "quantity",
            "`quantity` must be at least 1",
        ));
    }
    if quantity > rule.max_quantity {
        return Err(ApiError::invalid(
            "invalid_quantity",
            "quantity",
            format!(
                "`quantity` must be at most {} for `{action}`",
                rule.max_quantity
            ),
        ));
    }
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => None,
        Some(m @ Value::Object(_)) => Some(m.clone()),
        Some(_) => {
            return Err(ApiError::invalid(
                "invalid_type",
                "metadata",
                "`metadata` must be a JSON object",
            ));
        }
    };
    let body_key = field_str(&obj, "idempotency_key")?;
    let key = match (body_key, header_key) {
        (Some(b), Some(h)) if b != h => {
            return Err(ApiError::invalid(
                "idempotency_key_mismatch",
                "idempotency_key",
                "the Idempotency-Key header and the body's idempotency_key differ",
            ));
        }
        (b, h) => b.or(h),
    };
    if let Some(k) = key
        && !valid_key(k)
    {
        return Err(ApiError::invalid(
            "invalid_idempotency_key",
            "idempotency_key",
            "the idempotency key must be 1-128 visible ASCII characters",
        ));
    }
    let request = serde_json::json!({
        "player_id": player_id,
        "action": action,
        "quantity": quantity,
        "metadata": metadata,
    });
    let now = time::OffsetDateTime::now_utc();
    let created_at = now
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let new = NewAction {
        player_id: player_id.to_string(),
        action: action.to_string(),
        quantity,
        metadata: metadata.as_ref().map(Value::to_string),
        idempotency_key: key.map(str::to_string),
        request: request.to_string(),
        day: now.date().to_string(),
        created_at,
    };
    Ok((new, rule.clone()))
}

/// Records a player's action and returns the reward.
#[utoipa::path(post, path = "/api/v1/action", tag = "actions",
    request_body = ActionRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the original response")),
    responses(
        (status = 200, description = "Recorded (or replayed)", body = ActionResponse),
        (status = 400, description = "Malformed JSON", body = super::error::ErrorBody),
        (status = 409, description = "Idempotency key used with a different request", body = super::error::ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = super::error::ErrorBody),
        (status = 415, description = "Not application/json", body = super::error::ErrorBody),
        (status = 422, description = "Invalid field", body = super::error::ErrorBody),
        (status = 503, description = "Database unavailable", body = super::error::ErrorBody),
    ))]
pub async fn post_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ActionResponse>, ApiError> {
    let bytes = read_body(&headers, body).await?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::MalformedJson(format!("malformed JSON: {e}")))?;
    let header_key = match headers.get(IDEMPOTENCY_HEADER) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::invalid(
                "invalid_idempotency_key",
                "idempotency_key",
                "the idempotency key must be 1-128 visible ASCII characters",
            )
        })?),
    };
    let (new, rule) = validate(&state, value, header_key)?;
    match state.store.record_action(&new, &rule).await? {
        Outcome::Recorded { row, daily } => {
            if let Some(sink) = &state.training {
                sink.send(TrainingRecord {
                    ts: row.created_at.clone(),
                    day: row.day.clone(),
                    action_id: row.id,
                    player_id: row.player_id.clone(),
                    action: row.action.clone(),
                    quantity: row.quantity,
                    reward_sila: format_micro(row.reward_micro),
                    capped: row.capped,
                    metadata: row
                        .metadata
                        .as_deref()
                        .and_then(|m| serde_json::from_str(m).ok()),
                });
            }
            // Off the request path: a slow or absent Redis never delays the answer.
            let cache = state.cache.clone();
            if cache.enabled() {
                let (player, day) = (row.player_id.clone(), row.day.clone());
                tokio::spawn(async move { cache.store(&player, &day, &[daily]).await });
            }
            Ok(Json(ActionResponse::from(&row)))
        }
        Outcome::Replayed(row) => Ok(Json(ActionResponse::from(&row))),
        Outcome::Conflict => Err(ApiError::IdempotencyConflict),
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/action", post(post_action))
}
