//! The forwarder Lambda: new log files arrive (EventBridge via SQS); B's
//! are tagged and announced on B's queue, C's copied; the same events again
//! change nothing.

use std::time::Duration;

use serde_json::{json, Value};
use stand_in::{s3, trail_file, A, B, C};

use super::lambdas::{logged_metrics, queue_batch};
use super::setup::Deployment;
use super::{copy_state, object_tags, step, Demo, Lambdas, Report};

pub(crate) async fn new_files(
    report: &mut Report,
    demo: &Demo,
    lambdas: &Lambdas,
    deployment: &Deployment,
) {
    let Demo {
        aws,
        trail,
        keys,
        digest,
        c_bucket,
    } = demo;
    let Deployment {
        b_sqs, b_queue_url, ..
    } = deployment;
    let a_s3 = s3(&aws.admin(A).await);
    step("Forwarder: new log files arrive (EventBridge via SQS); B's are tagged, C's copied");
    let mut arrived = keys.clone();
    arrived.push(digest.clone());
    let reply = lambdas.invoke("forwarder", &queue_batch(trail, &arrived));
    report.check(
        reply == json!({"batchItemFailures": []}),
        &format!("forwarder batch of {} -> {reply}", arrived.len()),
    );
    let tags = object_tags(&a_s3, trail, &keys[1])
        .await
        .unwrap_or_default();
    let tagged = tags
        .iter()
        .any(|t| t.key == "trailshare:account" && t.value == B);
    report.check(
        tagged,
        &format!("B's log file is tagged trailshare:account={B}"),
    );
    let c_admin = s3(&aws.admin(C).await);
    let copy = c_admin
        .get_object()
        .bucket(c_bucket)
        .key(format!("from-central/{}", keys[2]))
        .send()
        .await;
    let identical = match copy {
        Ok(copy) => copy
            .body
            .collect()
            .await
            .map(|b| b.into_bytes().to_vec() == trail_file(C))
            .unwrap_or(false),
        Err(_) => false,
    };
    report.check(
        identical,
        &format!("C's log file is in s3://{c_bucket}/from-central/… with identical bytes"),
    );
    let a_tags = object_tags(&a_s3, trail, &keys[0]).await;
    report.check(
        a_tags == Some(Vec::new()),
        "A's own log file is left alone (no share delivers it)",
    );
    let digest_tags = object_tags(&a_s3, trail, digest).await.unwrap_or_default();
    report.check(
        digest_tags.iter().any(|t| t.value == B),
        "B's digest file is tagged too",
    );
    // B's queue heard of both of B's files, as S3 event notifications.
    let heard: Vec<Value> = b_sqs
        .receive_message()
        .queue_url(b_queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .map(|out| out.messages.unwrap_or_default())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| serde_json::from_str(m.body.as_deref()?).ok())
        .collect();
    if let Some(first) = heard.first() {
        let record = &first["Records"][0];
        println!(
            "    B's queue: {} {} s3://{}/{} ({} bytes)",
            record["eventSource"].as_str().unwrap_or_default(),
            record["eventName"].as_str().unwrap_or_default(),
            record["s3"]["bucket"]["name"].as_str().unwrap_or_default(),
            record["s3"]["object"]["key"].as_str().unwrap_or_default(),
            record["s3"]["object"]["size"]
        );
    }
    let announced: Vec<&str> = heard
        .iter()
        .filter_map(|m| m["Records"][0]["s3"]["object"]["key"].as_str())
        .collect();
    report.check(
        heard.len() == 2
            && announced.contains(&keys[1].as_str())
            && announced.contains(&digest.as_str())
            && heard
                .iter()
                .all(|m| m["Records"][0]["s3"]["bucket"]["name"] == trail.as_str()),
        &format!(
            "B's queue heard of B's log and digest file once each ({} messages, S3 event shape)",
            heard.len()
        ),
    );
    // What CloudWatch would make of the forwarder's log lines: Embedded
    // Metric Format, per share and mode (docs/forwarder.md). B's and C's
    // shares have the API's default names.
    let (b_name, c_name) = (format!("account-{B}"), format!("account-{C}"));
    let expected = [
        (&b_name, "tag", "FilesDelivered", 2),
        (&b_name, "notify", "FilesDelivered", 2),
        (&c_name, "copy", "FilesDelivered", 1),
    ];
    let key = |share: &str, mode: &str, name: &str| {
        (share.to_string(), mode.to_string(), name.to_string())
    };
    let metrics = logged_metrics("demo-lambdas", |metrics| {
        expected
            .iter()
            .all(|(share, mode, name, _)| metrics.contains_key(&key(share, mode, name)))
    });
    match &metrics {
        Ok(metrics) => {
            for ((share, mode, name), value) in metrics {
                println!("    metric trailshare/demo {name} Share={share} Mode={mode}: {value}");
            }
        }
        Err(error) => println!("    {error}"),
    }
    report.check(
        metrics.as_ref().is_ok_and(|metrics| {
            expected
                .iter()
                .all(|(share, mode, name, value)| metrics.get(&key(share, mode, name)) == Some(value))
        }),
        "the forwarder's log carries its metrics (EMF, checked against the spec): B's 2 files tagged and announced, C's 1 copied",
    );
    // S3 delivers at least once: the same events again must change nothing.
    let copy_key = format!("from-central/{}", keys[2]);
    let before = copy_state(&c_admin, c_bucket, &copy_key).await;
    // Last-Modified has whole seconds: wait so that a rewrite would show.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = lambdas.invoke("forwarder", &queue_batch(trail, &arrived));
    let after = copy_state(&c_admin, c_bucket, &copy_key).await;
    let tags_after = object_tags(&a_s3, trail, &keys[1])
        .await
        .unwrap_or_default();
    report.check(
        reply == json!({"batchItemFailures": []})
            && before.is_some()
            && before == after
            && tags_after == tags,
        "the same events again change nothing: C's copy not rewritten, B's tags as they were",
    );
}
