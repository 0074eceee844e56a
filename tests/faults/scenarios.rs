//! The scenarios: (a) a 20 % fault rate, (b) a destination that always
//! fails, (c) a destination owned by a stranger, and each failure class on
//! its own.

use std::collections::BTreeSet;
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use serde_json::json;
use stand_in::fault_proxy::{Fault, FaultProxy, Rule, Scope};
use stand_in::{B, C, Z};

use super::files::{check, count_objects, objects, upload, LogObject};
use super::sqs::{drain, notification, sqs_event, Message};
use super::{
    messages_for, print_figures, proxied_forwarder, seed, world, MAX_RECEIVES, ONE_AT_A_TIME,
};

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
    let forwarder =
        proxied_forwarder(&w, &proxy, &[&c_dest], &[z_writer.as_deref().unwrap()]).await;
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
    let forwarder = proxied_forwarder(&w, &proxy, &[&c_dest, &doomed], &[]).await;
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
    let forwarder = proxied_forwarder(&w, &proxy, &[&foreign], &[]).await;
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
        let forwarder = proxied_forwarder(&w, &proxy, &[&own], &[&z_writer]).await;
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
