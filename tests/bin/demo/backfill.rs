//! The layouts' backfill: the forwarder's queue drained as Lambda's SQS
//! poller would, the run's progress shown after every invocation, then the
//! run's counts checked, and the same window again found already done.

use serde_json::{json, Value};
use stand_in::A;

use super::lambdas::Lambdas;
use super::Report;

/// The forwarder's queue, as the layout step made it.
pub(crate) struct Queue<'a> {
    pub sqs: &'a aws_sdk_sqs::Client,
    pub url: &'a str,
    pub name: &'a str,
}

/// One run's state, items and files, as `GET /shares/{name}/backfill/{id}`.
fn progress(lambdas: &Lambdas, share: &str, id: &str) -> Value {
    let (_, run) = lambdas.api("GET", &format!("/shares/{share}/backfill/{id}"), None);
    run
}

/// Lambda's SQS poller: receive, invoke the forwarder, delete what it
/// acknowledged, until the fan-out (share -> account -> day -> folder) is
/// done; after each invocation, the progress of run `watch` (share, id).
/// (invocations, failed ones).
pub(crate) async fn drain(
    queue: &Queue<'_>,
    lambdas: &Lambdas,
    watch: Option<(&str, &str)>,
) -> (usize, usize) {
    let show = |lambdas: &Lambdas| {
        if let Some((share, id)) = watch {
            let run = progress(lambdas, share, id);
            println!(
                "    {share} run {id}: {} — items {}, files {}",
                run["state"], run["items"], run["files"]
            );
        }
    };
    show(lambdas);
    let (mut invocations, mut failures) = (0, 0);
    for _ in 0..20 {
        let received = queue.sqs.receive_message().queue_url(queue.url);
        let messages = received
            .max_number_of_messages(10)
            .send()
            .await
            .ok()
            .and_then(|r| r.messages)
            .unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        let arn = format!("arn:aws:sqs:us-east-1:{A}:{}", queue.name);
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle,
                            "body": m.body, "eventSource": "aws:sqs", "eventSourceARN": arn})
            })
            .collect();
        let reply = lambdas.invoke("forwarder", &json!({ "Records": records }));
        invocations += 1;
        if reply != json!({"batchItemFailures": []}) {
            failures += 1;
            println!("          forwarder: {reply}");
        }
        for m in &messages {
            let delete = queue.sqs.delete_message().queue_url(queue.url);
            let _ = delete
                .set_receipt_handle(m.receipt_handle.clone())
                .send()
                .await;
        }
        show(lambdas);
    }
    (invocations, failures)
}

/// The run says it is done, every item done, B's two files delivered;
/// the same window again finds them done, at one read each.
pub(crate) async fn check_runs(
    report: &mut Report,
    lambdas: &Lambdas,
    queue: &Queue<'_>,
    share: &str,
    id: &str,
) {
    let run = progress(lambdas, share, id);
    report.check(
        run["state"] == "done"
            && run["items"]["done"] == run["items"]["queued"]
            && run["files"]["delivered"] == 2,
        &format!(
            "GET /shares/{share}/backfill/{id} -> {}: items {}, files {}",
            run["state"], run["items"], run["files"]
        ),
    );
    let window = json!({"from": "2024-05-01", "until": "2024-05-02"});
    let (_, again) = lambdas.api("POST", &format!("/shares/{share}/backfill"), Some(window));
    drain(queue, lambdas, None).await;
    let again = again["backfill"]["id"].as_str().unwrap_or_default();
    let run = progress(lambdas, share, again);
    report.check(
        run["state"] == "done"
            && run["files"]["already_done"] == 2
            && run["files"]["delivered"] == 0,
        &format!(
            "the same window again (run {again}) -> {}: files {}",
            run["state"], run["files"]
        ),
    );
}
