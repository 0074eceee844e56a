//! `RoleReader` and `RoleStore` over IAM.

use aws_sdk_iam::types::Tag;
use aws_sdk_iam::Client;

use super::classify;
use crate::ports::{AwsError, LastUsed, RoleDraft, RoleReader, RoleStore, RoleSummary, StoredRole};

/// Share roles in IAM. Build once per process and share.
#[derive(Clone, Debug)]
pub struct IamRoles {
    iam: Client,
}

impl IamRoles {
    pub fn new(iam: Client) -> IamRoles {
        IamRoles { iam }
    }

    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> IamRoles {
        IamRoles::new(Client::new(sdk))
    }

    /// The role with its tags and boundary: GetRole returns both.
    async fn get_role(&self, role_name: &str) -> Result<Option<StoredRole>, AwsError> {
        match self.iam.get_role().role_name(role_name).send().await {
            Ok(output) => Ok(output.role.map(|role| {
                let tags = role
                    .tags
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| (t.key, t.value))
                    .collect();
                stored(role, tags)
            })),
            Err(error) => match classify("iam:GetRole", error) {
                AwsError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// ListRoles under `path` (exactly: not its sub-paths).
    async fn roles_under(&self, path: &str) -> Result<Vec<aws_sdk_iam::types::Role>, AwsError> {
        let mut roles = Vec::new();
        let mut marker = None;
        loop {
            let page = self
                .iam
                .list_roles()
                .path_prefix(path)
                // IAM's largest page: 1,000 shares cost one call.
                .max_items(1000)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| classify("iam:ListRoles", e))?;
            roles.extend(page.roles.into_iter().filter(|r| r.path == path));
            match page.marker.filter(|_| page.is_truncated) {
                Some(next) => marker = Some(next),
                None => return Ok(roles),
            }
        }
    }
}

fn iam_tags(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("key and value are set")
        })
        .collect()
}

