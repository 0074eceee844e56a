//! Admin commands: create, read, list (page by page), replace and delete
//! shares, revoke sessions and backfill, and how the API's errors show.

use serde_json::{json, Value};
use stand_in::api_gateway::{handler, ApiGateway, TestKey};
use stand_in::binary::{run, Run};
use stand_in::{unique, A, B, C, Z};

use super::{world, ADMIN_ARN, ADMIN_ID, ADMIN_SECRET, READER_ID, READER_SECRET};

/// The `next` token of a paged request's target, as sent (encoded).
fn page_token(target: &str) -> &str {
    target
        .split_once("&next=")
        .map(|(_, token)| token)
        .unwrap_or("<none>")
}

/// A failed command: non-zero, one line with status, code and field.
fn assert_api_error(out: &Run, status: u16, code: &str, field: Option<&str>) {
    assert_ne!(out.code, 0, "{out:?}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(
        line.starts_with(&format!("error: {status} {code}")),
        "{out:?}"
    );
    if let Some(field) = field {
        assert!(line.contains(&format!(" (field {field}): ")), "{out:?}");
    }
}

#[tokio::test]
async fn admin_commands_create_read_list_replace_and_delete_shares() {
    let w = world().await;

    // Role names are unique per account: every test names its shares.
    let (bu_b, auditor, bu_c) = (unique("bu-b"), unique("auditor-z"), unique("bu-c"));
    // Scenario 1 from flags: a table with the role and the grantee's command.
    let out = w.admin(&["shares", "create", "--name", &bu_b, "--grantee", B]);
    assert_eq!(out.code, 0, "{out:?}");
    let b_role = format!("trailshare-{bu_b}");
    assert!(out.stdout.contains(&b_role), "{out:?}");
    assert!(
        out.stdout.contains("aws sts assume-role --role-arn"),
        "{out:?}"
    );

    // Scenario 2 from flags, JSON out: every flag reached the API.
    let z = w.create(&[
        "--name",
        &auditor,
        "--grantee",
        Z,
        "--log-accounts",
        "*",
        "--external-id",
        "z-7f3a9c",
        "--principal",
        &format!("arn:aws:iam::{Z}:root"),
        "--max-session",
        "7200",
        "--delivery",
        "tag",
    ]);
    assert_eq!(z["name"], auditor.as_str());
    assert_eq!(z["log_accounts"], json!(["*"]));
    assert_eq!(z["external_id"], "z-7f3a9c");
    assert_eq!(z["max_session_seconds"], 7200);
    assert_eq!(
        z["grantee_principals"],
        json!([format!("arn:aws:iam::{Z}:root")])
    );
    assert_eq!(z["delivery"]["mode"], "tag");

    // get: table and JSON.
    let out = w.admin(&["shares", "get", &auditor]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("z-7f3a9c") && out.stdout.contains("mode=tag"),
        "{out:?}"
    );
    let out = w.admin(&["shares", "get", &auditor, "--json"]);
    assert_eq!(out.json()["role_arn"], z["role_arn"]);

    // list: both, sorted by name, as a table and as JSON.
    let out = w.admin(&["shares", "list"]);
    assert_eq!(out.code, 0, "{out:?}");
    let (first, second) = (
        out.stdout.find(&auditor).expect("Z listed"),
        out.stdout.find(&bu_b).expect("B listed"),
    );
    assert!(first < second, "{out:?}");
    let out = w.admin(&["shares", "list", "--json"]);
    let names: Vec<String> = out.json()["shares"]
        .as_array()
        .expect("shares")
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, [auditor.clone(), bu_b.clone()]);

    // Two pages of one: the provisioner's own next token is followed.
    let out = w.admin(&["shares", "list", "--page-size", "1", "--json"]);
    let paged: Vec<Value> = out.json()["shares"].as_array().expect("shares").clone();
    assert_eq!(paged.len(), 2, "{out:?}");
    assert_eq!(paged[0]["name"], auditor.as_str());
    assert_eq!(paged[1]["name"], bu_b.as_str());

    // put from flags replaces the whole share: the delivery is gone.
    let out = w.admin(&[
        "shares",
        "put",
        &auditor,
        "--json",
        "--grantee",
        Z,
        "--log-accounts",
        "*",
        "--external-id",
        "z-7f3a9c",
        "--max-session",
        "3600",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let replaced = out.json();
    assert_eq!(replaced["max_session_seconds"], 3600);
    assert!(
        replaced["delivery"].is_null() || replaced["delivery"]["mode"] == "none",
        "{replaced}"
    );

    // put from a file creates (201) a share of that name.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("share.json");
    std::fs::write(&file, json!({"grantee_account": C}).to_string()).unwrap();
    let out = w.admin(&[
        "shares",
        "put",
        &bu_c,
        "--json",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["grantee_account"], C);

    // delete, then the share is a 404.
    let out = w.admin(&["shares", "delete", &bu_c]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!("deleted share {bu_c}")),
        "{out:?}"
    );
    let out = w.admin(&["shares", "get", &bu_c]);
    assert_api_error(&out, 404, "not_found", Some("name"));

    // Every request was signed by the admin, JSON bodies typed as JSON, and
    // only the flags given were sent.
    let seen = w.gateway.seen();
    assert!(
        seen.iter().all(|s| s.caller.as_deref() == Some(ADMIN_ARN)),
        "{seen:?}"
    );
    let targets: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.target))
        .collect();
    assert_eq!(
        targets,
        [
            "POST /shares".to_string(),
            "POST /shares".to_string(),
            format!("GET /shares/{auditor}"),
            format!("GET /shares/{auditor}"),
            "GET /shares?limit=100".to_string(),
            "GET /shares?limit=100".to_string(),
            "GET /shares?limit=1".to_string(),
            format!("GET /shares?limit=1&next={}", page_token(&seen[7].target)),
            format!("PUT /shares/{auditor}"),
            format!("PUT /shares/{bu_c}"),
            format!("DELETE /shares/{bu_c}"),
            format!("GET /shares/{bu_c}"),
        ]
    );
    assert_eq!(
        serde_json::from_str::<Value>(&seen[0].body).unwrap(),
        json!({"name": bu_b, "grantee_account": B})
    );
    assert_eq!(
        serde_json::from_str::<Value>(&seen[9].body).unwrap(),
        json!({"grantee_account": C})
    );
    assert!(seen
        .iter()
        .filter(|s| !s.body.is_empty())
        .all(|s| s.content_type.as_deref() == Some("application/json")));
}

