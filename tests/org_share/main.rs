//! Organization shares on the stand-in through the real SDK, and the
//! independent evaluator's decisions on the documents IAM holds.
//!
//! What moto 5.2.5 (with scripts/moto_server.py) judges here and what it
//! cannot (`session_tags`): it creates and returns the role, its trust,
//! its inline policy and its boundary as IAM would, keeps a session's tags
//! and judges what a tagged session reads (the policy variable
//! `${aws:PrincipalTag/trailshare:account}` and the deny of excluded
//! accounts: launcher fix 7), and enforces the forwarder's identity policy
//! while it tags files; it judges no trust policy across accounts, so no
//! `aws:RequestTag`, `aws:TagKeys`, `aws:PrincipalOrgID` or
//! `aws:PrincipalOrgPaths`, and no boundary. Those are the evaluator's
//! (tests/iam-eval/README.md), asked about the documents read back from
//! the stand-in.
//!
//! By concept: `lifecycle` (the API: create, refuse, replace, revoke,
//! delete, audit, seals, tag delivery), `evaluator` (who may assume, what a
//! session reads), `session_tags` (what the stand-in judges), `scale`
//! (6,000 member accounts, one role).

mod evaluator;
mod lifecycle;
mod scale;
mod session_tags;

use serde_json::{json, Value};
use stand_in::world::World;
use stand_in::{iam_eval, share_role, unique, A};
use trailshare::aws::IamRoles;

/// The organization of these tests' deployment.
const ORG: &str = "o-a1b2c3d4e5";
/// The OU the members in these tests are in, and another.
const OU: &str = "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/";
const OTHER_OU: &str = "o-a1b2c3d4e5/r-ab12/ou-ab12-99999999/";

/// A world whose stack serves `ORG`, with the permissions boundary the
/// template attaches to every share role; `extra` variables win.
async fn org_world(extra: &[(&str, &str)]) -> World {
    let mut vars = vec![("ORGANIZATION_ID", ORG)];
    vars.extend_from_slice(extra);
    let mut world = World::new(&vars).await;
    let boundary = aws_sdk_iam::Client::new(&world.admin)
        .create_policy()
        .policy_name(unique("boundary"))
        .policy_document(trailshare::policy::boundary_policy(&world.config).to_string())
        .send()
        .await
        .expect("create the boundary")
        .policy
        .and_then(|p| p.arn)
        .expect("a policy ARN");
    world.config.permissions_boundary_arn = Some(boundary);
    world.provisioner = provisioner::Provisioner::new(
        IamRoles::from_sdk(&world.admin),
        world.config.clone(),
        stand_in::share_key(),
    );
    world
}

/// Creates an organization share named uniquely: its name and the share.
async fn org_share(w: &World, organization: Value) -> (String, Value) {
    let name = unique("members");
    let (status, share) = w
        .call(
            "PUT",
            &format!("/shares/{name}"),
            Some(json!({"delivery": {"mode": "tag"}, "organization": organization})),
        )
        .await;
    assert_eq!(status, 201, "{share}");
    (name, share)
}

/// The share roles IAM holds under the world's path.
async fn roles(w: &World) -> Vec<aws_sdk_iam::types::Role> {
    aws_sdk_iam::Client::new(&w.admin)
        .list_roles()
        .path_prefix(&w.config.share_role_path)
        .send()
        .await
        .expect("list roles")
        .roles
}

/// A document as IAM returns it: URL-encoded by the API (moto may not).
fn iam_document(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| {
        let decoded = percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .expect("utf-8 policy");
        serde_json::from_str(&decoded).expect("a JSON policy document")
    })
}

/// A share role's documents, read back from IAM, not from our own code.
struct Documents {
    arn: String,
    role_name: String,
    trust: Value,
    inline: Value,
    boundary: Value,
}

async fn documents(w: &World, name: &str) -> Documents {
    let iam = aws_sdk_iam::Client::new(&w.admin);
    let role = share_role(&w.admin, name).await;
    let inline = iam
        .get_role_policy()
        .role_name(&role.role_name)
        .policy_name(trailshare::policy::READ_POLICY_NAME)
        .send()
        .await
        .expect("the inline policy")
        .policy_document;
    let boundary_arn = role
        .permissions_boundary
        .and_then(|b| b.permissions_boundary_arn)
        .expect("a boundary");
    let version = iam
        .get_policy()
        .policy_arn(&boundary_arn)
        .send()
        .await
        .unwrap()
        .policy
        .and_then(|p| p.default_version_id)
        .unwrap();
    let boundary = iam
        .get_policy_version()
        .policy_arn(&boundary_arn)
        .version_id(version)
        .send()
        .await
        .unwrap()
        .policy_version
        .and_then(|v| v.document)
        .unwrap();
    Documents {
        arn: role.arn,
        role_name: role.role_name,
        trust: iam_document(&role.assume_role_policy_document.expect("a trust")),
        inline: iam_document(&inline),
        boundary: iam_document(&boundary),
    }
}

