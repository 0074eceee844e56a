//! Replacing, repairing and healing a share: nobody ever reads more than
//! the old or the new share allows, whatever IAM call a replace stops at.

use serde_json::{json, Value};
use trailshare::ports::{RolePaths, RoleStore, StoredRole, WorkQueue};

use crate::error::principal_error;
use crate::error::{ApiError, Result};
use crate::Provisioner;
use crate::{now_rfc3339, readable, rfc3339, ApiResponse, Found};
use trailshare::policy::{
    hold_policy, role_policy, transition_policy, trust_policy, READ_POLICY_NAME,
};
use trailshare::record::ShareRecord;
use trailshare::share::ShareSpec;

impl<S: RoleStore, Q: WorkQueue, P: RolePaths> Provisioner<S, Q, P> {
    /// Create or replace. The same body twice changes nothing: an unchanged
    /// share makes no write at all, and keeps who created it and when.
    pub(crate) async fn put(&self, spec: ShareSpec, caller: &str) -> Result<ApiResponse> {
        let Some(found) = self.find(&spec.name).await? else {
            return Ok(ApiResponse::json(201, &self.create(spec, caller).await?));
        };
        let (current, role) = match found {
            // Nothing in a record we cannot believe is kept: not even its grantee.
            Found::Damaged {
                not_managed: false,
                role,
                reason,
                ..
            } => return self.heal(spec, role, reason, caller).await,
            found => readable(found)?,
        };
        if current.spec.organization.is_some() != spec.organization.is_some() {
            return Err(ApiError::new(
                409,
                "immutable",
                "whether a share is an organization share is fixed for its life: delete the share and create a new one",
            )
            .on("organization"));
        }
        if current.spec.grantee_account != spec.grantee_account {
            return Err(ApiError::new(
                409,
                "immutable",
                format!(
                    "grantee_account is fixed for the life of a share (it is {}): delete the share and create a new one",
                    current.spec.grantee_account
                ),
            )
            .on("grantee_account"));
        }
        // A replace plans its steps from the record, so IAM must first hold
        // exactly the record: after a replace that stopped half-way it may
        // hold part of another share (trust, route), which a plan made from
        // the record would leave in place.
        let current = self.repaired(current, &role, caller).await?;
        if current.spec == spec {
            return Ok(ApiResponse::json(200, &self.render(&current, &role.arn)));
        }
        let record = self.replace(&current, &role, spec, caller).await?;
        self.audit(
            caller,
            "replace",
            &record.spec.name,
            Some(&current),
            Some(&record),
        );
        Ok(ApiResponse::json(200, &self.render(&record, &role.arn)))
    }

    /// Brings the role from `current` to `spec` so that nobody can, at any
    /// moment, read more than the old or the new share allows, even if a call
    /// fails half-way (the record is written last, so a retry redoes it all):
    ///
    /// 1. if the trust changes, the inline policy narrows to what both shares
    ///    read (old principals are still trusted, new ones are about to be);
    /// 2. the trust;
    /// 3. the new reach, with a deny of sessions issued before a moment
    ///    after the trust changed, when who may assume or what is read changed;
    ///    when only an organization share's `exclude_accounts` changed, the
    ///    new policy alone (its deny cuts the excluded accounts' sessions;
    ///    no other member's is revoked);
    /// 4. the session length and the description (the route), then the record.
    pub(crate) async fn replace(
        &self,
        current: &ShareRecord,
        role: &StoredRole,
        spec: ShareSpec,
        caller: &str,
    ) -> Result<ShareRecord> {
        let old = &current.spec;
        let name = &role.role_name;
        // Who may assume, until when: principals, external id, expiry.
        let trust_changes = trust_policy(old) != trust_policy(&spec);
        let reach_changes =
            old.log_accounts != spec.log_accounts || old.expires_at != spec.expires_at;
        let mut valid_after = current.sessions_valid_after.clone();
        if trust_changes {
            let during = transition_policy(old, &spec, &self.config, valid_after.as_deref());
            if during != role_policy(old, &self.config, valid_after.as_deref()) {
                self.store
                    .put_policy(name, READ_POLICY_NAME, &during.to_string())
                    .await?;
            }
            self.store
                .update_trust(name, &trust_policy(&spec).to_string())
                .await
                .map_err(|e| principal_error(e, &spec))?;
        }
        if trust_changes || reach_changes {
            valid_after = Some(revocation_moment());
            let policy = role_policy(&spec, &self.config, valid_after.as_deref());
            self.store
                .put_policy(name, READ_POLICY_NAME, &policy.to_string())
                .await?;
        } else {
            let policy = role_policy(&spec, &self.config, valid_after.as_deref());
            if policy != role_policy(old, &self.config, valid_after.as_deref()) {
                self.store
                    .put_policy(name, READ_POLICY_NAME, &policy.to_string())
                    .await?;
            }
        }
        // The description carries the route (expiry, delivery) that the
        // forwarder and the sweep read.
        if old.max_session_seconds != spec.max_session_seconds
            || self.description(old, role) != self.description(&spec, role)
        {
            self.store
                .update_role(
                    name,
                    &self.description(&spec, role),
                    spec.max_session_seconds as i32,
                )
                .await?;
        }
        let record = ShareRecord {
            spec,
            created_by: current.created_by.clone(),
            created_at: current.created_at.clone(),
            updated_by: Some(caller.to_string()),
            updated_at: Some(now_rfc3339()),
            sessions_valid_after: valid_after,
        };
        self.write_record(role, &record).await?;
        Ok(record)
    }