#[tokio::test]
async fn admin_errors_show_the_apis_code_message_and_field_and_fail() {
    let w = world().await;
    let taken = unique("bu-b");
    w.create(&["--name", &taken, "--grantee", B]);

    // Invalid: another account's logs without an external id.
    let out = w.admin(&[
        "shares",
        "create",
        "--name",
        "x",
        "--grantee",
        B,
        "--log-accounts",
        &format!("{B},{C}"),
    ]);
    assert_api_error(&out, 400, "", Some("external_id"));
    // A typo in a file is refused by the API, not dropped by the CLI.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("share.json");
    std::fs::write(
        &file,
        r#"{"grantee_account": "222222222222", "log_acounts": ["*"]}"#,
    )
    .unwrap();
    let out = w.admin(&["shares", "create", "--file", file.to_str().unwrap()]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("error: 400") && out.stderr.contains("log_acounts"),
        "{out:?}"
    );
    // The name is taken.
    let out = w.admin(&["shares", "create", "--name", &taken, "--grantee", B]);
    assert_api_error(&out, 409, "conflict", Some("name"));
    // With --json the API's error body is printed as it is.
    let out = w.admin(&["shares", "delete", "nobody", "--json"]);
    assert_api_error(&out, 404, "not_found", Some("name"));
    assert_eq!(out.json()["error"]["code"], "not_found");
    // A bad share name is the API's 400, path-encoded on the way.
    let out = w.admin(&["shares", "get", "Upper Case"]);
    assert_api_error(&out, 400, "", Some("name"));
    assert_eq!(
        w.gateway.seen().last().unwrap().target,
        "/shares/Upper%20Case"
    );

    let later = unique("later");
    // expires_at and notify go to the API as given; the exit status follows
    // the API's answer, whatever this version of it accepts.
    let out = w.admin(&[
        "shares",
        "create",
        "--name",
        &later,
        "--grantee",
        C,
        "--expires-at",
        "2030-01-01T00:00:00Z",
        "--notify-queue",
        &format!("arn:aws:sqs:us-east-1:{C}:new-logs"),
    ]);
    let seen = w.gateway.seen();
    let last = seen.last().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&last.body).unwrap(),
        json!({"name": later, "grantee_account": C, "expires_at": "2030-01-01T00:00:00Z",
               "notify": {"queue_arn": format!("arn:aws:sqs:us-east-1:{C}:new-logs")}})
    );
    assert_eq!(out.code == 0, (200..300).contains(&last.status), "{out:?}");
    if out.code != 0 {
        assert!(
            out.stderr.contains(&format!("error: {}", last.status)),
            "{out:?}"
        );
    }

    // A wrong secret or an unknown key: the gateway's 403, nothing reaches
    // the provisioner.
    let before = w.gateway.seen().len();
    for (id, secret) in [
        (ADMIN_ID, "not-the-secret"),
        ("AKIAUNKNOWNKEY000000", ADMIN_SECRET),
    ] {
        let out = run(
            &["shares", "list", "--api", &w.gateway.url],
            &[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)],
        );
        assert_ne!(out.code, 0, "{out:?}");
        assert!(out.stderr.contains("error: 403"), "{out:?}");
    }
    let seen = w.gateway.seen();
    assert!(seen[before..]
        .iter()
        .all(|s| s.caller.is_none() && s.status == 403));

    // Someone the API lets in but who is not an admin: reads, no changes.
    let reader = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--api", &w.gateway.url]);
        run(
            &all,
            &[
                ("AWS_ACCESS_KEY_ID", READER_ID),
                ("AWS_SECRET_ACCESS_KEY", READER_SECRET),
            ],
        )
    };
    let out = reader(&[
        "shares",
        "create",
        "--name",
        &unique("sneaky"),
        "--grantee",
        B,
    ]);
    assert_api_error(&out, 403, "forbidden", None);
    let out = reader(&["shares", "delete", &taken]);
    assert_api_error(&out, 403, "forbidden", None);
    let out = reader(&["shares", "get", &taken, "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["name"], taken.as_str());

    // No API: a usage error naming the flag and the variable.
    let out = run(&["shares", "list"], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--api"), "{out:?}");
    // TRAILSHARE_API works in its place.
    let out = run(
        &["shares", "list", "--json"],
        &[
            ("TRAILSHARE_API", &w.gateway.url),
            ("AWS_ACCESS_KEY_ID", ADMIN_ID),
            ("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    // No credentials at all: a clear error, no request.
    let before = w.gateway.seen().len();
    let out = run(&["shares", "list", "--api", &w.gateway.url], &[]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("credentials"), "{out:?}");
    assert_eq!(w.gateway.seen().len(), before);
}

#[tokio::test]
async fn revoke_sessions_and_backfill_send_signed_posts_and_render_the_answer() {
    let w = world().await;
    let share = w.create(&["--name", &unique("bu-b"), "--grantee", B]);
    let name = share["name"].as_str().unwrap();

    let out = w.admin(&["shares", "revoke-sessions", name, "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let revoked = out.json();
    assert_eq!(revoked["name"], name);
    assert!(revoked["sessions_valid_after"].is_string(), "{revoked}");
    let seen = w.gateway.seen();
    let revoke = seen.last().unwrap();
    assert_eq!(
        (
            revoke.method.as_str(),
            revoke.target.as_str(),
            revoke.status
        ),
        (
            "POST",
            format!("/shares/{name}/revoke-sessions").as_str(),
            200
        )
    );
    assert_eq!(revoke.caller.as_deref(), Some(ADMIN_ARN));
    let out = w.admin(&["shares", "revoke-sessions", "nobody"]);
    assert_api_error(&out, 404, "not_found", Some("name"));

    // Backfill: 202, the answer as a table, the work on the forwarder queue.
    let out = w.admin(&[
        "shares",
        "backfill",
        name,
        "--from",
        "2024-05-01",
        "--until",
        "2024-05-02",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("queued") && out.stdout.contains(B),
        "{out:?}"
    );
    let seen = w.gateway.seen();
    let backfill = seen.last().unwrap();
    assert_eq!(
        (
            backfill.method.as_str(),
            backfill.target.as_str(),
            backfill.status
        ),
        ("POST", format!("/shares/{name}/backfill").as_str(), 202)
    );
    assert_eq!(
        serde_json::from_str::<Value>(&backfill.body).unwrap(),
        json!({"from": "2024-05-01", "until": "2024-05-02"})
    );
    let messages = aws_sdk_sqs::Client::new(&w.aws.admin(A).await)
        .receive_message()
        .queue_url(&w.queue)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert!(
        messages
            .iter()
            .any(|m| m.body().unwrap_or_default().contains(name)),
        "{messages:?}"
    );
    // --until is the API's default (today) when not given: not sent.
    let recent = time::OffsetDateTime::now_utc().date() - time::Duration::days(3);
    let recent = format!(
        "{}-{:02}-{:02}",
        recent.year(),
        u8::from(recent.month()),
        recent.day()
    );
    let out = w.admin(&["shares", "backfill", name, "--from", &recent, "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["backfill"]["from"], recent.as_str());
    assert_eq!(
        serde_json::from_str::<Value>(&w.gateway.seen().last().unwrap().body).unwrap(),
        json!({ "from": recent })
    );
    // A bad date is the API's 400 naming the field.
    let out = w.admin(&["shares", "backfill", name, "--from", "2024-13-01"]);
    assert_api_error(&out, 400, "", Some("from"));
}

#[tokio::test]
async fn list_follows_the_apis_pages() {
    // The provisioner does not page yet; this gateway answers as the
    // contract says a paging API does (limit and an opaque next token).
    let pages = handler(|event: Value| async move {
        let next = event["queryStringParameters"]["next"]
            .as_str()
            .map(str::to_string);
        let body = match next.as_deref() {
            None => json!({"shares": [{"name": "a-1"}, {"name": "a-2"}], "next": "tok/1+="}),
            Some("tok/1+=") => {
                json!({"shares": [{"name": "b-1", "status": "damaged", "error": "tags"}]})
            }
            Some(other) => {
                json!({"error": {"code": "invalid", "message": format!("bad token {other}"), "field": "next"}})
            }
        };
        let status = if body.get("error").is_some() {
            400
        } else {
            200
        };
        json!({"statusCode": status, "body": body.to_string()})
    });
    let gateway = ApiGateway::start(vec![TestKey::new(ADMIN_ID, ADMIN_SECRET, ADMIN_ARN)], pages);
    let env = [
        ("AWS_ACCESS_KEY_ID", ADMIN_ID),
        ("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET),
        ("TRAILSHARE_API", gateway.url.as_str()),
    ];
    let out = run(&["shares", "list", "--json"], &env);
    assert_eq!(out.code, 0, "{out:?}");
    let names: Vec<String> = out.json()["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a-1", "a-2", "b-1"]);
    let out = run(&["shares", "list"], &env);
    assert!(
        out.stdout.contains("b-1") && out.stdout.contains("damaged"),
        "{out:?}"
    );
    let targets: Vec<String> = gateway.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(
        targets[..2],
        ["/shares?limit=100", "/shares?limit=100&next=tok%2F1%2B%3D"]
    );
}
