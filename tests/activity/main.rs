//! `GET /shares/{name}/activity` and `trailshare shares activity` on the
//! stand-in through the real SDK: activity objects written as the
//! forwarder writes them (`shared::activity::to_jsonl`, one object per
//! share, day and source file), read back by the provisioner signed as a
//! user with the template's read-only grant on the activity bucket,
//! through a proxy that counts every request.

mod cli;

use aws_config::SdkConfig;
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::fault_proxy::FaultProxy;
use stand_in::world::World;
use stand_in::{s3, stand_in, unique, A, B, C};
use trailshare::activity::{object_key, to_jsonl, ActivityLine, Assumption, Read};
use trailshare::aws::{IamRoles, S3Activity};

/// The organization of the organization share's tests.
const ORG: &str = "o-a1b2c3d4e5";
/// The window asked for, and a day before it that must not be read.
const BEFORE: &str = "2025-03-01";
const FROM: &str = "2025-03-02";
const UNTIL: &str = "2025-03-03";

/// A world with an activity bucket, a provisioner that reads it through a
/// counting proxy, and the user it is signed as.
struct Stack {
    world: World,
    activity: String,
    proxy: FaultProxy,
    /// The provisioner's user, through the proxy.
    reader: SdkConfig,
}

/// What the template grants the provisioner on the activity bucket.
fn reader_policy(bucket: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/share=*")},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{bucket}"),
         "Condition": {"StringLike": {"s3:prefix": "share=*"}}}]})
}

async fn stack() -> Stack {
    let aws = stand_in();
    let activity = aws.bucket(A, "activity").await;
    // An organization share needs the stack's account, which the share
    // secret's ARN names (the key itself is the tests' own).
    let secret = format!("arn:aws:secretsmanager:us-east-1:{A}:secret:trailshare-share-secret");
    let mut world = World::new(&[
        ("ORGANIZATION_ID", ORG),
        ("ACTIVITY_BUCKET", activity.as_str()),
        ("SHARE_SECRET_ARN", secret.as_str()),
    ])
    .await;
    let reader = aws
        .user(A, &unique("provisioner"), &reader_policy(&activity))
        .await;
    let proxy = FaultProxy::start(&aws.url);
    let reader = proxy.config(&reader);
    world.provisioner = provisioner(&world, &reader, &activity);
    Stack {
        world,
        activity,
        proxy,
        reader,
    }
}

/// The stack's provisioner: shares through A's administrator, activity
/// through `reader`.
fn provisioner(world: &World, reader: &SdkConfig, activity: &str) -> Provisioner<IamRoles> {
    Provisioner::new(
        IamRoles::from_sdk(&world.admin),
        world.config.clone(),
        stand_in::share_key(),
    )
    .with_activity(S3Activity::new(reader, activity))
}

fn at(day: &str, clock: &str) -> String {
    format!("{day}T{clock}Z")
}

fn assume(time: String, account: &str, principal: &str, session: &str) -> ActivityLine {
    ActivityLine::Assume(Assumption {
        time,
        account: account.into(),
        principal: principal.into(),
        arn: Some(format!(
            "arn:aws:sts::{account}:assumed-role/Reader/{session}"
        )),
        session_name: session.into(),
        source_ip: "198.51.100.7".into(),
        user_agent: "aws-cli/2".into(),
        ..Default::default()
    })
}

fn read(time: String, session: &str, account: Option<&str>, bytes: u64) -> ActivityLine {
    ActivityLine::Read(Read {
        time,
        action: "GetObject".into(),
        key: format!(
            "AWSLogs/{}/CloudTrail/us-east-1/x.json.gz",
            account.unwrap_or(B)
        ),
        bytes: Some(bytes),
        session_name: session.into(),
        account: account.map(str::to_string),
        source_ip: "203.0.113.9".into(),
        error_code: None,
        access_key_id: None,
    })
}

impl Stack {
    /// Writes one activity object as the forwarder does: the lines that one
    /// source log file of `day` yielded for `share`.
    async fn put(&self, share: &str, day: &str, source: &str, lines: &[ActivityLine]) {
        self.put_raw(share, day, source, to_jsonl(lines)).await;
    }

    async fn put_raw(&self, share: &str, day: &str, source: &str, body: String) {
        let source = format!(
            "AWSLogs/{A}/CloudTrail/us-east-1/2025/03/01/{A}_CloudTrail_us-east-1_{source}.json.gz"
        );
        s3(&self.world.admin)
            .put_object()
            .bucket(&self.activity)
            .key(object_key(share, day, &source))
            .body(body.into_bytes().into())
            .send()
            .await
            .expect("put an activity object");
    }

    async fn activity(&self, share: &str, query: &str) -> (u64, Value) {
        let path = format!("/shares/{share}/activity{query}");
        self.world.call("GET", &path, None).await
    }