    /// The record is written last, so after a replace that stopped half-way
    /// it still says the old share while IAM may hold part of the new one.
    /// A PUT of the recorded share therefore checks that IAM holds exactly
    /// it (one GetRolePolicy; trust, description and session length came
    /// with GetRole): if so it writes nothing; if not it puts the share
    /// back — first the route, so the forwarder stops acting on the new one
    /// — reading nothing while the trust names principals the share does
    /// not, and revoking their sessions.
    pub(crate) async fn repair(
        &self,
        current: &ShareRecord,
        role: &StoredRole,
        caller: &str,
    ) -> Result<Option<ShareRecord>> {
        let spec = &current.spec;
        let name = &role.role_name;
        let held = self.holds(current, role).await?;
        if held.all() {
            return Ok(None);
        }
        if !held.route {
            self.store
                .update_role(
                    name,
                    &self.description(spec, role),
                    spec.max_session_seconds as i32,
                )
                .await?;
        }
        let mut valid_after = current.sessions_valid_after.clone();
        if !held.trust {
            self.store
                .put_policy(name, READ_POLICY_NAME, &hold_policy().to_string())
                .await?;
            self.store
                .update_trust(name, &trust_policy(spec).to_string())
                .await
                .map_err(|e| principal_error(e, spec))?;
            valid_after = Some(revocation_moment());
        }
        if !(held.trust && held.policy) {
            let policy = role_policy(spec, &self.config, valid_after.as_deref());
            self.store
                .put_policy(name, READ_POLICY_NAME, &policy.to_string())
                .await?;
        }
        let record = ShareRecord {
            updated_by: Some(caller.to_string()),
            updated_at: Some(now_rfc3339()),
            sessions_valid_after: valid_after,
            ..current.clone()
        };
        self.write_record(role, &record).await?;
        Ok(Some(record))
    }

    /// The record after [`Provisioner::repair`], audited when it changed
    /// anything: every path that writes a policy or trust from a record
    /// (PUT, revoke-sessions) starts here, so it never builds on a trust
    /// or route that a stopped replace left behind.
    pub(crate) async fn repaired(
        &self,
        current: ShareRecord,
        role: &StoredRole,
        caller: &str,
    ) -> Result<ShareRecord> {
        match self.repair(&current, role, caller).await? {
            None => Ok(current),
            Some(record) => {
                self.audit(
                    caller,
                    "repair",
                    &record.spec.name,
                    Some(&current),
                    Some(&record),
                );
                Ok(record)
            }
        }
    }

    /// Which parts of the record IAM holds: the trust, the route and
    /// session length (both from GetRole), and the inline policy (one
    /// GetRolePolicy).
    pub(crate) async fn holds(&self, current: &ShareRecord, role: &StoredRole) -> Result<Held> {
        let spec = &current.spec;
        let parse = |text: Option<&str>| text.and_then(|t| serde_json::from_str::<Value>(t).ok());
        let policy = role_policy(spec, &self.config, current.sessions_valid_after.as_deref());
        let held = self
            .store
            .get_policy(&role.role_name, READ_POLICY_NAME)
            .await?;
        Ok(Held {
            trust: parse(role.trust_policy.as_deref()) == Some(trust_policy(spec)),
            route: role.description.as_deref() == Some(self.description(spec, role).as_str())
                && role.max_session_seconds == Some(spec.max_session_seconds as i32),
            policy: parse(held.as_deref()) == Some(policy),
        })
    }

    /// `PUT` of a share whose record cannot be believed (unsigned, forged,
    /// unreadable): nothing of the old state is kept. The role reads
    /// nothing first, then trusts only the new principals, then gains the
    /// requested reach with every older session denied, then its sealed
    /// route and record.
    pub(crate) async fn heal(
        &self,
        spec: ShareSpec,
        role: StoredRole,
        reason: &str,
        caller: &str,
    ) -> Result<ApiResponse> {
        let name = &role.role_name;
        self.store
            .put_policy(name, READ_POLICY_NAME, &hold_policy().to_string())
            .await?;
        self.store
            .update_trust(name, &trust_policy(&spec).to_string())
            .await
            .map_err(|e| principal_error(e, &spec))?;
        let moment = revocation_moment();
        let policy = role_policy(&spec, &self.config, Some(&moment));
        self.store
            .put_policy(name, READ_POLICY_NAME, &policy.to_string())
            .await?;
        self.store
            .update_role(
                name,
                &self.description(&spec, &role),
                spec.max_session_seconds as i32,
            )
            .await?;
        let record = crate::create::new_record(spec, caller, Some(moment));
        self.write_record(&role, &record).await?;
        (self.audit)(
            &json!({"event": "audit", "at": now_rfc3339(), "caller": caller,
            "action": "heal", "share": record.spec.name, "reason": reason,
            "before": Value::Null, "after": record}),
        );
        Ok(ApiResponse::json(200, &self.render(&record, &role.arn)))
    }
}

/// Which parts of a share's record IAM holds (see `Provisioner::holds`).
pub(crate) struct Held {
    pub(crate) trust: bool,
    pub(crate) route: bool,
    pub(crate) policy: bool,
}

impl Held {
    pub(crate) fn all(&self) -> bool {
        self.trust && self.route && self.policy
    }
}

/// How long after a trust change old principals may still assume through
/// the stale trust: IAM is eventually consistent and applies a change
/// within seconds, so sessions issued inside this margin are denied too
/// (grantees assume again once it has passed).
pub const PROPAGATION_MARGIN: time::Duration = time::Duration::seconds(15);

/// The moment from which sessions are valid again: a propagation margin
/// after now, rounded up to the next whole second (`aws:TokenIssueTime`
/// has sub-second precision).
pub(crate) fn revocation_moment() -> String {
    rfc3339(time::OffsetDateTime::now_utc() + PROPAGATION_MARGIN + time::Duration::SECOND)
}