/// IAM returns policy documents URL-encoded.
fn decode_document(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn stored(role: aws_sdk_iam::types::Role, tags: Vec<(String, String)>) -> StoredRole {
    let last_used = role.role_last_used.as_ref().and_then(|used| {
        let at = used
            .last_used_date
            .as_ref()?
            .fmt(aws_sdk_iam::primitives::DateTimeFormat::DateTime)
            .ok()?;
        Some(LastUsed {
            at,
            region: used.region.clone(),
        })
    });
    StoredRole {
        last_used,
        description: role.description,
        max_session_seconds: role.max_session_duration,
        trust_policy: role
            .assume_role_policy_document
            .as_deref()
            .map(decode_document),
        permissions_boundary: role
            .permissions_boundary
            .and_then(|b| b.permissions_boundary_arn),
        role_name: role.role_name,
        arn: role.arn,
        role_id: role.role_id,
        path: role.path,
        tags,
    }
}

impl RoleReader for IamRoles {
    async fn get(&self, path: &str, role_name: &str) -> Result<Option<StoredRole>, AwsError> {
        Ok(self.get_role(role_name).await?.filter(|r| r.path == path))
    }
    async fn list_summaries(&self, path: &str) -> Result<Vec<RoleSummary>, AwsError> {
        Ok(self
            .roles_under(path)
            .await?
            .into_iter()
            .map(|role| RoleSummary {
                role_name: role.role_name,
                arn: role.arn,
                role_id: role.role_id,
                description: role.description,
            })
            .collect())
    }
}

impl RoleStore for IamRoles {
    async fn create(&self, draft: &RoleDraft) -> Result<StoredRole, AwsError> {
        let created = self
            .iam
            .create_role()
            .role_name(&draft.role_name)
            .path(&draft.path)
            .description(&draft.description)
            .assume_role_policy_document(&draft.trust_policy)
            .max_session_duration(draft.max_session_seconds)
            .set_permissions_boundary(draft.permissions_boundary.clone())
            .set_tags(Some(iam_tags(&draft.tags)))
            .send()
            .await
            .map_err(|e| classify("iam:CreateRole", e))?;
        if let Err(error) = self
            .put_policy(
                &draft.role_name,
                &draft.read_policy_name,
                &draft.read_policy,
            )
            .await
        {
            // Leave no half-made role: a role without its policy is a share
            // nobody asked for. If even the clean-up fails, say so.
            if let Err(cleanup) = self.delete(&draft.role_name).await {
                return Err(AwsError::Failed {
                    call: error.call(),
                    message: format!("{error}; removing the half-made role also failed: {cleanup}"),
                });
            }
            return Err(error);
        }
        let role = created.role.ok_or(AwsError::Failed {
            call: "iam:CreateRole",
            message: "no role returned".into(),
        })?;
        Ok(stored(role, draft.tags.clone()))
    }

    async fn get_policy(
        &self,
        role_name: &str,
        policy_name: &str,
    ) -> Result<Option<String>, AwsError> {
        match self
            .iam
            .get_role_policy()
            .role_name(role_name)
            .policy_name(policy_name)
            .send()
            .await
        {
            Ok(output) => Ok(Some(decode_document(&output.policy_document))),
            Err(error) => match classify("iam:GetRolePolicy", error) {
                AwsError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn put_policy(
        &self,
        role_name: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<(), AwsError> {
        self.iam
            .put_role_policy()
            .role_name(role_name)
            .policy_name(policy_name)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| classify("iam:PutRolePolicy", e))?;
        Ok(())
    }

    async fn update_trust(&self, role_name: &str, document: &str) -> Result<(), AwsError> {
        self.iam
            .update_assume_role_policy()
            .role_name(role_name)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| classify("iam:UpdateAssumeRolePolicy", e))?;
        Ok(())
    }

    async fn update_role(
        &self,
        role_name: &str,
        description: &str,
        max_session_seconds: i32,
    ) -> Result<(), AwsError> {
        self.iam
            .update_role()
            .role_name(role_name)
            .description(description)
            .max_session_duration(max_session_seconds)
            .send()
            .await
            .map_err(|e| classify("iam:UpdateRole", e))?;
        Ok(())
    }

    async fn tag(&self, role_name: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        self.iam
            .tag_role()
            .role_name(role_name)
            .set_tags(Some(iam_tags(tags)))
            .send()
            .await
            .map_err(|e| classify("iam:TagRole", e))?;
        Ok(())
    }

    async fn untag(&self, role_name: &str, keys: &[String]) -> Result<(), AwsError> {
        self.iam
            .untag_role()
            .role_name(role_name)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| classify("iam:UntagRole", e))?;
        Ok(())
    }

    async fn delete(&self, role_name: &str) -> Result<bool, AwsError> {
        let policies = match self
            .iam
            .list_role_policies()
            .role_name(role_name)
            .send()
            .await
        {
            Ok(output) => output.policy_names,
            Err(error) => match classify("iam:ListRolePolicies", error) {
                AwsError::NotFound { .. } => return Ok(false),
                other => return Err(other),
            },
        };
        for policy in policies {
            match self
                .iam
                .delete_role_policy()
                .role_name(role_name)
                .policy_name(policy)
                .send()
                .await
            {
                Ok(_) => {}
                Err(error) => match classify("iam:DeleteRolePolicy", error) {
                    AwsError::NotFound { .. } => {}
                    other => return Err(other),
                },
            }
        }
        match self.iam.delete_role().role_name(role_name).send().await {
            Ok(_) => Ok(true),
            Err(error) => match classify("iam:DeleteRole", error) {
                AwsError::NotFound { .. } => Ok(false),
                other => Err(other),
            },
        }
    }
}

/// The administrator check's one `GetRole`: the caller's role path.
impl crate::ports::RolePaths for IamRoles {
    async fn role_path(&self, role_name: &str) -> Result<Option<String>, AwsError> {
        Ok(self.get_role(role_name).await?.map(|role| role.path))
    }
}
