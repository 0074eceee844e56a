//! `GET /shares/{name}/activity?from=D&until=D`: who used a share, per
//! grantee account and principal, from what the forwarder wrote to
//! `ACTIVITY_BUCKET` (see `trailshare::activity`).
//!
//! Cost: one `iam:GetRole` (the share must exist), then per day asked for
//! one listing of that share's day folder (one request per 1,000 objects)
//! and one `GetObject` per object in it, within the reader's limits —
//! in proportion to the days, never to the number of shares.

use serde_json::json;
use trailshare::activity::read::{parse_query, read_window, Limits};
use trailshare::ports::{RolePaths, RoleStore, WorkQueue};

use crate::error::Result;
use crate::{ApiError, ApiResponse, Provisioner};

impl<S: RoleStore, Q: WorkQueue, P: RolePaths> Provisioner<S, Q, P> {
    /// The share's activity over the window asked for (default: the last 7
    /// days). An organization share's reads count per member account.
    pub(crate) async fn activity(
        &self,
        name: &str,
        query: &[(String, String)],
    ) -> Result<ApiResponse> {
        let Some(objects) = &self.activity else {
            return Err(ApiError::new(
                503,
                "not_configured",
                "share activity is not kept: ACTIVITY_BUCKET is not set",
            ));
        };
        let window = parse_query(query, time::OffsetDateTime::now_utc().date())?;
        // Only a share this stack holds: its name, and whether reads count
        // per member account, come from its sealed record.
        let (current, _) = self.existing(name).await?;
        let spec = &current.spec;
        let organization = spec.organization.is_some();
        let reading =
            read_window(objects, &spec.name, window, organization, Limits::default()).await?;
        trailshare::telemetry::info(&json!({
            "event": "activity_read", "share": spec.name,
            "days": window.days().count(), "objects": reading.objects_read,
            "skipped": reading.objects_skipped, "complete": reading.complete,
        }));
        Ok(ApiResponse::json(200, &reading.to_api(&spec.name, window)))
    }
}
