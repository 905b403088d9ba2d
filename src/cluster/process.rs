//! Owning `redis-server` processes: a spawner thread and a guard per process.
//!
//! Why a thread of our own: `PR_SET_PDEATHSIG` fires when the *thread* that forked the child
//! exits, not the process. Spawning from a tokio pool thread that may retire would kill nodes
//! at random; this thread lives exactly as long as the cluster that owns it.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

type SpawnRequest = (Command, mpsc::SyncSender<io::Result<Child>>);

/// Spawns children from one long-lived thread so that they die with us even on SIGKILL.
pub(crate) struct Spawner {
    tx: Option<mpsc::Sender<SpawnRequest>>,
    thread: Option<JoinHandle<()>>,
}

impl Spawner {
    pub(crate) fn new() -> io::Result<Self> {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let thread = std::thread::Builder::new()
            .name("rcstress-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })?;
        Ok(Spawner {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Starts `cmd` as a child that gets SIGKILL when this process dies, in a process group of its
    /// own (so a terminal's Ctrl-C reaches us, and we decide how the nodes stop).
    pub(crate) fn spawn(&self, mut cmd: Command) -> io::Result<OwnedChild> {
        let parent = std::process::id();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: `pre_exec` runs the closure in the forked child before exec, where only the
        // forking thread survives: anything another thread held (the allocator's locks, a
        // mutex) may be held forever, so the closure must not allocate or lock. It makes only
        // async-signal-safe system calls (prctl, getppid, setpgid, _exit) on a pid copied in;
        // its errors are errno values (`io::Error::from(Errno)` keeps the number and allocates
        // nothing); and it shares no memory with the parent, whose state it cannot change.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
                // The parent may have died between fork and prctl: then nobody would kill us.
                if nix::unistd::getppid().as_raw() as u32 != parent {
                    nix::libc::_exit(1);
                }
                nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))
                    .map_err(io::Error::from)?;
                Ok(())
            });
        }
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| io::Error::other("spawner stopped"))?;
        tx.send((cmd, reply_tx))
            .map_err(|_| io::Error::other("spawner thread is gone"))?;
        let child = reply_rx
            .recv()
            .map_err(|_| io::Error::other("spawner thread is gone"))??;
        Ok(OwnedChild {
            child: Some(child),
            stopped: false,
        })
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A child process we own: killed (SIGKILL, by its own pid) and reaped on drop.
pub(crate) struct OwnedChild {
    child: Option<Child>,
    /// SIGSTOPped by us: resumed before a kill so that it can be reaped at once.
    stopped: bool,
}

impl OwnedChild {
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the process runs (or is stopped); reaps it if it has exited.
    pub(crate) fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// SIGKILL and reap. Idempotent.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            if self.stopped {
                let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGCONT);
            }
            let _ = child.wait();
        }
        self.stopped = false;
    }

    /// Sends SIGSTOP (`pause = true`) or SIGCONT to our child only.
    pub(crate) fn set_paused(&mut self, pause: bool) -> io::Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| io::Error::other("process is not running"))?;
        let sig = if pause {
            Signal::SIGSTOP
        } else {
            Signal::SIGCONT
        };
        kill(Pid::from_raw(pid as i32), sig).map_err(io::Error::from)?;
        self.stopped = pause;
        Ok(())
    }
}

impl Drop for OwnedChild {
    fn drop(&mut self) {
        self.kill();
    }
}
