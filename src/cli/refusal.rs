//! The one line `main` prints when clap refuses a command line.

use super::Opts;

/// One line for a command line clap refused: clap's first line with the parts it puts on later
/// lines (the valid values, its tip), the valid subcommands where a name was wrong, a hint where a
/// password was given as a flag, and the help of the (sub)command that refused it (found by
/// walking `args`, the command line as given, through the subcommands).
pub fn error_line(e: &clap::Error, args: &[String]) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    use clap::CommandFactory;
    let text = e.render().to_string();
    let mut lines = text.lines();
    let mut head = lines
        .next()
        .unwrap_or("bad arguments")
        .trim_start_matches("error: ")
        .to_string();
    // The rest of clap's first paragraph: the missing arguments, the possible values.
    let more: Vec<&str> = lines
        .by_ref()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    if !more.is_empty() {
        head = format!("{head} {}", more.join(", "));
    }
    let mut parts = vec![head];
    parts.extend(
        lines
            .map(str::trim)
            .filter(|l| l.starts_with("tip:"))
            .map(str::to_string),
    );
    let mut cmd = Opts::command();
    let mut path = vec!["rcstress".to_string()];
    for word in args.iter().skip(1).filter(|w| !w.starts_with('-')) {
        match cmd.find_subcommand(word) {
            Some(sub) => {
                path.push(word.clone());
                cmd = sub.clone();
            }
            None if cmd.has_subcommands() => break,
            None => continue,
        }
    }
    if e.kind() == ErrorKind::InvalidSubcommand {
        let names: Vec<&str> = cmd
            .get_subcommands()
            .map(|c| c.get_name())
            .filter(|n| *n != "help")
            .collect();
        parts.push(format!("one of: {}", names.join(", ")));
    }
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(a)) => a.as_str(),
        _ => "",
    };
    if e.kind() == ErrorKind::UnknownArgument && arg.starts_with("--pass") {
        parts.push(
            "passwords are not taken on the command line (ps and shell history would show them): set REDIS_PASSWORD in the environment or in .env".into(),
        );
    }
    format!("{} (see '{} --help')", parts.join("; "), path.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// clap's refusals keep their useful part and point at the subcommand's help.
    #[test]
    fn refusals_keep_their_useful_part_in_one_line() {
        let line = |args: &[&str]| {
            let e = Opts::try_parse_from(args).unwrap_err();
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            let l = error_line(&e, &args);
            assert!(!l.contains('\n'), "{l}");
            l
        };
        let l = line(&["rcstress", "scenario", "memory"]);
        assert!(
            l.contains("memory-pressure") && l.contains("'rcstress scenario --help'"),
            "{l}"
        );
        let l = line(&["rcstress", "scenario", "meltdown"]);
        assert!(
            l.contains("one of: memory-pressure, failover, consumer-crash"),
            "{l}"
        );
        let l = line(&["rcstress", "run", "--aof", "yes"]);
        assert!(
            l.contains("[possible values: off, on]") && l.contains("'rcstress run --help'"),
            "{l}"
        );
        let l = line(&["rcstress", "run", "--password", "x"]);
        assert!(
            l.contains("set REDIS_PASSWORD in the environment or in .env"),
            "{l}"
        );
        let l = line(&[
            "rcstress",
            "scenario",
            "failover",
            "--crash-probability",
            "0.5",
        ]);
        assert!(
            l.contains("'--crash-probability'")
                && l.contains("'rcstress scenario failover --help'"),
            "{l}"
        );
        let l = line(&["rcstress", "merge"]);
        assert!(l.contains("not provided: <DIR>"), "{l}");
        let l = line(&["rcstress", "cluster", "up", "--nodes", "127.0.0.1:7000"]);
        assert!(l.contains("'rcstress cluster up --help'"), "{l}");
    }
}
