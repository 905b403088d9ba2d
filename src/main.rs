//! `rcstress`: parse, run, print one line on error, exit with a documented code.

use clap::Parser;
use redis_cluster_stress::cli::Opts;
use redis_cluster_stress::commands::execute;

/// mimalloc: the cycle allocates a few small buffers per message (replies, commands), and glibc's
/// malloc and free were a third of the client's instructions.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // redis-rs logs every reconnect attempt at WARN: during a failover that is hundreds of lines.
    // Those failures are counted by kind in the report, so by default only its errors show;
    // RUST_LOG overrides (e.g. RUST_LOG=redis=warn).
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,redis=error".into()),
        )
        .try_init();
    let opts = parse_or_exit();
    // A partition needs a network namespace of our own, and the kernel makes one only for a
    // process that has no other thread yet: before the runtime starts.
    if opts.needs_private_network() {
        if let Err(e) = redis_cluster_stress::cluster::netns::enter() {
            eprintln!("Error: {e}");
            std::process::exit(e.exit_code());
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            std::process::exit(7);
        }
    };
    // A panic is a bug: one line on stderr (no backtrace), then the unwinding drops every guard
    // (nodes killed, temp dir removed) before we exit with 101.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let msg: String = msg.lines().next().unwrap_or("").chars().take(300).collect();
        eprintln!("Error: internal error (a bug in rcstress): {msg}{at}; please report it");
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(execute(opts))
    }));
    let code = match result {
        Ok(Ok(outcome)) => outcome.exit_code(),
        Ok(Err(e)) => {
            eprintln!("Error: {e}");
            e.exit_code()
        }
        Err(_) => 101,
    };
    // Dropping the runtime here (not in exit) lets every guard run first.
    drop(runtime);
    std::process::exit(code);
}

/// The parsed command line; help and version are printed (exit 0), a refusal is one line on
/// stderr (exit 2), and `rcstress scenario` alone shows the scenarios (exit 2).
fn parse_or_exit() -> Opts {
    match Opts::try_parse() {
        Ok(o) => o,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                std::process::exit(
                    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                        2
                    } else {
                        0
                    },
                );
            }
            let args: Vec<String> = std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            eprintln!(
                "Error: {}",
                redis_cluster_stress::cli::error_line(&e, &args)
            );
            std::process::exit(2);
        }
    }
}
