//! Which server binary an embedded cluster runs: Redis or Valkey, found by name or path, with
//! its version checked and kept for reports.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::{Error, Result};

/// Where `scripts/servers install NAME` puts each server unless `RCSTRESS_SERVERS_DIR` says
/// otherwise.
pub const DEFAULT_SERVERS_DIR: &str = "/opt/rcstress/servers";

/// The names `scripts/servers` installs (the error for a missing one lists them).
pub const KNOWN_SERVERS: &[&str] = &["redis7", "valkey8", "redis8", "valkey9"];

/// A server binary and what it says it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerInfo {
    /// `redis` or `valkey`.
    pub name: String,
    /// e.g. `7.0.15`, `8.0.1`.
    pub version: String,
    /// The file we start (kept with its `*-server` name).
    pub path: PathBuf,
}

impl ServerInfo {
    /// `redis 7.0.15`, `valkey 8.0.1`.
    pub fn label(&self) -> String {
        format!("{} {}", self.name, self.version)
    }

    /// (major, minor) of the version.
    pub fn version_tuple(&self) -> (u32, u32) {
        let mut it = self.version.split('.').map(|p| p.parse().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    }
}

fn servers_dir() -> PathBuf {
    std::env::var_os("RCSTRESS_SERVERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SERVERS_DIR))
}

/// The first file called `name` in a directory of `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// The `*-server` binary `scripts/servers install NAME` left under the servers dir.
fn installed(name: &str) -> Option<PathBuf> {
    let bin = servers_dir().join(name).join("bin");
    ["redis-server", "valkey-server"]
        .iter()
        .map(|f| bin.join(f))
        .find(|p| p.is_file())
}

fn install_hint(name: &str) -> String {
    if KNOWN_SERVERS.contains(&name) {
        format!("install it with 'scripts/servers install {name}'")
    } else {
        format!(
            "give a path, a command on PATH, or one of {} (install with 'scripts/servers install NAME')",
            KNOWN_SERVERS.join(", ")
        )
    }
}

/// Finds the server to start: `spec` (from `--server`) or else `REDIS_SERVER`, each a path
/// (anything with a `/`), a name `scripts/servers` installed (`valkey8`), or a command on `PATH`
/// (`valkey-server`); with neither, `redis-server` from `PATH`.
pub fn find_server(spec: Option<&str>) -> Result<PathBuf> {
    // The config passes REDIS_SERVER from .env or the environment as `spec` too.
    let origin = "--server / REDIS_SERVER";
    let spec = match spec {
        Some(s) => s.to_string(),
        None => match std::env::var("REDIS_SERVER") {
            Ok(s) if !s.trim().is_empty() => s,
            _ => {
                return on_path("redis-server")
                    .ok_or_else(|| Error::RedisServerMissing("not on PATH".into()))
            }
        },
    };
    if spec.contains('/') {
        let path = PathBuf::from(&spec);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::RedisServerMissing(format!(
                "{spec} ({origin}) is not a file"
            )))
        };
    }
    installed(&spec).or_else(|| on_path(&spec)).ok_or_else(|| {
        Error::ServerNotInstalled(format!(
            "{origin}={spec}: no such server under {} or on PATH; {}",
            servers_dir().display(),
            install_hint(&spec)
        ))
    })
}

/// Parses `--version` output: `Redis server v=7.0.15 sha=...` or `Valkey server v=8.0.1 ...`.
pub fn parse_version_line(text: &str) -> Option<(String, String)> {
    let version = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
    let name = text
        .split_whitespace()
        .next()
        .map(str::to_ascii_lowercase)
        .filter(|n| n == "redis" || n == "valkey")
        .unwrap_or_else(|| "redis".into());
    Some((name, version.to_string()))
}

/// Runs `server --version` and checks it is Redis 7.0+ or any Valkey (XAUTOCLAIM's 3-element
/// reply came with Redis 7.0; Valkey forked from 7.2).
pub fn check_server(server: &Path) -> Result<ServerInfo> {
    let out = Command::new(server)
        .arg("--version")
        .output()
        .map_err(|e| Error::RedisServerMissing(format!("cannot run {}: {e}", server.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (name, version) = parse_version_line(&text).ok_or_else(|| {
        Error::RedisServerMissing(format!("{} --version printed no version", server.display()))
    })?;
    let info = ServerInfo {
        name,
        version,
        path: server.to_path_buf(),
    };
    if info.name == "redis" && info.version_tuple().0 < 7 {
        return Err(Error::RedisServerTooOld {
            found: info.version,
        });
    }
    Ok(info)
}

/// What an external node says it runs, from `INFO server` (Valkey has `server_name` and
/// `valkey_version`; Redis only `redis_version`).
pub fn from_info_server(info: &str) -> Option<(String, String)> {
    let fields = super::topology::parse_info_fields(info);
    let name = fields
        .get("server_name")
        .cloned()
        .unwrap_or_else(|| "redis".into());
    let version = fields
        .get(&format!("{name}_version"))
        .or_else(|| fields.get("redis_version"))?
        .clone();
    Some((name, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_lines_of_redis_and_valkey_parse() {
        assert_eq!(
            parse_version_line(
                "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=1"
            ),
            Some(("redis".into(), "7.0.15".into()))
        );
        assert_eq!(
            parse_version_line(
                "Valkey server v=8.0.1 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64"
            ),
            Some(("valkey".into(), "8.0.1".into()))
        );
        assert_eq!(parse_version_line("hello"), None);
    }

    #[test]
    fn info_server_names_valkey_and_redis() {
        let valkey =
            "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n";
        assert_eq!(
            from_info_server(valkey),
            Some(("valkey".into(), "8.0.1".into()))
        );
        let redis = "# Server\r\nredis_version:7.0.15\r\nredis_mode:cluster\r\n";
        assert_eq!(
            from_info_server(redis),
            Some(("redis".into(), "7.0.15".into()))
        );
    }

    #[test]
    fn an_unknown_name_says_how_to_install() {
        let e = find_server(Some("valkey-nonexistent-xyz"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("scripts/servers install"), "{e}");
        let e = find_server(Some("/nonexistent/redis-server"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a file"), "{e}");
    }
}
