//! The compose project: discovery, the model from `docker compose config`, profiles and `.env`.
