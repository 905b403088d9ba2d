//! The engine files in deploy/ are well-formed and keep the worker contract: the Kubernetes
//! Indexed Job (not runnable here) and the Swarm stack file are parsed as YAML, their fields
//! checked, and the command lines they give rcstress parsed by rcstress's own CLI.

use std::path::PathBuf;

use clap::Parser;
use redis_cluster_stress::cli::{Command, Opts};
use serde::Deserialize;
use serde_yaml::Value;

fn load_all(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{name}: not YAML: {e}")))
        .collect()
}

fn by_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {docs:?}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

fn env_value<'a>(container: &'a Value, name: &str) -> &'a str {
    container["env"]
        .as_sequence()
        .and_then(|e| e.iter().find(|v| v["name"] == name))
        .and_then(|v| v["value"].as_str())
        .unwrap_or_else(|| panic!("no env {name}"))
}

/// The Indexed Job: N completions run at once, no retries, each pod a `rcstress worker` whose
/// count, start and cluster come from the environment and whose index Kubernetes sets
/// (JOB_COMPLETION_INDEX); results go to the shared volume, the password comes from a Secret.
#[test]
fn the_kubernetes_indexed_job_keeps_the_worker_contract() {
    let docs = load_all("k8s-indexed-job.yaml");
    let job = by_kind(&docs, "Job");
    assert_eq!(job["apiVersion"], "batch/v1");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().expect("completions");
    assert_eq!(spec["parallelism"].as_u64(), Some(n), "all workers at once");
    assert_eq!(spec["backoffLimit"].as_u64(), Some(0));
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let c = &pod["containers"][0];
    assert_eq!(env_value(c, "RCSTRESS_WORKERS"), n.to_string());
    let start: f64 = env_value(c, "RCSTRESS_START_AT").parse().unwrap();
    assert!(redis_cluster_stress::cli::parse_secs_since_epoch(&start.to_string()).is_ok());
    assert!(!env_value(c, "REDIS_CLUSTER_NODES").is_empty());
    assert!(
        c["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .all(|v| v["name"] != "REDIS_PASSWORD"),
        "the password belongs in the Secret"
    );
    let args = strings(&c["args"]);
    let opts = Opts::try_parse_from(std::iter::once("rcstress".to_string()).chain(args))
        .unwrap_or_else(|e| panic!("rcstress rejects the Job's args: {e}"));
    let Command::Worker(w) = opts.command else {
        panic!("the Job does not run 'rcstress worker'")
    };
    assert_eq!(
        (w.index, w.workers),
        (None, None),
        "index and count come from env"
    );
    let out = w.out.expect("--out");
    let mounts = c["volumeMounts"].as_sequence().unwrap();
    let mount = |path: &str| {
        mounts
            .iter()
            .find(|m| m["mountPath"] == path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}"))
    };
    let results = mount(out.to_str().unwrap());
    let env_file = opts.env_file.expect("--env-file");
    let secret_mount = mount(env_file.parent().unwrap().to_str().unwrap());
    let volume = |name: &Value| {
        pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"] == *name)
            .unwrap_or_else(|| panic!("no volume {name:?}"))
    };
    let claim = &volume(&results["name"])["persistentVolumeClaim"]["claimName"];
    let pvc = by_kind(&docs, "PersistentVolumeClaim");
    assert_eq!(pvc["metadata"]["name"], *claim);
    assert!(strings(&pvc["spec"]["accessModes"]).contains(&"ReadWriteMany".to_string()));
    let secret_name = &volume(&secret_mount["name"])["secret"]["secretName"];
    let secret = by_kind(&docs, "Secret");
    assert_eq!(secret["metadata"]["name"], *secret_name);
    let file = env_file.file_name().unwrap().to_str().unwrap();
    assert!(secret["stringData"][file]
        .as_str()
        .is_some_and(|s| s.contains("REDIS_PASSWORD=")));
    // Each worker's share is valid for this many workers.
    assert!(w.run.producers as u64 >= n, "every worker needs a producer");

    let merge = load_all("k8s-merge-job.yaml");
    let c = &by_kind(&merge, "Job")["spec"]["template"]["spec"]["containers"][0];
    let args = strings(&c["args"]);
    let opts = Opts::try_parse_from(std::iter::once("rcstress".to_string()).chain(args))
        .unwrap_or_else(|e| panic!("rcstress rejects the merge Job's args: {e}"));
    let Command::Merge(m) = opts.command else {
        panic!("the merge Job does not run 'rcstress merge'")
    };
    assert_eq!(m.dir, out, "the merge reads where the workers wrote");
}

/// The Swarm stack: a replicated service (slots 1..N) with N from RCSTRESS_WORKERS, no restarts,
/// the host network, the results bind mount, the password as a secret; its command is one
/// rcstress accepts.
#[test]
fn the_swarm_stack_keeps_the_worker_contract() {
    let docs = load_all("swarm-stack.yaml");
    let stack = &docs[0];
    let w = &stack["services"]["worker"];
    assert_eq!(w["environment"]["RCSTRESS_WORKER_SLOT"], "{{.Task.Slot}}");
    for key in [
        "RCSTRESS_WORKERS",
        "RCSTRESS_START_AT",
        "REDIS_CLUSTER_NODES",
    ] {
        assert!(w["environment"][key].is_string(), "{key}");
    }
    assert!(w["environment"]["REDIS_PASSWORD"].is_null());
    assert_eq!(w["deploy"]["mode"], "replicated");
    assert_eq!(w["deploy"]["replicas"], "${RCSTRESS_WORKERS}");
    assert_eq!(w["deploy"]["restart_policy"]["condition"], "none");
    assert_eq!(stack["networks"][&w["networks"][0]]["name"], "host");
    assert_eq!(w["volumes"][0]["target"], "/results");
    let command = w["command"].as_str().expect("command");
    let command = command.replace("${RCSTRESS_RUN_ARGS}", "--messages 300000 --producers 3");
    let args: Vec<&str> = command.split_whitespace().collect();
    let opts = Opts::try_parse_from(std::iter::once("rcstress").chain(args))
        .unwrap_or_else(|e| panic!("rcstress rejects the stack's command: {e}"));
    let Command::Worker(worker) = opts.command else {
        panic!("the stack does not run 'rcstress worker'")
    };
    assert_eq!(
        worker.out.as_deref(),
        Some(std::path::Path::new("/results"))
    );
    let secret = opts.env_file.expect("--env-file");
    assert!(secret.starts_with("/run/secrets"));
    let name = secret.file_name().unwrap().to_str().unwrap();
    assert!(stack["secrets"][name]["file"].is_string());
}
