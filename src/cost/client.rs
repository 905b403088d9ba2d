//! CPU of this process (and of the children it waited for), from getrusage.

use std::time::Duration;

use nix::sys::resource::{getrusage, UsageWho};

/// CPU (user + system) this process has used so far, all threads, children excluded.
pub fn client_cpu() -> Duration {
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => timeval(u.user_time()) + timeval(u.system_time()),
        // getrusage(RUSAGE_SELF) cannot fail on Linux; a zero makes the figure 0, not a panic.
        Err(_) => Duration::ZERO,
    }
}

/// CPU (user + system) of this process's children that have ended and been waited for: taken
/// before and after a child command, the difference is that command's CPU (nodes of an embedded
/// cluster still run, so they are not in it).
pub fn children_cpu() -> Duration {
    match getrusage(UsageWho::RUSAGE_CHILDREN) {
        Ok(u) => timeval(u.user_time()) + timeval(u.system_time()),
        Err(_) => Duration::ZERO,
    }
}

fn timeval(t: nix::sys::time::TimeVal) -> Duration {
    Duration::from_secs(t.tv_sec().max(0) as u64) + Duration::from_micros(t.tv_usec().max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client figure moves with work this process does: busy until it has grown by 20 ms
    /// (bounded by 10 s of wall clock, so a loaded machine only makes it slower), and it must have.
    #[test]
    fn client_cpu_grows_with_work() {
        let want = Duration::from_millis(20);
        let before = client_cpu();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while client_cpu().saturating_sub(before) < want && t.elapsed() < Duration::from_secs(10) {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        let grew = client_cpu().saturating_sub(before);
        assert!(
            grew >= want,
            "client CPU grew {grew:?} in {:?} of work ({x})",
            t.elapsed()
        );
    }
}
