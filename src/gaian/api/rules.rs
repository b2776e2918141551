//! `GET /api/v1/rules`: the rules in force and where they came from.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::gaian::money::format_micro;

#[derive(Debug, Serialize, ToSchema)]
pub struct RulesResponse {
    /// "embedded" or the rules file's path.
    pub source: String,
    pub loaded_at: String,
    /// Why the last edit of the file was rejected (the rules shown are still in force).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reload_error: Option<String>,
    pub actions: Vec<RuleView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    pub action: String,
    pub description: String,
    pub base_reward_sila: String,
    pub quantity_multiplier: String,
    pub max_quantity: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_cap_sila: Option<String>,
    pub decay: String,
}

/// The active reward rules.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules",
    responses((status = 200, description = "The rules in force", body = RulesResponse)))]
pub async fn get_rules(State(state): State<AppState>) -> Json<RulesResponse> {
    let rules = state.rules.current();
    Json(RulesResponse {
        source: rules.source.to_string(),
        loaded_at: rules.loaded_at.clone(),
        reload_error: state.rules.reload_error(),
        actions: rules
            .actions
            .iter()
            .map(|(name, r)| RuleView {
                action: name.clone(),
                description: r.description.clone(),
                base_reward_sila: format_micro(r.base_reward),
                quantity_multiplier: format_micro(r.quantity_multiplier),
                max_quantity: r.max_quantity,
                daily_cap_sila: r.daily_cap.map(format_micro),
                decay: format_micro(r.decay),
            })
            .collect(),
    })
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/rules", get(get_rules))
}
