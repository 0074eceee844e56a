//! Expired shares: planted past their expiry, refused a backfill, and
//! swept by the schedule.

use serde_json::{json, Value};
use trailshare::ports::RoleStore;
use trailshare::record::ShareRecord;

use super::support::{api, config, describe, from_now, spec, throttled, Api, ADMIN, B, C};

/// A share as the provisioner would have written it, expiring at
/// `expires_at` even if that is past (the API refuses a past expiry).
async fn plant(api: &Api, body: Value, expires_at: &str) {
    let mut body = body;
    body["expires_at"] = json!(expires_at);
    let record = ShareRecord {
        spec: trailshare::share::validate(&body, None, "trail-bucket").unwrap(),
        created_by: ADMIN.into(),
        created_at: from_now(-86_400),
        updated_by: None,
        updated_at: None,
        sessions_valid_after: None,
    };
    let draft = api.provisioner.draft(&record).unwrap();
    let role = api.store.create(&draft).await.unwrap();
    api.provisioner.seal_new(&record, &role).await.unwrap();
}

/// Backfill queues work only for a share the forwarder acts on: an expired
/// one is a 409 naming `expires_at`, and nothing is sent (here the queue
/// refuses every send, so a share that gets past the check is a 502).
#[tokio::test]
async fn backfill_of_an_expired_share_is_a_409_and_queues_nothing() {
    let api = api(config(&[(
        "FORWARDER_QUEUE_URL",
        "https://sqs.us-east-1.amazonaws.com/111111111111/trailshare-forwarder",
    )]));
    plant(
        &api,
        json!({"name": "gone", "grantee_account": B}),
        &from_now(-60),
    )
    .await;
    let window = json!({"from": "2024-05-01", "until": "2024-05-02"});
    let (status, body) = api
        .call("POST", "/shares/gone/backfill", Some(window.clone()))
        .await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_str(),
            body["error"]["field"].as_str()
        ),
        (409, Some("expired"), Some("expires_at")),
        "{body}"
    );
    plant(
        &api,
        json!({"name": "live", "grantee_account": B}),
        &from_now(3_600),
    )
    .await;
    let (status, body) = api
        .call("POST", "/shares/live/backfill", Some(window))
        .await;
    assert_eq!(status, 502, "a live share reaches the queue: {body}");
}

fn scheduled_event() -> Value {
    serde_json::from_str(include_str!(
        "../../../../tests/fixtures/events/eventbridge-scheduled.json"
    ))
    .unwrap()
}

#[tokio::test]
async fn the_schedule_sweeps_expired_shares_reading_only_those_it_must() {
    let api = api(config(&[]));
    let own = |name: &str| json!({"name": name, "grantee_account": B});
    // Too many accounts for the description: its route is in the tags.
    let wide = |name: &str| {
        let accounts: Vec<String> = (0..80)
            .map(|i| format!("{:012}", 100_000_000_000u64 + i))
            .collect();
        json!({"name": name, "grantee_account": B, "log_accounts": accounts, "external_id": "e-1"})
    };
    plant(&api, own("gone"), &from_now(-60)).await;
    plant(&api, wide("wide-gone"), &from_now(-60)).await;
    for (name, body) in [
        (
            "live",
            json!({"grantee_account": B, "expires_at": from_now(86_400)}),
        ),
        ("forever", json!({"grantee_account": B})),
        ("wide", wide("wide")),
        (
            "extended",
            json!({"grantee_account": B, "expires_at": from_now(86_400)}),
        ),
    ] {
        api.put_new(name, body).await;
    }
    assert!(!api.store.role("wide").description.contains("route v2"));
    // A PUT extended this one between the listing and the delete: its
    // description (as listed) says expired, its record says otherwise.
    let mut stale = own("extended");
    stale["expires_at"] = json!(from_now(-60));
    let stale = describe(&spec(&stale), &api.store.role("extended"));
    api.store.edit("extended", |r| r.description = stale);

    // Until the sweep, an expired share is listed as such.
    let (_, gone) = api.call("GET", "/shares/gone", None).await;
    assert_eq!(gone["status"], "expired");
    let (_, live) = api.call("GET", "/shares/live", None).await;
    assert_eq!(live["status"], "active");

    api.store.take_reads();
    api.audit.lock().unwrap().clear();
    let outcome = api
        .provisioner
        .handle_invocation(scheduled_event())
        .await
        .unwrap();
    assert_eq!(outcome["swept"], json!(["gone", "wide-gone"]));
    assert_eq!(outcome["left"], 0);
    // One GetRole each for the two expired, the extended and the two whose
    // route is in the tags; none for live or forever.
    assert_eq!(api.store.reads(), 4);
    let left: Vec<String> = api.store.role_names();
    assert_eq!(
        left,
        [
            "trailshare-extended",
            "trailshare-forever",
            "trailshare-live",
            "trailshare-wide"
        ]
    );
    let lines = api.audit.lock().unwrap().clone();
    assert_eq!(lines.len(), 2);
    for (line, name) in lines.iter().zip(["gone", "wide-gone"]) {
        assert_eq!(line["action"], "delete-expired");
        assert_eq!(line["share"], name);
        assert_eq!(
            line["caller"],
            "arn:aws:events:us-east-1:111111111111:rule/trailshare-ProvisionerFunctionSweepExpiredShares-1Q2W3E4R5T6Y"
        );
        assert_eq!(line["after"], Value::Null);
        assert!(line["before"]["spec"]["expires_at"].is_string());
    }
    assert_eq!(api.call("GET", "/shares/gone", None).await.0, 404);
    // A second run finds nothing to do.
    let again = api
        .provisioner
        .handle_invocation(scheduled_event())
        .await
        .unwrap();
    assert_eq!(again["swept"], json!([]));
    // An API Gateway event still goes to the API.
    let mut event = scheduled_event();
    event["source"] = json!("my.app");
    let response = api.provisioner.handle_invocation(event).await.unwrap();
    assert_eq!(response["statusCode"], 400);
}

#[tokio::test]
async fn a_failed_delete_fails_the_sweep_after_trying_the_rest() {
    let api = api(config(&[]));
    plant(
        &api,
        json!({"name": "a", "grantee_account": B}),
        &from_now(-60),
    )
    .await;
    plant(
        &api,
        json!({"name": "b", "grantee_account": C}),
        &from_now(-60),
    )
    .await;
    api.store
        .fail_write(1, throttled("Throttling: Rate exceeded"));
    let error = api
        .provisioner
        .handle_invocation(scheduled_event())
        .await
        .unwrap_err();
    assert_eq!(error.call(), "iam:DeleteRole");
    // The other one went; the failed one goes when Lambda retries.
    assert_eq!(api.store.role_names().len(), 1);
    let outcome = api
        .provisioner
        .handle_invocation(scheduled_event())
        .await
        .unwrap();
    assert_eq!(outcome["swept"].as_array().unwrap().len(), 1);
    assert!(api.store.role_names().is_empty());
}
