//! `rcstress`: parse, run, print one line on error, exit with a documented code.

use clap::Parser;
use redis_cluster_stress::cli::Opts;
use redis_cluster_stress::commands::execute;

fn main() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    let opts = match Opts::try_parse() {
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
            // One line: clap's first line without its "error: " prefix, and where to look.
            let text = e.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("bad arguments")
                .trim_start_matches("error: ");
            eprintln!("Error: {first} (see 'rcstress --help')");
            std::process::exit(2);
        }
    };
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
    let code = match runtime.block_on(execute(opts)) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("Error: {e}");
            e.exit_code()
        }
    };
    // Dropping the runtime here (not in exit) lets every guard run first.
    drop(runtime);
    std::process::exit(code);
}
