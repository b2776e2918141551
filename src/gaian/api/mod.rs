//! The HTTP API: one router built here from the per-resource modules, the shared state, the
//! error type every handler returns, and the OpenAPI document generated from the handlers.

mod action;
mod error;
mod extract;
mod health;
mod players;
mod rules;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

pub use error::ApiError;

use super::cache::Cache;
use super::health::Health;
use super::rules::RulesHandle;
use super::store::Store;
use super::training::TrainingSink;

/// Everything a handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub rules: RulesHandle,
    pub cache: Cache,
    pub health: Health,
    pub training: Option<TrainingSink>,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gaian",
        description = "Governance service: player actions to SILA rewards. Amounts are SILA as decimal strings with 6 places."
    ),
    paths(
        health::health,
        action::post_action,
        players::get_player,
        players::get_ledger,
        rules::get_rules,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail))
)]
pub struct ApiDoc;

/// The OpenAPI 3 document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

async fn openapi_json() -> Response {
    axum::Json(openapi()).into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

/// One log line per request, with its latency. Health probes (a container healthcheck hits
/// `/health` every 2 s) are logged at debug, so they do not bury actions and errors at info.
async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let latency_us = started.elapsed().as_micros() as u64;
    if path == "/health" && response.status().is_success() {
        tracing::debug!(target: "gaian::http", %method, path, status, latency_us, "request");
    } else {
        tracing::info!(target: "gaian::http", %method, path, status, latency_us, "request");
    }
    response
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(action::router())
        .merge(players::router())
        .merge(rules::router())
        .route("/openapi.json", axum::routing::get(openapi_json))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}
