//! `GET /api/v1/players/{player_id}` and its ledger.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::action::valid_player_id;
use super::{ApiError, AppState};
use crate::gaian::money::format_micro;
use crate::gaian::store::DailyTotal;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

#[derive(Debug, Serialize, ToSchema)]
pub struct PlayerResponse {
    pub player_id: String,
    pub balance_sila: String,
    pub created_at: String,
    /// All-time totals per action.
    pub actions: Vec<ActionTotalView>,
    /// Today's (UTC) counters per action, against the daily caps.
    pub today: Vec<TodayView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionTotalView {
    pub action: String,
    pub count: i64,
    pub quantity: i64,
    pub reward_sila: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TodayView {
    pub action: String,
    pub count: i64,
    pub reward_sila: String,
    /// SILA still to be earned today, when the action has a daily cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap_remaining_sila: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerResponse {
    pub player_id: String,
    /// Newest first.
    pub entries: Vec<LedgerEntry>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntry {
    pub action_id: i64,
    pub action: String,
    pub quantity: i64,
    pub reward_sila: String,
    pub balance_sila: String,
    pub capped: bool,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LedgerQuery {
    /// Entries per page, 1-500 (default 50).
    limit: Option<String>,
    /// Only entries with an action_id below this (the previous page's next_before).
    before: Option<String>,
}

fn check_player(id: &str) -> Result<(), ApiError> {
    if valid_player_id(id) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "invalid_player_id",
            "player_id",
            "`player_id` must be 1-64 characters of A-Z a-z 0-9 _ . : -",
        ))
    }
}

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

/// A player's balance and totals.
#[utoipa::path(get, path = "/api/v1/players/{player_id}", tag = "players",
    params(("player_id" = String, Path, description = "The player")),
    responses(
        (status = 200, description = "The player", body = PlayerResponse),
        (status = 404, description = "No action recorded for this player", body = super::error::ErrorBody),
        (status = 422, description = "Invalid player id", body = super::error::ErrorBody),
    ))]
pub async fn get_player(
    State(state): State<AppState>,
    Path(player_id): Path<String>,
) -> Result<Json<PlayerResponse>, ApiError> {
    check_player(&player_id)?;
    let Some(player) = state.store.player(&player_id).await? else {
        return Err(ApiError::NotFound(format!("no player `{player_id}`")));
    };
    let totals = state.store.totals(&player_id).await?;
    let rules = state.rules.current();
    let day = today();
    let names: Vec<String> = rules.actions.keys().cloned().collect();
    let daily = match state.cache.load(&player_id, &day, &names).await {
        Some(d) => d,
        None => {
            let from_db = state.store.day(&player_id, &day).await?;
            // Fill the cache with every action, zeros included, so the next read hits.
            let full: Vec<DailyTotal> = names
                .iter()
                .map(|n| {
                    from_db
                        .iter()
                        .find(|d| &d.action == n)
                        .cloned()
                        .unwrap_or(DailyTotal {
                            action: n.clone(),
                            count: 0,
                            reward_micro: 0,
                        })
                })
                .collect();
            state.cache.store(&player_id, &day, &full).await;
            from_db
        }
    };
    Ok(Json(PlayerResponse {
        player_id: player.player_id,
        balance_sila: format_micro(player.balance_micro),
        created_at: player.created_at,
        actions: totals
            .into_iter()
            .map(|t| ActionTotalView {
                action: t.action,
                count: t.count,
                quantity: t.quantity,
                reward_sila: format_micro(t.reward_micro),
            })
            .collect(),
        today: daily
            .into_iter()
            .map(|d| {
                let cap = rules.actions.get(&d.action).and_then(|r| r.daily_cap);
                TodayView {
                    cap_remaining_sila: cap.map(|c| format_micro((c - d.reward_micro).max(0))),
                    action: d.action,
                    count: d.count,
                    reward_sila: format_micro(d.reward_micro),
                }
            })
            .collect(),
    }))
}

fn parse_param(
    value: Option<&str>,
    name: &'static str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, ApiError> {
    let Some(text) = value else { return Ok(None) };
    match text.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(ApiError::invalid(
            "invalid_parameter",
            name,
            format!("`{name}` must be an integer from {min} to {max}"),
        )),
    }
}

/// A player's ledger, newest first, paginated by `before`.
#[utoipa::path(get, path = "/api/v1/players/{player_id}/ledger", tag = "players",
    params(("player_id" = String, Path, description = "The player"), LedgerQuery),
    responses(
        (status = 200, description = "One page of the ledger", body = LedgerResponse),
        (status = 422, description = "Invalid player id or parameter", body = super::error::ErrorBody),
    ))]
pub async fn get_ledger(
    State(state): State<AppState>,
    Path(player_id): Path<String>,
    Query(query): Query<LedgerQuery>,
) -> Result<Json<LedgerResponse>, ApiError> {
    check_player(&player_id)?;
    let limit =
        parse_param(query.limit.as_deref(), "limit", 1, MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT);
    let before = parse_param(query.before.as_deref(), "before", 1, i64::MAX)?.unwrap_or(i64::MAX);
    // One extra row tells whether another page exists.
    let mut rows = state.store.ledger(&player_id, limit + 1, before).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_before = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(Json(LedgerResponse {
        player_id,
        entries: rows
            .into_iter()
            .map(|r| LedgerEntry {
                action_id: r.id,
                action: r.action,
                quantity: r.quantity,
                reward_sila: format_micro(r.reward_micro),
                balance_sila: format_micro(r.balance_after_micro),
                capped: r.capped,
                created_at: r.created_at,
                idempotency_key: r.idempotency_key,
            })
            .collect(),
        next_before,
    }))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/players/{player_id}", get(get_player))
        .route("/api/v1/players/{player_id}/ledger", get(get_ledger))
}
