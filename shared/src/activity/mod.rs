//! Who used a share: the lines the forwarder writes to `ACTIVITY_BUCKET`
//! (DESIGN.md "Activity") and where they live. Pure: no AWS call.
//!
//! One object per share, day and source log file, at
//! `share=<name>/date=YYYY-MM-DD/<source file name>.jsonl`, Hive-style so
//! Athena and Glue read the bucket as it is. The same source file always
//! yields the same object (same key, same bytes), so a re-delivered file
//! writes nothing new.
//!
//! Read back, a line is someone's say-so: whoever could write to the bucket
//! chose it. Lines are only counted and displayed, never used to steer a
//! grant or a delivery.

mod extract;
mod scan;

pub use extract::{day_of, extract, is_share_name, Found, ShareRoles, MAX_FIELD_CHARS};
pub use scan::{scan, Extracted, Limits, ScanError};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

// Reading it back: the window's lines summarized per grantee principal.
pub mod read;
pub mod summary;
#[cfg(test)]
mod summary_tests;

/// One event that concerns a share role, as one JSON line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActivityLine {
    /// An `AssumeRole` (or `…WithWebIdentity`/`…WithSAML`) of a share role,
    /// allowed or denied.
    Assume(Assumption),
    /// An S3 data event on the trail bucket made with a share role's session.
    Read(Read),
}

/// An assumption of a share role, from the role owner's (A's) log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assumption {
    /// `eventTime`, as CloudTrail gives it (RFC 3339, UTC, `Z`).
    pub time: String,
    /// The caller's account: `userIdentity.accountId`.
    pub account: String,
    /// The caller: `userIdentity.principalId` as CloudTrail gives it.
    pub principal: String,
    /// The caller's ARN (`userIdentity.arn`) where CloudTrail gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// `requestParameters.roleSessionName`.
    #[serde(default)]
    pub session_name: String,
    /// `requestParameters.tags` as key → value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub session_tags: BTreeMap<String, String>,
    #[serde(default)]
    pub source_ip: String,
    #[serde(default)]
    pub user_agent: String,
    /// `errorCode` of a denied attempt (e.g. `AccessDenied`); absent when
    /// the role was assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The session's access key id (`responseElements.credentials.accessKeyId`):
    /// every data event of the session carries it, so it ties a read to
    /// this assumption even when members share a session name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
}

/// A read of the trail bucket with a share role's session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Read {
    /// `eventTime`, as CloudTrail gives it.
    pub time: String,
    /// `eventName`: `GetObject`, `ListObjects`, `ListObjectsV2`, `HeadObject`…
    pub action: String,
    /// `requestParameters.key` (for a list: its `prefix`), if any.
    #[serde(default)]
    pub key: String,
    /// `additionalEventData.bytesTransferredOut`, where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// The session name of the share role's session (the ARN's last part).
    #[serde(default)]
    pub session_name: String,
    /// For an organization share: the session's `trailshare:account` tag
    /// (`userIdentity.sessionContext`… where CloudTrail gives it), else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default)]
    pub source_ip: String,
    /// `errorCode` of a denied read, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// `userIdentity.accessKeyId`: the session's key (see [`Assumption`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
}

impl ActivityLine {
    /// A denied assumption: also an alert line (`denied_assume`).
    pub fn is_denied_assume(&self) -> bool {
        matches!(self, ActivityLine::Assume(a) if a.error_code.is_some())
    }
}

/// The folder holding one share's activity of one day (`day` is `YYYY-MM-DD`).
pub fn day_prefix(share: &str, day: &str) -> String {
    format!("share={share}/date={day}/")
}

/// The object holding one share's activity from one source log file of one
/// day: the source file's name (the key's last part) plus `.jsonl`.
pub fn object_key(share: &str, day: &str, source_key: &str) -> String {
    let file = source_key.rsplit('/').next().unwrap_or(source_key);
    format!("{}{file}.jsonl", day_prefix(share, day))
}

/// Lines as one object body: one JSON object per line, each ending in `\n`.
pub fn to_jsonl(lines: &[ActivityLine]) -> String {
    let mut body = String::new();
    for line in lines {
        // A line is plain strings and numbers: serialising cannot fail.
        if let Ok(text) = serde_json::to_string(line) {
            body.push_str(&text);
            body.push('\n');
        }
    }
    body
}

/// Reads an object body back: every line that parses; a line that does not
/// (someone else's bytes) is skipped and counted.
pub fn from_jsonl(body: &str) -> (Vec<ActivityLine>, usize) {
    let mut lines = Vec::new();
    let mut skipped = 0;
    for text in body.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(text) {
            Ok(line) => lines.push(line),
            Err(_) => skipped += 1,
        }
    }
    (lines, skipped)
}

#[cfg(test)]
mod fixture_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_partitioned_hive_style_by_share_and_day() {
        let key = object_key(
            "bu-b",
            "2026-12-06",
            "AWSLogs/111111111111/CloudTrail/us-east-1/2026/12/06/111111111111_CloudTrail_us-east-1_20261206T0005Z_abc.json.gz",
        );
        assert_eq!(
            key,
            "share=bu-b/date=2026-12-06/111111111111_CloudTrail_us-east-1_20261206T0005Z_abc.json.gz.jsonl"
        );
    }

    #[test]
    fn lines_round_trip_and_foreign_lines_are_skipped() {
        let lines = vec![
            ActivityLine::Assume(Assumption {
                time: "2026-12-06T10:00:00Z".into(),
                account: "222222222222".into(),
                principal: "AROAEXAMPLE:analyst".into(),
                error_code: Some("AccessDenied".into()),
                ..Default::default()
            }),
            ActivityLine::Read(Read {
                time: "2026-12-06T10:01:00Z".into(),
                action: "GetObject".into(),
                key: "AWSLogs/222222222222/x.json.gz".into(),
                bytes: Some(1234),
                ..Default::default()
            }),
        ];
        let body = to_jsonl(&lines);
        assert!(body.starts_with("{\"kind\":\"assume\""));
        assert_eq!(body.lines().count(), 2);
        let (back, skipped) = from_jsonl(&format!("{body}not json\n{{\"kind\":\"other\"}}\n"));
        assert_eq!(back, lines);
        assert_eq!(skipped, 2);
    }
}
