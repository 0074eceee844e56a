//! In-memory stand-ins for the ports, for the functions' unit tests.
//! Enabled by the `testkit` feature.
//!
//! [`MemRoles`] is IAM's roles in memory: the one role store the unit tests
//! of the provisioner and the forwarder share. It implements [`RoleReader`],
//! [`RoleStore`] and [`RolePaths`] (on itself, on `&MemRoles` and on
//! `Arc<MemRoles>`, so a test can hand it over and still look inside), and
//! has the knobs those tests need: fail the n-th write, refuse every call,
//! fail one role-path lookup, and count writes, reads, listings and lookups.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::ports::{
    AwsError, RoleDraft, RolePaths, RoleReader, RoleStore, RoleSummary, StoredRole,
};
use crate::record::{role_name, ShareRecord};
use crate::seal::ShareKey;

/// The account every role of a [`MemRoles`] lives in.
pub const ACCOUNT: &str = "111111111111";

/// One role as [`MemRoles`] holds it: its documents as JSON, so a test can
/// judge them, and its description and session length as IAM holds them.
#[derive(Debug, Clone)]
pub struct MemRole {
    /// Name, ARN, RoleId, path, tags and boundary.
    pub stored: StoredRole,
    pub trust: Value,
    /// Inline policies by name.
    pub policies: BTreeMap<String, Value>,
    pub max_session_seconds: i32,
    pub description: String,
}

/// Roles in memory. Every write (`create`, the `put_policy` … `untag`
/// updates, `delete`) is one IAM call, noted in order; [`fail_write`]
/// makes the n-th from then on fail, once. Counts `GetRole` reads and
/// `ListRoles` listings; answers `GetRole` for a role's path
/// ([`RolePaths`]) from its share roles and the roles [`with_paths`]
/// names.
///
/// [`fail_write`]: MemRoles::fail_write
/// [`with_paths`]: MemRoles::with_paths
#[derive(Default)]
pub struct MemRoles {
    roles: Mutex<BTreeMap<String, MemRole>>,
    writes: Mutex<Vec<&'static str>>,
    fail: Mutex<Option<(usize, AwsError)>>,
    /// Single-role reads (`GetRole`), for the cost of a page or a table.
    reads: AtomicUsize,
    /// `ListRoles` calls.
    listings: AtomicUsize,
    /// Roles created so far: each gets a new RoleId, as IAM gives.
    created: AtomicUsize,
    /// Roles outside the share path, known only by their paths.
    paths: BTreeMap<String, String>,
    /// Role-path lookups (`RolePaths`).
    lookups: AtomicUsize,
    /// Role-path lookups that fail, by role name.
    failing_lookups: Mutex<BTreeMap<String, AwsError>>,
    /// IAM out of reach: every call fails.
    unreachable: bool,
}

impl MemRoles {
    /// A store where every call fails (`iam:none`), for tests in which the
    /// answer must come before IAM, or be IAM's failure.
    pub fn unreachable() -> MemRoles {
        MemRoles {
            unreachable: true,
            ..MemRoles::default()
        }
    }

    /// With roles outside the share path, `(name, path)`, whose paths
    /// [`RolePaths`] answers (an administrator's role, say).
    pub fn with_paths(mut self, roles: &[(&str, &str)]) -> MemRoles {
        self.paths.extend(
            roles
                .iter()
                .map(|(name, path)| (name.to_string(), path.to_string())),
        );
        self
    }

    /// Makes the n-th write (1-based) from now fail with `error`, once,
    /// named after the call that fails; forgets the writes so far.
    pub fn fail_write(&self, n: usize, error: AwsError) {
        self.writes.lock().unwrap().clear();
        *self.fail.lock().unwrap() = Some((n, error));
    }

    /// Makes every role-path lookup of `role_name` fail with `error`.
    pub fn fail_lookup(&self, role_name: &str, error: AwsError) {
        self.failing_lookups
            .lock()
            .unwrap()
            .insert(role_name.to_string(), error);
    }

