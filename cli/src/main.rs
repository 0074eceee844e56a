//! `trailshare`: admins manage shares through the provisioner API; grantees
//! pull the CloudTrail log files a share lets them read, and verify them.

mod activity;
mod api;
mod backfill;
mod credentials;
mod dlq;
mod global;
mod pull;
mod setup;
mod shares;
mod sts;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::global::Global;

/// Share CloudTrail log files across AWS accounts.
///
/// Admins of the log-archive account create, change and revoke shares
/// (`trailshare shares …`); grantees download the log files a share lets
/// them read (`trailshare pull …`) and prove them CloudTrail's, unmodified
/// (`trailshare verify …`). Credentials come from the standard AWS chain:
/// environment, profiles, SSO.
#[derive(Parser)]
#[command(name = "trailshare", version, about, long_about, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Admin: list, read, create, replace, delete and revoke shares
    #[command(subcommand)]
    Shares(shares::Command),
    Pull(pull::Args),
    Credentials(credentials::Args),
    /// Grantee: prove the log files in a directory are CloudTrail's, unmodified
    Verify(verify::Args),
    /// Admin: set-up done once for all shares (the trail key's policy)
    #[command(subcommand)]
    Setup(setup::Command),
    /// Admin: what waits in the forwarder's dead-letter queue, and its redrive
    #[command(subcommand)]
    Dlq(dlq::Command),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Shares(command) => shares::run(command, &cli.global).await,
        Command::Pull(args) => pull::run(args, &cli.global).await,
        Command::Credentials(args) => credentials::run(args, &cli.global).await,
        Command::Verify(args) => verify::run(args, &cli.global).await,
        Command::Setup(command) => setup::run(command, &cli.global),
        Command::Dlq(command) => dlq::run(command, &cli.global).await,
    };
    result.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
