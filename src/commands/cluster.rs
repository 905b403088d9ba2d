//! `rcstress cluster up`: an embedded cluster that stays up until a signal.

use super::{ready_cluster, Outcome};
use crate::cli::{ClusterArgs, LocalArgs};
use crate::config::{resolve_cluster, ClusterSource, Env};
use crate::files::write_file;
use crate::shutdown::Shutdown;
use crate::{Error, Result};

pub(super) async fn up(args: &LocalArgs, env: &Env, shutdown: &Shutdown) -> Result<Outcome> {
    let source = resolve_cluster(
        &ClusterArgs {
            local: args.clone(),
            ..ClusterArgs::default()
        },
        env,
    )?;
    let ClusterSource::Embedded(_) = &source else {
        return Err(Error::Config(
            "'cluster up' starts an embedded cluster; unset REDIS_CLUSTER_NODES".into(),
        ));
    };
    let cluster = match ready_cluster(&source, shutdown).await? {
        Ok(c) => c,
        Err(sig) => return Ok(Outcome::Interrupted(sig)),
    };
    let local = cluster.local.as_ref().expect("embedded cluster");
    let password_file = local.dir().join("password");
    write_file(&password_file, local.password().as_bytes(), 0o600)?;
    let nodes = cluster.endpoint.nodes_display();
    println!(
        "cluster up: {} nodes ({} masters) on 127.0.0.1",
        local.ports().len(),
        local.options().masters
    );
    println!("nodes: {nodes}");
    println!("password: in {} (mode 0600)", password_file.display());
    let mut extra = String::new();
    if let Some(user) = &local.options().username {
        extra.push_str(&format!(" --user {user}"));
    }
    if let Some(ca) = local.tls_ca_file() {
        println!("tls: only; CA in {}", ca.display());
        extra.push_str(&format!(" --tls-ca {}", ca.display()));
    }
    println!(
        "use it: REDIS_PASSWORD=$(cat {}) rcstress run --nodes {nodes}{extra}",
        password_file.display()
    );
    println!("press Ctrl-C to stop and remove it");
    // A hook for the cleanup tests: a panic after start-up must still stop every node.
    if std::env::var_os("RCSTRESS_TEST_PANIC").is_some() {
        panic!("RCSTRESS_TEST_PANIC is set");
    }
    let sig = shutdown.requested().await;
    drop(cluster);
    println!("cluster stopped");
    Ok(Outcome::Interrupted(sig))
}
