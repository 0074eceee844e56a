//! What one invocation's counts become: metric lines that pass the EMF
//! checker, one per share and mode.

use std::collections::BTreeMap;

use super::*;
use serde_json::Value;
use trailshare::ports::AwsError;

const NS: &str = "trailshare/test";
const T: i64 = 1_767_225_600_000;

fn by_dimensions(lines: &[Value]) -> BTreeMap<String, Value> {
    lines
        .iter()
        .map(|line| {
            let key = match line.get("Mode") {
                Some(mode) => format!(
                    "{} {}",
                    line["Share"].as_str().unwrap(),
                    mode.as_str().unwrap()
                ),
                None => line["Share"].as_str().unwrap().to_string(),
            };
            (key, line.clone())
        })
        .collect()
}

#[test]
fn counts_become_one_checked_line_per_share_and_mode() {
    let tally = Tally::default();
    tally.count("bu-b", Mode::Copy, Counted::Delivered(Some(1000)));
    tally.count("bu-b", Mode::Copy, Counted::Delivered(Some(24)));
    tally.count("bu-b", Mode::Copy, Counted::Delivered(None));
    tally.count("bu-b", Mode::Copy, Counted::Skipped);
    tally.count("bu-b", Mode::Notify, Counted::Delivered(Some(99)));
    tally.count("bu-c", Mode::Tag, Counted::Failed);
    tally.count("bu-c", Mode::Tag, Counted::Delivered(Some(5)));
    tally.count("evil", Mode::Damaged, Counted::Failed);
    tally.backfill_done("bu-b", 0);
    tally.backfill_done("bu-b", 340);
    tally.backfill_failed("bu-b");
    let lines = tally.lines(NS, T);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    for line in &lines {
        trailshare::emf::check(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(line["event"], "metrics");
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], NS);
    }
    let lines = by_dimensions(&lines);
    let copy = &lines["bu-b copy"];
    assert_eq!(copy["FilesDelivered"], 3);
    assert_eq!(copy["FilesSkipped"], 1);
    // Bytes only for the copies whose size was known.
    assert_eq!(copy["CopyBytes"], 1024);
    // Zero is left out: not sent, not billed.
    assert!(copy.get("FilesFailed").is_none(), "{copy}");
    let names: Vec<&str> = copy["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["FilesDelivered", "FilesSkipped", "CopyBytes"]);
    assert_eq!(
        copy["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Share", "Mode"]])
    );
    // Bytes are a copy's: an announcement's size is not counted.
    assert!(lines["bu-b notify"].get("CopyBytes").is_none());
    assert_eq!(lines["bu-b notify"]["FilesDelivered"], 1);
    assert_eq!(lines["bu-c tag"]["FilesFailed"], 1);
    assert_eq!(lines["bu-c tag"]["FilesDelivered"], 1);
    assert!(lines["bu-c tag"].get("CopyBytes").is_none());
    assert_eq!(lines["evil damaged"]["FilesFailed"], 1);
    let backfill = &lines["bu-b"];
    assert_eq!(backfill["BackfillItems"], 2);
    assert_eq!(backfill["BackfillFiles"], 340);
    assert_eq!(backfill["BackfillFailed"], 1);
    assert_eq!(
        backfill["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Share"]])
    );
}

#[test]
fn nothing_counted_writes_nothing() {
    assert!(Tally::default().lines(NS, T).is_empty());
}

#[test]
fn a_result_counts_as_delivered_skipped_or_failed() {
    let ok = |action: &str| Ok::<String, AwsError>(action.to_string());
    assert_eq!(
        Counted::of(&ok("tagged trailshare:account=222222222222"), Some(7)),
        Counted::Delivered(Some(7))
    );
    assert_eq!(
        Counted::of(&ok("copied to s3://b/k"), None),
        Counted::Delivered(None)
    );
    assert_eq!(
        Counted::of(
            &ok("announced s3://b/k to arn:aws:sqs:us-east-1:222222222222:q"),
            None
        ),
        Counted::Delivered(None)
    );
    assert_eq!(
        Counted::of(&ok("already tagged"), Some(7)),
        Counted::Skipped
    );
    assert_eq!(
        Counted::of(&ok("already copied to s3://b/k"), Some(7)),
        Counted::Skipped
    );
    let gone = Err(AwsError::NotFound {
        call: "s3:HeadObject",
    });
    assert_eq!(Counted::of(&gone, None), Counted::Skipped);
    let denied = Err(AwsError::Rejected {
        call: "s3:CopyObject",
        message: "AccessDenied".into(),
    });
    assert_eq!(Counted::of(&denied, None), Counted::Failed);
}

#[test]
fn the_namespace_comes_from_metrics_namespace_or_is_refused() {
    assert_eq!(namespace(None).unwrap(), DEFAULT_NAMESPACE);
    assert_eq!(namespace(Some("")).unwrap(), DEFAULT_NAMESPACE);
    assert_eq!(
        namespace(Some("trailshare/prod")).unwrap(),
        "trailshare/prod"
    );
    assert!(namespace(Some("AWS/Lambda"))
        .unwrap_err()
        .contains("METRICS_NAMESPACE"));
    assert!(namespace(Some("a|b")).is_err());
}
