//! A private user + network namespace for the whole run, so that a network partition is a set of
//! nftables rules that exist only inside it and vanish with it.
//!
//! Why a namespace of our own: partition rules in the host's namespace could cut traffic that is
//! not ours and would outlive a SIGKILLed run. Inside a namespace this process made, the rules,
//! the loopback device and every node die with the last process in it (the nodes die with us:
//! `PR_SET_PDEATHSIG`). No root is needed: an unprivileged user namespace maps our uid to root
//! inside it, which is enough for `ip` and `nft` there.
//!
//! [`enter`] must run while the process is single-threaded (the kernel refuses `unshare` of a
//! user namespace otherwise), so `main` calls it before the async runtime starts.

use std::io::Write;
use std::process::Command;
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};

use crate::{Error, Result};

/// Set once this process is inside the namespace [`enter`] made: partition rules are applied only
/// then, so a mistake can never put a rule into the host's namespace.
static PRIVATE: OnceLock<()> = OnceLock::new();

/// True once [`enter`] succeeded in this process.
pub fn is_private() -> bool {
    PRIVATE.get().is_some()
}

/// Moves this process (and so every process it starts afterwards) into a new user and network
/// namespace, with our uid and gid mapped to root inside and the loopback device up. Call it
/// before any thread is started.
pub fn enter() -> Result<()> {
    if is_private() {
        return Ok(());
    }
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET).map_err(refused)?;
    // setgroups must be denied before an unprivileged process may write gid_map.
    write_proc("/proc/self/setgroups", "deny")?;
    write_proc("/proc/self/uid_map", &format!("0 {uid} 1"))?;
    write_proc("/proc/self/gid_map", &format!("0 {gid} 1"))?;
    run_tool("ip", &["link", "set", "lo", "up"], "iproute2")?;
    let _ = PRIVATE.set(());
    Ok(())
}

fn write_proc(path: &str, text: &str) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| Error::io(format!("cannot write {path} of the new user namespace"), e))
}

/// Runs a network tool inside the namespace and waits for it (they answer in milliseconds); its
/// stderr's first line goes into the error.
pub(crate) fn run_tool(tool: &str, args: &[&str], package: &str) -> Result<()> {
    let out = Command::new(tool).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NoPrivateNetwork(format!(
                "'{tool}' not found on PATH; install it with 'apt-get install {package}'"
            ))
        } else {
            Error::io(format!("cannot run {tool}"), e)
        }
    })?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(Error::NoPrivateNetwork(format!(
        "'{tool} {}' failed ({}): {}",
        args.join(" "),
        out.status,
        err.lines().next().unwrap_or("no message").trim()
    )))
}

/// The one line a user needs when the kernel refuses the namespace: which setting refuses it.
fn refused(e: Errno) -> Error {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let why = if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref()
        == Some("1")
    {
        "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1, \
         Ubuntu 24.04's default); allow them with 'sysctl kernel.apparmor_restrict_unprivileged_userns=0' \
         or run rcstress as root"
            .to_string()
    } else if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        "user namespaces are off (user.max_user_namespaces = 0); raise it with 'sysctl user.max_user_namespaces=10000'".to_string()
    } else if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        "unprivileged user namespaces are off (kernel.unprivileged_userns_clone = 0); enable them with 'sysctl kernel.unprivileged_userns_clone=1'".to_string()
    } else if e == Errno::EINVAL {
        "the process already runs threads (a bug in rcstress: the namespace must be made first)"
            .to_string()
    } else {
        format!("the kernel said {e} (a container may forbid user namespaces: run where they are allowed)")
    };
    Error::NoPrivateNetwork(format!(
        "partitions need a private user and network namespace, and none could be made: {why}"
    ))
}
