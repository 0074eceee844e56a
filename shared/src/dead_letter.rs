//! Why a message sits in the forwarder's dead-letter queue, told by message
//! attributes: the forwarder writes them when it dead-letters a message on
//! its last receive (a message failed through `batchItemFailures` cannot
//! gain attributes), and `trailshare dlq` reads them back. Pure: no AWS call.
//!
//! Read back, the attributes are someone's say-so: whoever could put a
//! message in the dead-letter queue chose them. So every value is bounded,
//! made printable, and only displayed, grouped or compared with a share
//! name the admin typed; nothing read here steers work. (A redriven body is
//! bounded again by the forwarder, like any message it receives.)

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// The shares whose deliveries failed: a JSON array of share names.
pub const SHARES: &str = "trailshare.shares";
/// What failed, without the file's key (so files group): `tag`, `copy to
/// s3://<bucket>`, `notify <arn>`, `share <name> (damaged)`, `backfill`,
/// `message` (a body that can never be read): a JSON array.
pub const TARGETS: &str = "trailshare.targets";
/// The last error seen for the message.
pub const ERROR: &str = "trailshare.error";
/// The message's `ApproximateReceiveCount` when it was dead-lettered.
pub const RECEIVES: &str = "trailshare.receives";
/// The message's id in the forwarder's queue.
pub const MESSAGE_ID: &str = "trailshare.message-id";

/// Where SQS's own redrive moved a message from (the system attribute
/// `DeadLetterQueueSourceArn`), under this name among the attributes read.
pub const SOURCE_QUEUE: &str = "DeadLetterQueueSourceArn";

/// The attribute names `trailshare dlq` asks SQS for.
pub const ALL: [&str; 5] = [SHARES, TARGETS, ERROR, RECEIVES, MESSAGE_ID];

/// At most this many shares or targets per message are written or read.
const MAX_ITEMS: usize = 10;
/// Characters kept of one target, of the error, of any other value.
const MAX_TARGET: usize = 300;
const MAX_ERROR: usize = 1000;
const MAX_OTHER: usize = 100;
/// A value longer than this (bytes) is not parsed at all.
const MAX_VALUE_BYTES: usize = 8 * 1024;

/// What failed for one message, as the forwarder saw it on its last receive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failure {
    pub shares: BTreeSet<String>,
    pub targets: BTreeSet<String>,
    /// The last error recorded.
    pub error: String,
}

impl Failure {
    /// Records one failed target of `share` (if known) with its error; the
    /// last one recorded is the message's last error.
    pub fn add(
        &mut self,
        share: Option<&str>,
        target: impl Into<String>,
        error: impl Into<String>,
    ) {
        if let Some(share) = share {
            self.shares.insert(share.to_string());
        }
        self.targets.insert(target.into());
        self.error = error.into();
    }

    /// The message attributes that explain the message, every value
    /// bounded (SQS allows 10 attributes and 256 KiB with the body).
    pub fn attributes(&self, message_id: &str, receives: u32) -> Vec<(&'static str, String)> {
        let list = |items: &BTreeSet<String>| {
            let kept: Vec<String> = items
                .iter()
                .take(MAX_ITEMS)
                .map(|item| bounded(item, MAX_TARGET))
                .collect();
            serde_json::to_string(&kept).expect("strings serialise")
        };
        let error = match self.error.as_str() {
            "" => "(no error was recorded)".to_string(),
            error => bounded(error, MAX_ERROR),
        };
        vec![
            (SHARES, list(&self.shares)),
            (TARGETS, list(&self.targets)),
            (ERROR, error),
            (RECEIVES, receives.to_string()),
            (MESSAGE_ID, bounded(message_id, MAX_OTHER)),
        ]
    }
}

