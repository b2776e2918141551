//! `devtui gaian healthcheck`: exit 0 only when /health answers 200 with status "healthy",
//! for container HEALTHCHECKs in images without curl.

use std::time::Duration;

use crate::exit;

const TIMEOUT: Duration = Duration::from_secs(3);

pub async fn run(url: &str) -> anyhow::Result<i32> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        // A proxy from the container's environment must not stand between us and localhost.
        .no_proxy()
        .build()?;
    let response = match client.get(url).send().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("devtui: {url} is not reachable: {e}");
            return Ok(exit::FAILED);
        }
    };
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let healthy = status.is_success() && body["status"] == "healthy";
    if healthy {
        println!("healthy");
        Ok(exit::OK)
    } else {
        eprintln!("devtui: {url} answered {status}: {body}");
        Ok(exit::FAILED)
    }
}
