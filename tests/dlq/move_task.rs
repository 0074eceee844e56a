//! `trailshare dlq redrive` of every message: SQS's move task. moto 5.2.5
//! does not implement `StartMessageMoveTask` or `ListMessageMoveTasks`
//! (both answer 500), so these tests run the real CLI and SDK against a
//! small SQS stand-in that records what it is asked and answers in the
//! shapes of the SQS API reference. Nothing here claims a move happened on
//! moto: they check the requests' shape and what the CLI makes of answers.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use stand_in::binary::run;
use stand_in::A;

/// What the SQS stand-in below was asked: (X-Amz-Target, body, Authorization).
type Asked = Arc<Mutex<Vec<(String, Value, String)>>>;

/// SQS's JSON protocol for the calls of `dlq redrive` (all): the two queues,
/// a move task and its progress, answered in the shapes of the SQS API
/// reference (API_StartMessageMoveTask, API_ListMessageMoveTasks and
/// API_ListMessageMoveTasksResultEntry). `status` is what the task reports.
fn sqs_stand_in(status: Value) -> (String, Asked) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let asked: Asked = Arc::default();
    let (record, base) = (asked.clone(), url.clone());
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let header = |name: &str| {
                request
                    .headers()
                    .iter()
                    .find(|h| h.field.to_string().eq_ignore_ascii_case(name))
                    .map(|h| h.value.to_string())
                    .unwrap_or_default()
            };
            let (target, authorization) = (header("X-Amz-Target"), header("Authorization"));
            let mut text = String::new();
            request.as_reader().read_to_string(&mut text).unwrap();
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            record
                .lock()
                .unwrap()
                .push((target.clone(), body.clone(), authorization));
            let arn = |name: &str| format!("arn:aws:sqs:us-east-1:{A}:{name}");
            let answer = match target.trim_start_matches("AmazonSQS.") {
                "GetQueueAttributes"
                    if body["QueueUrl"]
                        .as_str()
                        .unwrap_or_default()
                        .ends_with("/forwarder") =>
                {
                    json!({"Attributes": {
                    "QueueArn": arn("forwarder"),
                    "RedrivePolicy": json!({"deadLetterTargetArn": arn("forwarder-dlq"), "maxReceiveCount": 5}).to_string()}})
                }
                "GetQueueAttributes" => json!({"Attributes": {"QueueArn": arn("forwarder-dlq")}}),
                "GetQueueUrl" => json!({"QueueUrl": format!("{base}/{A}/forwarder-dlq")}),
                "StartMessageMoveTask" => {
                    json!({"TaskHandle": "eyJ0YXNrSWQiOiJkYTFiMjNjNC1lNTZmLTc4OTAtYWJjZC1lZjEyMzQ1Njc4OTAifQ=="})
                }
                "ListMessageMoveTasks" => {
                    let mut entry = json!({"TaskHandle": "eyJ0YXNrSWQiOiJkYTFiMjNjNC1lNTZmLTc4OTAtYWJjZC1lZjEyMzQ1Njc4OTAifQ==",
                        "SourceArn": arn("forwarder-dlq"), "DestinationArn": arn("forwarder"), "StartedTimestamp": 1_733_536_000_000u64});
                    entry
                        .as_object_mut()
                        .unwrap()
                        .extend(status.as_object().unwrap().clone());
                    json!({"Results": [entry]})
                }
                other => panic!("dlq redrive made an unexpected call: {other}"),
            };
            let content_type =
                tiny_http::Header::from_bytes("Content-Type", "application/x-amz-json-1.0")
                    .unwrap();
            request
                .respond(
                    tiny_http::Response::from_string(answer.to_string()).with_header(content_type),
                )
                .unwrap();
        }
    });
    (url, asked)
}

#[tokio::test]
async fn redriving_every_message_asks_sqs_to_move_the_dead_letter_queue_into_the_forwarders() {
    let (url, asked) = sqs_stand_in(
        json!({"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 2, "ApproximateNumberOfMessagesToMove": 2}),
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_ENDPOINT_URL", url.as_str()),
    ];
    let queue_url = format!("{url}/{A}/forwarder");
    let out = run(&["dlq", "redrive", "--queue-url", &queue_url], &env);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("COMPLETED: moved 2 of 2 messages"),
        "{out:?}"
    );
    let asked = asked.lock().unwrap();
    let (_, start, authorization) = asked
        .iter()
        .find(|(target, _, _)| target == "AmazonSQS.StartMessageMoveTask")
        .expect("a move task");
    // From the dead-letter queue the forwarder queue's policy names, into
    // the forwarder's queue (named, so EventBridge's undelivered events go
    // there too), signed for SQS.
    assert_eq!(
        start,
        &json!({"SourceArn": format!("arn:aws:sqs:us-east-1:{A}:forwarder-dlq"), "DestinationArn": format!("arn:aws:sqs:us-east-1:{A}:forwarder")})
    );
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/")
            && authorization.contains("/us-east-1/sqs/aws4_request"),
        "{authorization}"
    );
    let list = asked
        .iter()
        .find(|(target, _, _)| target == "AmazonSQS.ListMessageMoveTasks")
        .expect("progress read");
    assert_eq!(
        list.1["SourceArn"],
        json!(format!("arn:aws:sqs:us-east-1:{A}:forwarder-dlq"))
    );
    // Nothing is received, sent or deleted by the CLI itself on this path.
    let targets: Vec<&str> = asked.iter().map(|(t, _, _)| t.as_str()).collect();
    assert!(
        targets.iter().all(|t| !t.contains("ReceiveMessage")
            && !t.contains("SendMessage")
            && !t.contains("DeleteMessage")),
        "{targets:?}"
    );
}

#[tokio::test]
async fn a_failed_move_task_fails_the_command_and_its_reason_is_shown_printable() {
    let (url, _) = sqs_stand_in(
        json!({"Status": "FAILED", "ApproximateNumberOfMessagesMoved": 1, "ApproximateNumberOfMessagesToMove": 3,
        "FailureReason": "AccessDenied\u{1b}[2J: not authorized to sqs:SendMessage"}),
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_ENDPOINT_URL", url.as_str()),
    ];
    let out = run(
        &[
            "dlq",
            "redrive",
            "--queue-url",
            &format!("{url}/{A}/forwarder"),
        ],
        &env,
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains("FAILED: moved 1 of 3 messages"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("failure: AccessDenied?[2J: not authorized"),
        "{out:?}"
    );
    let json = run(
        &[
            "--json",
            "dlq",
            "redrive",
            "--queue-url",
            &format!("{url}/{A}/forwarder"),
        ],
        &env,
    )
    .json();
    assert_eq!(
        (json["status"].clone(), json["moved"].clone()),
        (json!("FAILED"), json!(1))
    );
}
