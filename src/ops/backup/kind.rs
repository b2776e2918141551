//! What kind of data a service holds, and the credentials to read it, from what the service
//! says of itself: the `dev.devtui.backup` label (which wins), its image, its command, its
//! environment.

use std::collections::BTreeMap;

/// The service label that names a service's backup kind, whatever its image says.
pub const LABEL: &str = "dev.devtui.backup";

/// How a service's data is backed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A logical `pg_dump -Fc`.
    Postgres,
    /// A logical `mariadb-dump`/`mysqldump`, zstd-compressed on the host.
    Mysql,
    /// The RDB snapshot after a BGSAVE.
    Redis,
    /// A tar of the service's named volumes.
    Volume,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
            Kind::Redis => "redis",
            Kind::Volume => "volume",
        }
    }

    /// A database (as opposed to plain volumes): backed up when no service is named.
    pub fn is_database(self) -> bool {
        self != Kind::Volume
    }

    fn from_label(value: &str) -> Option<Kind> {
        match value.trim().to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "pg" => Some(Kind::Postgres),
            "mysql" | "mariadb" => Some(Kind::Mysql),
            "redis" | "valkey" => Some(Kind::Redis),
            "volume" | "volumes" => Some(Kind::Volume),
            _ => None,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What is known of a service: from the compose model, completed by its container's inspect.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub image: String,
    pub labels: BTreeMap<String, String>,
    /// The container's environment (the image's and the service's).
    pub env: BTreeMap<String, String>,
    /// Entrypoint then command.
    pub command: Vec<String>,
}

/// The label names no kind devtui knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLabel(pub String);

/// The database kind of a service, if it is one: the label first, then the image name, the
/// command and the environment. `None`: not a database (its volumes may still be backed up).
pub fn detect(facts: &Facts) -> Result<Option<Kind>, BadLabel> {
    if let Some(value) = facts.labels.get(LABEL) {
        return Kind::from_label(value)
            .map(Some)
            .ok_or_else(|| BadLabel(value.clone()));
    }
    Ok(from_image(&facts.image)
        .or_else(|| from_command(&facts.command))
        .or_else(|| from_env(&facts.env)))
}

fn from_image(image: &str) -> Option<Kind> {
    // `registry:5000/team/postgres:16-alpine@sha256:…` → `postgres`.
    let name = image.split('@').next().unwrap_or(image);
    let name = name.rsplit('/').next().unwrap_or(name);
    let name = name.split(':').next().unwrap_or(name).to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
    if has(&["postgres", "postgis", "timescale", "pgvector"]) {
        Some(Kind::Postgres)
    } else if has(&["mariadb", "mysql", "percona"]) {
        Some(Kind::Mysql)
    } else if has(&["redis", "valkey", "keydb"]) {
        Some(Kind::Redis)
    } else {
        None
    }
}

fn from_command(command: &[String]) -> Option<Kind> {
    command
        .iter()
        .find_map(|word| match word.rsplit('/').next().unwrap_or(word) {
            "postgres" => Some(Kind::Postgres),
            "mysqld" | "mariadbd" => Some(Kind::Mysql),
            "redis-server" | "valkey-server" => Some(Kind::Redis),
            _ => None,
        })
}

fn from_env(env: &BTreeMap<String, String>) -> Option<Kind> {
    let any = |keys: &[&str]| keys.iter().any(|k| env.contains_key(*k));
    if any(&[
        "POSTGRES_PASSWORD",
        "POSTGRES_USER",
        "PG_VERSION",
        "PG_MAJOR",
    ]) {
        Some(Kind::Postgres)
    } else if any(&[
        "MARIADB_ROOT_PASSWORD",
        "MYSQL_ROOT_PASSWORD",
        "MARIADB_DATABASE",
        "MYSQL_DATABASE",
        "MARIADB_VERSION",
        "MYSQL_VERSION",
    ]) {
        Some(Kind::Mysql)
    } else if any(&["REDIS_VERSION", "REDIS_PASSWORD"]) {
        Some(Kind::Redis)
    } else {
        None
    }
}

/// How to log in to a database, from the container's own environment. The password goes
/// into the exec's environment (`PGPASSWORD`, `MYSQL_PWD`, `REDISCLI_AUTH`), never argv.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Login {
    pub user: Option<String>,
    pub database: Option<String>,
    password: Option<String>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("database", &self.database)
            .field("password", &self.password.as_ref().map(|_| "••••••"))
            .finish()
    }
}

