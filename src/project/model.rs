//! The project model, parsed from `docker compose config --format json`.
//!
//! Compose resolves every compose-spec feature (interpolation, extends, includes, profiles,
//! short and long syntax); we only read its normalised output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One service of the compose project, as compose resolved it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    pub name: String,
    /// Image name (also set for built services when compose names the result).
    pub image: Option<String>,
    pub build: Option<Build>,
    pub has_healthcheck: bool,
    pub depends_on: Vec<Dependency>,
    pub ports: Vec<PortSpec>,
    pub volumes: Vec<Mount>,
    /// Compose profiles the service belongs to; empty means always enabled.
    pub profiles: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// `develop.watch` rules (for hot reload).
    pub watch: Vec<WatchRule>,
    pub container_name: Option<String>,
}

/// A service's `build` section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Build {
    pub context: PathBuf,
    pub dockerfile: Option<String>,
}

/// When a service may start relative to one it depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DependsCondition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub service: String,
    pub condition: DependsCondition,
    pub required: bool,
}

/// A port mapping; `published` is `None` when the engine picks the host port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortSpec {
    pub host_ip: Option<String>,
    pub published: Option<u16>,
    pub target: u16,
    pub protocol: String,
}

/// A volume, bind mount or tmpfs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// `volume`, `bind`, `tmpfs`, ...
    pub kind: String,
    pub source: Option<String>,
    pub target: String,
}

/// One `develop.watch` rule, as compose normalised it (`path` absolute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchRule {
    /// `sync`, `rebuild`, `restart`, `sync+restart`, `sync+exec`.
    pub action: String,
    pub path: PathBuf,
    pub target: Option<String>,
    /// Patterns (dockerignore syntax) relative to `path` that do not trigger the rule.
    pub ignore: Vec<String>,
    /// When set, only matching files (relative to `path`) trigger the rule.
    pub include: Vec<String>,
    /// Sync the whole path once when watching starts.
    pub initial_sync: bool,
    /// `sync+exec`'s command, run in the container after the sync.
    pub exec: Vec<String>,
}

