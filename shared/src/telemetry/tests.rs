//! What leaves a function is what it built: each line's members at the top
//! level, unchanged (nested values included), plus `level` and the
//! invocation's request id; metric lines survive any log level.

use super::*;
use serde_json::json;

/// Runs `f` with the functions' subscriber writing into a capture.
fn captured(directives: &str, f: impl FnOnce()) -> Vec<Value> {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.subscriber(directives), f);
    capture.lines()
}

fn default_directives() -> String {
    super::directives(None, None)
}

#[test]
fn a_line_keeps_its_members_at_the_top_level_unchanged() {
    // Lines of both functions, nested values included.
    let lines = [
        json!({"event": "object", "bucket": "trail", "key": "AWSLogs/222222222222/CloudTrail/x.json.gz",
               "outcome": "processed", "account": "222222222222", "actions": ["tagged trailshare:account=222222222222"]}),
        json!({"event": "share_damaged", "share": "b-1", "reason": "unauthenticated", "claims": ["*"]}),
        json!({"event": "audit", "at": "2026-01-01T00:00:00Z", "caller": "arn:aws:iam::111111111111:user/admin",
               "action": "create", "share": "b-1", "before": null,
               "after": {"spec": {"name": "b-1", "log_accounts": ["222222222222"], "delivery": {"mode": "tag"}}}}),
        json!({"event": "summary", "objects": 4, "processed": 3, "skipped": 1, "failed": 0,
               "messages": 4, "failed_messages": 0}),
        json!({"event": "target", "target": "copy to s3://c/x", "outcome": "failed", "retryable": false,
               "call": "s3:CopyObject", "error": "AccessDenied: \"quoted\"\nand a newline"}),
    ];
    let written = captured(&default_directives(), || {
        info(&lines[0]);
        error(&lines[1]);
        info(&lines[2]);
        info(&lines[3]);
        warn(&lines[4]);
    });
    assert_eq!(written.len(), lines.len(), "{written:?}");
    for ((line, out), level) in lines
        .iter()
        .zip(&written)
        .zip(["INFO", "ERROR", "INFO", "INFO", "WARN"])
    {
        let mut expected = line.clone();
        expected["level"] = json!(level);
        assert_eq!(*out, expected);
        // Nothing nested under "fields", no "target" or "timestamp" of the
        // formatter's own: a filter pattern `{ $.event = "…" }` matches.
        assert!(out.get("fields").is_none());
    }
    assert_eq!(written[1]["event"], "share_damaged");
    assert_eq!(
        written[2]["after"]["spec"]["log_accounts"][0],
        "222222222222"
    );
}

#[test]
fn one_line_per_event_on_one_text_line() {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.subscriber(&default_directives()), || {
        info(&json!({"event": "a", "error": "two\nlines"}));
        info(&json!({"event": "b"}));
    });
    assert_eq!(capture.text().lines().count(), 2, "{}", capture.text());
}

/// The span lambda_runtime (1.5, `layers::trace::request_span`) opens
/// around each invocation: its target, name and field.
fn invocation_span() -> tracing::Span {
    tracing::info_span!(target: "lambda_runtime::layers::trace", "Lambda runtime invoke",
                        requestId = "8476a536-e9f4-11e8-9739-2dfe598c3fcd")
}

#[test]
fn every_line_of_an_invocation_carries_its_request_id() {
    // At the default level (other crates at WARN), and at ERROR only.
    for (directives, lines) in [
        (default_directives(), 2),
        (super::directives(Some("ERROR"), None), 1),
    ] {
        let written = captured(&directives, || {
            let span = invocation_span();
            let _entered = span.enter();
            info(&json!({"event": "summary"}));
            metrics(&json!({"event": "metrics"}));
        });
        assert_eq!(written.len(), lines, "{directives}: {written:?}");
        for line in &written {
            assert_eq!(
                line["requestId"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
                "{directives}: {line}"
            );
        }
    }
}

#[test]
fn metric_lines_are_written_at_any_level() {
    let written = captured(&super::directives(Some("ERROR"), None), || {
        info(&json!({"event": "request"}));
        warn(&json!({"event": "warm_up"}));
        metrics(&json!({"event": "metrics"}));
        error(&json!({"event": "aws_error"}));
    });
    let events: Vec<&str> = written
        .iter()
        .map(|l| l["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["metrics", "aws_error"]);
    let written = captured(&super::directives(None, Some("off")), || {
        info(&json!({"event": "request"}));
        metrics(&json!({"event": "metrics"}));
    });
    assert_eq!(written.len(), 1);
    assert_eq!(written[0]["event"], "metrics");
}

#[test]
fn an_emf_line_is_still_valid_emf_once_written() {
    let line = crate::emf::document(
        "trailshare/test",
        1_767_225_600_000,
        [("event".to_string(), json!("metrics"))]
            .into_iter()
            .collect(),
        &[("Share", "bu-b"), ("Mode", "tag")],
        &[crate::emf::Metric {
            name: "FilesDelivered",
            unit: crate::emf::Unit::Count,
            value: 2,
        }],
    )
    .unwrap();
    let written = captured(&default_directives(), || {
        let span = invocation_span();
        let _entered = span.enter();
        metrics(&line);
    });
    crate::emf::check(&written[0]).unwrap();
    assert_eq!(written[0]["FilesDelivered"], 2);
    assert_eq!(written[0]["Share"], "bu-b");
}

#[test]
fn other_crates_events_are_json_lines_too_and_quiet_below_warn() {
    let written = captured(&default_directives(), || {
        tracing::info!(target: "aws_config", provider = "Environment", "loaded credentials");
        tracing::warn!(target: "lambda_runtime", attempt = 3, retried = true, "Error polling /next, retrying");
    });
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(
        written[0],
        json!({"level": "WARN", "message": "Error polling /next, retrying", "attempt": 3, "retried": true})
    );
}

#[test]
fn directives_follow_lambdas_logging_controls_then_rust_log() {
    let metrics = format!(",{METRICS_TARGET}=info,{RUNTIME_SPAN_TARGET}=info");
    assert_eq!(
        directives(None, None),
        format!("warn,trailshare=info{metrics}")
    );
    assert_eq!(
        directives(Some("DEBUG"), Some("trace")),
        format!("debug{metrics}")
    );
    assert_eq!(directives(Some("FATAL"), None), format!("error{metrics}"));
    assert_eq!(
        directives(Some(""), Some("warn,forwarder=debug")),
        format!("warn,forwarder=debug{metrics}")
    );
    assert_eq!(
        directives(None, Some(" ")),
        format!("warn,trailshare=info{metrics}")
    );
}
