//! A replace stopped at any IAM write: nobody reads more than the old or
//! the new share allows, and a retry, a revert, a revoke or a third share
//! repairs it.

use serde_json::{json, Value};
use trailshare::share::ShareSpec;
use trailshare::testkit::MemRole;

use super::support::{
    api, config, describe, failed, from_now, may_assume, principal, session_reads, spec, Api,
    ADMIN, B, C, D,
};

/// At this moment, nobody reads more than the old or the new share allows.
fn assert_within(role: &MemRole, old: &ShareSpec, new: &ShareSpec, context: &str) {
    let principals: Vec<String> = old
        .grantee_principals
        .iter()
        .chain(&new.grantee_principals)
        .cloned()
        .chain(["arn:aws:iam::222222222222:user/outsider".to_string()])
        .collect();
    let allowed = |principal: &str, account: &str| {
        (old.grantee_principals.iter().any(|p| p == principal) && old.covers(account))
            || (new.grantee_principals.iter().any(|p| p == principal) && new.covers(account))
    };
    for account in [B, C, D, "111111111111"] {
        for principal in &principals {
            // A session from before the replace, held by an old principal.
            if old.grantee_principals.contains(principal)
                && session_reads(role, "2000-01-01T00:00:00Z", account)
            {
                assert!(
                    allowed(principal, account),
                    "{context}: {principal}'s old session reads {account}"
                );
            }
            // A session anyone trusted now can get.
            if may_assume(role, principal) && session_reads(role, "2999-01-01T00:00:00Z", account) {
                assert!(
                    allowed(principal, account),
                    "{context}: {principal} assumes now and reads {account}"
                );
            }
        }
    }
}

/// At this moment, no session reads, and nobody assumes the role, past the
/// later of the two shares' expiries (when both have one).
fn assert_ends_within(role: &MemRole, old: &ShareSpec, new: &ShareSpec, context: &str) {
    let (Some(a), Some(b)) = (&old.expires_at, &new.expires_at) else {
        return;
    };
    let later = a.max(b);
    let reads_end = role
        .policies
        .values()
        .flat_map(|p| p["Statement"].as_array().unwrap())
        .find_map(|s| s["Condition"]["DateGreaterThanEquals"]["aws:CurrentTime"].as_str());
    assert!(
        reads_end.is_some_and(|at| at <= later.as_str()),
        "{context}: reads end at {reads_end:?}, after {later}"
    );
    let trust_ends =
        role.trust["Statement"][0]["Condition"]["DateLessThan"]["aws:CurrentTime"].as_str();
    assert!(
        trust_ends.is_some_and(|at| at <= later.as_str()),
        "{context}: trusted until {trust_ends:?}, after {later}"
    );
}

/// Replaces old → new that change who may assume, what is read, the
/// expiry or only the route.
fn replace_scenarios() -> Vec<(&'static str, Value, Value)> {
    vec![
        (
            "new principals, disjoint accounts",
            json!({"grantee_account": B, "grantee_principals": [principal("Old")], "log_accounts": [B], "external_id": "e1"}),
            json!({"grantee_account": B, "grantee_principals": [principal("New")], "log_accounts": [C], "external_id": "e2"}),
        ),
        (
            "same principals, wider reach",
            json!({"grantee_account": B, "grantee_principals": [principal("Old")]}),
            json!({"grantee_account": B, "grantee_principals": [principal("Old")], "log_accounts": [B, C], "external_id": "e1", "max_session_seconds": 7200}),
        ),
        (
            "more principals, narrower reach",
            json!({"grantee_account": B, "grantee_principals": [principal("Old")], "log_accounts": [B, C], "external_id": "e1"}),
            json!({"grantee_account": B, "grantee_principals": [principal("Old"), principal("New")], "log_accounts": [B], "external_id": "e1"}),
        ),
        (
            "every account to one, new external id",
            json!({"grantee_account": B, "grantee_principals": [principal("Old")], "log_accounts": ["*"], "external_id": "e1"}),
            json!({"grantee_account": B, "grantee_principals": [principal("New")], "log_accounts": [C, D], "external_id": "e2"}),
        ),
        (
            "one account to every account, new principals",
            json!({"grantee_account": B, "grantee_principals": [principal("Old")], "log_accounts": [C], "external_id": "e1"}),
            json!({"grantee_account": B, "grantee_principals": [principal("New")], "log_accounts": ["*"], "external_id": "e1"}),
        ),
        (
            "new principals, an earlier expiry",
            json!({"grantee_account": B, "grantee_principals": [principal("Old")], "log_accounts": [B, C], "external_id": "e1",
                   "expires_at": from_now(2 * 86_400)}),
            json!({"grantee_account": B, "grantee_principals": [principal("New")], "log_accounts": [C], "external_id": "e2",
                   "expires_at": from_now(86_400)}),
        ),
        (
            "same principals and reach, a new route (delivery)",
            json!({"grantee_account": B, "grantee_principals": [principal("Old")], "delivery": {"mode": "tag"}}),
            json!({"grantee_account": B, "grantee_principals": [principal("Old")],
                   "delivery": {"mode": "copy", "bucket": "b-logs"}, "max_session_seconds": 7200}),
        ),
        (
            "same principals, a later expiry",
            json!({"grantee_account": B, "grantee_principals": [principal("Old")], "expires_at": from_now(86_400)}),
            json!({"grantee_account": B, "grantee_principals": [principal("Old")], "log_accounts": [B, C], "external_id": "e1",
                   "expires_at": from_now(2 * 86_400)}),
        ),
    ]
}

