//! Creating a share: the role, then its seals.

use serde_json::{json, Value};
use trailshare::ports::{AwsError, RolePaths, RoleStore, StoredRole, WorkQueue};

use crate::error::{principal_error, ApiError, Result};
use crate::now_rfc3339;
use crate::Provisioner;
use trailshare::policy::{role_policy, trust_policy, READ_POLICY_NAME};
use trailshare::ports::RoleDraft;
use trailshare::record::{role_name, ShareRecord};
use trailshare::route::in_tags;
use trailshare::share::ShareSpec;

impl<S: RoleStore, Q: WorkQueue, P: RolePaths> Provisioner<S, Q, P> {
    pub(crate) async fn create(&self, spec: ShareSpec, caller: &str) -> Result<Value> {
        let record = new_record(spec, caller, None);
        let draft = self.draft(&record)?;
        match self.store.create(&draft).await {
            Ok(role) => {
                self.seal_new(&record, &role).await?;
                self.audit(caller, "create", &record.spec.name, None, Some(&record));
                Ok(self.render(&record, &role.arn))
            }
            Err(AwsError::AlreadyExists { .. }) => Err(ApiError::new(
                409,
                "conflict",
                format!("a role named {} already exists", draft.role_name),
            )
            .on("name")),
            Err(other) => Err(principal_error(other, &record.spec)),
        }
    }

    /// A new role has no RoleId to seal to until IAM creates it: it is made
    /// with its record unsealed and its route in the tags (so the forwarder
    /// fails, and retries, what it claims), then sealed: the record's seal
    /// (TagRole) and the sealed route (UpdateRole). If either fails, the
    /// role is removed: no half-made share stays.
    pub(crate) async fn seal_new(&self, record: &ShareRecord, role: &StoredRole) -> Result<()> {
        let spec = &record.spec;
        let sealed = async {
            let seal = record.seal_tag(&self.key, role.identity());
            self.store.tag(&role.role_name, &[seal]).await?;
            self.store
                .update_role(
                    &role.role_name,
                    &self.description(spec, role),
                    spec.max_session_seconds as i32,
                )
                .await
        };
        if let Err(error) = sealed.await {
            if let Err(cleanup) = self.store.delete(&role.role_name).await {
                trailshare::telemetry::error(
                    &json!({"event": "aws_error", "call": cleanup.call(), "role": role.role_name, "error": cleanup.to_string()}),
                );
            }
            return Err(error.into());
        }
        Ok(())
    }

    pub(crate) fn draft(&self, record: &ShareRecord) -> Result<RoleDraft> {
        let spec = &record.spec;
        Ok(RoleDraft {
            role_name: role_name(&spec.name),
            path: self.config.share_role_path.clone(),
            description: in_tags(spec),
            trust_policy: trust_policy(spec).to_string(),
            read_policy_name: READ_POLICY_NAME.to_string(),
            read_policy: role_policy(spec, &self.config, record.sessions_valid_after.as_deref())
                .to_string(),
            permissions_boundary: self.config.permissions_boundary_arn.clone(),
            max_session_seconds: spec.max_session_seconds as i32,
            tags: record.to_tags()?,
        })
    }
}

/// The record of a share made now by `caller`: a create, or a heal, which
/// keeps nothing of a record it could not believe.
pub(crate) fn new_record(
    spec: ShareSpec,
    caller: &str,
    sessions_valid_after: Option<String>,
) -> ShareRecord {
    ShareRecord {
        spec,
        created_by: caller.to_string(),
        created_at: now_rfc3339(),
        updated_by: None,
        updated_at: None,
        sessions_valid_after,
    }
}
