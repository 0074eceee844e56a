//! Backfill: the files already there for one share, in each trail layout.

use serde_json::{json, Value};
use stand_in::{log_file, put_log, s3, B, C};

use super::{api_event, backfill_api, drain, pair, world, ORG, PREFIX};

#[tokio::test]
async fn backfill_in_control_towers_layout() {
    backfill_delivers_the_files_already_there_for_that_share_only(Some(ORG)).await;
}

#[tokio::test]
async fn backfill_of_an_organization_trail_without_a_prefix() {
    backfill_delivers_the_files_already_there_for_that_share_only(None).await;
}

#[tokio::test]
async fn backfill_under_a_custom_prefix() {
    backfill_delivers_the_files_already_there_for_that_share_only(Some(PREFIX)).await;
}

/// Backfill in the layout `prefix` gives, with both the member-account and
/// the organization paths (`AWSLogs/<acct>/` and `AWSLogs/<org>/<acct>/`).
async fn backfill_delivers_the_files_already_there_for_that_share_only(prefix: Option<&str>) {
    let w = world(prefix).await;
    let (sqs, queue, api) = backfill_api(&w).await;

    let z_dest = w.aws.bucket(stand_in::Z, "z-logs").await;
    let z = w
        .share(
            json!({"grantee_account": stand_in::Z, "log_accounts": ["*"], "external_id": "z-ext-1",
                      "delivery": {"mode": "copy", "bucket": z_dest}}),
        )
        .await;
    w.put_destination_policy(stand_in::Z, &z_dest, &z).await;
    let b = w
        .share(json!({"grantee_account": B, "delivery": {"mode": "tag"}}))
        .await;

    // Files of B and C from before the shares existed: in the window on two
    // days and two regions, in both layouts, a digest file; one day after it.
    let key = |org: bool, account: &str, folder: &str, region: &str, day: &str| {
        let logs = prefix.map_or("AWSLogs".to_string(), |p| format!("{p}/AWSLogs"));
        let root = if org { format!("{logs}/{ORG}") } else { logs };
        let (y, m, d) = (&day[0..4], &day[5..7], &day[8..10]);
        format!("{root}/{account}/{folder}/{region}/{y}/{m}/{d}/{account}_{folder}_{region}_{y}{m}{d}T0100Z_Bf1.json.gz")
    };
    let mut inside = Vec::new();
    for account in [B, C] {
        inside.push(key(false, account, "CloudTrail", "us-east-1", "2024-05-01"));
        inside.push(key(true, account, "CloudTrail", "eu-west-1", "2024-05-02"));
        inside.push(key(
            true,
            account,
            "CloudTrail-Digest",
            "us-east-1",
            "2024-05-02",
        ));
    }
    let outside = key(true, B, "CloudTrail", "us-east-1", "2024-05-03");
    for k in inside.iter().chain([&outside]) {
        put_log(&w.s3(), &w.bucket, k, log_file(B, "old")).await;
    }

    let z_name = z["name"].as_str().unwrap();
    let response = api
        .handle_event(api_event(
            "POST",
            &format!("/shares/{z_name}/backfill"),
            &json!({"from": "2024-05-01", "until": "2024-05-02"}),
        ))
        .await;
    assert_eq!(response["statusCode"], 202, "{response}");
    let mut answer: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    let id = answer["backfill"].as_object_mut().unwrap().remove("id");
    assert!(id.as_ref().is_some_and(Value::is_string), "the run's id");
    assert_eq!(
        answer,
        json!({"backfill": {"share": z_name, "from": "2024-05-01", "until": "2024-05-02", "accounts": ["*"], "queued": 1}})
    );
    let forwarder = w
        .forwarder(&[&z_dest], &[])
        .await
        .with_queue(trailshare::aws::SqsQueue::new(&w.admin, &queue));
    // accounts → 2 accounts → 4 account-days: at least three rounds.
    assert!(drain(&sqs, &queue, &forwarder).await >= 3);
    let z_s3 = s3(&w.aws.admin(stand_in::Z).await);
    for k in &inside {
        let copy = z_s3.head_object().bucket(&z_dest).key(k).send().await;
        assert!(copy.is_ok(), "{k} was backfilled to Z");
        assert!(
            w.tags(k).await.is_empty(),
            "B's tag share was not backfilled: {k}"
        );
    }
    assert!(z_s3
        .head_object()
        .bucket(&z_dest)
        .key(&outside)
        .send()
        .await
        .is_err());

    // B's share: one message for its one account; only B's files in window.
    let b_name = b["name"].as_str().unwrap();
    let response = api
        .handle_event(api_event(
            "POST",
            &format!("/shares/{b_name}/backfill"),
            &json!({"from": "2024-05-01", "until": "2024-05-02"}),
        ))
        .await;
    assert_eq!(response["statusCode"], 202, "{response}");
    drain(&sqs, &queue, &forwarder).await;
    for k in &inside {
        let expected: Vec<(String, String)> = if k.contains(&format!("/{B}/")) {
            vec![pair("trailshare:account", B)]
        } else {
            vec![]
        };
        assert_eq!(w.tags(k).await, expected, "{k}");
    }
    assert!(w.tags(&outside).await.is_empty());

    // Bad input changes nothing: a 400 naming the field, nothing queued.
    for (body, field) in [
        (json!({"from": "2024-05-03", "until": "2024-05-01"}), "from"),
        (
            json!({"from": "2024-05-01", "until": "2999-01-01"}),
            "until",
        ),
        (json!({"since": "2024-05-01"}), "since"),
    ] {
        let response = api
            .handle_event(api_event(
                "POST",
                &format!("/shares/{b_name}/backfill"),
                &body,
            ))
            .await;
        assert_eq!(response["statusCode"], 400, "{response}");
        let error: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        assert_eq!(error["error"]["field"], field);
    }
    let missing = api
        .handle_event(api_event(
            "POST",
            "/shares/no-such-share/backfill",
            &json!({"from": "2024-05-01", "until": "2024-05-02"}),
        ))
        .await;
    assert_eq!(missing["statusCode"], 404);
    assert_eq!(
        drain(&sqs, &queue, &forwarder).await,
        0,
        "nothing was queued"
    );
    // Without the forwarder's queue configured, backfill is a 503.
    let unconfigured = w
        .provisioner
        .handle_event(api_event(
            "POST",
            &format!("/shares/{b_name}/backfill"),
            &json!({"from": "2024-05-01"}),
        ))
        .await;
    assert_eq!(unconfigured["statusCode"], 503, "{unconfigured}");
}