/// One dead-lettered message's explanation as read back: bounded and
/// printable, for display and for matching `--share` only.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Explanation {
    /// Only names a share could have; anything else is dropped.
    pub shares: Vec<String>,
    pub targets: Vec<String>,
    pub error: String,
    /// Whether the forwarder's attributes were there at all (a message the
    /// queue's own redrive moved, or EventBridge's, carries none).
    pub explained: bool,
}

impl Explanation {
    /// Whether the message names `share` among the shares that failed.
    pub fn names(&self, share: &str) -> bool {
        self.shares.iter().any(|s| s == share)
    }
}

/// Reads a message's attributes (name → string value) back.
pub fn explain(attributes: &BTreeMap<String, String>) -> Explanation {
    let value = |name: &str| attributes.get(name).filter(|v| v.len() <= MAX_VALUE_BYTES);
    let explained = [SHARES, TARGETS, ERROR]
        .iter()
        .any(|n| attributes.contains_key(*n));
    if !explained {
        let error = match value(SOURCE_QUEUE) {
            Some(source) => format!(
                "(not explained: moved here by SQS's redrive from {})",
                printable(source, MAX_OTHER)
            ),
            None => "(not explained: moved by the queue's own redrive, or an event EventBridge could not deliver)".into(),
        };
        return Explanation {
            error,
            ..Explanation::default()
        };
    }
    let shares = list(value(SHARES))
        .into_iter()
        .filter(|name| crate::share::validate_name(name).is_ok())
        .collect();
    let targets = list(value(TARGETS))
        .iter()
        .map(|t| printable(t, MAX_TARGET))
        .collect();
    let error = value(ERROR)
        .map(|e| printable(e, MAX_ERROR))
        .unwrap_or_else(|| "(no error was recorded)".into());
    Explanation {
        shares,
        targets,
        error,
        explained: true,
    }
}

/// A JSON array of strings, at most `MAX_ITEMS` of them; anything else is empty.
fn list(value: Option<&String>) -> Vec<String> {
    value
        .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
        .unwrap_or_default()
        .into_iter()
        .take(MAX_ITEMS)
        .collect()
}

/// Messages with the same shares, targets and last error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub shares: Vec<String>,
    pub targets: Vec<String>,
    pub error: String,
    pub explained: bool,
    pub messages: usize,
}

/// Groups explanations by shares, targets and last error, most messages first.
pub fn group<'a>(explanations: impl IntoIterator<Item = &'a Explanation>) -> Vec<Group> {
    let mut counts: BTreeMap<&Explanation, usize> = BTreeMap::new();
    for explanation in explanations {
        *counts.entry(explanation).or_default() += 1;
    }
    let mut groups: Vec<Group> = counts
        .into_iter()
        .map(|(e, messages)| Group {
            shares: e.shares.clone(),
            targets: e.targets.clone(),
            error: e.error.clone(),
            explained: e.explained,
            messages,
        })
        .collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.messages));
    groups
}

