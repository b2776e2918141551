//! `POST /api/v1/action`: validate everything before the database, then one transaction.
//! The body is an [`ActionRequest`] through the typed extractor: the same type is the OpenAPI
//! schema and the validation, which gives every bad input its own status, code and field.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::extract::{Field, IdempotentJson, invalid_key};
use super::{ApiError, AppState};
use crate::gaian::money::format_micro;
use crate::gaian::rules::{Rule, Rules};
use crate::gaian::store::{LedgerRow, NewAction, Outcome};
use crate::gaian::training::TrainingRecord;

/// The request body. Any JSON object deserializes into it; [`ActionRequest::validate`] then
/// judges the fields in a fixed order, so the first problem reported never depends on the
/// order of the keys.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ActionRequest {
    /// 1-64 characters of A-Z a-z 0-9 _ . : -
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.:-]{1,64}$")]
    pub player_id: Field<String>,
    /// An action named in the rules.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub action: Field<String>,
    /// Integer from 1 to the rule's max_quantity; default 1.
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub quantity: Field<i64>,
    /// Any JSON object, kept in the ledger and the training data.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Field<Map<String, Value>>,
    /// Same as the Idempotency-Key header: a replay returns the original response.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128)]
    pub idempotency_key: Field<String>,
    /// Keys the API does not know, refused by validation.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: Map<String, Value>,
}

/// The fields [`ActionRequest`] knows, in the order validation checks them.
const KNOWN_FIELDS: [&str; 5] = [
    "player_id",
    "action",
    "quantity",
    "metadata",
    "idempotency_key",
];

fn wrong_type(name: &'static str, what: &str) -> impl FnOnce() -> ApiError {
    move || ApiError::invalid("invalid_type", name, format!("`{name}` must be {what}"))
}

fn required(field: Field<String>, name: &'static str) -> Result<String, ApiError> {
    field
        .optional(wrong_type(name, "a string"))?
        .ok_or_else(|| ApiError::invalid("missing_field", name, format!("`{name}` is required")))
}

impl ActionRequest {
    /// Turns the body into an action to record under `rules`, or the first problem found.
    /// `header_key` is the Idempotency-Key header; `now` stamps the action.
    pub fn validate(
        self,
        rules: &Rules,
        header_key: Option<String>,
        now: time::OffsetDateTime,
    ) -> Result<(NewAction, Rule), ApiError> {
        if let Some(unknown) = self.unknown.keys().next() {
            return Err(ApiError::Invalid {
                code: "unknown_field",
                message: format!(
                    "unknown field `{unknown}`; expected one of {}",
                    KNOWN_FIELDS.join(", ")
                ),
                field: None,
            });
        }
        let player_id = required(self.player_id, "player_id")?;
        if !valid_player_id(&player_id) {
            return Err(ApiError::invalid(
                "invalid_player_id",
                "player_id",
                "`player_id` must be 1-64 characters of A-Z a-z 0-9 _ . : -",
            ));
        }
        let action = required(self.action, "action")?;
        let Some(rule) = rules.actions.get(&action) else {
            return Err(ApiError::invalid(
                "unknown_action",
                "action",
                format!("unknown action `{action}`; GET /api/v1/rules lists the actions"),
            ));
        };
        let quantity = self
            .quantity
            .optional(wrong_type("quantity", "an integer"))?
            .unwrap_or(1);
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
        let metadata = self
            .metadata
            .optional(wrong_type("metadata", "a JSON object"))?
            .map(Value::Object);
        let body_key = self
            .idempotency_key
            .optional(wrong_type("idempotency_key", "a string"))?;
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
        if key.as_deref().is_some_and(|k| !valid_key(k)) {
            return Err(invalid_key());
        }
        // Canonical text of the request, compared on replays of its idempotency key.
        let request = serde_json::json!({
            "player_id": player_id,
            "action": action,
            "quantity": quantity,
            "metadata": metadata,
        });
        let created_at = now
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let new = NewAction {
            player_id,
            action,
            quantity,
            metadata: metadata.as_ref().map(Value::to_string),
            idempotency_key: key,
            request: request.to_string(),
            day: now.date().to_string(),
            created_at,
        };
        Ok((new, rule.clone()))
    }
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
    IdempotentJson { body, header_key }: IdempotentJson<ActionRequest>,
) -> Result<Json<ActionResponse>, ApiError> {
    let rules = state.rules.current();
    let (new, rule) = body.validate(&rules, header_key, time::OffsetDateTime::now_utc())?;
    if !state.health.database_up() {
        // Fail fast while the monitor sees the database down, instead of every request
        // waiting out the pool's acquire timeout.
        return Err(ApiError::Unavailable(
            "database probe reports it down".into(),
        ));
    }
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
