//! Nothing is lost under faults: the forwarder, driven the way SQS drives it
//! (batches of 10, failed messages redelivered, at most 5 receives, then the
//! dead-letter list), talks to the stand-in through `FaultProxy`, which fails
//! a seeded share of its HTTP attempts. The SDK's own retries stay on, as
//! deployed. `FAULT_SEED=<n>` replays another seed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::time::Instant;

use aws_config::SdkConfig;
use forwarder::Forwarder;
use futures_util::stream::{self, StreamExt};
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::fault_proxy::{Counts, Fault, FaultProxy, Rule, Scope};
use stand_in::{log_file, s3, stand_in, unique, StandIn, A, B, C, Z};
use trailshare::aws::{IamRoles, S3Objects};
use trailshare::config::Config;

/// A prefix with a space and a plus: keys travel encoded in notifications
/// and in URLs through the proxy.
const PREFIX: &str = "trail logs+x";
const MAX_RECEIVES: u32 = 5;
const BATCH: usize = 10;
/// Batches in flight at once (Lambda's concurrent pollers).
const POLLERS: usize = 4;
const COPY_ETAG: &str = "trailshare-source-etag";

/// The SDK's retry quota (token bucket) is shared by every S3 client of a
/// process, as in a deployed function; one scenario at a time keeps one
/// scenario's faults from spending another's retries.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn seed() -> u64 {
    std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261125)
}

type Fwd = Forwarder<IamRoles, S3Objects>;

struct World {
    aws: &'static StandIn,
    bucket: String,
    config: Config,
    admin: SdkConfig,
    shares: Provisioner<IamRoles>,
}

async fn world() -> World {
    let aws = stand_in();
    let bucket = aws.bucket(A, "trail").await;
    let vars = [
        ("TRAIL_BUCKET", bucket.clone()),
        ("TRAIL_PREFIX", PREFIX.to_string()),
        ("SHARE_ROLE_PATH", format!("/{}/", unique("trailshare"))),
        ("SHARE_CACHE_SECONDS", "60".to_string()),
        ("ADMIN_PRINCIPALS", format!("arn:aws:iam::{A}:user/admin")),
    ];
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("config");
    let admin = aws.admin(A).await;
    World {
        aws,
        bucket,
        shares: Provisioner::new(
            IamRoles::from_sdk(&admin),
            config.clone(),
            stand_in::share_key(),
        ),
        config,
        admin,
    }
}

impl World {
    /// Creates a share through the provisioner, uniquely named.
    async fn share(&self, mut body: Value) -> Value {
        body["name"] = json!(unique("share"));
        let event = stand_in::api_event(
            "POST",
            "/shares",
            &body,
            &format!("arn:aws:iam::{A}:user/admin"),
        );
        let response = self.shares.handle_event(event).await;
        assert_eq!(response["statusCode"], 201, "{response}");
        serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
    }

    /// A copy share to a new bucket of `grantee`, with the bucket policy
    /// `grantee_setup` gives; with `writer`, through a writer role in
    /// `grantee` set up as `grantee_setup` describes. Returns the bucket.
    async fn copy_share(
        &self,
        grantee: &str,
        log_accounts: &[&str],
        prefix: &str,
        writer: bool,
    ) -> (String, Option<String>) {
        let dest = self.aws.bucket(grantee, "dest").await;
        let admin = self.aws.admin(grantee).await;
        let writer_name = unique("trailshare-writer");
        let writer_arn = format!("arn:aws:iam::{grantee}:role/{writer_name}");
        let mut delivery = json!({"mode": "copy", "bucket": dest, "prefix": prefix});
        if writer {
            delivery["role_arn"] = json!(writer_arn);
        }
        let mut body =
            json!({"grantee_account": grantee, "log_accounts": log_accounts, "delivery": delivery});
        if log_accounts.iter().any(|a| *a != grantee) {
            body["external_id"] = json!(format!("ext-{}", unique("x")));
        }
        let share = self.share(body).await;
        let setup = &share["grantee_setup"];
        if let Some(policy) = setup
            .get("destination_bucket_policy")
            .filter(|p| !p.is_null())
        {
            s3(&admin)
                .put_bucket_policy()
                .bucket(&dest)
                .policy(policy.to_string())
                .send()
                .await
                .expect("destination bucket policy");
        }
        if !writer {
            return (dest, None);
        }
        let iam = aws_sdk_iam::Client::new(&admin);
        iam.create_role()
            .role_name(&writer_name)
            .assume_role_policy_document(setup["writer_role"]["trust_policy"].to_string())
            .send()
            .await
            .expect("writer role");
        iam.put_role_policy()
            .role_name(&writer_name)
            .policy_name("write")
            .policy_document(setup["writer_role"]["identity_policy"].to_string())
            .send()
            .await
            .expect("writer policy");
        (dest, Some(writer_arn))
    }