    /// The writes so far, in order (since the last [`MemRoles::fail_write`]
    /// or [`MemRoles::clear_writes`]).
    pub fn writes(&self) -> Vec<&'static str> {
        self.writes.lock().unwrap().clone()
    }

    pub fn clear_writes(&self) {
        self.writes.lock().unwrap().clear();
    }

    /// `GetRole` reads so far.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// `GetRole` reads since the last call, and starts counting again.
    pub fn take_reads(&self) -> usize {
        self.reads.swap(0, Ordering::SeqCst)
    }

    /// `ListRoles` calls so far.
    pub fn listings(&self) -> usize {
        self.listings.load(Ordering::SeqCst)
    }

    /// Role-path lookups so far.
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    /// The names of the roles held, sorted.
    pub fn role_names(&self) -> Vec<String> {
        self.roles.lock().unwrap().keys().cloned().collect()
    }

    /// Share `share`'s role as it is now. Panics if there is none.
    pub fn role(&self, share: &str) -> MemRole {
        self.roles.lock().unwrap()[&role_name(share)].clone()
    }

    /// Changes share `share`'s role behind the API's back (no write noted).
    pub fn edit(&self, share: &str, change: impl FnOnce(&mut MemRole)) {
        change(
            self.roles
                .lock()
                .unwrap()
                .get_mut(&role_name(share))
                .unwrap(),
        );
    }

    /// Puts in share `record`'s role, at the default share path
    /// (`/trailshare/`), as the provisioner leaves it, as far
    /// as a reader of routes looks: the record sealed in its tags, the route
    /// sealed in its description, its trust policy; no boundary and no
    /// inline policy. No write is noted.
    pub fn insert_share(&self, record: &ShareRecord, key: &ShareKey) {
        let spec = &record.spec;
        let mut stored = self.new_role(&role_name(&spec.name), "/trailshare/");
        stored.tags = record.to_sealed_tags(key, stored.identity()).unwrap();
        let description = crate::route::describe(spec, key, stored.identity());
        let role = MemRole {
            trust: crate::policy::trust_policy(spec),
            policies: BTreeMap::new(),
            max_session_seconds: spec.max_session_seconds as i32,
            description,
            stored,
        };
        self.roles
            .lock()
            .unwrap()
            .insert(role.stored.role_name.clone(), role);
    }

    /// A role named `name` at `path`, with a RoleId of its own.
    fn new_role(&self, name: &str, path: &str) -> StoredRole {
        StoredRole {
            role_name: name.to_string(),
            arn: format!("arn:aws:iam::{ACCOUNT}:role{path}{name}"),
            role_id: format!("AROA{:017}", self.created.fetch_add(1, Ordering::SeqCst)),
            path: path.to_string(),
            tags: Vec::new(),
            permissions_boundary: None,
            trust_policy: None,
            last_used: None,
            description: None,
            max_session_seconds: None,
        }
    }

    /// The failure every call gets while IAM is out of reach.
    fn reach(&self) -> Result<(), AwsError> {
        match self.unreachable {
            true => Err(AwsError::Failed {
                call: "iam:none",
                message: "not reachable in this test".into(),
            }),
            false => Ok(()),
        }
    }

    /// Notes write `call`; the injected failure if it is the n-th.
    fn write(&self, call: &'static str) -> Result<(), AwsError> {
        self.reach()?;
        let mut writes = self.writes.lock().unwrap();
        writes.push(call);
        let mut fail = self.fail.lock().unwrap();
        if let Some((n, error)) = fail.as_ref() {
            if *n == writes.len() {
                let error = match error.clone() {
                    AwsError::Failed { message, .. } => AwsError::Failed { call, message },
                    AwsError::Rejected { message, .. } => AwsError::Rejected { call, message },
                    AwsError::Throttled { message, .. } => AwsError::Throttled { call, message },
                    other => other,
                };
                *fail = None;
                return Err(error);
            }
        }
        Ok(())
    }

    /// Write `call` on role `name`: `NotFound` if there is none.
    fn with_role<T>(
        &self,
        name: &str,
        call: &'static str,
        change: impl FnOnce(&mut MemRole) -> T,
    ) -> Result<T, AwsError> {
        self.write(call)?;
        match self.roles.lock().unwrap().get_mut(name) {
            Some(role) => Ok(change(role)),
            None => Err(AwsError::NotFound { call }),
        }
    }
}

impl RoleReader for MemRoles {
    async fn get(&self, path: &str, role_name: &str) -> Result<Option<StoredRole>, AwsError> {
        self.reach()?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        let roles = self.roles.lock().unwrap();
        Ok(roles
            .get(role_name)
            .filter(|r| r.stored.path == path)
            .map(|r| StoredRole {
                trust_policy: Some(r.trust.to_string()),
                description: Some(r.description.clone()),
                max_session_seconds: Some(r.max_session_seconds),
                ..r.stored.clone()
            }))
    }

    async fn list_summaries(&self, path: &str) -> Result<Vec<RoleSummary>, AwsError> {
        self.reach()?;
        self.listings.fetch_add(1, Ordering::SeqCst);
        let roles = self.roles.lock().unwrap();
        Ok(roles
            .values()
            .filter(|r| r.stored.path == path)
            .map(|r| RoleSummary {
                role_name: r.stored.role_name.clone(),
                arn: r.stored.arn.clone(),
                role_id: r.stored.role_id.clone(),
                description: Some(r.description.clone()),
            })
            .collect())
    }
}

