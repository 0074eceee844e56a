//! Issue item 2: a run's progress, a repeat, a cancel, a forged run.

use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::fault_proxy::FaultProxy;
use stand_in::A;
use trailshare::aws::IamRoles;

use crate::{call, config, drain, tagging_calls, world, ADMIN, DAY};

/// Issue item 2: a run shows its items and files until done; a repeated
/// run of a window already done costs one read a file and says so.
#[tokio::test]
async fn a_run_counts_its_work_and_a_repeat_costs_a_read_a_file() {
    let w = world(30).await;
    let keys = w.files(&["us-east-1", "eu-west-1"], 3).await;
    let share = w.share().await;
    let proxy = FaultProxy::start(&w.aws.url);
    let forwarder = w.forwarder(&proxy).await;

    let first = w.backfill(&share).await;
    let run = w.run(&share, &first).await;
    assert_eq!(
        (run["state"].as_str(), &run["items"]),
        (
            Some("running"),
            &json!({"queued": 1, "done": 0, "failed": 0})
        )
    );
    assert_eq!(
        (
            run["share"].as_str(),
            run["from"].as_str(),
            run["created_by"].as_str()
        ),
        (Some(share.as_str()), Some(DAY), Some(ADMIN))
    );
    drain(&w, &forwarder).await;
    let run = w.run(&share, &first).await;
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(
        run["items"],
        json!({"queued": 4, "done": 4, "failed": 0}),
        "account, day, two folders"
    );
    assert_eq!(
        run["files"],
        json!({"delivered": 6, "already_done": 0, "skipped": 0, "failed": 0})
    );

    // The same window again: every file is already done, at one read each.
    let before = proxy.counts().log.len();
    let again = w.backfill(&share).await;
    drain(&w, &forwarder).await;
    let run = w.run(&share, &again).await;
    assert_eq!(
        run["files"],
        json!({"delivered": 0, "already_done": 6, "skipped": 0, "failed": 0})
    );
    let log = proxy.counts().log[before..].to_vec();
    for key in &keys {
        assert_eq!(tagging_calls(&log, "GET", &w.trail, key), 1, "{key}");
        assert_eq!(tagging_calls(&log, "PUT", &w.trail, key), 0, "{key}");
    }
}

/// A cancelled run's items do nothing; a run object forged by someone else
/// (a cancel, here) is not believed: not by the API (409), not by the
/// forwarder (the work is done, uncounted).
#[tokio::test]
async fn a_cancelled_run_does_nothing_and_a_forged_cancel_stops_nothing() {
    let w = world(30).await;
    let share = w.share().await;
    let proxy = FaultProxy::start(&w.aws.url);
    let forwarder = w.forwarder(&proxy).await;
    let late = w.files(&["ap-south-1"], 1).await;

    let cancelled = w.backfill(&share).await;
    let path = format!("/shares/{share}/backfill/{cancelled}");
    let (status, run) = w.api("DELETE", &path, Value::Null).await;
    assert_eq!(
        (status, run["state"].as_str()),
        (200, Some("cancelled")),
        "{run}"
    );
    assert_eq!(run["cancelled_by"], ADMIN);
    drain(&w, &forwarder).await;
    assert!(
        !w.tagged(&late[0]).await,
        "a cancelled run delivered nothing"
    );
    let run = w.run(&share, &cancelled).await;
    assert_eq!(
        (run["state"].as_str(), &run["items"]["done"]),
        (Some("cancelled"), &json!(0))
    );

    let forged = w.backfill(&share).await;
    w.forge_cancel(&share, &forged).await;
    let path = format!("/shares/{share}/backfill/{forged}");
    let (status, error) = w.api("GET", &path, Value::Null).await;
    let error = &error["error"];
    assert_eq!(
        (status, error["code"].as_str(), error["field"].as_str()),
        (409, Some("damaged"), Some("id")),
        "{error}"
    );
    drain(&w, &forwarder).await;
    assert!(
        w.tagged(&late[0]).await,
        "the forged cancel stopped nothing"
    );
}

/// Bad requests change nothing and name the field; reads need no
/// administrator, a cancel does; without BACKFILL_BUCKET a GET says runs
/// are not kept.
#[tokio::test]
async fn bad_run_requests_name_the_field_and_a_cancel_needs_an_admin() {
    let w = world(30).await;
    let share = w.share().await;
    let first = w.backfill(&share).await;
    for (method, id, status, field) in [
        ("GET", "not-a-run-id", 400, "id"),
        ("GET", "0123456789ABCDEF01234567", 400, "id"),
        ("GET", "ffffffffffffffffffffffff", 404, "id"),
        ("DELETE", "ffffffffffffffffffffffff", 404, "id"),
    ] {
        let path = format!("/shares/{share}/backfill/{id}");
        let (got, error) = w.api(method, &path, Value::Null).await;
        let got = (got, error["error"]["field"].as_str());
        assert_eq!(got, (status, Some(field)), "{method} {id}: {error}");
    }
    let reader = format!("arn:aws:iam::{A}:user/reader");
    let path = format!("/shares/{share}/backfill/{first}");
    assert_eq!(
        call(&w.api, &reader, "GET", &path, Value::Null).await.0,
        200
    );
    assert_eq!(
        call(&w.api, &reader, "DELETE", &path, Value::Null).await.0,
        403
    );
    assert_eq!(
        w.run(&share, &first).await["state"],
        "running",
        "the refused cancel changed nothing"
    );
    let mut vars = w.vars.clone();
    vars.retain(|(k, _)| *k != "BACKFILL_BUCKET");
    let unkept = Provisioner::new(
        IamRoles::from_sdk(&w.admin),
        config(&vars),
        stand_in::share_key(),
    );
    let (status, error) = call(&unkept, ADMIN, "GET", &path, Value::Null).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (503, Some("not_configured"))
    );
}
