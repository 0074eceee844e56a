//! Reading a share role back: what can be believed of it (a share, or
//! damaged and why), and how it is shown in the API.

use serde_json::{json, Value};
use trailshare::grantee::grantee_setup;
use trailshare::ports::{RolePaths, RoleStore, StoredRole, WorkQueue};
use trailshare::record::{read_tags, role_name, share_name, ShareRecord};
use trailshare::route::read_description;
use trailshare::seal::Distrust;

use crate::error::{ApiError, Result};
use crate::Provisioner;

/// A role on the share path, as far as it can be read and believed.
pub(crate) enum Found {
    Share(Box<ShareRecord>, StoredRole),
    Damaged {
        role: StoredRole,
        not_managed: bool,
        /// `unreadable`, `unsigned`, `unauthenticated` or `not_managed`.
        reason: &'static str,
        error: String,
    },
}

pub(crate) fn damaged(role: StoredRole, reason: &'static str, error: impl Into<String>) -> Found {
    Found::Damaged {
        role,
        not_managed: false,
        reason,
        error: error.into(),
    }
}

/// A found role as a share to change, or the 409 that says why it cannot be.
pub(crate) fn readable(found: Found) -> Result<(ShareRecord, StoredRole)> {
    match found {
        Found::Share(record, role) => Ok((*record, role)),
        Found::Damaged {
            not_managed: true,
            error,
            ..
        } => Err(ApiError::new(409, "not_managed", error).on("name")),
        Found::Damaged { reason, error, .. } => Err(ApiError::new(
            409,
            "damaged",
            format!(
                "the share is damaged ({reason}: {error}); PUT the share to heal it, or DELETE it"
            ),
        )
        .on("name")),
    }
}

impl<S: RoleStore, Q: WorkQueue, P: RolePaths> Provisioner<S, Q, P> {
    /// Reads a role as a share, or says why it cannot be one: its record
    /// must carry this stack's seal for this very role, and still be a
    /// share this stack admits (validator and allow-lists).
    pub(crate) fn classify(&self, role: StoredRole) -> Found {
        if let Some(boundary) = &self.config.permissions_boundary_arn {
            if role.permissions_boundary.as_ref() != Some(boundary) {
                return Found::Damaged {
                    role,
                    not_managed: true,
                    reason: "not_managed",
                    error: "not_managed: its permissions boundary was removed or changed outside trailshare; the provisioner's fence forbids touching it, so an IAM administrator must remove the role".into(),
                };
            }
        }
        let read = match read_tags(&role.role_name, role.tag_pairs()) {
            Ok(read) => read,
            Err(error) => return damaged(role, "unreadable", error.to_string()),
        };
        if let Err(distrust) = read.check(&self.key, role.identity()) {
            let error = match distrust {
                Distrust::Unsigned => "the record carries no seal (written by an earlier version, or by hand): a PUT of the share re-signs it",
                Distrust::Unauthenticated => "the record's seal does not verify: it was not written for this role by this stack's provisioner; a PUT of the share heals it",
            };
            return damaged(role, distrust.reason(), error);
        }
        // The route the forwarder acts on must be sealed too (a sealed but
        // older route is drift, which GET of one share checks).
        let route =
            read_description(role.description.as_deref()).believe(&self.key, role.identity());
        if let Some(Err((distrust, _))) = route {
            let error = "the route in the role's description was not written for this role by this stack's provisioner: the forwarder delivers nothing for it; a PUT of the share heals it";
            return damaged(role, distrust.reason(), error);
        }
        if let Err(invalid) = trailshare::admission::readmit(&read.record.spec, &self.config) {
            return damaged(
                role,
                "unreadable",
                format!("the record is not a share this stack admits ({invalid}): a PUT of the share heals it"),
            );
        }
        Found::Share(Box::new(read.record), role)
    }

    /// The role of share `name`, if one is on the share path.
    pub(crate) async fn find(&self, name: &str) -> Result<Option<Found>> {
        Ok(self
            .store
            .get(&self.config.share_role_path, &role_name(name))
            .await?
            .map(|role| self.classify(role)))
    }

    /// An existing, readable, managed share, or the 404/409 that says why not.
    pub(crate) async fn existing(&self, name: &str) -> Result<(ShareRecord, StoredRole)> {
        match self.find(name).await? {
            None => Err(ApiError::not_found(name)),
            Some(found) => readable(found),
        }
    }

    pub(crate) fn render_found(&self, found: &Found) -> Value {
        match found {
            Found::Share(record, role) => {
                let mut share = self.render(record, &role.arn);
                // IAM's RoleLastUsed (hours behind): who reviews access asks.
                share["last_used"] = match &role.last_used {
                    Some(used) => json!({"at": used.at, "region": used.region}),
                    None => Value::Null,
                };
                // One role serves every member, so IAM's date says only that
                // some member used it: each member's is in the share's
                // activity (`accounts[].last_used`), read by days asked for,
                // which a GET of one share (or a list page) does not pay for.
                if record.spec.organization.is_some() {
                    // A share name's characters are all a path segment's.
                    share["last_used_per_member"] =
                        json!(format!("/shares/{}/activity", record.spec.name));
                }
                share
            }
            Found::Damaged {
                role,
                reason,
                error,
                ..
            } => json!({
                "name": share_name(&role.role_name).unwrap_or(&role.role_name),
                "role_arn": role.arn,
                "status": "damaged",
                "reason": reason,
                "error": error,
            }),
        }
    }

    /// One share as `GET /shares/{name}` shows it: a record IAM does not
    /// hold (a stopped replace, a record rolled back to an older sealed
    /// one) is `damaged`, reason `drift`, never shown as if it held.
    pub(crate) async fn render_checked(&self, found: Found) -> Result<Value> {
        let mut share = self.render_found(&found);
        if let Found::Share(record, role) = &found {
            let held = self.holds(record, role).await?;
            if !held.all() {
                let parts: Vec<&str> = [
                    (held.trust, "trust policy"),
                    (held.policy, "inline policy"),
                    (held.route, "route (description, session length)"),
                ]
                .into_iter()
                .filter(|(holds, _)| !holds)
                .map(|(_, part)| part)
                .collect();
                share["status"] = json!("damaged");
                share["reason"] = json!("drift");
                share["error"] = json!(format!(
                    "IAM's {} differs from the share's record: a PUT of the share repairs it",
                    parts.join(", ")
                ));
            }
        }
        Ok(share)
    }

    /// The share as the API returns it.
    pub(crate) fn render(&self, record: &ShareRecord, role_arn: &str) -> Value {
        let mut share = serde_json::to_value(&record.spec).expect("a share spec serialises");
        share["role_arn"] = json!(role_arn);
        // IAM denies an expired role already; the daily sweep deletes it.
        let expired = record.spec.expired_at(time::OffsetDateTime::now_utc());
        share["status"] = json!(if expired { "expired" } else { "active" });
        share["created_by"] = json!(record.created_by);
        share["created_at"] = json!(record.created_at);
        for (key, value) in [
            ("updated_by", &record.updated_by),
            ("updated_at", &record.updated_at),
            ("sessions_valid_after", &record.sessions_valid_after),
        ] {
            if let Some(value) = value {
                share[key] = json!(value);
            }
        }
        share["grantee_setup"] = grantee_setup(&record.spec, &self.config, role_arn);
        share
    }
}