    /// The forwarder, signed as a user of A with the forwarder's
    /// permissions, talking to the stand-in through `proxy`.
    async fn forwarder(&self, proxy: &FaultProxy, destinations: &[&str], writers: &[&str]) -> Fwd {
        let mut resources = Vec::new();
        for bucket in destinations {
            resources.push(format!("arn:aws:s3:::{bucket}"));
            resources.push(format!("arn:aws:s3:::{bucket}/*"));
        }
        let mut statements = vec![
            json!({"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"],
                   "Resource": format!("arn:aws:s3:::{}/*", self.bucket)}),
            json!({"Effect": "Allow", "Action": ["iam:ListRoles", "iam:ListRoleTags", "iam:GetRole"], "Resource": "*"}),
        ];
        if !resources.is_empty() {
            statements.push(json!({"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject", "s3:ListBucket"],
                                   "Resource": resources}));
        }
        if !writers.is_empty() {
            statements
                .push(json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": writers}));
        }
        let user = self
            .aws
            .user(
                A,
                &unique("forwarder"),
                &json!({"Version": "2012-10-17", "Statement": statements}),
            )
            .await;
        let sdk = proxy.config(&user);
        Forwarder::new(
            IamRoles::from_sdk(&sdk),
            S3Objects::new(&sdk),
            self.config.clone(),
            stand_in::share_key(),
        )
    }
}

/// One log file of the suite.
struct LogObject {
    account: &'static str,
    key: String,
    body: Vec<u8>,
    /// Tags it had before the forwarder ran.
    tags: Vec<(String, String)>,
    metadata: HashMap<String, String>,
}

/// `n` log files, alternating between B and C; every tenth is a digest file
/// with its signature in user metadata; every fifth of B's has a tag of its own.
fn objects(n: usize) -> Vec<LogObject> {
    (0..n)
        .map(|i| {
            let account = if i % 2 == 0 { B } else { C };
            let day = 1 + i / 100;
            let hhmm = format!("{:02}{:02}", (i / 60) % 24, i % 60);
            let digest = i % 10 == 9;
            let key = if digest {
                format!("{PREFIX}/AWSLogs/{account}/CloudTrail-Digest/us-east-1/2024/05/{day:02}/{account}_CloudTrail-Digest_us-east-1_main_us-east-1_202405{day:02}T{hhmm}00Z.json.gz")
            } else {
                format!("{PREFIX}/AWSLogs/{account}/CloudTrail/us-east-1/2024/05/{day:02}/{account}_CloudTrail_us-east-1_202405{day:02}T{hhmm}Z_F{i:04}x.json.gz")
            };
            let mut metadata = HashMap::new();
            if digest {
                metadata.insert("signature".to_string(), format!("{i:04}3a5d1e9f"));
                metadata.insert("signing-algorithm".to_string(), "SHA256withRSA".to_string());
            }
            let tags = if account == B && i % 5 == 0 {
                vec![("team".to_string(), format!("blue-{i}"))]
            } else {
                Vec::new()
            };
            LogObject {
                account,
                key,
                body: log_file(account, &format!("Event{i}")),
                tags,
                metadata,
            }
        })
        .collect()
}

