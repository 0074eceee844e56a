//! `trailshare shares backfill NAME --from D [--until D] [--wait]`,
//! `backfill-status NAME ID [--wait]` and `backfill-cancel NAME ID`: start
//! a backfill run, follow it until it is done (a progress bar of its work
//! items on a terminal; with `--json`, the run as the API shows it at the
//! end), show it, cancel it.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::api::{encode, Api};
use crate::global::Global;
use crate::shares::{api_error, fields_table};

/// Following a run.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct WaitArgs {
    /// Follow the run until it is done (a progress bar on a terminal); exit
    /// 1 if it was cancelled or any work item or file failed
    #[arg(long)]
    pub wait: bool,
    /// With --wait: seconds between two looks at the run
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0, requires = "wait",
          value_parser = interval)]
    pub every: f64,
}

fn interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if (0.05..=600.0).contains(&seconds) => Ok(seconds),
        _ => Err("must be a number of seconds from 0.05 to 600".into()),
    }
}

fn run_path(name: &str, id: &str) -> String {
    format!("/shares/{}/backfill/{}", encode(name), encode(id))
}

/// Starts a run; prints its id, or follows it.
pub async fn start(
    api: &Api,
    name: &str,
    from: &str,
    until: Option<&str>,
    wait: &WaitArgs,
    global: &Global,
) -> anyhow::Result<ExitCode> {
    let mut body = json!({ "from": from });
    if let Some(until) = until {
        body["until"] = json!(until);
    }
    let path = format!("/shares/{}/backfill", encode(name));
    let response = api.call("POST", &path, Some(&body)).await?;
    if !response.ok() {
        return Ok(api_error(&response, global));
    }
    let started = response.body.get("backfill").unwrap_or(&response.body);
    let id = started["id"]
        .as_str()
        .context("the API answered without the run's id (backfill.id)")?
        .to_string();
    if wait.wait {
        return follow(api, name, &id, wait, global).await;
    }
    if global.json {
        println!("{}", serde_json::to_string_pretty(&response.body)?);
    } else {
        println!("{}", fields_table(started, &[]));
        println!("follow it: trailshare shares backfill-status {name} {id} --wait");
    }
    Ok(ExitCode::SUCCESS)
}

/// Shows a run (once, or until it is done).
pub async fn status(
    api: &Api,
    name: &str,
    id: &str,
    wait: &WaitArgs,
    global: &Global,
) -> anyhow::Result<ExitCode> {
    if wait.wait {
        return follow(api, name, id, wait, global).await;
    }
    let response = api.call("GET", &run_path(name, id), None).await?;
    if !response.ok() {
        return Ok(api_error(&response, global));
    }
    show(&response.body, global)?;
    Ok(ExitCode::SUCCESS)
}

/// Cancels a run: its remaining work items do nothing.
pub async fn cancel(api: &Api, name: &str, id: &str, global: &Global) -> anyhow::Result<ExitCode> {
    let response = api.call("DELETE", &run_path(name, id), None).await?;
    if !response.ok() {
        return Ok(api_error(&response, global));
    }
    show(&response.body, global)?;
    Ok(ExitCode::SUCCESS)
}

/// Looks at the run every `wait.every` seconds until it is not running.
async fn follow(
    api: &Api,
    name: &str,
    id: &str,
    wait: &WaitArgs,
    global: &Global,
) -> anyhow::Result<ExitCode> {
    let bar = progress_bar(global.json);
    let run = loop {
        let response = api.call("GET", &run_path(name, id), None).await?;
        if !response.ok() {
            bar.abandon();
            return Ok(api_error(&response, global));
        }
        let run = response.body;
        let (done, queued) = (
            items_finished(&run),
            run["items"]["queued"].as_u64().unwrap_or(0),
        );
        bar.set_length(queued);
        bar.set_position(done);
        bar.set_message(files_line(&run));
        if run["state"] != "running" {
            break run;
        }
        tokio::time::sleep(Duration::from_secs_f64(wait.every)).await;
    };
    bar.finish();
    show(&run, global)?;
    let verdict = verdict(&run);
    if let Some(problem) = &verdict {
        eprintln!("backfill run {id}: {problem}");
    }
    Ok(if verdict.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Work items done or failed.
fn items_finished(run: &Value) -> u64 {
    let items = &run["items"];
    items["done"].as_u64().unwrap_or(0) + items["failed"].as_u64().unwrap_or(0)
}

/// The files line of the bar: what was delivered, found done, failed.
fn files_line(run: &Value) -> String {
    let files = &run["files"];
    let count = |key: &str| files[key].as_u64().unwrap_or(0);
    format!(
        "items · files: {} delivered, {} already done, {} skipped, {} failed",
        count("delivered"),
        count("already_done"),
        count("skipped"),
        count("failed")
    )
}

/// Why a finished run is not a success, if it is not.
fn verdict(run: &Value) -> Option<String> {
    let count = |part: &str, key: &str| run[part][key].as_u64().unwrap_or(0);
    match run["state"].as_str() {
        Some("done") if count("items", "failed") + count("files", "failed") == 0 => None,
        Some("done") => Some(format!(
            "{} work items and {} files failed (they are in the dead-letter queue)",
            count("items", "failed"),
            count("files", "failed")
        )),
        Some(state) => Some(format!("the run is {state}")),
        None => Some("the API answered without the run's state".into()),
    }
}

fn show(run: &Value, global: &Global) -> anyhow::Result<()> {
    if global.json {
        println!("{}", serde_json::to_string_pretty(run)?);
    } else {
        println!("{}", fields_table(run, &[]));
    }
    Ok(())
}

/// A bar of work items on a terminal, nothing otherwise (the run is
/// printed at the end either way).
fn progress_bar(json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} {elapsed}")
            .expect("a valid template"),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_run_succeeds_only_without_failures_or_cancel() {
        let run = |state: &str, failed_items: u64, failed_files: u64| {
            json!({"state": state, "items": {"queued": 9, "done": 9 - failed_items, "failed": failed_items},
                   "files": {"delivered": 5, "already_done": 2, "skipped": 0, "failed": failed_files}})
        };
        assert_eq!(verdict(&run("done", 0, 0)), None);
        assert!(verdict(&run("done", 1, 0))
            .unwrap()
            .contains("1 work items"));
        assert!(verdict(&run("done", 0, 3))
            .unwrap()
            .contains("3 files failed"));
        assert_eq!(
            verdict(&run("cancelled", 0, 0)).unwrap(),
            "the run is cancelled"
        );
        assert_eq!(items_finished(&run("done", 1, 0)), 9);
        assert_eq!(
            files_line(&run("running", 0, 1)),
            "items · files: 5 delivered, 2 already done, 0 skipped, 1 failed"
        );
        assert!(interval("0.2").is_ok() && interval("0").is_err() && interval("x").is_err());
        assert_eq!(run_path("a b", "0123"), "/shares/a%20b/backfill/0123");
    }
}
