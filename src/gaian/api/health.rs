//! `GET /health`: answers from the background probe results, never from the database.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// "healthy", or "degraded" when the database is unreachable.
    pub status: &'static str,
    pub version: &'static str,
    pub services: Services,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Services {
    /// "up" or "down".
    pub database: &'static str,
    /// "up", "down" or "disabled" (no REDIS_URL); a cache that is down keeps /health at 200.
    pub cache: &'static str,
}

/// Service health.
#[utoipa::path(get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "Healthy", body = HealthResponse),
        (status = 503, description = "The database is unreachable", body = HealthResponse),
    ))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthResponse>) {
    let db_up = state.health.database_up();
    let body = HealthResponse {
        status: if db_up { "healthy" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        services: Services {
            database: if db_up { "up" } else { "down" },
            cache: state.health.cache_state(),
        },
    };
    let status = if db_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}