    /// The activity bucket's requests since `from` in the proxy's log,
    /// percent-decoded.
    fn requests(&self, from: usize) -> Vec<String> {
        self.proxy.counts().log[from..]
            .iter()
            .filter(|l| l.contains(&self.activity))
            .map(|l| {
                percent_encoding::percent_decode_str(l)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect()
    }
}

/// Each principal of the answer by (account, principal).
fn principal<'a>(answer: &'a Value, account: &str, who: &str) -> &'a Value {
    answer["principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["account"] == account && p["principal"] == who)
        .unwrap_or_else(|| panic!("no {account} {who} in {answer}"))
}

/// Issue 25 item 2: assumes (allowed and denied), reads under the
/// principal whose assume issued their session (even the day after), a
/// read no assume explains under "unknown", lines that are not activity
/// skipped; only the share's folders of the days asked for are read.
#[tokio::test]
async fn activity_is_summarized_per_principal_from_the_days_asked_only() {
    let s = stack().await;
    let share = s.world.share(json!({"grantee_account": B})).await["name"]
        .as_str()
        .unwrap()
        .to_string();
    let other = format!("{share}-other");
    let alice = "AROAB00000000000ALICE:alice";
    s.put(
        &share,
        BEFORE,
        "20250301T2355Z_a",
        &[
            assume(at(BEFORE, "23:50:00"), B, "AROAB:carol", "carol"),
            read(at(BEFORE, "23:51:00"), "carol", None, 1),
        ],
    )
    .await;
    s.put(
        &share,
        FROM,
        "20250302T1000Z_b",
        &[
            assume(at(FROM, "10:00:00"), B, alice, "alice"),
            read(at(FROM, "10:01:00"), "alice", None, 1000),
        ],
    )
    .await;
    let mut refused = assume(at(FROM, "10:02:00"), C, "AIDAC:mallory", "m");
    if let ActivityLine::Assume(line) = &mut refused {
        line.error_code = Some("AccessDenied".into());
    }
    s.put(&share, FROM, "20250302T1005Z_c", &[refused]).await;
    s.put_raw(&share, UNTIL, "20250303T0005Z_d", format!(
        "{}not a line\u{1b}[2J\n{{\"kind\":\"assume\",\"time\":\"soon\",\"account\":\"x\",\"principal\":\"y\"}}\n",
        to_jsonl(&[
            read(at(UNTIL, "00:01:00"), "alice", None, 24),
            read(at(UNTIL, "00:02:00"), "carol", None, 5),
        ])
    )).await;
    s.put(
        &other,
        FROM,
        "20250302T1000Z_b",
        &[read(at(FROM, "10:01:00"), "alice", None, 7)],
    )
    .await;

    let before = s.proxy.counts().log.len();
    let (status, answer) = s
        .activity(&share, &format!("?from={FROM}&until={UNTIL}"))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (
            &answer["share"],
            &answer["from"],
            &answer["until"],
            &answer["complete"]
        ),
        (&json!(share), &json!(FROM), &json!(UNTIL), &json!(true))
    );
    let a = principal(&answer, B, alice);
    assert_eq!(
        (
            &a["assumed"],
            &a["denied"],
            &a["files_read"],
            &a["bytes_read"]
        ),
        (&json!(1), &json!(0), &json!(2), &json!(1024)),
        "{a}"
    );
    assert_eq!(
        (&a["first"], &a["last"]),
        (&json!(at(FROM, "10:00:00")), &json!(at(UNTIL, "00:01:00")))
    );
    assert_eq!(a["source_ips"], json!(["198.51.100.7", "203.0.113.9"]));
    let m = principal(&answer, C, "AIDAC:mallory");
    assert_eq!(
        (&m["assumed"], &m["denied"], &m["files_read"]),
        (&json!(0), &json!(1), &json!(0))
    );
    // carol assumed before the window: her read is unexplained here.
    let unknown = principal(&answer, "unknown", "unknown");
    assert_eq!(
        (&unknown["files_read"], &unknown["bytes_read"]),
        (&json!(1), &json!(5))
    );
    assert_eq!(
        answer["principals"].as_array().unwrap().len(),
        3,
        "{answer}"
    );
    assert_eq!(
        answer["lines"],
        json!({"counted": 5, "skipped": 2, "dropped": 0})
    );
    assert_eq!(answer["objects"], json!({"read": 3, "skipped": 0}));
    assert_eq!(
        answer["accounts"],
        json!([{"account": B, "last_used": at(UNTIL, "00:01:00")}])
    );

    // One listing of each day asked for and one GET per object in it:
    // nothing of the day before, nothing of another share.
    let requests = s.requests(before);
    let lists: Vec<&String> = requests
        .iter()
        .filter(|r| r.contains("list-type=2"))
        .collect();
    assert_eq!(lists.len(), 2, "{requests:#?}");
    for day in [FROM, UNTIL] {
        let folder = format!("prefix=share={share}/date={day}/");
        assert_eq!(
            lists.iter().filter(|r| r.contains(&folder)).count(),
            1,
            "{requests:#?}"
        );
    }
    assert_eq!(requests.len(), 2 + 3, "{requests:#?}");
    assert!(
        !requests
            .iter()
            .any(|r| r.contains(BEFORE) || r.contains(&other)),
        "{requests:#?}"
    );

