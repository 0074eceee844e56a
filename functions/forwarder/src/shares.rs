//! The shares the forwarder acts on, read from IAM the way the provisioner
//! stores them, and cached so that one listing serves many objects.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use trailshare::config::Config;
use trailshare::record::{RecordError, ShareRecord};
use trailshare::share::ShareSpec;
use trailshare::store::{RoleStore, StoreError};

/// Share specs listed from IAM, kept for `SHARE_CACHE_SECONDS`.
pub struct ShareCache<S> {
    roles: S,
    path: String,
    ttl: Duration,
    cached: Mutex<Option<(Instant, Arc<Vec<ShareSpec>>)>>,
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

    /// The current shares. Concurrent callers wait for one listing.
    pub async fn get(&self) -> Result<Arc<Vec<ShareSpec>>, StoreError> {
        let mut cached = self.cached.lock().await;
        if let Some((at, shares)) = cached.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(shares.clone());
            }
        }
        let mut shares = Vec::new();
        for role in self.roles.list(&self.path).await? {
            match ShareRecord::from_tags(&role.role_name, role.tag_pairs()) {
                Ok(record) => shares.push(record.spec),
                Err(RecordError::NotAShare) => {}
                Err(error) => println!(
                    "{}",
                    serde_json::json!({"event": "share_unreadable", "role": role.role_name, "error": error.to_string()})
                ),
            }
        }
        let shares = Arc::new(shares);
        *cached = Some((Instant::now(), shares.clone()));
        Ok(shares)
    }
}
