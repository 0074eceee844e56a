//! The share API over an in-memory role store that can fail any one IAM
//! write: what moto cannot do (fail the n-th call of a replace, refuse a
//! principal, answer with an AWS error message).
//!
//! The replace test judges each intermediate state with a small evaluator
//! of the documents the store holds; tests/provisioner.rs has the
//! independent evaluator judge what real IAM (moto) holds.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use trailshare::config::Config;
use trailshare::ports::{AwsError, RoleStore};
use trailshare::record::ShareRecord;
use trailshare::seal::ShareKey;
use trailshare::share::ShareSpec;
use trailshare::testkit::{MemRole, MemRoles};

use crate::{ApiRequest, Provisioner};

const ADMIN: &str = "arn:aws:iam::111111111111:user/platform-admin";
const B: &str = "222222222222";
const C: &str = "333333333333";
const D: &str = "555555555555";

/// The stack's share secret in these tests.
fn key() -> ShareKey {
    ShareKey::new(*b"provisioner unit tests' key 32B!").unwrap()
}

/// The route the provisioner seals into `role`'s description for `spec`.
fn describe(spec: &ShareSpec, role: &MemRole) -> String {
    trailshare::route::describe(spec, &key(), role.stored.identity())
}

fn config(extra: &[(&str, &str)]) -> Config {
    let mut vars = vec![
        ("TRAIL_BUCKET", "trail-bucket"),
        ("ADMIN_PRINCIPALS", ADMIN),
        (
            "PERMISSIONS_BOUNDARY_ARN",
            "arn:aws:iam::111111111111:policy/boundary",
        ),
    ];
    vars.extend_from_slice(extra);
    Config::from_lookup(|name| {
        vars.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap()
}

/// The administrators' roles of these tests: (name, path).
const ADMIN_ROLES: &[(&str, &str)] = &[
    ("Admin", "/platform/"),
    (
        "AWSReservedSSO_Admin_5f1e2d",
        "/aws-reserved/sso.amazonaws.com/",
    ),
];

struct Api {
    store: Arc<MemRoles>,
    provisioner: Provisioner<Arc<MemRoles>, trailshare::ports::NoQueue, Arc<MemRoles>>,
    audit: Arc<Mutex<Vec<Value>>>,
}

fn api(config: Config) -> Api {
    let store = Arc::new(MemRoles::default().with_paths(ADMIN_ROLES));
    let audit = Arc::new(Mutex::new(Vec::new()));
    let sink = audit.clone();
    Api {
        provisioner: Provisioner::new(store.clone(), config, key())
            .with_role_paths(store.clone())
            .with_audit(Box::new(move |line| {
                sink.lock().unwrap().push(line.clone())
            })),
        store,
        audit,
    }
}

impl Api {
    async fn call_as(
        &self,
        caller: &str,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let request = ApiRequest {
            method: method.into(),
            path: path.into(),
            query: query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            path_name: None,
            content_type: Some("application/json".into()),
            body: body.map(|b| b.as_bytes().to_vec()),
            caller: caller.into(),
            stage: None,
        };
        let response = self.provisioner.handle(&request).await;
        (response.status, response.body.unwrap_or(Value::Null))
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        self.call_as(ADMIN, method, path, body.as_deref()).await
    }
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// Whether `principal` may assume the role now. The worst case: the
/// principal knows every external id there ever was.
fn may_assume(role: &MemRole, principal: &str) -> bool {
    role.trust["Statement"].as_array().unwrap().iter().any(|s| {
        s["Effect"] == "Allow"
            && strings(&s["Principal"]["AWS"])
                .iter()
                .any(|p| p == principal)
    })
}

/// Whether a session issued at `issued` (RFC 3339) reads `account`'s log file.
fn session_reads(role: &MemRole, issued: &str, account: &str) -> bool {
    let object = format!(
        "arn:aws:s3:::trail-bucket/AWSLogs/{account}/CloudTrail/us-east-1/2024/05/01/f.json.gz"
    );
    let statements: Vec<&Value> = role
        .policies
        .values()
        .flat_map(|p| p["Statement"].as_array().unwrap())
        .collect();
    let applies = |s: &Value| {
        let action = strings(&s["Action"]);
        let resource = strings(&s["Resource"]);
        action.iter().any(|a| a == "*" || a == "s3:GetObject")
            && resource
                .iter()
                .any(|r| trailshare::ids::iam_like(r, &object))
    };
    let denied = statements.iter().any(|s| {
        s["Effect"] == "Deny"
            && applies(s)
            && match s.get("Condition") {
                None => true,
                Some(condition) => {
                    let keys = condition.as_object().unwrap();
                    assert_eq!(
                        keys.len(),
                        1,
                        "only the session and expiry denies are conditional: {condition}"
                    );
                    if let Some(expires) =
                        condition["DateGreaterThanEquals"]["aws:CurrentTime"].as_str()
                    {
                        return now().as_str() >= expires;
                    }
                    let before = condition["DateLessThan"]["aws:TokenIssueTime"]
                        .as_str()
                        .expect("a TokenIssueTime deny");
                    issued < before
                }
            }
    });
    !denied
        && statements
            .iter()
            .any(|s| s["Effect"] == "Allow" && s.get("Condition").is_none() && applies(s))
}

/// Now, as IAM's `aws:CurrentTime` compares it (RFC 3339, whole seconds).
fn now() -> String {
    crate::now_rfc3339()
}

/// RFC 3339, `seconds` from now (negative: in the past).
fn from_now(seconds: i64) -> String {
    crate::rfc3339(time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
}

fn spec(body: &Value) -> ShareSpec {
    trailshare::share::validate(body, None, "trail-bucket").unwrap()
}

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

fn principal(name: &str) -> String {
    format!("arn:aws:iam::{B}:role/{name}")
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

/// Issue 20, item 3: after a replace stopped at any write, GET says the
/// share drifted exactly when IAM does not hold its record, and
/// revoke-sessions repairs first (the old share's trust and reach, every
/// older session denied): it never writes the old reach under the new
/// trust, so nobody ever reads more than the old or the new share allows.
#[tokio::test]
async fn revoke_sessions_after_a_stopped_replace_repairs_first_and_never_widens() {
    for (what, old_body, new_body) in replace_scenarios() {
        let (old_body, old, new) = named_specs(old_body, &new_body);
        let writes = {
            let api = api(config(&[]));
            api.call("POST", "/shares", Some(old_body.clone())).await;
            api.store.clear_writes();
            api.call("PUT", "/shares/s", Some(new_body.clone())).await;
            api.store.writes().len()
        };
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

/// Fails each IAM call of a replace in turn and judges the state left.
#[tokio::test]
async fn a_replace_stopped_at_any_call_never_lets_anyone_read_more_than_old_or_new() {
    let scenarios = replace_scenarios();
    for (what, old_body, new_body) in scenarios {
        let (old_body, old, new) = named_specs(old_body, &new_body);
        // How many writes a replace makes when nothing fails.
        let full = {
            let api = api(config(&[]));
            assert_eq!(
                api.call("POST", "/shares", Some(old_body.clone())).await.0,
                201
            );
            api.store.clear_writes();
            let (status, body) = api.call("PUT", "/shares/s", Some(new_body.clone())).await;
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

/// An API holding share `old_body` whose n-th IAM write from now fails.
async fn api_failing_write(old_body: &Value, n: usize, message: &str) -> Api {
    let api = api(config(&[]));
    assert_eq!(
        api.call("POST", "/shares", Some(old_body.clone())).await.0,
        201
    );
    api.store.fail_write(
        n,
        AwsError::Failed {
            call: "",
            message: message.into(),
        },
    );
    api
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
        let api = api(config(&[]));
        assert_eq!(
            api.call("POST", "/shares", Some(old_body.clone())).await.0,
            201
        );
        api.store.clear_writes();
        assert_eq!(
            api.call("PUT", "/shares/s", Some(new_body.clone())).await.0,
            200
        );
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

#[tokio::test]
async fn identical_puts_write_nothing_and_revoke_sessions_denies_older_ones() {
    let api = api(config(&[]));
    let body = json!({"grantee_account": B, "delivery": {"mode": "tag"}});
    assert_eq!(
        api.call("PUT", "/shares/b", Some(body.clone())).await.0,
        201
    );
    api.store.clear_writes();
    let (status, same) = api.call("PUT", "/shares/b", Some(body.clone())).await;
    assert_eq!(status, 200);
    assert!(api.store.writes().is_empty());
    assert!(same.get("sessions_valid_after").is_none());
    // A delivery change revokes nothing: who and what are unchanged. The
    // route in the description changes with it.
    let (_, tagged) = api
        .call("PUT", "/shares/b", Some(json!({"grantee_account": B})))
        .await;
    assert!(tagged.get("sessions_valid_after").is_none());
    assert_eq!(api.store.writes(), ["iam:UpdateRole", "iam:TagRole"]);
    assert_eq!(
        api.store.role("b").description,
        describe(
            &spec(&json!({"name": "b", "grantee_account": B})),
            &api.store.role("b")
        )
    );

    let (status, revoked) = api.call("POST", "/shares/b/revoke-sessions", None).await;
    assert_eq!(status, 200, "{revoked}");
    let moment = revoked["sessions_valid_after"]
        .as_str()
        .unwrap()
        .to_string();
    let role = api.store.role("b");
    assert!(!session_reads(&role, "2000-01-01T00:00:00Z", B));
    assert!(session_reads(&role, "2999-01-01T00:00:00Z", B));
    // A later replace keeps the deny.
    let (_, replaced) = api
        .call(
            "PUT",
            "/shares/b",
            Some(json!({"grantee_account": B, "max_session_seconds": 7200})),
        )
        .await;
    assert_eq!(replaced["sessions_valid_after"], json!(moment));
    assert!(!session_reads(
        &api.store.role("b"),
        "2000-01-01T00:00:00Z",
        B
    ));
    assert_eq!(api.store.role("b").max_session_seconds, 7200);
}

#[tokio::test]
async fn every_change_writes_one_audit_line() {
    let api = api(config(&[]));
    api.call(
        "POST",
        "/shares",
        Some(json!({"grantee_account": B, "name": "b"})),
    )
    .await;
    api.call(
        "PUT",
        "/shares/b",
        Some(json!({"grantee_account": B, "log_accounts": [B, C], "external_id": "e1"})),
    )
    .await;
    api.call("POST", "/shares/b/revoke-sessions", None).await;
    api.call("GET", "/shares/b", None).await;
    api.call("DELETE", "/shares/b", None).await;
    let lines = api.audit.lock().unwrap().clone();
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "replace", "revoke-sessions", "delete"]);
    for line in &lines {
        assert_eq!(
            (line["caller"].as_str(), line["share"].as_str()),
            (Some(ADMIN), Some("b"))
        );
    }
    assert_eq!(lines[0]["before"], Value::Null);
    assert_eq!(lines[1]["before"]["spec"]["log_accounts"], json!([B]));
    assert_eq!(lines[1]["after"]["spec"]["log_accounts"], json!([B, C]));
    assert_eq!(lines[3]["after"], Value::Null);
}

#[tokio::test]
async fn only_administrators_change_shares() {
    let api = api(config(&[(
        "ADMIN_PRINCIPALS",
        "arn:aws:iam::111111111111:role/platform/Admin,arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*",
    )]));
    let power_user = "arn:aws:sts::111111111111:assumed-role/PowerUser/mallory";
    let body = json!({"grantee_account": "444444444444", "name": "exfil", "log_accounts": ["*"], "external_id": "xx"}).to_string();
    for (method, path, body) in [
        ("POST", "/shares", Some(body.as_str())),
        ("PUT", "/shares/exfil", Some(body.as_str())),
        ("DELETE", "/shares/exfil", None),
        ("POST", "/shares/exfil/revoke-sessions", None),
        ("POST", "/shares/exfil/backfill", Some("{}")),
        // Refused before the body is even read.
        ("POST", "/shares", Some("{not json")),
    ] {
        let (status, response) = api.call_as(power_user, method, path, body).await;
        assert_eq!(
            (status, response["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{method} {path}"
        );
    }
    assert!(api.store.writes().is_empty());
    assert!(api.audit.lock().unwrap().is_empty());
    // Reads stay open.
    assert_eq!(api.call_as(power_user, "GET", "/shares", None).await.0, 200);
    for admin in [
        "arn:aws:sts::111111111111:assumed-role/Admin/alice",
        "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_5f1e2d/alice@example.com",
    ] {
        let name = format!("b{}", admin.len());
        let body = json!({"grantee_account": B, "name": name}).to_string();
        let (status, share) = api.call_as(admin, "POST", "/shares", Some(&body)).await;
        assert_eq!(status, 201, "{admin}: {share}");
        assert_eq!(share["created_by"], admin);
    }
    // Unset: nobody may change anything.
    let locked = self::api(
        Config::from_lookup(|n| (n == "TRAIL_BUCKET").then(|| "trail-bucket".to_string())).unwrap(),
    );
    let (status, _) = locked
        .call("POST", "/shares", Some(json!({"grantee_account": B})))
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn damaged_and_unmanaged_roles_are_listed_deletable_and_healed_by_a_put() {
    let api = api(config(&[]));
    for name in ["ok", "torn", "loose"] {
        assert_eq!(
            api.call(
                "PUT",
                &format!("/shares/{name}"),
                Some(json!({"grantee_account": B}))
            )
            .await
            .0,
            201
        );
    }
    api.store.edit("torn", |r| {
        r.stored.tags.retain(|(k, _)| !k.ends_with(":00"))
    });
    api.store
        .edit("loose", |r| r.stored.permissions_boundary = None);
    let (status, list) = api.call("GET", "/shares", None).await;
    assert_eq!(status, 200);
    let statuses: Vec<(String, String)> = list["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().into(),
                s["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("loose".into(), "damaged".into()),
            ("ok".into(), "active".into()),
            ("torn".into(), "damaged".into())
        ]
    );
    assert!(list["shares"][0]["error"]
        .as_str()
        .unwrap()
        .starts_with("not_managed"));
    assert_eq!(
        list["shares"][2]["role_arn"],
        "arn:aws:iam::111111111111:role/trailshare/trailshare-torn"
    );

    // A PUT heals a damaged share (issue 20): it is whole again.
    let (status, body) = api
        .call("PUT", "/shares/torn", Some(json!({"grantee_account": B})))
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("active")));
    assert_eq!(
        api.call("GET", "/shares/torn", None).await.1["status"],
        "active"
    );
    let (status, body) = api
        .call("PUT", "/shares/loose", Some(json!({"grantee_account": B})))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_managed"))
    );
    let (status, body) = api.call("DELETE", "/shares/loose", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_managed"))
    );
    assert_eq!(api.call("DELETE", "/shares/torn", None).await.0, 204);
    assert_eq!(api.call("GET", "/shares/torn", None).await.0, 404);
    let (status, body) = api
        .call("PUT", "/shares/ok", Some(json!({"grantee_account": C})))
        .await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_str(),
            body["error"]["field"].as_str()
        ),
        (409, Some("immutable"), Some("grantee_account"))
    );
}

#[tokio::test]
async fn iam_refusing_a_principal_is_a_400_naming_it() {
    let api = api(config(&[]));
    let ghost = format!("arn:aws:iam::{B}:role/Ghost");
    api.store.fail_write(
        1,
        AwsError::Rejected {
            call: "",
            message: format!(
                "MalformedPolicyDocument: Invalid principal in policy: \"AWS\":\"{ghost}\""
            ),
        },
    );
    let (status, body) = api
        .call(
            "POST",
            "/shares",
            Some(json!({"grantee_account": B, "grantee_principals": [principal("Real"), ghost]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "grantee_principals[1]");
    // Throttling is a 503 naming the call and the code only.
    api.store.fail_write(
        1,
        AwsError::Throttled {
            call: "",
            message: "Throttling: Rate exceeded for 111111111111".into(),
        },
    );
    let (status, body) = api
        .call("POST", "/shares", Some(json!({"grantee_account": B})))
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (503, Some("iam:CreateRole failed: Throttling"))
    );
}

#[tokio::test]
async fn records_with_a_stale_tail_stay_readable() {
    let api = api(config(&[]));
    let principals: Vec<String> = (0..20)
        .map(|i| principal(&format!("reader-{i:02}")))
        .collect();
    api.call(
        "PUT",
        "/shares/b",
        Some(json!({"grantee_account": B, "grantee_principals": principals})),
    )
    .await;
    // The replace's UntagRole (its last write) fails: the tail stays.
    api.store.fail_write(
        4,
        AwsError::Failed {
            call: "",
            message: "ServiceFailure".into(),
        },
    );
    let (status, body) = api
        .call("PUT", "/shares/b", Some(json!({"grantee_account": B})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        api.store.writes(),
        [
            "iam:UpdateAssumeRolePolicy",
            "iam:PutRolePolicy",
            "iam:TagRole",
            "iam:UntagRole"
        ]
    );
    let role = api.store.role("b");
    assert!(role
        .stored
        .tags
        .iter()
        .any(|(k, _)| k == "trailshare:record:03"));
    let record = ShareRecord::from_tags("trailshare-b", role.stored.tag_pairs()).unwrap();
    assert_eq!(
        record.spec.grantee_principals,
        [format!("arn:aws:iam::{B}:root")]
    );
}

#[tokio::test]
async fn shares_come_in_sorted_pages_that_read_only_their_own_roles() {
    let api = api(config(&[]));
    // Created out of order: the listing sorts by name.
    for i in [4, 0, 6, 2, 5, 1, 3] {
        let (status, _) = api
            .call(
                "PUT",
                &format!("/shares/p{i}"),
                Some(json!({"grantee_account": B})),
            )
            .await;
        assert_eq!(status, 201);
    }
    let reads = || api.store.take_reads();
    reads();
    let mut seen = Vec::new();
    let mut path = "/shares?limit=3".to_string();
    let mut pages = 0;
    loop {
        let (status, body) = api.call("GET", &path, None).await;
        assert_eq!(status, 200, "{body}");
        let page: Vec<String> = body["shares"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        assert!(page.len() <= 3);
        assert!(reads() <= 3, "a page reads only its own roles");
        seen.extend(page);
        pages += 1;
        match body.get("next").and_then(|n| n.as_str()) {
            Some(next) => path = format!("/shares?limit=3&next={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
    let (_, all) = api.call("GET", "/shares", None).await;
    assert_eq!(all["shares"].as_array().unwrap().len(), 7);
    assert!(
        all.get("next").is_none(),
        "the default page (50) holds them all"
    );
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("next=%%%", "next"),
        ("next=Tk9UIEEgTkFNRQ", "next"),
    ] {
        let (status, body) = api.call("GET", &format!("/shares?{query}"), None).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (400, Some(field)),
            "{query}"
        );
    }
    // 120 shares: the default page is 50, `limit` reaches 100.
    for i in 0..113 {
        let (status, _) = api
            .call(
                "PUT",
                &format!("/shares/q{i:03}"),
                Some(json!({"grantee_account": B})),
            )
            .await;
        assert_eq!(status, 201);
    }
    for (query, size) in [("", 50), ("?limit=100", 100)] {
        reads();
        let (status, body) = api.call("GET", &format!("/shares{query}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(body["shares"].as_array().unwrap().len(), size, "{query}");
        assert!(body["next"].is_string(), "{query}: more to come");
        assert_eq!(reads(), size, "{query}: one read per share on the page");
    }
}

/// A share as the provisioner would have written it, expiring at
/// `expires_at` even if that is past (the API refuses a past expiry).
async fn plant(api: &Api, body: Value, expires_at: &str) {
    let mut body = body;
    body["expires_at"] = json!(expires_at);
    let record = ShareRecord {
        spec: trailshare::share::validate(&body, None, "trail-bucket").unwrap(),
        created_by: ADMIN.into(),
        created_at: from_now(-86_400),
        updated_by: None,
        updated_at: None,
        sessions_valid_after: None,
    };
    let draft = api.provisioner.draft(&record).unwrap();
    let role = api.store.create(&draft).await.unwrap();
    api.provisioner.seal_new(&record, &role).await.unwrap();
}

/// Backfill queues work only for a share the forwarder acts on: an expired
/// one is a 409 naming `expires_at`, and nothing is sent (here the queue
/// refuses every send, so a share that gets past the check is a 502).
#[tokio::test]
async fn backfill_of_an_expired_share_is_a_409_and_queues_nothing() {
    let api = api(config(&[(
        "FORWARDER_QUEUE_URL",
        "https://sqs.us-east-1.amazonaws.com/111111111111/trailshare-forwarder",
    )]));
    plant(
        &api,
        json!({"name": "gone", "grantee_account": B}),
        &from_now(-60),
    )
    .await;
    let window = json!({"from": "2024-05-01", "until": "2024-05-02"});
    let (status, body) = api
        .call("POST", "/shares/gone/backfill", Some(window.clone()))
        .await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_str(),
            body["error"]["field"].as_str()
        ),
        (409, Some("expired"), Some("expires_at")),
        "{body}"
    );
    plant(
        &api,
        json!({"name": "live", "grantee_account": B}),
        &from_now(3_600),
    )
    .await;
    let (status, body) = api
        .call("POST", "/shares/live/backfill", Some(window))
        .await;
    assert_eq!(status, 502, "a live share reaches the queue: {body}");
}

fn scheduled_event() -> Value {
    serde_json::from_str(include_str!(
        "../../../tests/fixtures/events/eventbridge-scheduled.json"
    ))
    .unwrap()
}

#[tokio::test]
async fn the_schedule_sweeps_expired_shares_reading_only_those_it_must() {
    let api = api(config(&[]));
    let own = |name: &str| json!({"name": name, "grantee_account": B});
    // Too many accounts for the description: its route is in the tags.
    let wide = |name: &str| {
        let accounts: Vec<String> = (0..80)
            .map(|i| format!("{:012}", 100_000_000_000u64 + i))
            .collect();
        json!({"name": name, "grantee_account": B, "log_accounts": accounts, "external_id": "e-1"})
    };
    plant(&api, own("gone"), &from_now(-60)).await;
    plant(&api, wide("wide-gone"), &from_now(-60)).await;
    for (name, body) in [
        (
            "live",
            json!({"grantee_account": B, "expires_at": from_now(86_400)}),
        ),
        ("forever", json!({"grantee_account": B})),
        ("wide", wide("wide")),
        (
            "extended",
            json!({"grantee_account": B, "expires_at": from_now(86_400)}),
        ),
    ] {
        let (status, body) = api
            .call("PUT", &format!("/shares/{name}"), Some(body))
            .await;
        assert_eq!(status, 201, "{name}: {body}");
    }
    assert!(!api.store.role("wide").description.contains("route v2"));
    // A PUT extended this one between the listing and the delete: its
    // description (as listed) says expired, its record says otherwise.
    let mut stale = own("extended");
    stale["expires_at"] = json!(from_now(-60));
    let stale = describe(&spec(&stale), &api.store.role("extended"));
    api.store.edit("extended", |r| r.description = stale);

    // Until the sweep, an expired share is listed as such.
    let (_, gone) = api.call("GET", "/shares/gone", None).await;
    assert_eq!(gone["status"], "expired");
    let (_, live) = api.call("GET", "/shares/live", None).await;
    assert_eq!(live["status"], "active");

    api.store.take_reads();
    api.audit.lock().unwrap().clear();
    let outcome = api
        .provisioner
        .handle_invocation(scheduled_event())
        .await
        .unwrap();
    assert_eq!(outcome["swept"], json!(["gone", "wide-gone"]));
    assert_eq!(outcome["left"], 0);
    // One GetRole each for the two expired, the extended and the two whose
    // route is in the tags; none for live or forever.
    assert_eq!(api.store.reads(), 4);
    let left: Vec<String> = api.store.role_names();
    assert_eq!(
        left,
        [
            "trailshare-extended",
            "trailshare-forever",
            "trailshare-live",
            "trailshare-wide"
        ]
    );
    let lines = api.audit.lock().unwrap().clone();
    assert_eq!(lines.len(), 2);
    for (line, name) in lines.iter().zip(["gone", "wide-gone"]) {
        assert_eq!(line["action"], "delete-expired");
        assert_eq!(line["share"], name);
        assert_eq!(
            line["caller"],
            "arn:aws:events:us-east-1:111111111111:rule/trailshare-ProvisionerFunctionSweepExpiredShares-1Q2W3E4R5T6Y"
        );
        assert_eq!(line["after"], Value::Null);
        assert!(line["before"]["spec"]["expires_at"].is_string());
    }
    assert_eq!(api.call("GET", "/shares/gone", None).await.0, 404);
    // A second run finds nothing to do.
    let again = api
        .provisioner
        .handle_invocation(scheduled_event())
        .await
        .unwrap();
    assert_eq!(again["swept"], json!([]));
    // An API Gateway event still goes to the API.
    let mut event = scheduled_event();
    event["source"] = json!("my.app");
    let response = api.provisioner.handle_invocation(event).await.unwrap();
    assert_eq!(response["statusCode"], 400);
}

#[tokio::test]
async fn a_failed_delete_fails_the_sweep_after_trying_the_rest() {
    let api = api(config(&[]));
    plant(
        &api,
        json!({"name": "a", "grantee_account": B}),
        &from_now(-60),
    )
    .await;
    plant(
        &api,
        json!({"name": "b", "grantee_account": C}),
        &from_now(-60),
    )
    .await;
    api.store.fail_write(
        1,
        AwsError::Throttled {
            call: "",
            message: "Throttling: Rate exceeded".into(),
        },
    );
    let error = api
        .provisioner
        .handle_invocation(scheduled_event())
        .await
        .unwrap_err();
    assert_eq!(error.call(), "iam:DeleteRole");
    // The other one went; the failed one goes when Lambda retries.
    assert_eq!(api.store.role_names().len(), 1);
    let outcome = api
        .provisioner
        .handle_invocation(scheduled_event())
        .await
        .unwrap();
    assert_eq!(outcome["swept"].as_array().unwrap().len(), 1);
    assert!(api.store.role_names().is_empty());
}

#[tokio::test]
async fn changing_the_expiry_moves_trust_policy_and_route_and_revokes_older_sessions() {
    let api = api(config(&[]));
    let (soon, later) = (from_now(3_600), from_now(86_400));
    let body = |at: &str| json!({"grantee_account": B, "expires_at": at});
    assert_eq!(api.call("PUT", "/shares/b", Some(body(&soon))).await.0, 201);
    let role = api.store.role("b");
    assert_eq!(
        role.trust["Statement"][0]["Condition"]["DateLessThan"]["aws:CurrentTime"],
        json!(soon)
    );
    assert!(role.description.contains(&soon), "{}", role.description);
    let (status, extended) = api.call("PUT", "/shares/b", Some(body(&later))).await;
    assert_eq!(status, 200, "{extended}");
    assert_eq!(extended["expires_at"], json!(later));
    assert!(extended["sessions_valid_after"].is_string());
    let role = api.store.role("b");
    assert_eq!(
        role.trust["Statement"][0]["Condition"]["DateLessThan"]["aws:CurrentTime"],
        json!(later)
    );
    assert!(role.policies["trailshare-read"]
        .to_string()
        .contains(&later));
    assert!(!role.policies["trailshare-read"].to_string().contains(&soon));
    // The forwarder and the sweep read the route from the description.
    assert!(role.description.contains(&later), "{}", role.description);
    assert!(!session_reads(&role, "2000-01-01T00:00:00Z", B));
    assert!(session_reads(&role, "2999-01-01T00:00:00Z", B));
    // Dropping the expiry: no date condition left.
    let (status, _) = api
        .call("PUT", "/shares/b", Some(json!({"grantee_account": B})))
        .await;
    assert_eq!(status, 200);
    let role = api.store.role("b");
    assert!(role.trust["Statement"][0].get("Condition").is_none());
    assert!(!role.policies["trailshare-read"]
        .to_string()
        .contains("CurrentTime"));
    assert!(!role.description.contains(&later));
}

#[tokio::test]
async fn every_admitted_share_fits_iam_with_an_expiry_and_a_session_deny() {
    // Mid-replace, a share that drops its expiry keeps the old one: an
    // admitted share must fit IAM's limit with both denies, whatever it asks.
    let api = api(config(&[]));
    let body = |n: u64| {
        let accounts: Vec<String> = (0..n)
            .map(|i| format!("{:012}", 100_000_000_000u64 + i))
            .collect();
        json!({"grantee_account": B, "log_accounts": accounts, "external_id": "e-1"})
    };
    let mut largest = 0;
    while api
        .call(
            "PUT",
            &format!("/shares/n{}", largest + 1),
            Some(body(largest + 1)),
        )
        .await
        .0
        == 201
    {
        largest += 1;
    }
    assert!(largest > 10, "{largest}");
    let mut widest = body(largest);
    widest["name"] = json!("w");
    widest["expires_at"] = json!("2999-01-01T00:00:00Z");
    let policy =
        trailshare::policy::role_policy(&spec(&widest), &config(&[]), Some("2999-01-01T00:00:00Z"));
    let size = trailshare::policy::iam_size(&policy);
    assert!(
        size <= trailshare::policy::MAX_INLINE_POLICY_CHARS,
        "{largest} accounts admitted, {size} characters with both denies"
    );
}

/// Issue 20, item 4: IAM applies a trust change within seconds, so an old
/// principal may still assume through the stale trust just after it. The
/// `aws:TokenIssueTime` deny therefore lies a propagation margin (15 s)
/// after the change: sessions issued inside it are cut too.
#[tokio::test]
async fn revocation_outlasts_iam_propagation() {
    let api = api(config(&[]));
    let body = json!({"name": "b", "grantee_account": B, "grantee_principals": [principal("Old")]});
    assert_eq!(api.call("POST", "/shares", Some(body)).await.0, 201);
    let new = json!({"grantee_account": B, "grantee_principals": [principal("New")]});
    for (method, path, body) in [
        ("POST", "/shares/b/revoke-sessions", None),
        ("PUT", "/shares/b", Some(new)),
    ] {
        let (status, share) = api.call(method, path, body).await;
        assert_eq!(status, 200, "{share}");
        let valid_after = share["sessions_valid_after"].as_str().unwrap();
        assert!(
            valid_after >= from_now(15).as_str(),
            "{path}: {valid_after}"
        );
        assert!(
            valid_after <= from_now(17).as_str(),
            "{path}: {valid_after}"
        );
        let role = api.store.role("b");
        // A session the stale trust issued 10 s after the change: denied.
        assert!(!session_reads(&role, &from_now(10), B), "{path}");
        assert!(session_reads(&role, &from_now(20), B), "{path}");
    }
    assert_eq!(crate::PROPAGATION_MARGIN, time::Duration::seconds(15));
}

/// Issue 20: a route rewritten in the description alone (`iam:UpdateRole`)
/// is `damaged`, reason `unauthenticated`, in the list and in GET; a
/// replace writes nothing from it, and an admin's PUT heals it.
#[tokio::test]
async fn a_route_rewritten_outside_the_api_is_listed_unauthenticated() {
    let api = api(config(&[]));
    let body = json!({"name": "b", "grantee_account": B, "delivery": {"mode": "tag"}});
    assert_eq!(api.call("POST", "/shares", Some(body)).await.0, 201);
    api.store.edit("b", |r| {
        r.description = r
            .description
            .replace(&format!("[\"{B}\"]"), &format!("[\"{B}\",\"{C}\"]"))
    });
    let (_, list) = api.call("GET", "/shares", None).await;
    assert_eq!(list["shares"][0]["reason"], "unauthenticated", "{list}");
    let (_, got) = api.call("GET", "/shares/b", None).await;
    assert_eq!(
        (got["status"].as_str(), got["reason"].as_str()),
        (Some("damaged"), Some("unauthenticated"))
    );
    let (status, body) = api.call("POST", "/shares/b/revoke-sessions", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("damaged"))
    );
    let (status, healed) = api
        .call(
            "PUT",
            "/shares/b",
            Some(json!({"grantee_account": B, "delivery": {"mode": "tag"}})),
        )
        .await;
    assert_eq!((status, healed["status"].as_str()), (200, Some("active")));
    let role = api.store.role("b");
    assert_eq!(
        role.description,
        describe(
            &spec(&json!({"name": "b", "grantee_account": B, "delivery": {"mode": "tag"}})),
            &role
        )
    );
}
