//! The share table: what it costs in IAM calls, and the shares it does not
//! act on (expired, forged, moved, unsigned, outside the stack's lists).

use serde_json::json;

use super::support::{
    config, created, forwarder, key, queue, share_key, share_roles, FakeNotifier, FakeObjects, B,
    C, Z,
};
use crate::shares::ShareTable;
use crate::{Forwarder, Outcome};

#[tokio::test]
async fn one_listing_serves_many_objects_until_the_cache_expires() {
    let objects = FakeObjects::default();
    for account in [B, C] {
        objects.put("trail-bucket", &key(account), b"log", &[]);
    }
    let shares = [
        json!({"grantee_account": B, "delivery": {"mode": "tag"}}),
        json!({"grantee_account": C, "delivery": {"mode": "tag"}}),
    ];
    let cached = forwarder(share_roles(&shares), objects);
    let event = json!({"Records": [
        {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "trail-bucket"}, "object": {"key": key(B)}}},
        {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "trail-bucket"}, "object": {"key": key(C)}}}
    ]});
    for _ in 0..3 {
        cached.handle_event(event.clone()).await.unwrap();
    }
    assert_eq!(cached.shares.roles().listings(), 1);

    let uncached = Forwarder::new(
        share_roles(&shares),
        FakeObjects::default(),
        config("0"),
        share_key(),
    );
    let _ = uncached.handle_event(event.clone()).await;
    let _ = uncached.handle_event(event).await;
    assert_eq!(uncached.shares.roles().listings(), 4);
}

#[tokio::test]
async fn the_share_table_costs_one_listing_and_a_read_only_for_routes_that_do_not_fit() {
    let many: Vec<String> = (0..80)
        .map(|i| format!("{:012}", 100_000_000_000u64 + i))
        .collect();
    let mut bodies: Vec<serde_json::Value> = (0..300)
        .map(
            |i| json!({"name": format!("s{i}"), "grantee_account": B, "delivery": {"mode": "tag"}}),
        )
        .collect();
    // One share reads 80 accounts: its route does not fit a description.
    bodies.push(
        json!({"name": "wide", "grantee_account": C, "log_accounts": many, "external_id": "e-1",
                       "delivery": {"mode": "tag"}}),
    );
    let roles = share_roles(&bodies);
    // And one role made by the first version: a plain description.
    roles.edit("s0", |r| {
        r.description = format!("trailshare: read-only CloudTrail logs for account {B}")
    });
    let forwarder = forwarder(roles, FakeObjects::default());
    let table = forwarder.shares.get().await.unwrap();
    assert_eq!(table.routes.len(), 301);
    assert!(table.damaged.is_empty());
    assert!(table
        .routes
        .iter()
        .any(|r| r.name == "wide" && r.log_accounts.len() == 80));
    assert!(table.routes.iter().any(|r| r.name == "s0"));
    let roles = forwarder.shares.roles();
    assert_eq!(roles.listings(), 1);
    assert_eq!(roles.reads(), 2, "only the two routes not in a description");
}

#[tokio::test]
async fn the_forwarder_does_nothing_for_an_expired_share() {
    let objects = FakeObjects::default();
    objects.put("trail-bucket", &key(B), b"log", &[]);
    let forwarder = forwarder(
        share_roles(&[
            json!({"name": "b", "grantee_account": B, "expires_at": "2020-01-01T00:00:00Z",
                   "notify": {"queue_arn": queue(B)}, "delivery": {"mode": "tag"}}),
        ]),
        objects,
    )
    .with_notifier(FakeNotifier::default(), "us-east-1");
    assert!(matches!(
        forwarder.process(&created(&key(B))).await,
        Outcome::Skipped { .. }
    ));
    assert!(forwarder.notifier.sent().is_empty());
    assert!(forwarder
        .objects
        .tags_of("trail-bucket", &key(B))
        .is_empty());
}

/// A route edited outside the API (iam:UpdateRole) to announce B's files
/// to another account's queue: its seal no longer fits, so the share is
/// damaged: nothing is sent or copied for it, and the file is not
/// acknowledged (retried, then dead-lettered).
#[tokio::test]
async fn a_route_naming_a_queue_outside_the_grantee_account_sends_nothing() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.put("trail-bucket", &key(B), b"log-bytes", &[]);
    let roles = share_roles(&[json!({"name": "b", "grantee_account": B,
        "notify": {"queue_arn": queue(B)}, "delivery": {"mode": "copy", "bucket": "b-logs"}})]);
    roles.edit("b", |r| {
        assert!(r.description.contains(&queue(B)), "{}", r.description);
        r.description = r.description.replace(&queue(B), &queue(Z));
    });
    let forwarder = forwarder(roles, objects).with_notifier(FakeNotifier::default(), "us-east-1");
    let Outcome::Failed { error } = forwarder.process(&created(&key(B))).await else {
        panic!("the file must not be acknowledged");
    };
    assert!(
        error.contains("share b is damaged (unauthenticated)"),
        "{error}"
    );
    assert!(forwarder.notifier.sent().is_empty());
    assert!(forwarder.objects.object("b-logs", &key(B)).is_none());
}