/// The parts of compose's normalised JSON we read.
#[derive(Debug, Deserialize)]
pub(crate) struct ConfigJson {
    pub name: String,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceJson>,
    #[serde(rename = "x-devtui", default)]
    pub devtui: super::native::DevtuiJson,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ServiceJson {
    image: Option<String>,
    build: Option<BuildJson>,
    healthcheck: Option<HealthcheckJson>,
    #[serde(default)]
    depends_on: BTreeMap<String, DependsJson>,
    #[serde(default)]
    ports: Vec<PortJson>,
    #[serde(default)]
    volumes: Vec<VolumeJson>,
    #[serde(default)]
    profiles: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    develop: Option<DevelopJson>,
    container_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BuildJson {
    context: PathBuf,
    dockerfile: Option<String>,
}

#[derive(Debug, Deserialize)]
struct HealthcheckJson {
    #[serde(default)]
    test: Vec<String>,
    #[serde(default)]
    disable: bool,
}

#[derive(Debug, Deserialize)]
struct DependsJson {
    condition: Option<String>,
    #[serde(default = "yes")]
    required: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
struct PortJson {
    host_ip: Option<String>,
    target: u16,
    /// Compose prints it as a string ("5432") and leaves it out when unpublished.
    published: Option<String>,
    protocol: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VolumeJson {
    #[serde(rename = "type")]
    kind: String,
    source: Option<String>,
    target: String,
}

#[derive(Debug, Deserialize)]
struct DevelopJson {
    #[serde(default)]
    watch: Vec<WatchJson>,
}

#[derive(Debug, Deserialize)]
struct WatchJson {
    action: String,
    path: PathBuf,
    target: Option<String>,
    #[serde(default)]
    ignore: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    initial_sync: bool,
    exec: Option<WatchExecJson>,
}

#[derive(Debug, Deserialize)]
struct WatchExecJson {
    command: Option<Vec<String>>,
}

impl Service {
    pub(crate) fn from_json(name: String, json: ServiceJson) -> Self {
        let has_healthcheck = json.healthcheck.as_ref().is_some_and(|h| {
            !h.disable && !h.test.is_empty() && h.test.first().is_some_and(|t| t != "NONE")
        });
        let depends_on = json
            .depends_on
            .into_iter()
            .map(|(service, d)| Dependency {
                service,
                condition: match d.condition.as_deref() {
                    Some("service_healthy") => DependsCondition::ServiceHealthy,
                    Some("service_completed_successfully") => {
                        DependsCondition::ServiceCompletedSuccessfully
                    }
                    _ => DependsCondition::ServiceStarted,
                },
                required: d.required,
            })
            .collect();
        let ports = json
            .ports
            .into_iter()
            .map(|p| PortSpec {
                host_ip: p.host_ip.filter(|ip| !ip.is_empty()),
                // A range ("8000-8010") is left to compose; only single ports are checked.
                published: p.published.and_then(|s| s.parse().ok()),
                target: p.target,
                protocol: p.protocol.unwrap_or_else(|| "tcp".into()),
            })
            .collect();
        let volumes = json
            .volumes
            .into_iter()
            .map(|v| Mount {
                kind: v.kind,
                source: v.source,
                target: v.target,
            })
            .collect();
        let watch = json
            .develop
            .map(|d| {
                d.watch
                    .into_iter()
                    .map(|w| WatchRule {
                        action: w.action,
                        path: w.path,
                        target: w.target,
                        ignore: w.ignore,
                        include: w.include,
                        initial_sync: w.initial_sync,
                        exec: w.exec.and_then(|e| e.command).unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Service {
            name,
            image: json.image,
            build: json.build.map(|b| Build {
                context: b.context,
                dockerfile: b.dockerfile,
            }),
            has_healthcheck,
            depends_on,
            ports,
            volumes,
            profiles: json.profiles,
            labels: json.labels,
            watch,
            container_name: json.container_name,
        }
    }

    /// Whether the service is enabled when `active` profiles are on.
    pub fn enabled_by(&self, active: &[String]) -> bool {
        self.profiles.is_empty() || self.profiles.iter().any(|p| active.contains(p))
    }
}

/// Orders services so each comes after the services it depends on (ties by name).
///
/// Dependencies on services not in the list are ignored; a cycle (which compose rejects
/// anyway) keeps the remaining services in name order.
pub fn dependency_order(mut services: Vec<Service>) -> Vec<Service> {
    services.sort_by(|a, b| a.name.cmp(&b.name));
    let names: BTreeSet<String> = services.iter().map(|s| s.name.clone()).collect();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut ordered = Vec::with_capacity(services.len());
    while !services.is_empty() {
        let ready = services.iter().position(|s| {
            s.depends_on
                .iter()
                .all(|d| placed.contains(&d.service) || !names.contains(&d.service))
        });
        let next = services.remove(ready.unwrap_or(0));
        placed.insert(next.name.clone());
        ordered.push(next);
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, deps: &[&str]) -> Service {
        Service {
            name: name.into(),
            image: None,
            build: None,
            has_healthcheck: false,
            depends_on: deps
                .iter()
                .map(|d| Dependency {
                    service: (*d).into(),
                    condition: DependsCondition::ServiceStarted,
                    required: true,
                })
                .collect(),
            ports: vec![],
            volumes: vec![],
            profiles: vec![],
            labels: BTreeMap::new(),
            watch: vec![],
            container_name: None,
        }
    }

    #[test]
    fn dependencies_come_first() {
        let ordered = dependency_order(vec![
            svc("api", &["db", "cache"]),
            svc("cache", &[]),
            svc("worker", &["api"]),
            svc("db", &[]),
        ]);
        let names: Vec<_> = ordered.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["cache", "db", "api", "worker"]);
    }

    #[test]
    fn parses_compose_json() {
        let json = r#"{"name":"p","services":{"a":{"image":"x","depends_on":{"b":{"condition":"service_healthy","required":true}},
            "ports":[{"mode":"ingress","host_ip":"127.0.0.1","target":80,"published":"15000","protocol":"tcp"},{"target":8080}],
            "healthcheck":{"test":["CMD","true"]},"profiles":["x"],"labels":{"k":"v"},
            "develop":{"watch":[{"path":"/src","action":"sync","target":"/app"}]}},
            "b":{"build":{"context":"/tmp","dockerfile":"Dockerfile"},"healthcheck":{"test":["NONE"]}}}}"#;
        let cfg: ConfigJson = serde_json::from_str(json).expect("valid json");
        let services: Vec<_> = cfg
            .services
            .into_iter()
            .map(|(n, s)| Service::from_json(n, s))
            .collect();
        let a = &services[0];
        assert!(a.has_healthcheck);
        assert_eq!(a.depends_on[0].condition, DependsCondition::ServiceHealthy);
        assert_eq!(a.ports[0].published, Some(15000));
        assert_eq!(a.ports[1].published, None);
        assert_eq!(a.watch[0].action, "sync");
        assert!(!a.enabled_by(&[]));
        assert!(a.enabled_by(&["x".into()]));
        assert!(!services[1].has_healthcheck);
        assert!(services[1].build.is_some());
    }
}
