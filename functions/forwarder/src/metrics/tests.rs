//! What one invocation's counts become: metric lines that pass the EMF
//! checker, one per share and mode; and the template's dashboard reads
//! exactly the names, dimensions and namespace these lines carry.

use std::collections::{BTreeMap, BTreeSet};

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

// ------------------------------------------------------------- template

fn template() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    std::fs::read_to_string(path).expect("read template.yaml")
}

/// The block under `header` (a YAML literal block: the lines indented
/// deeper than the header's own line).
fn block(template: &str, header: &str) -> String {
    let mut lines = template.lines().skip_while(|l| l.trim() != header);
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("{header} not in template.yaml"));
    let indent = first.len() - first.trim_start().len();
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `${AWS::StackName}` as a stack named `STACK`, other `${…}` as `1`.
fn substitute(text: &str) -> String {
    let text = text.replace("${AWS::StackName}", "STACK");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${") + start;
        out.push('1');
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The dashboard's SEARCH expressions: (namespace, dimension names, the
/// MetricName they search for).
fn searches(body: &Value) -> Vec<(String, Vec<String>, String)> {
    let mut found = Vec::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        for row in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for item in row.as_array().unwrap() {
                let Some(expression) = item["expression"].as_str() else {
                    continue;
                };
                let Some(query) = expression.strip_prefix("SEARCH('{") else {
                    continue;
                };
                let (schema, terms) = query.split_once('}').unwrap();
                let mut schema = schema.split(',').map(|p| p.trim_matches('"').to_string());
                let namespace = schema.next().unwrap();
                let mut dimensions: Vec<String> = schema.collect();
                dimensions.sort();
                let name = terms
                    .split("MetricName=\"")
                    .nth(1)
                    .and_then(|t| t.split('"').next())
                    .unwrap_or_else(|| panic!("no MetricName in {expression}"))
                    .to_string();
                found.push((namespace, dimensions, name));
            }
        }
    }
    found
}

#[test]
fn the_dashboard_reads_what_the_forwarder_writes() {
    let template = template();
    let namespace_line = template
        .lines()
        .find(|l| l.trim().starts_with("METRICS_NAMESPACE:"))
        .expect("the forwarder's METRICS_NAMESPACE in template.yaml");
    let namespace = substitute(
        namespace_line
            .split_once(':')
            .unwrap()
            .1
            .trim()
            .trim_start_matches("!Sub")
            .trim(),
    );
    assert_eq!(namespace, "trailshare/STACK");
    assert!(trailshare::emf::is_namespace(&namespace));

    let body: Value = serde_json::from_str(&substitute(&block(&template, "DashboardBody: !Sub |")))
        .expect("the dashboard body is JSON");
    let searched: BTreeSet<(String, Vec<String>, String)> = searches(&body).into_iter().collect();

    // What the forwarder writes: every metric with its dimension names.
    let tally = Tally::default();
    for mode in [Mode::Tag, Mode::Copy, Mode::Notify, Mode::Damaged] {
        tally.count("s", mode, Counted::Delivered(Some(1)));
        tally.count("s", mode, Counted::Skipped);
        tally.count("s", mode, Counted::Failed);
    }
    tally.backfill_done("s", 1);
    tally.backfill_failed("s");
    let mut written = BTreeSet::new();
    for line in tally.lines(&namespace, T) {
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        let mut dimensions: Vec<String> = directive["Dimensions"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect();
        dimensions.sort();
        for metric in directive["Metrics"].as_array().unwrap() {
            written.insert((
                directive["Namespace"].as_str().unwrap().to_string(),
                dimensions.clone(),
                metric["Name"].as_str().unwrap().to_string(),
            ));
        }
    }
    let written_names: BTreeSet<&str> = written.iter().map(|(_, _, n)| n.as_str()).collect();
    assert_eq!(
        written_names,
        METRICS.into_iter().collect(),
        "every metric is written"
    );
    // Each metric the forwarder writes is on the dashboard, and the
    // dashboard searches for nothing it does not write.
    assert_eq!(
        searched, written,
        "dashboard searches vs the forwarder's lines"
    );
}

#[test]
fn the_queue_age_alarm_watches_the_forwarders_queue() {
    let template = template();
    let alarm = block(&template, "QueueAgeAlarm:");
    for expected in [
        "Type: AWS::CloudWatch::Alarm",
        "Namespace: AWS/SQS",
        "MetricName: ApproximateAgeOfOldestMessage",
        "Value: !GetAtt ForwarderQueue.QueueName",
        "Threshold: !Ref QueueAgeAlarmSeconds",
        "ComparisonOperator: GreaterThanThreshold",
    ] {
        assert!(
            alarm.contains(expected),
            "QueueAgeAlarm lacks {expected}:\n{alarm}"
        );
    }
    assert!(block(&template, "ForwarderDashboard:").contains("Type: AWS::CloudWatch::Dashboard"));
}