/// Puts the log files as CloudTrail does (straight to the stand-in).
async fn upload(w: &World, objects: &[LogObject]) {
    let client = s3(&w.admin);
    stream::iter(objects)
        .map(|o| {
            let client = client.clone();
            async move {
                let tagging = o
                    .tags
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&");
                client
                    .put_object()
                    .bucket(&w.bucket)
                    .key(&o.key)
                    .body(o.body.clone().into())
                    .content_type("application/json")
                    .content_encoding("gzip")
                    .set_metadata(Some(o.metadata.clone()))
                    .set_tagging((!tagging.is_empty()).then_some(tagging))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put {}: {e:?}", o.key));
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

/// Encodes a key the way S3 notifications do: `%XX`, then space as `+`.
fn notification_key(key: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'*');
    percent_encoding::utf8_percent_encode(key, SET)
        .to_string()
        .replace("%20", "+")
}

/// The S3 event notification S3 puts on the queue for one new object.
fn notification(bucket: &str, key: &str) -> String {
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-05-01T12:05:31.271Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLEID:regionalDeliverySession"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "trailshare-forwarder",
               "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": notification_key(key), "size": 2311, "sequencer": "0055AED6DCD90281E5"}}}]})
    .to_string()
}

struct Message {
    id: String,
    body: String,
    receives: u32,
}

