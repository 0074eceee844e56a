//! `RoleStore` over IAM.

use aws_sdk_iam::types::Tag;
use aws_sdk_iam::Client;

use super::classify;
use crate::store::{RoleDraft, RoleStore, StoreError, StoredRole};

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

    async fn tags_of(&self, role_name: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut tags = Vec::new();
        let mut marker = None;
        loop {
            let page = self
                .iam
                .list_role_tags()
                .role_name(role_name)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| classify("iam:ListRoleTags", e))?;
            tags.extend(page.tags.into_iter().map(|t| (t.key, t.value)));
            match page.marker.filter(|_| page.is_truncated) {
                Some(next) => marker = Some(next),
                None => return Ok(tags),
            }
        }
    }

    async fn put_read_policy(&self, draft: &RoleDraft) -> Result<(), StoreError> {
        self.iam
            .put_role_policy()
            .role_name(&draft.role_name)
            .policy_name(&draft.read_policy_name)
            .policy_document(&draft.read_policy)
            .send()
            .await
            .map_err(|e| classify("iam:PutRolePolicy", e))?;
        Ok(())
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

fn stored(role: aws_sdk_iam::types::Role, tags: Vec<(String, String)>) -> StoredRole {
    StoredRole {
        role_name: role.role_name,
        arn: role.arn,
        path: role.path,
        tags,
    }
}

impl RoleStore for IamRoles {
    async fn create(&self, draft: &RoleDraft) -> Result<StoredRole, StoreError> {
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
        if let Err(error) = self.put_read_policy(draft).await {
            // Leave no half-made role: a role without its policy is a share
            // nobody asked for. If even the clean-up fails, say so.
            if let Err(cleanup) = self.delete(&draft.role_name).await {
                return Err(StoreError::Failed {
                    call: error.call(),
                    message: format!("{error}; removing the half-made role also failed: {cleanup}"),
                });
            }
            return Err(error);
        }
        let role = created.role.ok_or(StoreError::Failed {
            call: "iam:CreateRole",
            message: "no role returned".into(),
        })?;
        Ok(stored(role, draft.tags.clone()))
    }

    async fn replace(
        &self,
        draft: &RoleDraft,
        current: &StoredRole,
    ) -> Result<StoredRole, StoreError> {
        self.iam
            .update_assume_role_policy()
            .role_name(&draft.role_name)
            .policy_document(&draft.trust_policy)
            .send()
            .await
            .map_err(|e| classify("iam:UpdateAssumeRolePolicy", e))?;
        self.put_read_policy(draft).await?;
        self.iam
            .update_role()
            .role_name(&draft.role_name)
            .description(&draft.description)
            .max_session_duration(draft.max_session_seconds)
            .send()
            .await
            .map_err(|e| classify("iam:UpdateRole", e))?;
        self.iam
            .tag_role()
            .role_name(&draft.role_name)
            .set_tags(Some(iam_tags(&draft.tags)))
            .send()
            .await
            .map_err(|e| classify("iam:TagRole", e))?;
        let stale = crate::record::ShareRecord::stale_tag_keys(
            current.tags.iter().map(|(k, _)| k.as_str()),
            &draft.tags,
        );
        if !stale.is_empty() {
            self.iam
                .untag_role()
                .role_name(&draft.role_name)
                .set_tag_keys(Some(stale))
                .send()
                .await
                .map_err(|e| classify("iam:UntagRole", e))?;
        }
        Ok(StoredRole {
            tags: draft.tags.clone(),
            ..current.clone()
        })
    }

    async fn get(&self, path: &str, role_name: &str) -> Result<Option<StoredRole>, StoreError> {
        let role = match self.iam.get_role().role_name(role_name).send().await {
            Ok(output) => output.role,
            Err(error) => match classify("iam:GetRole", error) {
                StoreError::NotFound { .. } => return Ok(None),
                other => return Err(other),
            },
        };
        match role.filter(|r| r.path == path) {
            Some(role) => {
                let tags = self.tags_of(&role.role_name).await?;
                Ok(Some(stored(role, tags)))
            }
            None => Ok(None),
        }
    }

    async fn list(&self, path: &str) -> Result<Vec<StoredRole>, StoreError> {
        let mut roles = Vec::new();
        let mut marker = None;
        loop {
            let page = self
                .iam
                .list_roles()
                .path_prefix(path)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| classify("iam:ListRoles", e))?;
            roles.extend(page.roles.into_iter().filter(|r| r.path == path));
            match page.marker.filter(|_| page.is_truncated) {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
        let mut out = Vec::with_capacity(roles.len());
        for role in roles {
            // ListRoles does not return tags; a role deleted meanwhile is skipped.
            match self.tags_of(&role.role_name).await {
                Ok(tags) => out.push(stored(role, tags)),
                Err(StoreError::NotFound { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(out)
    }

    async fn delete(&self, role_name: &str) -> Result<bool, StoreError> {
        let policies = match self
            .iam
            .list_role_policies()
            .role_name(role_name)
            .send()
            .await
        {
            Ok(output) => output.policy_names,
            Err(error) => match classify("iam:ListRolePolicies", error) {
                StoreError::NotFound { .. } => return Ok(false),
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
                    StoreError::NotFound { .. } => {}
                    other => return Err(other),
                },
            }
        }
        match self.iam.delete_role().role_name(role_name).send().await {
            Ok(_) => Ok(true),
            Err(error) => match classify("iam:DeleteRole", error) {
                StoreError::NotFound { .. } => Ok(false),
                other => Err(other),
            },
        }
    }
}
