//! `trailshare shares activity NAME [--from D] [--until D] [--json]`
//! through the API Gateway stand-in, signed as a user who is no
//! administrator (reads are open to every caller the API lets in).

use std::sync::Arc;

use serde_json::json;
use stand_in::api_gateway::{handler, ApiGateway, TestKey};
use stand_in::binary::run;
use stand_in::{A, B};

use crate::{assume, at, provisioner, read, stack, FROM, UNTIL};

const KEY: &str = "AKIATESTACTIVITYRDR1";
const SECRET: &str = "activity-reader-secret";

#[tokio::test]
async fn the_cli_shows_a_share_s_activity_as_a_table_and_as_json() {
    let s = stack().await;
    let share = s.world.share(json!({"grantee_account": B})).await["name"]
        .as_str()
        .unwrap()
        .to_string();
    s.put(
        &share,
        UNTIL,
        "20250303T1000Z_a",
        &[
            assume(at(UNTIL, "10:00:00"), B, "AROAB:alice", "alice"),
            read(at(UNTIL, "10:01:00"), "alice", None, 4096),
            read(at(UNTIL, "10:02:00"), "nobody", None, 1),
        ],
    )
    .await;
    let api = Arc::new(provisioner(&s.world, &s.reader, &s.activity));
    let gateway = ApiGateway::start(
        vec![TestKey::new(
            KEY,
            SECRET,
            &format!("arn:aws:iam::{A}:user/auditor"),
        )],
        handler(move |event| {
            let api = api.clone();
            async move { api.handle_event(event).await }
        }),
    );
    let cli = |args: Vec<String>| {
        let url = gateway.url.clone();
        tokio::task::spawn_blocking(move || {
            let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
            all.extend(["--api", &url]);
            run(
                &all,
                &[
                    ("AWS_ACCESS_KEY_ID", KEY),
                    ("AWS_SECRET_ACCESS_KEY", SECRET),
                ],
            )
        })
    };
    let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();

    let out = cli(args(&[
        "shares", "activity", &share, "--from", FROM, "--until", UNTIL, "--json",
    ]))
    .await
    .unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let answer = out.json();
    assert_eq!(
        (&answer["from"], &answer["until"]),
        (&json!(FROM), &json!(UNTIL))
    );
    let alice = &answer["principals"][0];
    assert_eq!(
        (
            &alice["principal"],
            &alice["assumed"],
            &alice["files_read"],
            &alice["bytes_read"]
        ),
        (&json!("AROAB:alice"), &json!(1), &json!(1), &json!(4096)),
        "{answer}"
    );

    let out = cli(args(&[
        "shares", "activity", &share, "--from", UNTIL, "--until", UNTIL,
    ]))
    .await
    .unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    for part in [
        "AROAB:alice",
        "4096",
        "198.51.100.7",
        "unknown",
        "last used, per account:",
    ] {
        assert!(out.stdout.contains(part), "{part}: {}", out.stdout);
    }
    // The gateway saw the window as a query string.
    let seen = gateway.seen();
    assert!(
        seen.iter()
            .any(|r| r.target == format!("/shares/{share}/activity?from={UNTIL}&until={UNTIL}")),
        "{seen:?}"
    );

    // A bad day is a usage error before any request; the API's own
    // refusals are shown as they are.
    let requests = gateway.seen().len();
    let out = cli(args(&["shares", "activity", &share, "--from", "March"]))
        .await
        .unwrap();
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(gateway.seen().len(), requests);
    let out = cli(args(&["shares", "activity", "no-such-share"]))
        .await
        .unwrap();
    assert!(
        out.code != 0 && out.stderr.contains("404 not_found"),
        "{out:?}"
    );
}
