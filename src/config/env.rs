//! The environment as the tool sees it: process variables over the `.env` file's, each with
//! where it came from, so an error can name the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Where a setting came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Environment,
    EnvFile(PathBuf),
}

/// The environment as the tool sees it: process variables over the `.env` file's.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: BTreeMap<String, (String, Origin)>,
}

impl Env {
    /// Reads `env_file` (it must exist) or `./.env` (if present), then the process environment,
    /// which wins. A `.env` that cannot be read or parsed is an error naming the file and line.
    pub fn load(env_file: Option<&Path>) -> Result<Env> {
        let mut env = Env::default();
        let path = match env_file {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(".env")).filter(|p| p.exists()),
        };
        if let Some(path) = path {
            env.read_file(&path)?;
        }
        for (k, v) in std::env::vars() {
            env.vars.insert(k, (v, Origin::Environment));
        }
        Ok(env)
    }

    fn read_file(&mut self, path: &Path) -> Result<()> {
        let iter = dotenvy::from_path_iter(path).map_err(|e| {
            Error::Config(format!("cannot read {}: {}", path.display(), env_error(&e)))
        })?;
        for item in iter {
            let (k, v) = item.map_err(|e| {
                Error::Config(format!(
                    "cannot parse {}: {}",
                    path.display(),
                    env_error(&e)
                ))
            })?;
            self.vars
                .insert(k, (v, Origin::EnvFile(path.to_path_buf())));
        }
        Ok(())
    }

    /// An environment from fixed pairs (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), (v.to_string(), Origin::Environment)))
                .collect(),
        }
    }

    /// Reads a `.env`-format file into a fresh environment (tests and `--env-file` checks).
    pub fn from_file(path: &Path) -> Result<Env> {
        let mut env = Env::default();
        env.read_file(path)?;
        Ok(env)
    }

    /// A non-empty value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(|(v, _)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// Where `key` came from, if it is set.
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.vars.get(key).map(|(_, o)| o)
    }

    /// "REDIS_CLUSTER_NODES (from .env)" and the like.
    pub fn describe(&self, key: &str) -> String {
        match self.vars.get(key) {
            Some((_, Origin::EnvFile(p))) => format!("{key} (from {})", p.display()),
            _ => key.to_string(),
        }
    }
}

fn env_error(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(line, pos) => format!(
            "bad line at character {pos}: '{}'",
            line.chars().take(60).collect::<String>()
        ),
        dotenvy::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}