impl Login {
    /// The login of a `kind` service whose container has `env` (the official images'
    /// variables: `POSTGRES_*`, `MARIADB_*`/`MYSQL_*`, `REDIS_PASSWORD`).
    pub fn from_env(kind: Kind, env: &BTreeMap<String, String>) -> Login {
        let get = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| env.get(*k).filter(|v| !v.is_empty()).cloned())
        };
        match kind {
            Kind::Postgres => {
                let user = get(&["POSTGRES_USER"]).unwrap_or_else(|| "postgres".into());
                Login {
                    database: Some(get(&["POSTGRES_DB"]).unwrap_or_else(|| user.clone())),
                    user: Some(user),
                    password: get(&["POSTGRES_PASSWORD"]),
                }
            }
            Kind::Mysql => {
                let database = get(&["MARIADB_DATABASE", "MYSQL_DATABASE"]);
                // root can dump routines and recreate the database; the app user otherwise.
                if let Some(root) = get(&["MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD"]) {
                    Login {
                        user: Some("root".into()),
                        database,
                        password: Some(root),
                    }
                } else if let (Some(user), Some(password)) = (
                    get(&["MARIADB_USER", "MYSQL_USER"]),
                    get(&["MARIADB_PASSWORD", "MYSQL_PASSWORD"]),
                ) {
                    Login {
                        user: Some(user),
                        database,
                        password: Some(password),
                    }
                } else {
                    Login {
                        user: Some("root".into()),
                        database,
                        password: None,
                    }
                }
            }
            Kind::Redis => Login {
                user: None,
                database: None,
                password: get(&["REDIS_PASSWORD"]),
            },
            Kind::Volume => Login::default(),
        }
    }

    /// The exec environment that carries the password to the `kind` client tools.
    pub fn env(&self, kind: Kind) -> Vec<String> {
        let var = match kind {
            Kind::Postgres => "PGPASSWORD",
            Kind::Mysql => "MYSQL_PWD",
            Kind::Redis => "REDISCLI_AUTH",
            Kind::Volume => return Vec::new(),
        };
        self.password.iter().map(|p| format!("{var}={p}")).collect()
    }

    /// `text` with the password masked, for messages built from a tool's output.
    pub fn mask(&self, text: &str) -> String {
        match &self.password {
            Some(p) if p.len() >= 3 => text.replace(p.as_str(), "••••••"),
            _ => text.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(image: &str, env: &[(&str, &str)], label: Option<&str>) -> Facts {
        Facts {
            image: image.into(),
            labels: label
                .map(|l| [(LABEL.to_string(), l.to_string())].into())
                .unwrap_or_default(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            command: Vec::new(),
        }
    }

    #[test]
    fn label_wins_then_image_command_env() {
        assert_eq!(
            detect(&facts("postgres:16-alpine", &[], Some("volume"))),
            Ok(Some(Kind::Volume))
        );
        assert_eq!(
            detect(&facts("registry:5000/x/postgres:16@sha256:ab", &[], None)),
            Ok(Some(Kind::Postgres))
        );
        assert_eq!(
            detect(&facts("devtui-standin/mariadb:10.11", &[], None)),
            Ok(Some(Kind::Mysql))
        );
        assert_eq!(
            detect(&facts("bitnami/valkey", &[], None)),
            Ok(Some(Kind::Redis))
        );
        assert_eq!(
            detect(&facts("acme/db", &[("MYSQL_ROOT_PASSWORD", "x")], None)),
            Ok(Some(Kind::Mysql))
        );
        let mut f = facts("acme/cache", &[], None);
        f.command = vec!["/usr/bin/redis-server".into(), "--appendonly".into()];
        assert_eq!(detect(&f), Ok(Some(Kind::Redis)));
        assert_eq!(detect(&facts("nginx", &[], None)), Ok(None));
        assert_eq!(
            detect(&facts("nginx", &[], Some("tape"))),
            Err(BadLabel("tape".into()))
        );
    }

    #[test]
    fn logins_come_from_the_official_variables_and_hide_the_password() {
        let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let pg = Login::from_env(Kind::Postgres, &env(&[("POSTGRES_PASSWORD", "s3cret")]));
        assert_eq!(pg.user.as_deref(), Some("postgres"));
        assert_eq!(pg.database.as_deref(), Some("postgres"));
        assert_eq!(pg.env(Kind::Postgres), ["PGPASSWORD=s3cret"]);
        assert!(!format!("{pg:?}").contains("s3cret"));
        assert_eq!(pg.mask("bad s3cret here"), "bad •••••• here");
        let my = Login::from_env(
            Kind::Mysql,
            &env(&[
                ("MARIADB_USER", "app"),
                ("MARIADB_PASSWORD", "pw1"),
                ("MARIADB_DATABASE", "shop"),
            ]),
        );
        assert_eq!(my.user.as_deref(), Some("app"));
        assert_eq!(my.database.as_deref(), Some("shop"));
        assert_eq!(my.env(Kind::Mysql), ["MYSQL_PWD=pw1"]);
    }
}
