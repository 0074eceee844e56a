//! Backfill work items: fan out share → account → day, then list a day.

use crate::log::log;
use crate::Forwarder;
use serde_json::json;
use std::collections::BTreeSet;
use trailshare::backfill::{Window, Work};
use trailshare::events::CreatedObject;
use trailshare::layout::{account_of_folder, day_folder, format_day, kind_folders, parse_day};
use trailshare::ports::{AwsError, LogObjects, Notifier, RoleReader, WorkQueue};

impl<S: RoleReader, O: LogObjects, Q: WorkQueue, N: Notifier> Forwarder<S, O, Q, N> {
    /// Carries out one backfill work item: fans out (share → account → day)
    /// through the queue, or, for a day, lists the files to deliver. Work for
    /// a share that is gone, or an account it no longer covers, does nothing.
    pub(crate) async fn backfill(&self, work: &Work) -> Result<Vec<CreatedObject>, AwsError> {
        let shares = self.shares.get().await?;
        let Some(share) = shares.routes.iter().find(|s| s.name == work.share()) else {
            log(&json!({"event": "backfill", "work": work, "outcome": "share_gone"}));
            return Ok(Vec::new());
        };
        if share.expired_at(time::OffsetDateTime::now_utc()) {
            log(&json!({"event": "backfill", "work": work, "outcome": "share_expired"}));
            return Ok(Vec::new());
        }
        let window = |from: &str, until: &str| match (parse_day(from), parse_day(until)) {
            (Some(from), Some(until)) => Ok(Window { from, until }),
            _ => Err(AwsError::Rejected {
                call: "backfill",
                message: "malformed window".into(),
            }),
        };
        let bucket = &self.config.trail_bucket;
        match work {
            Work::Accounts {
                share: name,
                from,
                until,
            } => {
                let window = window(from, until)?;
                let mut accounts = BTreeSet::new();
                for parent in self.config.layout().account_parents() {
                    let listing = self.objects.list(bucket, &parent, true).await?;
                    accounts.extend(listing.folders.iter().filter_map(|f| account_of_folder(f)));
                }
                let items: Vec<String> = accounts
                    .iter()
                    .filter(|account| share.covers(account))
                    .map(|account| {
                        Work::Account {
                            share: name.clone(),
                            account: account.clone(),
                            from: format_day(window.from),
                            until: format_day(window.until),
                        }
                        .to_body()
                    })
                    .collect();
                self.queue.send(&items).await?;
                log(
                    &json!({"event": "backfill", "work": work, "outcome": "fanned_out", "queued": items.len()}),
                );
                Ok(Vec::new())
            }
            Work::Account {
                share: name,
                account,
                from,
                until,
            } => {
                if !share.covers(account) {
                    return Ok(Vec::new());
                }
                let items: Vec<String> = Work::days_of(name, account, window(from, until)?)
                    .iter()
                    .map(Work::to_body)
                    .collect();
                self.queue.send(&items).await?;
                log(
                    &json!({"event": "backfill", "work": work, "outcome": "fanned_out", "queued": items.len()}),
                );
                Ok(Vec::new())
            }
            Work::Day { account, day, .. } => {
                let Some(day) = parse_day(day).filter(|_| share.covers(account)) else {
                    return Ok(Vec::new());
                };
                let mut objects = Vec::new();
                for root in self.config.layout().account_roots(account) {
                    for kind in kind_folders(&root) {
                        let regions = self.objects.list(bucket, &kind, true).await?.folders;
                        for region in regions {
                            let files = self
                                .objects
                                .list(bucket, &day_folder(&region, day), false)
                                .await?;
                            objects.extend(files.objects.into_iter().map(|listed| CreatedObject {
                                bucket: bucket.clone(),
                                key: listed.key,
                                etag: listed.etag,
                                size: listed.size,
                            }));
                        }
                    }
                }
                log(
                    &json!({"event": "backfill", "work": work, "outcome": "listed", "files": objects.len()}),
                );
                Ok(objects)
            }
        }
    }
}