/// An SQS event (as the event source mapping sends it) for `batch`.
fn sqs_event(batch: &[Message]) -> Value {
    json!({"Records": batch.iter().map(|m| json!({
        "messageId": m.id, "receiptHandle": format!("handle-{}-{}", m.id, m.receives), "body": m.body,
        "attributes": {"ApproximateReceiveCount": m.receives.to_string(), "SentTimestamp": "1714565131271",
                       "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1714565131281"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:us-east-1:{A}:trailshare-forwarder"), "awsRegion": "us-east-1"})).collect::<Vec<_>>()})
}

/// Where every message ended, and what it took.
#[derive(Default)]
struct Drained {
    acknowledged: BTreeSet<String>,
    dead: BTreeMap<String, u32>,
    receives: u64,
    invocations: u64,
    invocation_errors: u64,
    /// The most receives any acknowledged message took.
    max_receives_acknowledged: u32,
}

/// Delivers `messages` as an SQS event source mapping does: batches of 10,
/// a few in flight, the ones in `batchItemFailures` (all of them when the
/// invocation fails) visible again after the visibility timeout, and after
/// the 5th receive moved to the dead-letter list.
async fn drain(forwarder: &Fwd, messages: Vec<(String, String)>) -> Drained {
    let mut visible: Vec<Message> = messages
        .into_iter()
        .map(|(id, body)| Message {
            id,
            body,
            receives: 0,
        })
        .collect();
    let mut drained = Drained::default();
    while !visible.is_empty() {
        let mut batches: Vec<Vec<Message>> = Vec::new();
        while !visible.is_empty() {
            let rest = visible.split_off(visible.len().min(BATCH));
            batches.push(std::mem::replace(&mut visible, rest));
        }
        let results: Vec<(Vec<Message>, Option<BTreeSet<String>>)> = stream::iter(batches)
            .map(|mut batch| async move {
                for message in &mut batch {
                    message.receives += 1;
                }
                let event = sqs_event(&batch);
                let failed = match forwarder.handle_event(event).await {
                    Ok(response) => Some(
                        response["batchItemFailures"]
                            .as_array()
                            .unwrap_or_else(|| {
                                panic!("an SQS batch answers with batchItemFailures: {response}")
                            })
                            .iter()
                            .map(|f| {
                                f["itemIdentifier"]
                                    .as_str()
                                    .expect("itemIdentifier")
                                    .to_string()
                            })
                            .collect(),
                    ),
                    Err(_) => None,
                };
                (batch, failed)
            })
            .buffer_unordered(POLLERS)
            .collect()
            .await;
        for (batch, failed) in results {
            drained.invocations += 1;
            drained.receives += batch.len() as u64;
            if failed.is_none() {
                drained.invocation_errors += 1;
            }
            if let Some(failed) = &failed {
                for id in failed {
                    assert!(
                        batch.iter().any(|m| &m.id == id),
                        "batchItemFailures names {id}, not in the batch"
                    );
                }
            }
            for message in batch {
                let retry = failed.as_ref().is_none_or(|f| f.contains(&message.id));
                if !retry {
                    drained.max_receives_acknowledged =
                        drained.max_receives_acknowledged.max(message.receives);
                    drained.acknowledged.insert(message.id);
                } else if message.receives >= MAX_RECEIVES {
                    drained.dead.insert(message.id, message.receives);
                } else {
                    visible.push(message);
                }
            }
        }
    }
    drained
}

/// What is wrong with the delivery of `object`: its tags (when `tagged`, our
/// tag added and its own kept; otherwise untouched) and each copy in
/// `copies` (bucket, key prefix): identical bytes, content type and encoding,
/// the source's user metadata plus the source's ETag as the done-mark.
async fn check(
    w: &World,
    object: &LogObject,
    tagged: bool,
    copies: &[(&SdkConfig, &str, &str)],
) -> Vec<String> {
    let mut problems = Vec::new();
    let trail = s3(&w.admin);
    let source_etag = trail
        .head_object()
        .bucket(&w.bucket)
        .key(&object.key)
        .send()
        .await
        .expect("the source is still there")
        .e_tag
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    let mut tags: Vec<(String, String)> = trail
        .get_object_tagging()
        .bucket(&w.bucket)
        .key(&object.key)
        .send()
        .await
        .expect("source tags")
        .tag_set
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    tags.sort();
    let mut want = object.tags.clone();
    if tagged {
        want.push(("trailshare:account".to_string(), object.account.to_string()));
    }
    want.sort();
    if tags != want {
        problems.push(format!("{}: tags {tags:?}, want {want:?}", object.key));
    }
    for (owner, bucket, prefix) in copies {
        let key = format!("{prefix}{}", object.key);
        let copy = match s3(owner)
            .get_object()
            .bucket(*bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(copy) => copy,
            Err(e) => {
                problems.push(format!("s3://{bucket}/{key}: {:?}", e.into_service_error()));
                continue;
            }
        };
        let mut metadata = copy.metadata.clone().unwrap_or_default();
        // Marked with the source's ETag, or unmarked (kept as is by a
        // server-side copy) with the source's ETag as its own.
        let of_source = match metadata.remove(COPY_ETAG) {
            Some(mark) => mark == source_etag,
            None => {
                copy.e_tag.as_deref().map(|e| e.trim_matches('"')) == Some(source_etag.as_str())
            }
        };
        if copy.content_type.as_deref() != Some("application/json")
            || copy.content_encoding.as_deref() != Some("gzip")
            || metadata != object.metadata
            || !of_source
        {
            problems.push(format!(
                "s3://{bucket}/{key}: type {:?}, encoding {:?}, metadata {:?}, ETag {:?} (want {:?} and {COPY_ETAG} or ETag {source_etag})",
                copy.content_type, copy.content_encoding, copy.metadata, copy.e_tag, object.metadata
            ));
        }
        let bytes = copy.body.collect().await.expect("copy body").into_bytes();
        if bytes.as_ref() != object.body.as_slice() {
            problems.push(format!(
                "s3://{bucket}/{key}: {} bytes differ from the source's {}",
                bytes.len(),
                object.body.len()
            ));
        }
    }
    problems
}

async fn count_objects(owner: &SdkConfig, bucket: &str) -> usize {
    let mut pages = s3(owner)
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .send();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        n += page.expect("list").contents().len();
    }
    n
}

fn print_figures(
    name: &str,
    objects: usize,
    counts: &Counts,
    drained: &Drained,
    lost: usize,
    started: Instant,
) {
    let faults: Vec<String> = Fault::ALL
        .iter()
        .map(|k| format!("{k:?} {}", counts.faults.get(k).copied().unwrap_or(0)))
        .collect();
    // Straight to stderr, not through the test harness's capture: the
    // figures belong in `make test`'s output even when the test passes.
    let _ = writeln!(
        std::io::stderr(),
        "[{name}] seed {}: {objects} objects, {} messages acknowledged, {} dead-lettered; {} receives (at most {} for an acknowledged message) in {} invocations ({} failed whole); \
         {} HTTP attempts through the proxy, {} repeated; faults injected {} ({}); {} refused for a wrong ExpectedBucketOwner; lost = {lost}; {:.1} s",
        seed(),
        drained.acknowledged.len(),
        drained.dead.len(),
        drained.receives,
        drained.max_receives_acknowledged,
        drained.invocations,
        drained.invocation_errors,
        counts.requests,
        counts.repeats,
        counts.total_faults(),
        faults.join(", "),
        counts.owner_denied,
        started.elapsed().as_secs_f64(),
    );
}

fn messages_for(w: &World, objects: &[LogObject]) -> Vec<(String, String)> {
    objects
        .iter()
        .enumerate()
        .map(|(i, o)| (format!("m-{i:04}"), notification(&w.bucket, &o.key)))
        .collect()
}

/// (a) 500 files over a tag share (B), a copy share the forwarder writes
/// (C's files to C's bucket) and a copy share a writer role writes (every
/// file to Z's bucket), at 20 % faults: every file delivered exactly.
#[tokio::test]
async fn every_file_is_delivered_exactly_at_a_20_percent_fault_rate() {
    let _one = ONE_AT_A_TIME.lock().await;
    let started = Instant::now();
    let w = world().await;
    w.share(json!({"grantee_account": B, "delivery": {"mode": "tag"}}))
        .await;
    let (c_dest, _) = w.copy_share(C, &[C], "central/", false).await;
    let (z_dest, z_writer) = w.copy_share(Z, &["*"], "", true).await;
    let objects = objects(500);
    upload(&w, &objects).await;

    let proxy = FaultProxy::start(&w.aws.url);
    proxy.set_bucket_owner(&c_dest, C);
    proxy.set_bucket_owner(&z_dest, Z);
    proxy.set_rules(vec![Rule::new(Scope::All, 0.2, seed())]);
    let forwarder = w
        .forwarder(&proxy, &[&c_dest], &[z_writer.as_deref().unwrap()])
        .await;
    let drained = drain(&forwarder, messages_for(&w, &objects)).await;
    let counts = proxy.counts();

    let (c_admin, z_admin) = (w.aws.admin(C).await, w.aws.admin(Z).await);
    let problems: Vec<Vec<String>> = stream::iter(&objects)
        .map(|o| {
            let (c_admin, z_admin, c_dest, z_dest) = (&c_admin, &z_admin, &c_dest, &z_dest);
            let w = &w;
            async move {
                let mut copies = vec![(z_admin, z_dest.as_str(), "")];
                if o.account == C {
                    copies.push((c_admin, c_dest.as_str(), "central/"));
                }
                check(w, o, o.account == B, &copies).await
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let lost = problems.iter().filter(|p| !p.is_empty()).count();
    print_figures(
        "20% faults",
        objects.len(),
        &counts,
        &drained,
        lost,
        started,
    );

    assert!(drained.dead.is_empty(), "dead-lettered: {:?}", drained.dead);
    let problems: Vec<&String> = problems.iter().flatten().collect();
    assert!(
        problems.is_empty(),
        "{} problems, first: {:?}",
        problems.len(),
        &problems[..problems.len().min(10)]
    );
    assert_eq!(lost, 0);
    assert_eq!(drained.acknowledged.len(), objects.len());
    assert_eq!(
        count_objects(&c_admin, &c_dest).await,
        objects.len() / 2,
        "only C's files in C's bucket"
    );
    assert_eq!(count_objects(&z_admin, &z_dest).await, objects.len());
    for kind in Fault::ALL {
        assert!(
            counts.faults.get(&kind).copied().unwrap_or(0) > 0,
            "no {kind:?} injected: {counts:?}"
        );
    }
    assert!(
        counts.owner_unchecked.is_empty(),
        "requests to a destination without ExpectedBucketOwner: {:?}",
        counts.owner_unchecked
    );
}

/// (b) Every attempt on one destination fails: each message with a file
/// for it ends in the dead-letter list after 5 receives and none is
/// acknowledged, while the other shares' files, the same messages' other
/// targets included, are all delivered.
#[tokio::test]
async fn a_destination_that_always_fails_dead_letters_its_messages_and_spares_the_others() {
    let _one = ONE_AT_A_TIME.lock().await;
    let started = Instant::now();
    let w = world().await;
    w.share(json!({"grantee_account": B, "delivery": {"mode": "tag"}}))
        .await;
    let (c_dest, _) = w.copy_share(C, &[C], "central/", false).await;
    let (doomed, _) = w.copy_share(Z, &[C], "z/", false).await;
    let objects = objects(60);
    upload(&w, &objects).await;

    let proxy = FaultProxy::start(&w.aws.url);
    proxy.set_bucket_owner(&c_dest, C);
    proxy.set_bucket_owner(&doomed, Z);
    proxy.set_rules(vec![
        Rule {
            scope: Scope::Bucket(doomed.clone()),
            rate: 1.0,
            kinds: Fault::FAILING.to_vec(),
            seed: seed(),
        },
        Rule::new(Scope::All, 0.1, seed()),
    ]);
    let forwarder = w.forwarder(&proxy, &[&c_dest, &doomed], &[]).await;
    let messages = messages_for(&w, &objects);
    let drained = drain(&forwarder, messages.clone()).await;
    let counts = proxy.counts();

    let c_admin = w.aws.admin(C).await;
    let mut problems = Vec::new();
    for o in &objects {
        let copies = if o.account == C {
            vec![(&c_admin, c_dest.as_str(), "central/")]
        } else {
            vec![]
        };
        problems.extend(check(&w, o, o.account == B, &copies).await);
    }
    let touching: BTreeSet<String> = messages
        .iter()
        .zip(&objects)
        .filter(|(_, o)| o.account == C)
        .map(|((id, _), _)| id.clone())
        .collect();
    print_figures(
        "100% faults on one destination",
        objects.len(),
        &counts,
        &drained,
        problems.len(),
        started,
    );

    assert_eq!(
        drained.dead.keys().cloned().collect::<BTreeSet<_>>(),
        touching,
        "exactly the messages with a file for the failing destination"
    );
    assert!(
        drained.dead.values().all(|r| *r == MAX_RECEIVES),
        "{:?}",
        drained.dead
    );
    assert!(drained.acknowledged.is_disjoint(&touching));
    assert_eq!(drained.acknowledged.len(), objects.len() - touching.len());
    assert!(problems.is_empty(), "{problems:?}");
    assert!(
        counts.by_bucket.get(&doomed).copied().unwrap_or(0)
            >= (touching.len() * MAX_RECEIVES as usize) as u64
    );
}

/// (c) A destination owned by another account than the share's grantee
/// (a deleted bucket's name taken by someone else): S3 refuses every request
/// for the wrong `ExpectedBucketOwner`, the messages are dead-lettered, and
/// nothing lands in the stranger's bucket.
#[tokio::test]
async fn a_destination_owned_by_another_account_gets_nothing_and_dead_letters() {
    let _one = ONE_AT_A_TIME.lock().await;
    let started = Instant::now();
    let w = world().await;
    // B's share names a bucket that C owns.
    let foreign = w.aws.bucket(C, "foreign").await;
    w.share(json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": foreign}}))
        .await;
    let objects: Vec<LogObject> = objects(6).into_iter().filter(|o| o.account == B).collect();
    upload(&w, &objects).await;

    let proxy = FaultProxy::start(&w.aws.url);
    proxy.set_bucket_owner(&foreign, C);
    let forwarder = w.forwarder(&proxy, &[&foreign], &[]).await;
    let drained = drain(&forwarder, messages_for(&w, &objects)).await;
    let counts = proxy.counts();
    let c_admin = w.aws.admin(C).await;
    let in_foreign = count_objects(&c_admin, &foreign).await;
    print_figures(
        "foreign bucket owner",
        objects.len(),
        &counts,
        &drained,
        0,
        started,
    );

    assert_eq!(
        drained.dead.len(),
        objects.len(),
        "every message dead-lettered: {:?}",
        drained.dead
    );
    assert!(drained.acknowledged.is_empty());
    assert!(
        counts.owner_denied >= (objects.len() * MAX_RECEIVES as usize) as u64,
        "{counts:?}"
    );
    assert!(
        counts.owner_unchecked.is_empty(),
        "{:?}",
        counts.owner_unchecked
    );
    assert_eq!(
        in_foreign, 0,
        "nothing written to a bucket the grantee does not own"
    );
}

/// Each failure class the proxy makes (a 500, a throttle or a reset on the
/// destination; STS failing for the writer role) fails the record while the
/// message's other targets are done, and the redelivery redoes only what is
/// not done: no second tagging, no second write of a finished copy.
#[tokio::test]
async fn each_failure_class_fails_the_record_and_the_retry_redoes_only_what_is_not_done() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    w.share(json!({"grantee_account": B, "delivery": {"mode": "tag"}}))
        .await;
    let (own, _) = w.copy_share(B, &[B], "own/", false).await;
    let (z_dest, z_writer) = w.copy_share(Z, &[B], "", true).await;
    let z_writer = z_writer.unwrap();
    let objects: Vec<LogObject> = objects(8).into_iter().filter(|o| o.account == B).collect();
    upload(&w, &objects).await;
    let (b_admin, z_admin) = (w.aws.admin(B).await, w.aws.admin(Z).await);
    let own_copy = (&b_admin, own.as_str(), "own/");
    let z_copy = (&z_admin, z_dest.as_str(), "");
    let classes = [
        (
            "500 InternalError on the destination",
            Scope::Bucket(own.clone()),
            Fault::InternalError,
            z_copy,
        ),
        (
            "503 SlowDown on the destination",
            Scope::Bucket(own.clone()),
            Fault::SlowDown,
            z_copy,
        ),
        (
            "connection reset on the destination",
            Scope::Bucket(own.clone()),
            Fault::Reset,
            z_copy,
        ),
        (
            "STS failing for the writer role",
            Scope::Service("sts".into()),
            Fault::InternalError,
            own_copy,
        ),
    ];
    for ((class, scope, kind, unaffected), object) in classes.into_iter().zip(&objects) {
        let proxy = FaultProxy::start(&w.aws.url);
        proxy.set_bucket_owner(&own, B);
        proxy.set_bucket_owner(&z_dest, Z);
        proxy.set_rules(vec![Rule {
            scope,
            rate: 1.0,
            kinds: vec![kind],
            seed: seed(),
        }]);
        let forwarder = w.forwarder(&proxy, &[&own], &[&z_writer]).await;
        let mut message = Message {
            id: "m".into(),
            body: notification(&w.bucket, &object.key),
            receives: 1,
        };

        let first = forwarder
            .handle_event(sqs_event(std::slice::from_ref(&message)))
            .await
            .unwrap();
        assert_eq!(
            first,
            json!({"batchItemFailures": [{"itemIdentifier": "m"}]}),
            "{class}"
        );
        assert!(
            proxy.counts().total_faults() >= 3,
            "{class}: the SDK retried: {:?}",
            proxy.counts()
        );
        let done = check(&w, object, true, &[unaffected]).await;
        assert!(
            done.is_empty(),
            "{class}: the other targets are done despite the failure: {done:?}"
        );

        proxy.set_rules(Vec::new());
        let before = proxy.counts().log.len();
        message.receives = 2;
        let second = forwarder
            .handle_event(sqs_event(std::slice::from_ref(&message)))
            .await
            .unwrap();
        assert_eq!(second, json!({"batchItemFailures": []}), "{class}");
        let redo = proxy.counts().log[before..].to_vec();
        let finished = format!("/{}/", unaffected.1);
        assert!(
            !redo
                .iter()
                .any(|r| r.contains(" PUT ") && (r.contains("?tagging") || r.contains(&finished))),
            "{class}: the retry redid finished work: {redo:#?}"
        );
        let all = check(&w, object, true, &[own_copy, z_copy]).await;
        assert!(all.is_empty(), "{class}: {all:?}");
        println!("[{class}] first receive failed after {} injected faults; the retry made {} requests: {redo:?}",
                 proxy.counts().total_faults(), redo.len());
    }
}