    // The default window (the last 7 days up to today) holds none of it.
    let (status, recent) = s.activity(&share, "").await;
    assert_eq!(
        (status, &recent["principals"]),
        (200, &json!([])),
        "{recent}"
    );
}

/// An organization share: each member's reads count under its own member's
/// assume, though every member's reader uses the same session name; each
/// member's last use is in `accounts`, where GET of the share points.
#[tokio::test]
async fn an_organization_share_counts_each_member_and_get_points_there() {
    let s = stack().await;
    let name = unique("members");
    let (status, share) = s
        .world
        .call(
            "PUT",
            &format!("/shares/{name}"),
            Some(json!({"organization": {}})),
        )
        .await;
    assert_eq!(status, 201, "{share}");
    let session = "trailshare";
    s.put(
        &name,
        UNTIL,
        "20250303T1000Z_a",
        &[
            assume(at(UNTIL, "10:00:00"), B, "AROAB:reader", session),
            assume(at(UNTIL, "10:00:30"), C, "AROAC:reader", session),
            read(at(UNTIL, "10:01:00"), session, Some(B), 10),
            read(at(UNTIL, "10:02:00"), session, Some(C), 20),
            read(at(UNTIL, "10:03:00"), session, Some(C), 40),
        ],
    )
    .await;
    let (status, answer) = s
        .activity(&name, &format!("?from={UNTIL}&until={UNTIL}"))
        .await;
    assert_eq!(status, 200, "{answer}");
    let b = principal(&answer, B, "AROAB:reader");
    let c = principal(&answer, C, "AROAC:reader");
    assert_eq!(
        (&b["files_read"], &b["bytes_read"]),
        (&json!(1), &json!(10)),
        "{answer}"
    );
    assert_eq!(
        (&c["files_read"], &c["bytes_read"]),
        (&json!(2), &json!(60)),
        "{answer}"
    );
    assert_eq!(
        answer["accounts"],
        json!([{"account": B, "last_used": at(UNTIL, "10:01:00")},
               {"account": C, "last_used": at(UNTIL, "10:03:00")}])
    );
    let (status, got) = s.world.call("GET", &format!("/shares/{name}"), None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got["last_used_per_member"],
        json!(format!("/shares/{name}/activity"))
    );
    // A share of one grantee has no members to point to.
    let single = s.world.share(json!({"grantee_account": B})).await;
    assert!(single.get("last_used_per_member").is_none(), "{single}");
}

/// 404 for a share that does not exist, 400 naming the bad parameter,
/// 405 for another method, 503 without ACTIVITY_BUCKET; none of them reads
/// the activity bucket. Reading needs no administrator.
#[tokio::test]
async fn bad_requests_name_the_field_and_read_nothing() {
    let s = stack().await;
    let share = s.world.share(json!({"grantee_account": B})).await["name"]
        .as_str()
        .unwrap()
        .to_string();
    let before = s.proxy.counts().log.len();
    let (status, error) = s.activity("no-such-share", "").await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (404, &json!("not_found")),
        "{error}"
    );
    for (query, field) in [
        ("?from=2025-3-01", "from"),
        ("?until=2999-01-01", "until"),
        ("?from=2025-03-05&until=2025-03-04", "from"),
        ("?from=2024-03-01&until=2025-03-03", "from"),
        ("?since=2025-03-01", "since"),
    ] {
        let (status, error) = s.activity(&share, query).await;
        assert_eq!(
            (status, error["error"]["field"].as_str()),
            (400, Some(field)),
            "{query}: {error}"
        );
    }
    let path = format!("/shares/{share}/activity");
    let (status, _) = s.world.call("POST", &path, Some(json!({}))).await;
    assert_eq!(status, 405);
    assert!(s.requests(before).is_empty(), "{:#?}", s.requests(before));
    let reader = format!("arn:aws:iam::{A}:user/auditor");
    let event = stand_in::api_event("GET", &path, &Value::Null, &reader);
    let response = s.world.provisioner.handle_event(event).await;
    assert_eq!(response["statusCode"], 200, "{response}");

    let unkept = Provisioner::new(
        IamRoles::from_sdk(&s.world.admin),
        s.world.config.clone(),
        stand_in::share_key(),
    );
    let event = stand_in::api_event("GET", &path, &Value::Null, stand_in::world::ADMIN);
    let response = unkept.handle_event(event).await;
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (&response["statusCode"], &body["error"]["code"]),
        (&json!(503), &json!("not_configured")),
        "{body}"
    );
}