/// A principal of a member account, as AWS describes it in a request.
#[derive(Clone)]
struct Member {
    /// The principal's ARN (`aws:PrincipalArn`; the account, for
    /// `aws:PrincipalAccount`, the evaluator derives from it).
    arn: String,
    /// `aws:PrincipalOrgID` (`None`: an account in no organization).
    org: Option<&'static str>,
    /// `aws:PrincipalOrgPaths`.
    paths: Vec<String>,
}

impl Member {
    /// The role `name` of `account`, a member directly in `OU`.
    fn role(account: &str, name: &str) -> Member {
        Member {
            arn: format!("arn:aws:iam::{account}:role/{name}"),
            org: Some(ORG),
            paths: vec![OU.to_string()],
        }
    }

    fn context(&self) -> Value {
        let mut context = json!({"aws:PrincipalArn": self.arn});
        if let Some(org) = self.org {
            context["aws:PrincipalOrgID"] = json!(org);
            context["aws:PrincipalOrgPaths"] = json!(self.paths);
        }
        context
    }
}

/// How a member asks for a session: the tags it passes, which of them are
/// transitive, and when it asks.
#[derive(Clone, Default)]
struct Ask<'a> {
    tags: &'a [(&'a str, &'a str)],
    transitive: &'a [&'a str],
    at: Option<&'a str>,
}

impl Documents {
    /// The questions IAM asks when `member` calls AssumeRole as `ask` says:
    /// `sts:AssumeRole`, and `sts:TagSession` when it passes tags. The
    /// session is issued only if every one is allowed.
    fn assume(&self, member: &Member, ask: &Ask<'_>) -> Vec<Value> {
        let mut context = member.context();
        for (key, value) in ask.tags {
            context[format!("aws:RequestTag/{key}")] = json!(value);
        }
        if !ask.tags.is_empty() {
            context["aws:TagKeys"] = json!(ask.tags.iter().map(|(k, _)| k).collect::<Vec<_>>());
        }
        if !ask.transitive.is_empty() {
            context["sts:TransitiveTagKeys"] = json!(ask.transitive);
        }
        context["aws:CurrentTime"] = json!(ask.at.map_or_else(|| from_now(0), str::to_string));
        let actions: &[&str] = match ask.tags.is_empty() {
            true => &["sts:AssumeRole"],
            false => &["sts:AssumeRole", "sts:TagSession"],
        };
        let identity = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": self.arn}]});
        actions
            .iter()
            .map(|action| {
                json!({"name": format!("{} {action} {context}", member.arn),
                    "identityPolicies": [identity], "resourcePolicy": self.trust,
                    "request": {"principal": member.arn, "action": action, "resource": self.arn,
                                "resourceAccount": A, "context": context}})
            })
            .collect()
    }

    /// [`Documents::assume`] by a principal whose own account grants it
    /// nothing (no identity policy).
    fn assume_ungranted(&self, member: &Member, ask: &Ask<'_>) -> Vec<Value> {
        let mut questions = self.assume(member, ask);
        for question in &mut questions {
            question["identityPolicies"] = json!([]);
        }
        questions
    }

    /// A session of the role tagged `tag` (`None`: untagged), issued at
    /// `issued`, calls `action` on `resource` with `context`; its
    /// permissions are the inline policy, capped by the boundary.
    fn session(
        &self,
        tag: Option<&str>,
        issued: &str,
        action: &str,
        resource: &str,
        context: Value,
    ) -> Value {
        let mut context = context;
        context["aws:TokenIssueTime"] = json!(issued);
        if context.get("aws:CurrentTime").is_none() {
            context["aws:CurrentTime"] = json!(from_now(0));
        }
        if let Some(tag) = tag {
            context["aws:PrincipalTag/trailshare:account"] = json!(tag);
        }
        json!({"name": format!("{tag:?} {action} {resource} {context}"),
            "identityPolicies": [self.inline], "permissionBoundaryPolicies": [self.boundary],
            "request": {"principal": format!("arn:aws:sts::{A}:assumed-role/{}/session", self.role_name),
                        "action": action, "resource": resource, "resourceAccount": A, "context": context}})
    }
}

/// Whether IAM would issue the session: every question allowed.
fn issued(decisions: &[String]) -> bool {
    decisions.iter().all(|d| d == "Allowed")
}

/// Asks the evaluator about groups of questions (one group: one assume,
/// or one call) and checks each group's verdict: `true` when every
/// question of the group is allowed.
fn expect(groups: Vec<(Vec<Value>, bool)>) {
    let sizes: Vec<usize> = groups.iter().map(|(g, _)| g.len()).collect();
    let questions: Vec<Value> = groups.iter().flat_map(|(g, _)| g.clone()).collect();
    let decisions = iam_eval(&json!(questions));
    assert_eq!(decisions.len(), questions.len());
    let mut at = 0;
    for ((group, want), size) in groups.iter().zip(&sizes) {
        let got = &decisions[at..at + size];
        at += size;
        assert_eq!(issued(got), *want, "{got:?} for {}", group[0]["name"]);
    }
}

/// RFC 3339 `seconds` from now.
fn from_now(seconds: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}
