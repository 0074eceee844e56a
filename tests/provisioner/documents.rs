//! A share role's documents as IAM holds them, and the independent
//! evaluator's decisions on them.

use serde_json::{json, Value};
use stand_in::{iam_eval, share_role, A};

use super::World;

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
pub(crate) struct RoleDocuments {
    pub(crate) arn: String,
    trust: Value,
    read: Value,
    boundary: Option<Value>,
}

impl World {
    pub(crate) async fn documents(&self, name: &str) -> RoleDocuments {
        let iam = aws_sdk_iam::Client::new(&self.admin);
        let role_name = format!("trailshare-{name}");
        let role = share_role(&self.admin, name).await;
        let read = iam
            .get_role_policy()
            .role_name(&role_name)
            .policy_name(trailshare::policy::READ_POLICY_NAME)
            .send()
            .await
            .unwrap();
        let mut boundary = None;
        if let Some(arn) = role
            .permissions_boundary
            .and_then(|b| b.permissions_boundary_arn)
        {
            let policy = iam.get_policy().policy_arn(&arn).send().await.unwrap();
            let version = policy.policy.unwrap().default_version_id.unwrap();
            let document = iam
                .get_policy_version()
                .policy_arn(&arn)
                .version_id(version)
                .send()
                .await
                .unwrap()
                .policy_version
                .unwrap()
                .document
                .unwrap();
            boundary = Some(iam_document(&document));
        }
        RoleDocuments {
            arn: role.arn,
            trust: iam_document(&role.assume_role_policy_document.unwrap()),
            read: iam_document(&read.policy_document),
            boundary,
        }
    }
}

impl RoleDocuments {
    /// `principal` (with an identity policy allowing it) assumes the role.
    pub(crate) fn assume(&self, principal: &str, external_id: Option<&str>) -> Value {
        let mut context = json!({});
        if let Some(id) = external_id {
            context["sts:ExternalId"] = json!(id);
        }
        json!({"name": format!("{principal} assumes with {external_id:?}"),
            "identityPolicies": [{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": self.arn}]}],
            "resourcePolicy": self.trust,
            "request": {"principal": principal, "action": "sts:AssumeRole", "resource": self.arn,
                        "resourceAccount": A, "context": context}})
    }

    /// A session of the role calls `action` on `resource`, its permissions
    /// being the read policy plus `extra` identity policies, capped by the
    /// boundary when `bounded`.
    pub(crate) fn call(
        &self,
        action: &str,
        resource: &str,
        context: Value,
        extra: &[Value],
        bounded: bool,
    ) -> Value {
        let mut identity = vec![self.read.clone()];
        identity.extend_from_slice(extra);
        let mut case = json!({"name": format!("{action} {resource} {context}"),
            "identityPolicies": identity,
            "request": {"principal": format!("arn:aws:sts::{A}:assumed-role/{}/session", self.arn.rsplit('/').next().unwrap()),
                        "action": action, "resource": resource, "resourceAccount": A, "context": context}});
        if bounded {
            case["permissionBoundaryPolicies"] =
                json!([self.boundary.clone().expect("a boundary")]);
        }
        case
    }
}

/// Runs cases through the independent evaluator; each is (case, expected).
pub(crate) fn expect_decisions(cases: Vec<(Value, &str)>) {
    let (questions, expected): (Vec<Value>, Vec<&str>) = cases.into_iter().unzip();
    let decisions = iam_eval(&json!(questions));
    for ((question, want), got) in questions.iter().zip(&expected).zip(&decisions) {
        assert_eq!(got, want, "{}", question["name"]);
    }
    assert_eq!(decisions.len(), expected.len());
}
