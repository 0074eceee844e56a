//! `trailshare dlq …`: what waits in the forwarder's dead-letter queue,
//! grouped by share, target and last error (the attributes the forwarder
//! wrote on each message's last receive), and the redrive back into the
//! forwarder's queue, of every message or of one share's.
//!
//! What is read here was written by whoever could put a message in the
//! dead-letter queue: attributes are bounded and made printable
//! (`trailshare::dead_letter`) and only shown, or compared with the share
//! name given; bodies are never shown, only moved back, where the forwarder
//! bounds them as it bounds every message.

mod queue;

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use comfy_table::{presets, ContentArrangement, Table};
use serde_json::json;
use trailshare::dead_letter::{explain, group, Explanation, Group};

use crate::global::Global;
use queue::{Held, Queues};

/// The two queues (the stack's `ForwarderQueueUrl` and `DeadLetterQueueUrl`).
#[derive(clap::Args, Clone, Debug)]
pub struct QueueArgs {
    /// The forwarder's queue (the stack's `ForwarderQueueUrl` output)
    #[arg(long, env = "TRAILSHARE_QUEUE_URL", value_name = "URL")]
    pub queue_url: String,
    /// Its dead-letter queue (`DeadLetterQueueUrl`) [default: the one the
    /// queue's redrive policy names; a URL given must be that one]
    #[arg(long, env = "TRAILSHARE_DLQ_URL", value_name = "URL")]
    pub dlq_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what waits in the dead-letter queue, grouped by share, target
    /// and last error
    List {
        /// Read at most this many messages
        #[arg(long, value_name = "N", default_value_t = 1000)]
        max: usize,
        #[command(flatten)]
        queues: QueueArgs,
    },
    /// Move messages back to the forwarder's queue: every one (SQS's move
    /// task), or with --share only those whose delivery for that share failed
    Redrive {
        /// Only the messages that name this share among those that failed
        #[arg(long, value_name = "NAME")]
        share: Option<String>,
        /// One share: read at most this many messages
        #[arg(long, value_name = "N", default_value_t = 1000)]
        max: usize,
        /// Every message: wait at most this long for the move task to finish
        #[arg(long, value_name = "SECONDS", default_value_t = 300)]
        wait: u64,
        #[command(flatten)]
        queues: QueueArgs,
    },
}

pub async fn run(command: Command, global: &Global) -> anyhow::Result<ExitCode> {
    let sdk = global.sdk_config().await;
    match command {
        Command::List { max, queues } => {
            let queues =
                Queues::connect(&sdk, &queues.queue_url, queues.dlq_url.as_deref()).await?;
            list(&queues, max, global.json).await
        }
        Command::Redrive {
            share: Some(share),
            max,
            queues,
            ..
        } => {
            let queues =
                Queues::connect(&sdk, &queues.queue_url, queues.dlq_url.as_deref()).await?;
            redrive_share(&queues, &share, max, global.json).await
        }
        Command::Redrive {
            share: None,
            wait,
            queues,
            ..
        } => {
            let queues =
                Queues::connect(&sdk, &queues.queue_url, queues.dlq_url.as_deref()).await?;
            redrive_all(&queues, Duration::from_secs(wait), global.json).await
        }
    }
}

/// Reads every message (up to `max`), groups them, releases them.
async fn list(queues: &Queues, max: usize, json: bool) -> anyhow::Result<ExitCode> {
    let held = queues.read(max).await?;
    let released = queues.release(&held.iter().collect::<Vec<_>>()).await;
    let explanations: Vec<Explanation> = held.iter().map(|m| explain(&m.attributes)).collect();
    let groups = group(&explanations);
    let waiting = queues.waiting().await.unwrap_or(held.len() as u64);
    if json {
        println!(
            "{}",
            json!({"dead_letter_queue": queues.dlq_url, "messages": held.len(), "groups": groups})
        );
    } else if held.is_empty() {
        println!("The dead-letter queue {} is empty.", queues.dlq_url);
    } else {
        println!("{}", groups_table(&groups));
        let more = if held.len() == max && waiting > max as u64 {
            format!(" (read the first {max}; --max to read more)")
        } else {
            String::new()
        };
        println!("{} messages in {} groups{more}", held.len(), groups.len());
    }
    released?;
    Ok(ExitCode::SUCCESS)
}

/// Moves back the messages that name `share`; the others are released.
async fn redrive_share(
    queues: &Queues,
    share: &str,
    max: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let held = queues.read(max).await?;
    let (theirs, others): (Vec<&Held>, Vec<&Held>) = held
        .iter()
        .partition(|m| explain(&m.attributes).names(share));
    let released = queues.release(&others).await;
    let mut moved = 0;
    let mut failure = None;
    for message in &theirs {
        match queues.move_back(message).await {
            Ok(()) => moved += 1,
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    // What was not moved is visible again for the next try.
    queues.release(&theirs[moved..]).await.ok();
    if json {
        println!(
            "{}",
            json!({"share": share, "moved": moved, "left": held.len() - moved})
        );
    } else {
        println!(
            "moved {moved} of share {share}'s messages back to {} ({} others left in the dead-letter queue)",
            queues.queue_url,
            others.len()
        );
    }
    if let Some(error) = failure {
        return Err(error.context(format!("after moving {moved} messages")));
    }
    released?;
    Ok(ExitCode::SUCCESS)
}

/// Starts SQS's move task for every message and reports how many moved.
async fn redrive_all(queues: &Queues, wait: Duration, json: bool) -> anyhow::Result<ExitCode> {
    let handle = queues.start_move().await?;
    if !json {
        println!(
            "moving every message of {} back to {} (task {handle})",
            queues.dlq_url, queues.queue_url
        );
    }
    let status = queues.wait_for_move(&handle, wait).await?;
    let (state, moved, to_move, failure) = match &status {
        Some(s) => (s.status.as_str(), s.moved, s.to_move, s.failure.clone()),
        None => ("UNKNOWN", 0, None, None),
    };
    let failure = failure.map(|f| trailshare::dead_letter::printable(&f, 300));
    if json {
        println!(
            "{}",
            json!({"task_handle": handle, "status": state, "moved": moved, "to_move": to_move, "failure": failure})
        );
    } else {
        let of = to_move.map(|n| format!(" of {n}")).unwrap_or_default();
        println!("{state}: moved {moved}{of} messages");
        if let Some(failure) = &failure {
            println!("failure: {failure}");
        }
    }
    Ok(match state {
        "COMPLETED" | "RUNNING" => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

fn groups_table(groups: &[Group]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["MESSAGES", "SHARES", "TARGETS", "LAST ERROR"]);
    for g in groups {
        table.add_row([
            g.messages.to_string(),
            g.shares.join(", "),
            g.targets.join(", "),
            g.error.clone(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_each_group_once_with_its_count() {
        let e = Explanation {
            shares: vec!["bu-c".into()],
            targets: vec!["copy to s3://c-logs".into()],
            error: "s3:CopyObject was rejected: NoSuchBucket".into(),
            explained: true,
        };
        let text = groups_table(&group([&e, &e])).to_string();
        assert!(
            text.contains("bu-c") && text.contains("copy to s3://c-logs"),
            "{text}"
        );
        assert_eq!(text.matches("NoSuchBucket").count(), 1, "{text}");
        assert!(text.contains(" 2 "), "{text}");
    }
}
