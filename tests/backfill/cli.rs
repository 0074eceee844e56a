//! `trailshare shares backfill --wait`, `backfill-status`, `backfill-cancel`.

use std::sync::Arc;
use std::time::Duration;

use provisioner::Provisioner;
use serde_json::json;
use stand_in::api_gateway::{handler, ApiGateway, TestKey};
use stand_in::fault_proxy::FaultProxy;
use trailshare::aws::{IamRoles, S3Runs, SqsQueue};

use stand_in::binary::{run, Run};

use crate::{config, drain, world, World, ADMIN, DAY};

const KEY: &str = "AKIATESTBACKFILLADM1";
const SECRET: &str = "backfill-admin-secret";

/// The API Gateway stand-in in front of the world's provisioner, which
/// knows the admin's key.
fn gateway(w: &World) -> ApiGateway {
    let api = Arc::new(
        Provisioner::new(
            IamRoles::from_sdk(&w.admin),
            config(&w.vars),
            stand_in::share_key(),
        )
        .with_queue(SqsQueue::new(&w.admin, &w.queue))
        .with_runs(S3Runs::new(&w.admin, &w.runs)),
    );
    ApiGateway::start(
        vec![TestKey::new(KEY, SECRET, ADMIN)],
        handler(move |event| {
            let api = api.clone();
            async move { api.handle_event(event).await }
        }),
    )
}

/// `trailshare <args> --api <gateway>` as the admin, on a blocking thread.
fn cli(gateway: &ApiGateway, args: &[&str]) -> tokio::task::JoinHandle<Run> {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(["--api".to_string(), gateway.url.clone()]);
    tokio::task::spawn_blocking(move || {
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run(
            &all,
            &[
                ("AWS_ACCESS_KEY_ID", KEY),
                ("AWS_SECRET_ACCESS_KEY", SECRET),
            ],
        )
    })
}

/// `trailshare shares backfill … --wait --json` follows the run until it is
/// done (here while the forwarder drains the queue) and prints it;
/// `backfill-status` and `backfill-cancel` show and cancel one.
#[tokio::test]
async fn the_cli_waits_for_a_run_and_shows_and_cancels_one() {
    let w = world(30).await;
    w.files(&["us-east-1"], 2).await;
    let share = w.share().await;
    let proxy = FaultProxy::start(&w.aws.url);
    let forwarder = w.forwarder(&proxy).await;
    let gateway = gateway(&w);
    let cli = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&gateway, &args)
    };
    let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let waiting = cli(args(&[
        "shares", "backfill", &share, "--from", DAY, "--until", DAY, "--wait", "--every", "0.2",
        "--json",
    ]));
    // The run exists once its first item is on the queue: then drain.
    while stand_in::lambda::QueueTrigger::new(&w.admin, &w.queue)
        .visible()
        .await
        == 0
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drain(&w, &forwarder).await;
    let out = waiting.await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let run = out.json();
    assert_eq!(
        (run["state"].as_str(), &run["files"]["delivered"]),
        (Some("done"), &json!(2)),
        "{run}"
    );
    let id = run["id"].as_str().unwrap().to_string();

    let out = cli(args(&["shares", "backfill-status", &share, &id]))
        .await
        .unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("done") && out.stdout.contains("delivered=2"),
        "{out:?}"
    );
    // A new run, not followed: its id and how to follow it; then cancelled.
    let out = cli(args(&[
        "shares", "backfill", &share, "--from", DAY, "--until", DAY,
    ]))
    .await
    .unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let second = out
        .stdout
        .split_whitespace()
        .find(|w| trailshare::backfill::is_run_id(w))
        .expect("the id")
        .to_string();
    assert!(
        out.stdout
            .contains(&format!("backfill-status {share} {second} --wait")),
        "{out:?}"
    );
    let out = cli(args(&[
        "shares",
        "backfill-cancel",
        &share,
        &second,
        "--json",
    ]))
    .await
    .unwrap();
    assert_eq!(
        (out.code, out.json()["state"].as_str()),
        (0, Some("cancelled")),
        "{out:?}"
    );
    // Waiting for a cancelled run ends at once, and fails.
    let out = cli(args(&[
        "shares",
        "backfill-status",
        &share,
        &second,
        "--wait",
    ]))
    .await
    .unwrap();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("the run is cancelled"), "{out:?}");
    let out = cli(args(&[
        "shares",
        "backfill-status",
        &share,
        "ffffffffffffffffffffffff",
    ]))
    .await
    .unwrap();
    assert!(
        out.code != 0 && out.stderr.contains("error: 404 not_found (field id)"),
        "{out:?}"
    );
}