/// Issue 20: someone with only `iam:UpdateRole` or `iam:TagRole` on share
/// roles rewrites what steers a share. Neither its description (the route)
/// nor its tags (the record) carry a seal that fits, so the share delivers
/// nothing: each file it claims fails (retried, then dead-lettered), while
/// the other shares' deliveries of the same files are done as usual.
#[tokio::test]
async fn a_forged_route_or_record_delivers_nothing_and_fails_what_it_claims() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B), ("c-logs", C)]);
    objects.put("trail-bucket", &key(B), b"b-log", &[]);
    objects.put("trail-bucket", &key(C), b"c-log", &[]);
    let roles = share_roles(&[
        json!({"name": "b", "grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"name": "c", "grantee_account": C, "delivery": {"mode": "copy", "bucket": "c-logs"}}),
        json!({"name": "t", "grantee_account": B, "delivery": {"mode": "tag"}}),
    ]);
    // b's route now claims every account's files, for B's bucket.
    roles.edit("b", |r| {
        let forged = r.description.replace(&format!("[\"{B}\"]"), "[\"*\"]");
        assert_ne!(forged, r.description);
        r.description = forged;
    });
    // t's route moves to its tags, and its record there is rewritten to
    // copy into C's bucket: a record sealed for another share.
    let c_tags = roles.role("c").stored.tags;
    roles.edit("t", |r| {
        r.description =
            format!("trailshare route in tags: read-only CloudTrail logs for account {B}");
        r.stored.tags = c_tags;
    });
    let forwarder = forwarder(roles, objects);

    for (file, claimed_by) in [(key(B), vec!["b", "t"]), (key(C), vec!["b"])] {
        let Outcome::Failed { error } = forwarder.process(&created(&file)).await else {
            panic!("{file}: a file a damaged share claims is never acknowledged");
        };
        for name in &claimed_by {
            assert!(
                error.contains(&format!("share {name} is damaged")),
                "{file}: {error}"
            );
        }
    }
    let table = forwarder.shares.get().await.unwrap();
    let reasons = reasons(&table);
    // t's tags hold c's record: the role's name does not match it.
    assert_eq!(reasons, [("b", "unauthenticated"), ("t", "unreadable")]);
    // Nothing went to B's bucket; C's own share delivered C's file.
    assert!(forwarder.objects.object("b-logs", &key(C)).is_none());
    assert!(forwarder.objects.object("b-logs", &key(B)).is_none());
    assert!(forwarder.objects.object("c-logs", &key(C)).is_some());
    assert!(forwarder
        .objects
        .tags_of("trail-bucket", &key(B))
        .is_empty());
}

/// A record's seal binds it to its role: the sealed record of share `b`
/// copied onto a role re-created under the same name (a new RoleId) is
/// not believed, nor is a route written by an earlier version (no seal).
#[tokio::test]
async fn a_record_moved_to_a_recreated_role_or_an_unsigned_route_is_not_believed() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.put("trail-bucket", &key(B), b"b-log", &[]);
    let roles = share_roles(&[
        json!({"name": "b", "grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"name": "old", "grantee_account": B, "delivery": {"mode": "tag"}}),
    ]);
    roles.edit("b", |r| {
        r.stored.role_id = "AROA99999999999999999".into();
        r.description =
            format!("trailshare route in tags: read-only CloudTrail logs for account {B}");
    });
    roles.edit("old", |r| {
        let json = r.description.splitn(5, ' ').nth(4).unwrap().to_string();
        r.description = format!("trailshare route v1 {json}");
    });
    let forwarder = forwarder(roles, objects);
    assert!(matches!(
        forwarder.process(&created(&key(B))).await,
        Outcome::Failed { .. }
    ));
    let table = forwarder.shares.get().await.unwrap();
    let reasons = reasons(&table);
    assert_eq!(reasons, [("b", "unauthenticated"), ("old", "unsigned")]);
    assert!(table.routes.is_empty());
    assert!(forwarder.objects.object("b-logs", &key(B)).is_none());
    assert!(forwarder
        .objects
        .tags_of("trail-bucket", &key(B))
        .is_empty());
}

/// Issue 20: the forwarder holds the stack's lists too (set but empty: none
/// allowed), and acts on no route outside them, sealed or not: a share the
/// provisioner admitted before the lists narrowed delivers nothing and its
/// files fail; a share within them is delivered as usual.
#[tokio::test]
async fn a_sealed_route_outside_the_stacks_lists_delivers_nothing() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.put("trail-bucket", &key(B), b"b-log", &[]);
    let roles = share_roles(&[
        json!({"name": "b", "grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"name": "t", "grantee_account": B, "delivery": {"mode": "tag"}}),
    ]);
    let mut narrowed = config("60");
    narrowed.copy_destination_buckets = Some(Vec::new());
    let forwarder = Forwarder::new(roles, objects, narrowed, share_key());
    let Outcome::Failed { error } = forwarder.process(&created(&key(B))).await else {
        panic!("a file a damaged share claims is never acknowledged");
    };
    assert!(
        error.contains("share b is damaged (not_admitted)"),
        "{error}"
    );
    assert!(forwarder.objects.object("b-logs", &key(B)).is_none());
    assert_eq!(
        forwarder.objects.tags_of("trail-bucket", &key(B)),
        [("trailshare:account".to_string(), B.to_string())]
    );
}

/// The shares `table` does not act on: (name, reason).
fn reasons(table: &ShareTable) -> Vec<(&str, &str)> {
    table
        .damaged
        .iter()
        .map(|d| (d.name.as_str(), d.reason))
        .collect()
}
