//! Each node's redis.conf, rendered from the cluster's options.

use std::path::Path;

use super::LocalCluster;
use crate::cluster::Aof;
use crate::files::write_file;
use crate::Result;

impl LocalCluster {
    /// Writes node `port`'s redis.conf into its `dir`.
    pub(super) fn write_config(
        &self,
        host: &str,
        port: u16,
        dir: &Path,
        password: &str,
    ) -> Result<()> {
        let o = &self.options;
        // repl-diskless-sync-delay 0: the default 5 s wait for more replicas would triple start-up.
        // Every value a user or the file system chooses is quoted: a space or newline in a
        // password or TMPDIR must neither break the file nor add directives to it.
        let listen = match &self.tls_files {
            None => format!("port {port}\n"),
            Some(t) => format!(
                "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
                 tls-auth-clients no\ntls-cluster yes\ntls-replication yes\n",
                conf_quote(&t.cert.display().to_string()),
                conf_quote(&t.key.display().to_string()),
                conf_quote(&t.ca_cert.display().to_string()),
            ),
        };
        let mut conf = format!(
            "{listen}bind {host}\nprotected-mode yes\ndaemonize no\ndir {dir}\nlogfile {log}\n\
             cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout {timeout}\n\
             save \"\"\nrepl-diskless-sync-delay 0\nrequirepass {pw}\nmasterauth {pw}\n",
            dir = conf_quote(&dir.display().to_string()),
            log = conf_quote(&dir.join("redis.log").display().to_string()),
            timeout = o.node_timeout_ms,
            pw = conf_quote(password),
        );
        if let Some(user) = &o.username {
            conf.push_str(&format!(
                "user {} on {} ~* &* +@all\n",
                conf_quote(user),
                conf_quote(&format!(">{password}"))
            ));
        }
        match o.aof {
            Aof::Off => conf.push_str("appendonly no\n"),
            Aof::On(fsync) => conf.push_str(&format!("appendonly yes\nappendfsync {fsync}\n")),
        }
        if let Some(m) = &o.maxmemory {
            conf.push_str(&format!("maxmemory {m}\n"));
        }
        if let Some(p) = &o.maxmemory_policy {
            conf.push_str(&format!("maxmemory-policy {p}\n"));
        }
        if let Some(n) = o.min_replicas_to_write {
            conf.push_str(&format!("min-replicas-to-write {n}\n"));
        }
        if let Some(lag) = o.min_replicas_max_lag_s {
            conf.push_str(&format!("min-replicas-max-lag {lag}\n"));
        }
        if o.own_addresses {
            // The bus and replication connections leave from the node's own address too, so a
            // partition rule can name a pair of nodes (Redis 7.0+, Valkey).
            conf.push_str(&format!("bind-source-addr {host}\n"));
        }
        // 0600: the password is in it.
        write_file(&dir.join("redis.conf"), conf.as_bytes(), 0o600)
    }
}

/// A redis.conf argument in double quotes, escaped as redis.conf reads it (`\\`, `\"`, `\xHH`).
fn conf_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_quoted_so_they_cannot_add_directives() {
        assert_eq!(conf_quote("plain"), "\"plain\"");
        assert_eq!(conf_quote("a b"), "\"a b\"");
        assert_eq!(conf_quote("x\nport 1"), "\"x\\x0aport 1\"");
        assert_eq!(conf_quote("q\"\\"), "\"q\\\"\\\\\"");
    }
}