/// A scenario's old body named `s`, and both shares as validated.
fn named_specs(mut old_body: Value, new_body: &Value) -> (Value, ShareSpec, ShareSpec) {
    old_body["name"] = json!("s");
    let old = spec(&old_body);
    let mut named = new_body.clone();
    named["name"] = json!("s");
    (old_body, old, spec(&named))
}

/// An API holding share `old_body`.
async fn api_holding(old_body: &Value) -> Api {
    let api = api(config(&[]));
    assert_eq!(
        api.call("POST", "/shares", Some(old_body.clone())).await.0,
        201
    );
    api
}

/// An API holding share `old_body` whose n-th IAM write from now fails.
async fn api_failing_write(old_body: &Value, n: usize, message: &str) -> Api {
    let api = api_holding(old_body).await;
    api.store.fail_write(n, failed(message));
    api
}

/// Share `old_body` replaced by `new_body` (PUT `/shares/s`) with nothing
/// failing: the API, whose store noted only the replace's writes, and the
/// PUT's status and body.
async fn replaced(old_body: &Value, new_body: &Value) -> (Api, u16, Value) {
    let api = api_holding(old_body).await;
    api.store.clear_writes();
    let (status, body) = api.call("PUT", "/shares/s", Some(new_body.clone())).await;
    (api, status, body)
}

/// IAM holds exactly `spec`: trust, route, session length and reach.
fn assert_holds(role: &MemRole, spec: &ShareSpec, context: &str) {
    assert_eq!(
        role.trust,
        trailshare::policy::trust_policy(spec),
        "{context}: trust"
    );
    assert_eq!(role.description, describe(spec, role), "{context}: route");
    assert_eq!(
        role.max_session_seconds, spec.max_session_seconds as i32,
        "{context}: session length"
    );
    for account in [B, C, D, "111111111111"] {
        assert_eq!(
            session_reads(role, "2999-01-01T00:00:00Z", account),
            spec.covers(account),
            "{context}: reads {account}"
        );
    }
}

