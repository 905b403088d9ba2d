//! Resolved settings: flags > environment > `.env` > defaults, validated with clear errors. Each
//! command's flags are resolved here and nowhere else: [`resolve_run`] for a run,
//! [`resolve_cluster`] for the cluster, [`scenario::resolve`] for an experiment.

mod cluster;
mod env;
mod run;
pub mod scenario;

pub use cluster::{parse_nodes, resolve_cluster, ClusterSource};
pub use env::{Env, Origin};
pub(crate) use run::response_timeout_ms;
pub use run::{resolve_run, RunSettings};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Command, Opts, RunArgs};
    use crate::trim::Trim;
    use clap::Parser;
    use std::time::Duration;

    fn run_args(extra: &[&str]) -> RunArgs {
        let mut args = vec!["rcstress", "run"];
        args.extend_from_slice(extra);
        match Opts::try_parse_from(args).unwrap().command {
            Command::Run(r) => r.run,
            _ => unreachable!(),
        }
    }

    #[test]
    fn nodes_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_nodes(" 127.0.0.1:7000, localhost:7001 ").unwrap(),
            vec![("127.0.0.1".into(), 7000), ("localhost".into(), 7001)]
        );
        assert!(parse_nodes("127.0.0.1").unwrap_err().contains("no port"));
        let bare = parse_nodes("7000").unwrap_err();
        assert!(
            bare.contains("no host") && bare.contains("127.0.0.1:7000"),
            "{bare}"
        );
        assert!(parse_nodes("127.0.0.1:0")
            .unwrap_err()
            .contains("out of range"));
        assert!(parse_nodes("127.0.0.1:70000")
            .unwrap_err()
            .contains("out of range"));
        assert!(parse_nodes("127.0.0.1:7000,,x:1")
            .unwrap_err()
            .contains("empty item"));
        assert!(parse_nodes(":7000").unwrap_err().contains("no host"));
        assert!(parse_nodes("h:abc").unwrap_err().contains("bad port"));
    }

    #[test]
    fn no_nodes_means_embedded_and_env_nodes_mean_external() {
        let s = resolve_run(&run_args(&[]), &Env::default()).unwrap();
        assert!(matches!(s.cluster, ClusterSource::Embedded(_)));
        let env = Env::from_pairs([
            ("REDIS_CLUSTER_NODES", "127.0.0.1:7000"),
            ("REDIS_PASSWORD", "pw"),
        ]);
        let s = resolve_run(&run_args(&[]), &env).unwrap();
        let ClusterSource::External(ep) = s.cluster else {
            panic!("external expected")
        };
        assert_eq!(ep.credentials.password.as_deref(), Some("pw"));
        // A flag beats the environment.
        let s = resolve_run(&run_args(&["--nodes", "10.0.0.1:1"]), &env).unwrap();
        let ClusterSource::External(ep) = s.cluster else {
            panic!("external expected")
        };
        assert_eq!(ep.nodes, vec![("10.0.0.1".to_string(), 1)]);
    }

    #[test]
    fn dot_env_with_the_seeds_keys_and_the_group_alias() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "ip=\"127.0.0.1\"\nREDIS_PASSWORD=\"s3cret\"  # must match rediscluster.conf\nSTREAM_NAME=\"orders\"\nCUSTOMER_GROUPNAME=\"billing\"\n",
        )
        .unwrap();
        let env = Env::from_file(&path).unwrap();
        let s = resolve_run(&run_args(&[]), &env).unwrap();
        assert_eq!(
            (s.workload.stream.as_str(), s.workload.group.as_str()),
            ("orders", "billing")
        );
        let ClusterSource::Embedded(o) = s.cluster else {
            panic!()
        };
        assert_eq!(o.password.as_deref(), Some("s3cret"));
        // CONSUMER_GROUP wins over the alias.
        std::fs::write(&path, "CONSUMER_GROUP=a\nCUSTOMER_GROUPNAME=b\n").unwrap();
        let s = resolve_run(&run_args(&[]), &Env::from_file(&path).unwrap()).unwrap();
        assert_eq!(s.workload.group, "a");
    }

    #[test]
    fn bad_env_values_name_their_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "REDIS_CLUSTER_NODES=nonsense\n").unwrap();
        let err = resolve_run(&run_args(&[]), &Env::from_file(&path).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("REDIS_CLUSTER_NODES (from") && err.contains("no port"),
            "{err}"
        );
        std::fs::write(&path, "GOOD=1\nthis is not a line\n").unwrap();
        let err = Env::from_file(&path).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot parse") && !err.contains('\n'),
            "{err}"
        );
        let err = Env::load(Some(&dir.path().join("missing.env")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.env"), "{err}");
    }

    #[test]
    fn duration_needs_a_rate_and_sizes_are_checked() {
        assert!(resolve_run(&run_args(&["--duration", "5"]), &Env::default()).is_err());
        let s = resolve_run(
            &run_args(&["--duration", "2", "--rate", "1000"]),
            &Env::default(),
        )
        .unwrap();
        assert_eq!(s.workload.messages, 2000);
        // A --duration run is a soak: trimmed behind the consumers and checkpointed by default.
        assert_eq!(s.workload.trim, Trim::Acked);
        assert_eq!(s.checkpoint, Some(Duration::from_secs(10)));
        let s = resolve_run(&run_args(&[]), &Env::default()).unwrap();
        assert_eq!((s.workload.trim, s.checkpoint), (Trim::None, None));
        let s = resolve_run(
            &run_args(&[
                "--duration",
                "2",
                "--rate",
                "1000",
                "--trim",
                "maxlen:5k",
                "--checkpoint",
                "0",
            ]),
            &Env::default(),
        )
        .unwrap();
        assert_eq!((s.workload.trim, s.checkpoint), (Trim::MaxLen(5000), None));
        let e = resolve_run(
            &run_args(&["--free-routing", "--trim", "maxlen:10"]),
            &Env::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("drop --free-routing"), "{e}");
        assert!(resolve_run(&run_args(&["--maxmemory", "lots"]), &Env::default()).is_err());
        assert!(resolve_run(&run_args(&["--maxmemory", "3mb"]), &Env::default()).is_ok());
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// `--nodes` / REDIS_CLUSTER_NODES: no input panics; what parses is usable.
            #[test]
            fn parse_nodes_never_panics(text in "\\PC*|[0-9a-z.:,\\[\\] -]{0,40}") {
                if let Ok(nodes) = parse_nodes(&text) {
                    prop_assert!(!nodes.is_empty());
                    for (host, port) in nodes {
                        prop_assert!(!host.is_empty() && port >= 1);
                    }
                }
            }

            /// Lists that are well formed come back as written.
            #[test]
            fn parse_nodes_round_trips(items in prop::collection::vec(("[a-z][a-z0-9.-]{0,20}", 1u16..), 1..6)) {
                let text = items.iter().map(|(h, p)| format!("{h}:{p}")).collect::<Vec<_>>().join(",");
                let parsed = parse_nodes(&text).unwrap();
                prop_assert_eq!(parsed, items);
            }

            /// A `.env` file with any content is read or refused, never a panic.
            #[test]
            fn dot_env_never_panics(content in "\\PC*|[A-Z_=\"'#\\\\ \n$]{0,60}") {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join(".env");
                std::fs::write(&path, &content).unwrap();
                if let Ok(env) = Env::from_file(&path) {
                    let _ = resolve_cluster(&crate::cli::ClusterArgs::default(), &env);
                }
            }
        }
    }
}