/// At most `max` characters of `text`, marked when cut.
fn bounded(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// `text` bounded, with control and bidirectional-formatting characters
/// (which could rewrite a terminal or reorder what it shows) as `?`.
pub fn printable(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || bidi {
                '?'
            } else {
                c
            }
        })
        .collect();
    bounded(&clean, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(attributes: &[(&'static str, String)]) -> Explanation {
        explain(
            &attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn what_the_forwarder_writes_reads_back_the_same() {
        let mut failure = Failure::default();
        failure.add(
            Some("bu-c"),
            "copy to s3://c-logs",
            "s3:CopyObject was rejected: NoSuchBucket",
        );
        failure.add(
            Some("auditor,z"),
            "notify arn:aws:sqs:us-east-1:444444444444:z",
            "sqs:SendMessage was denied: AccessDenied",
        );
        let attributes = failure.attributes("m-1", 5);
        assert_eq!(attributes.len(), 5, "SQS allows 10 attributes");
        let explanation = read_back(&attributes);
        assert_eq!(
            explanation.shares,
            ["auditor,z", "bu-c"],
            "a comma is a share name's character"
        );
        assert_eq!(
            explanation.targets,
            [
                "copy to s3://c-logs",
                "notify arn:aws:sqs:us-east-1:444444444444:z"
            ]
        );
        assert_eq!(
            explanation.error, "sqs:SendMessage was denied: AccessDenied",
            "the last error"
        );
        assert!(explanation.explained && explanation.names("bu-c") && !explanation.names("bu"));
    }

    #[test]
    fn written_values_are_bounded() {
        let mut failure = Failure::default();
        for i in 0..30 {
            failure.add(
                Some(&format!("share-{i:02}")),
                format!("copy to s3://{}", "b".repeat(400)),
                "e".repeat(5000),
            );
        }
        let attributes = failure.attributes(&"m".repeat(500), 5);
        let total: usize = attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(total < 8 * 1024, "{total} bytes");
        let explanation = read_back(&attributes);
        assert_eq!(explanation.shares.len(), 10);
        assert_eq!(explanation.error.chars().count(), 1000);
        assert!(explanation.error.ends_with('…'));
        assert!(Failure::default()
            .attributes("m", 1)
            .iter()
            .any(|(k, v)| *k == ERROR && !v.is_empty()));
    }

    #[test]
    fn what_someone_else_wrote_is_bounded_printable_and_never_a_share_it_cannot_be() {
        let forged = [
            (
                SHARES,
                r#"["bu-b", "BU-B", "../x", "a b", "", "x\u001b[2J"]"#.to_string(),
            ),
            (
                TARGETS,
                format!(r#"["tag\u001b]0;pwned\u0007", "{}"]"#, "t".repeat(2000)),
            ),
            (ERROR, "line\nbreak \u{202e}txt.exe".to_string()),
        ];
        let explanation = read_back(&forged);
        assert_eq!(explanation.shares, ["bu-b"]);
        assert_eq!(explanation.targets[0], "tag?]0;pwned?");
        assert_eq!(explanation.targets[1].chars().count(), MAX_TARGET);
        assert_eq!(explanation.error, "line?break ?txt.exe");
        // Not a JSON array, or too large to parse: nothing.
        let explanation = read_back(&[
            (SHARES, "bu-b".to_string()),
            (TARGETS, format!("[\"{}\"]", "t".repeat(MAX_VALUE_BYTES))),
        ]);
        assert!(explanation.shares.is_empty() && explanation.targets.is_empty());
        assert_eq!(explanation.error, "(no error was recorded)");
    }

    #[test]
    fn a_message_without_the_attributes_is_not_explained() {
        let explanation = read_back(&[("RULE_ARN", "arn:aws:events:…".to_string())]);
        assert!(!explanation.explained && explanation.shares.is_empty());
        assert!(!explanation.names(""));
        let moved = read_back(&[(
            SOURCE_QUEUE,
            "arn:aws:sqs:us-east-1:111111111111:q\u{1b}[0m".to_string(),
        )]);
        assert!(!moved.explained);
        assert_eq!(moved.error, "(not explained: moved here by SQS's redrive from arn:aws:sqs:us-east-1:111111111111:q?[0m)");
    }

    #[test]
    fn groups_count_messages_with_the_same_shares_targets_and_error() {
        let e = |share: &str, error: &str| Explanation {
            shares: vec![share.into()],
            targets: vec!["copy to s3://c-logs".into()],
            error: error.into(),
            explained: true,
        };
        let all = [
            e("c", "NoSuchBucket"),
            e("b", "AccessDenied"),
            e("c", "NoSuchBucket"),
            e("c", "SlowDown"),
        ];
        let groups = group(&all);
        assert_eq!(groups.len(), 3);
        assert_eq!(
            (
                groups[0].shares[0].as_str(),
                groups[0].error.as_str(),
                groups[0].messages
            ),
            ("c", "NoSuchBucket", 2)
        );
        assert_eq!(groups.iter().map(|g| g.messages).sum::<usize>(), 4);
    }
}
