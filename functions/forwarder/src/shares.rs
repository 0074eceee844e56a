//! The shares the forwarder acts on, as routes read from IAM, cached so
//! that one listing serves many objects. One `ListRoles` call (per 1,000
//! roles) reads every route from the role descriptions; only a share whose
//! route did not fit its description costs one more read (its tags).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;
use trailshare::config::Config;
use trailshare::record::{share_name, ShareRecord};
use trailshare::route::{read_description, Described, Route};
use trailshare::store::{RoleStore, StoreError};

/// Share routes listed from IAM, kept for `SHARE_CACHE_SECONDS`.
pub struct ShareCache<S> {
    roles: S,
    path: String,
    ttl: Duration,
    cached: Mutex<Option<(Instant, Arc<Vec<Route>>)>>,
}

impl<S: RoleStore> ShareCache<S> {
    pub fn new(roles: S, config: &Config) -> ShareCache<S> {
        ShareCache {
            roles,
            path: config.share_role_path.clone(),
            ttl: Duration::from_secs(config.share_cache_seconds),
            cached: Mutex::new(None),
        }
    }

    /// The role store behind the cache.
    pub fn roles(&self) -> &S {
        &self.roles
    }

    /// The current routes. Concurrent callers wait for one listing.
    pub async fn get(&self) -> Result<Arc<Vec<Route>>, StoreError> {
        let mut cached = self.cached.lock().await;
        if let Some((at, routes)) = cached.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(routes.clone());
            }
        }
        let mut routes = Vec::new();
        for role in self.roles.list_summaries(&self.path).await? {
            if share_name(&role.role_name).is_none() {
                continue;
            }
            match read_description(role.description.as_deref()) {
                Described::Route(route) => routes.push(route),
                Described::InTags => {
                    if let Some(route) = self.route_from_tags(&role.role_name).await? {
                        routes.push(route);
                    }
                }
            }
        }
        let routes = Arc::new(routes);
        *cached = Some((Instant::now(), routes.clone()));
        Ok(routes)
    }

    /// The fallback for one role: its full record, from its tags.
    async fn route_from_tags(&self, role_name: &str) -> Result<Option<Route>, StoreError> {
        let Some(role) = self.roles.get(&self.path, role_name).await? else {
            return Ok(None); // deleted meanwhile
        };
        match ShareRecord::from_tags(&role.role_name, role.tag_pairs()) {
            Ok(record) => Ok(Some(Route::from(&record.spec))),
            Err(error) => {
                println!(
                    "{}",
                    json!({"event": "share_unreadable", "role": role.role_name, "error": error.to_string()})
                );
                Ok(None)
            }
        }
    }
}