impl RoleStore for MemRoles {
    async fn create(&self, draft: &RoleDraft) -> Result<StoredRole, AwsError> {
        self.write("iam:CreateRole")?;
        let stored = StoredRole {
            tags: draft.tags.clone(),
            permissions_boundary: draft.permissions_boundary.clone(),
            trust_policy: Some(draft.trust_policy.clone()),
            description: Some(draft.description.clone()),
            max_session_seconds: Some(draft.max_session_seconds),
            ..self.new_role(&draft.role_name, &draft.path)
        };
        let mut roles = self.roles.lock().unwrap();
        if roles.contains_key(&draft.role_name) {
            return Err(AwsError::AlreadyExists {
                call: "iam:CreateRole",
            });
        }
        roles.insert(
            draft.role_name.clone(),
            MemRole {
                stored: stored.clone(),
                trust: serde_json::from_str(&draft.trust_policy).unwrap(),
                policies: BTreeMap::from([(
                    draft.read_policy_name.clone(),
                    serde_json::from_str(&draft.read_policy).unwrap(),
                )]),
                max_session_seconds: draft.max_session_seconds,
                description: draft.description.clone(),
            },
        );
        Ok(stored)
    }

    async fn get_policy(&self, role: &str, policy: &str) -> Result<Option<String>, AwsError> {
        self.reach()?;
        let roles = self.roles.lock().unwrap();
        Ok(roles
            .get(role)
            .and_then(|r| r.policies.get(policy))
            .map(Value::to_string))
    }

    async fn put_policy(&self, role: &str, policy: &str, document: &str) -> Result<(), AwsError> {
        let document: Value = serde_json::from_str(document).unwrap();
        self.with_role(role, "iam:PutRolePolicy", |r| {
            r.policies.insert(policy.to_string(), document);
        })
    }

    async fn update_trust(&self, role: &str, document: &str) -> Result<(), AwsError> {
        let document: Value = serde_json::from_str(document).unwrap();
        self.with_role(role, "iam:UpdateAssumeRolePolicy", |r| r.trust = document)
    }

    async fn update_role(&self, role: &str, description: &str, max: i32) -> Result<(), AwsError> {
        self.with_role(role, "iam:UpdateRole", |r| {
            r.max_session_seconds = max;
            r.description = description.to_string();
        })
    }

    async fn tag(&self, role: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        self.with_role(role, "iam:TagRole", |r| {
            for (key, value) in tags {
                r.stored.tags.retain(|(k, _)| k != key);
                r.stored.tags.push((key.clone(), value.clone()));
            }
        })
    }

    async fn untag(&self, role: &str, keys: &[String]) -> Result<(), AwsError> {
        self.with_role(role, "iam:UntagRole", |r| {
            r.stored.tags.retain(|(k, _)| !keys.contains(k))
        })
    }

    async fn delete(&self, role: &str) -> Result<bool, AwsError> {
        self.write("iam:DeleteRole")?;
        Ok(self.roles.lock().unwrap().remove(role).is_some())
    }
}

impl RolePaths for MemRoles {
    async fn role_path(&self, role_name: &str) -> Result<Option<String>, AwsError> {
        self.reach()?;
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if let Some(error) = self.failing_lookups.lock().unwrap().get(role_name) {
            return Err(error.clone());
        }
        let share_role = self
            .roles
            .lock()
            .unwrap()
            .get(role_name)
            .map(|r| r.stored.path.clone());
        Ok(share_role.or_else(|| self.paths.get(role_name).cloned()))
    }
}

/// The ports through a reference or a shared handle, so a test keeps its
/// own to look inside.
macro_rules! delegate {
    ($handle:ty) => {
        impl RoleReader for $handle {
            async fn get(&self, path: &str, name: &str) -> Result<Option<StoredRole>, AwsError> {
                MemRoles::get(self, path, name).await
            }
            async fn list_summaries(&self, path: &str) -> Result<Vec<RoleSummary>, AwsError> {
                MemRoles::list_summaries(self, path).await
            }
        }

        impl RoleStore for $handle {
            async fn create(&self, draft: &RoleDraft) -> Result<StoredRole, AwsError> {
                MemRoles::create(self, draft).await
            }
            async fn get_policy(
                &self,
                role: &str,
                policy: &str,
            ) -> Result<Option<String>, AwsError> {
                MemRoles::get_policy(self, role, policy).await
            }
            async fn put_policy(
                &self,
                role: &str,
                policy: &str,
                doc: &str,
            ) -> Result<(), AwsError> {
                MemRoles::put_policy(self, role, policy, doc).await
            }
            async fn update_trust(&self, role: &str, document: &str) -> Result<(), AwsError> {
                MemRoles::update_trust(self, role, document).await
            }
            async fn update_role(&self, role: &str, desc: &str, max: i32) -> Result<(), AwsError> {
                MemRoles::update_role(self, role, desc, max).await
            }
            async fn tag(&self, role: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
                MemRoles::tag(self, role, tags).await
            }
            async fn untag(&self, role: &str, keys: &[String]) -> Result<(), AwsError> {
                MemRoles::untag(self, role, keys).await
            }
            async fn delete(&self, role: &str) -> Result<bool, AwsError> {
                MemRoles::delete(self, role).await
            }
        }

        impl RolePaths for $handle {
            async fn role_path(&self, role_name: &str) -> Result<Option<String>, AwsError> {
                MemRoles::role_path(self, role_name).await
            }
        }
    };
}

delegate!(&MemRoles);
delegate!(Arc<MemRoles>);
