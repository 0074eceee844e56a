//! Organization shares through the API: one role, bound to the stack's
//! organization; what a replace writes (and revokes) when the exclusions
//! or the trust change; a change of kind refused; the route and record
//! sealed; backfill over every member account.

use serde_json::{json, Value};

use super::support::*;

const ORG: &str = "o-a1b2c3d4e5";

fn org_api() -> Api {
    api(config(&[("ORGANIZATION_ID", ORG)]))
}

fn members(organization: Value) -> Value {
    json!({"delivery": {"mode": "tag"}, "organization": organization})
}

#[tokio::test]
async fn one_role_for_the_organization_with_its_trust_policy_route_and_record() {
    let api = org_api();
    let (status, share) = api
        .call(
            "POST",
            "/shares",
            Some(json!({"name": "members", "organization": {"principal_name": "reader"}})),
        )
        .await;
    assert_eq!(status, 201, "{share}");
    assert_eq!(
        share["organization"],
        json!({"id": ORG, "principal_name": "reader"})
    );
    assert!(share.get("grantee_account").is_none() && share.get("log_accounts").is_none());
    // What the members attach, and how they assume: with their own account's tag.
    let setup = &share["grantee_setup"];
    assert_eq!(
        setup["identity_policy"]["Statement"][0]["Action"],
        json!(["sts:AssumeRole", "sts:TagSession"])
    );
    assert!(setup["assume_role_command"]
        .as_str()
        .unwrap()
        .contains("--tags Key=trailshare:account,Value=$(aws sts get-caller-identity"));
    assert_eq!(api.store.role_names(), ["trailshare-members"]);
    let role = api.store.role("members");
    assert_eq!(
        role.trust["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
        ORG
    );
    assert_eq!(role.policies.len(), 1);
    // The route is sealed in the description, organization and all.
    let spec = trailshare::admission::admit(
        &json!({"name": "members", "organization": {"principal_name": "reader"}}),
        None,
        &config(&[("ORGANIZATION_ID", ORG)]),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert_eq!(role.description, describe(&spec, &role));
    assert!(role.description.contains("\"o\":{\"id\":\"o-a1b2c3d4e5\""));
    let (status, read) = api.call("GET", "/shares/members", None).await;
    assert_eq!((status, &read["status"]), (200, &json!("active")), "{read}");
    // Without ORGANIZATION_ID: a 400 naming the field, and no role.
    let plain = super::support::api(config(&[]));
    let (status, error) = plain
        .call(
            "POST",
            "/shares",
            Some(json!({"name": "m", "organization": {}})),
        )
        .await;
    assert_eq!(
        (status, &error["error"]["field"]),
        (400, &json!("organization"))
    );
    assert!(plain.store.role_names().is_empty());
    // GRANTEE_ACCOUNTS set: every member would be a grantee. A 403.
    let listed = super::support::api(config(&[("ORGANIZATION_ID", ORG), ("GRANTEE_ACCOUNTS", B)]));
    let (status, error) = listed
        .call("PUT", "/shares/m", Some(members(json!({}))))
        .await;
    assert_eq!(
        (status, &error["error"]["field"]),
        (403, &json!("organization"))
    );
    assert!(listed.store.role_names().is_empty());
}

#[tokio::test]
async fn excluding_an_account_rewrites_the_policy_alone_and_revokes_no_session() {
    let api = org_api();
    api.put_new("members", members(json!({}))).await;
    api.store.clear_writes();
    let (status, share) = api
        .call(
            "PUT",
            "/shares/members",
            Some(members(json!({"exclude_accounts": [C]}))),
        )
        .await;
    assert_eq!(status, 200, "{share}");
    // One policy write, then the route and the record: no trust, no revocation.
    assert_eq!(
        api.store.writes(),
        ["iam:PutRolePolicy", "iam:UpdateRole", "iam:TagRole"],
        "{share}"
    );
    assert!(share.get("sessions_valid_after").is_none(), "{share}");
    let policy = &api.store.role("members").policies[trailshare::policy::READ_POLICY_NAME];
    assert!(policy.to_string().contains("DenyExcludedAccounts"));
    assert!(!policy.to_string().contains("DenySessionsIssuedBefore"));
    // The same body again writes nothing.
    api.store.clear_writes();
    let (status, _) = api
        .call(
            "PUT",
            "/shares/members",
            Some(members(json!({"exclude_accounts": [C]}))),
        )
        .await;
    assert_eq!((status, api.store.writes().len()), (200, 0));
    // Narrowing who may assume changes the trust: older sessions revoked.
    let (status, share) = api
        .call(
            "PUT",
            "/shares/members",
            Some(members(
                json!({"exclude_accounts": [C], "org_paths": [format!("{ORG}/r-ab12/")]}),
            )),
        )
        .await;
    assert_eq!(status, 200, "{share}");
    assert!(share["sessions_valid_after"].is_string(), "{share}");
    assert!(api.store.writes().contains(&"iam:UpdateAssumeRolePolicy"));
}

#[tokio::test]
async fn a_share_keeps_its_kind_and_every_change_is_audited() {
    let api = org_api();
    api.put_new("members", members(json!({}))).await;
    api.put_new("bu-b", json!({"grantee_account": B})).await;
    for (name, body) in [
        ("members", json!({"grantee_account": B})),
        ("bu-b", members(json!({}))),
    ] {
        let (status, error) = api
            .call("PUT", &format!("/shares/{name}"), Some(body))
            .await;
        assert_eq!(
            (status, &error["error"]["code"], &error["error"]["field"]),
            (409, &json!("immutable"), &json!("organization")),
            "{name}"
        );
    }
    let (status, share) = api
        .call("POST", "/shares/members/revoke-sessions", None)
        .await;
    assert_eq!(status, 200, "{share}");
    let (status, _) = api.call("DELETE", "/shares/members", None).await;
    assert_eq!(status, 204);
    let actions: Vec<String> = api
        .audit
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line["share"] == "members")
        .map(|line| line["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["create", "revoke-sessions", "delete"]);
}

#[tokio::test]
async fn a_forged_organization_record_or_route_is_damaged() {
    let api = org_api();
    api.put_new("members", members(json!({"exclude_accounts": [C]})))
        .await;
    // Someone with iam:UpdateRole drops the exclusion from the route.
    api.store.edit("members", |role| {
        role.description = role
            .description
            .replace(&format!("\"{C}\""), &format!("\"{D}\""));
    });
    let (status, share) = api.call("GET", "/shares/members", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&share["status"], &share["reason"]),
        (&json!("damaged"), &json!("unauthenticated")),
        "{share}"
    );
    // A PUT heals it.
    let (status, share) = api
        .call(
            "PUT",
            "/shares/members",
            Some(members(json!({"exclude_accounts": [C]}))),
        )
        .await;
    assert_eq!(
        (status, &share["status"]),
        (200, &json!("active")),
        "{share}"
    );
}

/// Records the work a backfill queues.
#[derive(Clone, Default)]
struct Recorded(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl trailshare::ports::WorkQueue for Recorded {
    async fn send(&self, bodies: &[String]) -> Result<(), trailshare::ports::AwsError> {
        self.0.lock().unwrap().extend_from_slice(bodies);
        Ok(())
    }
}

#[tokio::test]
async fn a_backfill_of_an_organization_share_discovers_every_account() {
    let config = config(&[
        ("ORGANIZATION_ID", ORG),
        (
            "FORWARDER_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/111111111111/trailshare-forwarder",
        ),
    ]);
    let store = std::sync::Arc::new(trailshare::testkit::MemRoles::default());
    let queue = Recorded::default();
    let provisioner = crate::Provisioner::new(store, config, key()).with_queue(queue.clone());
    let call = |method: &str, path: &str, body: Value| {
        let body = body.to_string();
        let request = request(ADMIN, method, path, Some(&body));
        let provisioner = &provisioner;
        async move { provisioner.handle(&request).await }
    };
    let created = call(
        "PUT",
        "/shares/members",
        members(json!({"exclude_accounts": [C]})),
    )
    .await;
    assert_eq!(created.status, 201);
    let window = json!({"from": "2024-05-01", "until": "2024-05-02"});
    let response = call("POST", "/shares/members/backfill", window).await;
    let body = response.body.unwrap();
    assert_eq!(response.status, 202, "{body}");
    assert_eq!(body["backfill"]["accounts"], json!(["*"]));
    let sent = queue.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let body: Value = serde_json::from_str(&sent[0]).unwrap();
    let work = trailshare::backfill::Work::from_body(&body)
        .unwrap()
        .unwrap();
    assert!(
        matches!(work, trailshare::backfill::Work::Accounts { ref share, .. } if share == "members"),
        "{work:?}"
    );
}
