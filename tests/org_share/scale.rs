//! One role serves any number of member accounts: 6,000 accounts' files
//! in the organization layout, one share, one role with one trust and one
//! inline policy; the forwarder tags every file with its own account and
//! its share table costs what one plain share's does; every member's
//! session reads its own file and not its neighbour's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_iam::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_iam::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_iam::error::BoxError;
use forwarder::{Forwarder, Outcome};
use futures_util::stream::{self, StreamExt};
use serde_json::json;
use stand_in::world::Grants;
use stand_in::{put_log, s3, B};
use trailshare::aws::S3Objects;

use super::*;

const MEMBERS: u64 = 6_000;

/// Counts the IAM requests of the clients it builds (retries included).
#[derive(Debug, Clone, Default)]
struct Counter(Arc<AtomicU64>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "Counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A forwarder of `w` (signed as a user with the forwarder's permissions)
/// whose IAM requests `counter` counts.
async fn counted_forwarder(w: &World, counter: &Counter) -> Forwarder<IamRoles, S3Objects> {
    let user = w.forwarder_user(Grants::default()).await;
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&user)
            .interceptor(counter.clone())
            .build(),
    );
    Forwarder::new(
        IamRoles::new(iam),
        S3Objects::new(&user),
        w.config.clone(),
        stand_in::share_key(),
    )
}

/// The IAM requests of a cold forwarder's share table for `w`.
async fn table_cost(w: &World) -> u64 {
    let counter = Counter::default();
    counted_forwarder(w, &counter).await.warm_up().await;
    counter.0.load(Ordering::SeqCst)
}

fn member_key(account: &str) -> String {
    format!("AWSLogs/{ORG}/{account}/CloudTrail/us-east-1/2024/05/01/{account}_CloudTrail_us-east-1_20240501T1400Z_Sc4le0rg.json.gz")
}

#[tokio::test]
async fn six_thousand_member_accounts_one_role_and_the_share_table_costs_the_same() {
    let w = org_world(&[("SHARE_CACHE_SECONDS", "3600")]).await;
    let (name, _) = org_share(&w, json!({})).await;
    let members: Vec<String> = (0..MEMBERS)
        .map(|i| format!("{:012}", 600_000_000_000 + i * 7_919))
        .collect();
    let a_s3 = s3(&w.admin);
    stream::iter(&members)
        .for_each_concurrent(16, |account| {
            let (a_s3, bucket) = (&a_s3, &w.bucket);
            async move {
                put_log(a_s3, bucket, &member_key(account), b"{}".to_vec()).await;
            }
        })
        .await;

    // One role, one trust statement, one inline policy, however many members.
    let listed = roles(&w).await;
    assert_eq!(listed.len(), 1);
    let docs = documents(&w, &name).await;
    assert_eq!(docs.trust["Statement"].as_array().unwrap().len(), 1);
    let inline = aws_sdk_iam::Client::new(&w.admin)
        .list_role_policies()
        .role_name(&docs.role_name)
        .send()
        .await
        .unwrap()
        .policy_names;
    assert_eq!(inline.len(), 1);

    // The forwarder tags each file with its own account; its share table
    // (one listing) is all the IAM it costs, as for one plain share.
    let counter = Counter::default();
    let forwarder = counted_forwarder(&w, &counter).await;
    let outcomes: Vec<(String, Outcome)> = stream::iter(&members)
        .map(|account| {
            let (forwarder, object) = (&forwarder, w.created(&member_key(account)));
            async move { (account.clone(), forwarder.process(&object).await) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (account, outcome) in &outcomes {
        match outcome {
            Outcome::Processed {
                account: owner,
                actions,
            } => {
                assert_eq!(owner, account);
                assert_eq!(actions.len(), 1, "{actions:?}");
            }
            other => panic!("{account}: {other:?}"),
        }
    }
    let org_cost = counter.0.load(Ordering::SeqCst);
    let plain = World::new(&[]).await;
    let (status, share) = plain
        .call(
            "POST",
            "/shares",
            Some(json!({"name": unique("one"), "grantee_account": B, "delivery": {"mode": "tag"}})),
        )
        .await;
    assert_eq!(status, 201, "{share}");
    assert_eq!(org_cost, table_cost(&plain).await);
    assert_eq!(org_cost, 1, "one ListRoles page");
    for account in members.iter().step_by(600) {
        assert_eq!(
            w.tags(&member_key(account)).await,
            [("trailshare:account".to_string(), account.clone())]
        );
    }

    // Every member's session reads its own file, never its neighbour's.
    let object = |account: &str| format!("arn:aws:s3:::{}/{}", w.bucket, member_key(account));
    let issued = from_now(-60);
    let groups: Vec<(Vec<Value>, bool)> = members
        .iter()
        .zip(members.iter().cycle().skip(1))
        .flat_map(|(account, neighbour)| {
            let read = |whose: &str| {
                vec![docs.session(
                    Some(account),
                    &issued,
                    "s3:GetObject",
                    &object(whose),
                    json!({}),
                )]
            };
            [(read(account), true), (read(neighbour), false)]
        })
        .collect();
    expect(groups);
}