/// Fails each IAM call of a replace in turn and judges the state left.
#[tokio::test]
async fn a_replace_stopped_at_any_call_never_lets_anyone_read_more_than_old_or_new() {
    let scenarios = replace_scenarios();
    for (what, old_body, new_body) in scenarios {
        let (old_body, old, new) = named_specs(old_body, &new_body);
        // How many writes a replace makes when nothing fails.
        let full = {
            let (api, status, body) = replaced(&old_body, &new_body).await;
            assert_eq!(status, 200, "{what}: {body}");
            let role = api.store.role("s");
            assert_within(&role, &old, &new, &format!("{what}: done"));
            assert_ends_within(&role, &old, &new, &format!("{what}: done"));
            // Older sessions are denied once the share changed who or what
            // (a new route alone changes neither).
            let who_or_what = trailshare::policy::trust_policy(&old)
                != trailshare::policy::trust_policy(&new)
                || old.log_accounts != new.log_accounts
                || old.expires_at != new.expires_at;
            for account in [B, C, D] {
                assert_eq!(
                    session_reads(&role, "2000-01-01T00:00:00Z", account),
                    !who_or_what && new.covers(account),
                    "{what}"
                );
            }
            assert_eq!(
                body["sessions_valid_after"].as_str().map(str::len),
                who_or_what.then_some(20)
            );
            assert_eq!(body["updated_by"], ADMIN);
            let writes = api.store.writes();
            let record = writes.iter().position(|w| *w == "iam:TagRole").unwrap();
            assert!(
                writes[record..]
                    .iter()
                    .all(|w| *w == "iam:TagRole" || *w == "iam:UntagRole"),
                "{what}: the record is written last: {writes:?}"
            );
            writes
        };
        for n in 1..=full.len() {
            let api = api_failing_write(
                &old_body,
                n,
                "ServiceFailure: injected failure with a policy quote arn:aws:iam::111111111111:role/secret",
            )
            .await;
            let (status, body) = api.call("PUT", "/shares/s", Some(new_body.clone())).await;
            if full[n - 1] == "iam:UntagRole" {
                // Leftover tags are ignored when read: the replace is done.
                assert_eq!(status, 200, "{what}, write {n}: {body}");
                assert_within(
                    &api.store.role("s"),
                    &old,
                    &new,
                    &format!("{what}: untag failed"),
                );
                continue;
            }
            assert_eq!(status, 502, "{what}, write {n}: {body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.ends_with("failed: ServiceFailure"), "{message}");
            assert!(
                !message.contains("secret"),
                "AWS's message stays in the log: {message}"
            );
            let role = api.store.role("s");
            assert_within(&role, &old, &new, &format!("{what}: write {n} failed"));
            assert_ends_within(&role, &old, &new, &format!("{what}: write {n} failed"));
            // The record still says the old share, so a retry redoes it all…
            let (status, got) = api.call("GET", "/shares/s", None).await;
            assert_eq!(
                (status, got["log_accounts"].clone()),
                (200, json!(old.log_accounts)),
                "{what}"
            );
            // Putting the old share back (the record's) is not a no-op while
            // IAM holds part of the new one: it restores exactly the old share.
            let (status, body) = api.call("PUT", "/shares/s", Some(old_body.clone())).await;
            assert_eq!(status, 200, "{what}, revert after write {n}: {body}");
            let reverted = api.store.role("s");
            assert_within(
                &reverted,
                &old,
                &old,
                &format!("{what}: reverted after write {n}"),
            );
            assert_eq!(
                reverted.trust,
                trailshare::policy::trust_policy(&old),
                "{what}"
            );
            // The forwarder acts on the route in the description: it is the
            // old one again, not what the stopped replace had written.
            assert_eq!(
                (reverted.description.as_str(), reverted.max_session_seconds),
                (
                    describe(&old, &reverted).as_str(),
                    old.max_session_seconds as i32
                ),
                "{what}: route after revert from write {n}"
            );
            for account in [B, C, D] {
                assert_eq!(
                    session_reads(&reverted, "2999-01-01T00:00:00Z", account),
                    old.covers(account),
                    "{what}: reverted after write {n}: {account}"
                );
            }
            api.store.clear_writes();
            assert_eq!(
                api.call("PUT", "/shares/s", Some(old_body.clone())).await.0,
                200
            );
            assert!(
                api.store.writes().is_empty(),
                "{what}: once restored, nothing to write"
            );
            // …and it converges to the new share.
            let (status, body) = api.call("PUT", "/shares/s", Some(new_body.clone())).await;
            assert_eq!(status, 200, "{what}, retry after write {n}: {body}");
            assert_within(
                &api.store.role("s"),
                &old,
                &new,
                &format!("{what}: retried"),
            );
            assert_eq!(
                api.store.role("s").trust["Statement"][0]["Principal"]["AWS"],
                json!(new.grantee_principals)
            );
        }
    }
}

/// Issue 20, item 3: after a replace stopped at any write, GET says the
/// share drifted exactly when IAM does not hold its record, and
/// revoke-sessions repairs first (the old share's trust and reach, every
/// older session denied): it never writes the old reach under the new
/// trust, so nobody ever reads more than the old or the new share allows.
#[tokio::test]
async fn revoke_sessions_after_a_stopped_replace_repairs_first_and_never_widens() {
    for (what, old_body, new_body) in replace_scenarios() {
        let (old_body, old, new) = named_specs(old_body, &new_body);
        let writes = replaced(&old_body, &new_body).await.0.store.writes().len();
        for n in 1..=writes {
            let api = api_failing_write(&old_body, n, "ServiceFailure: injected").await;
            let (status, _) = api.call("PUT", "/shares/s", Some(new_body.clone())).await;
            if status == 200 {
                continue; // only a leftover tag failed: the replace is done
            }
            let context = format!("{what}: write {n} failed");
            let role = api.store.role("s");
            let (_, got) = api.call("GET", "/shares/s", None).await;
            let recorded = trailshare::policy::role_policy(
                &old,
                &config(&[]),
                got["sessions_valid_after"].as_str(),
            );
            let holds = role.trust == trailshare::policy::trust_policy(&old)
                && role.description == describe(&old, &role)
                && role.max_session_seconds == old.max_session_seconds as i32
                && role.policies[trailshare::policy::READ_POLICY_NAME] == recorded;
            assert_eq!(
                (got["status"] == "damaged", got["reason"] == "drift"),
                (!holds, !holds),
                "{context}: {got}"
            );
            let (status, revoked) = api.call("POST", "/shares/s/revoke-sessions", None).await;
            assert_eq!(status, 200, "{context}: {revoked}");
            let role = api.store.role("s");
            assert_within(&role, &old, &new, &format!("{context}, then revoke"));
            assert_eq!(
                role.trust,
                trailshare::policy::trust_policy(&old),
                "{context}"
            );
            for account in [B, C, D] {
                assert!(
                    !session_reads(&role, "2000-01-01T00:00:00Z", account),
                    "{context}"
                );
                assert_eq!(
                    session_reads(&role, "2999-01-01T00:00:00Z", account),
                    old.covers(account),
                    "{context}: {account}"
                );
            }
            assert_eq!(
                api.call("GET", "/shares/s", None).await.1["status"],
                "active",
                "{context}"
            );
        }
    }
}

/// After a replace old → new stopped at any write, a PUT of a third share
/// must end with IAM holding exactly the third: a plan made from the record
/// alone (which still says old) would skip the trust when the third trusts
/// whom old did, and the route when it routes as old did, leaving new's.
#[tokio::test]
async fn a_third_share_after_a_stopped_replace_leaves_nothing_of_the_second() {
    let old_body = json!({"name": "s", "grantee_account": B, "grantee_principals": [principal("Old")],
                          "log_accounts": [B], "external_id": "e1", "delivery": {"mode": "tag"}});
    let new_body = json!({"grantee_account": B, "grantee_principals": [principal("New")],
                          "log_accounts": [B, C, D], "external_id": "e2",
                          "delivery": {"mode": "copy", "bucket": "wide-logs"}, "max_session_seconds": 7200});
    // Old's trust with another route; old's route with another trust.
    let thirds = [
        json!({"grantee_account": B, "grantee_principals": [principal("Old")],
               "log_accounts": [B], "external_id": "e1", "delivery": {"mode": "none"}}),
        json!({"grantee_account": B, "grantee_principals": [principal("Third")],
               "log_accounts": [B], "external_id": "e1", "delivery": {"mode": "tag"}}),
    ];
    let writes = {
        let (api, status, _) = replaced(&old_body, &new_body).await;
        assert_eq!(status, 200);
        api.store.writes().len()
    };
    assert!(writes >= 4, "a replace this wide takes several writes");
    for third_body in &thirds {
        let mut named = third_body.clone();
        named["name"] = json!("s");
        let third = spec(&named);
        for n in 1..=writes {
            let api = api_failing_write(&old_body, n, "ServiceFailure: injected").await;
            let _ = api.call("PUT", "/shares/s", Some(new_body.clone())).await;
            let (status, body) = api.call("PUT", "/shares/s", Some(third_body.clone())).await;
            assert_eq!(status, 200, "third after write {n}: {body}");
            assert_holds(
                &api.store.role("s"),
                &third,
                &format!("third after write {n}"),
            );
        }
    }
}
