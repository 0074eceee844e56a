//! The forwarder: for each new CloudTrail log file, find the owning account
//! and the shares that deliver its logs, then tag the file in place or copy
//! it to the share's bucket. Idempotent, because S3 delivers at least once.

mod shares;

use std::collections::BTreeSet;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use trailshare::backfill::{
    account_of_folder, account_parents, account_roots, day_folder, format_day, kind_folders,
    parse_day, Window, Work,
};
use trailshare::config::Config;
use trailshare::events::{decode, CreatedObject, Notification, Trigger};
use trailshare::key::LogKey;
use trailshare::notice::{s3_event, Announced};
use trailshare::route::Route;
use trailshare::seal::ShareKey;
use trailshare::share::{Delivery, Notify};
use trailshare::store::{
    Destination, LogObjects, NoNotifier, NoQueue, Notifier, RoleReader, RoleSummary, SourceHead,
    StoreError, WorkQueue, Writer,
};

pub use crate::shares::ShareCache;

/// The tag every delivered log file carries, valued with its owning account.
pub const ACCOUNT_TAG: &str = "trailshare:account";
/// S3 allows at most 10 tags per object.
const MAX_OBJECT_TAGS: usize = 10;
/// Objects processed at once within one invocation.
pub const CONCURRENCY: usize = 16;

/// Why an invocation as a whole failed (so Lambda retries it).
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    UnknownEvent(#[from] trailshare::events::UnknownEvent),
    #[error("{failed} of {total} objects failed; see the log lines above")]
    ObjectsFailed { failed: usize, total: usize },
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything the shares ask for is done (`actions` says what it took).
    Processed {
        account: String,
        actions: Vec<String>,
    },
    /// Nothing to do, and never will be (not a log file, no share, gone).
    Skipped { reason: String },
    /// Could not finish now; the event must be retried.
    Failed { error: String },
}

/// The forwarder over its ports. Built once per process. `Q` is its own
/// queue, where backfill work fans out (`NoQueue`: backfill work fails);
/// `N` announces delivered files to grantees (`NoNotifier`: shares that
/// ask for it fail their files, which are retried, never dropped).
pub struct Forwarder<S, O, Q = NoQueue, N = NoNotifier> {
    shares: ShareCache<S>,
    objects: O,
    queue: Q,
    notifier: N,
    /// The trail bucket's region, as announcements name it.
    region: String,
    config: Config,
}

impl<S: RoleReader, O: LogObjects> Forwarder<S, O, NoQueue, NoNotifier> {
    /// `key` checks the seal of every route and record read from IAM.
    pub fn new(
        roles: S,
        objects: O,
        config: Config,
        key: ShareKey,
    ) -> Forwarder<S, O, NoQueue, NoNotifier> {
        Forwarder {
            shares: ShareCache::new(roles, &config, key),
            objects,
            queue: NoQueue,
            notifier: NoNotifier,
            region: "us-east-1".to_string(),
            config,
        }
    }
}

impl<S, O, Q, N> Forwarder<S, O, Q, N> {
    /// The same forwarder with its queue, for backfill work.
    pub fn with_queue<Q2: WorkQueue>(self, queue: Q2) -> Forwarder<S, O, Q2, N> {
        Forwarder {
            shares: self.shares,
            objects: self.objects,
            queue,
            notifier: self.notifier,
            region: self.region,
            config: self.config,
        }
    }

    /// The same forwarder announcing through `notifier`; `region` is the
    /// trail bucket's, which announcements carry as `awsRegion`.
    pub fn with_notifier<N2: Notifier>(
        self,
        notifier: N2,
        region: impl Into<String>,
    ) -> Forwarder<S, O, Q, N2> {
        Forwarder {
            shares: self.shares,
            objects: self.objects,
            queue: self.queue,
            notifier,
            region: region.into(),
            config: self.config,
        }
    }
}

impl<S: RoleReader, O: LogObjects, Q: WorkQueue, N: Notifier> Forwarder<S, O, Q, N> {
    /// Reads the share table into the cache (at start-up, before the first
    /// event). Concurrent callers wait for this one read.
    pub async fn warm_up(&self) {
        if let Err(error) = self.shares.get().await {
            log(&json!({"event": "warm_up", "outcome": "failed", "error": error.to_string()}));
        }
    }

    /// Fills the share table from a listing read at start-up, concurrently
    /// with the share secret (a failure is logged; the first event reads again).
    pub async fn prime(&self, listing: Vec<RoleSummary>) {
        if let Err(error) = self.shares.prime(listing).await {
            log(&json!({"event": "warm_up", "outcome": "failed", "error": error.to_string()}));
        }
    }

    /// Handles one invocation. SQS batches answer with the failed message
    /// ids; direct invocations fail as a whole if any object failed.
    pub async fn handle_event(&self, event: Value) -> Result<Value, ForwardError> {
        match decode(&event)? {
            Trigger::Direct(notification) => {
                let objects = self.objects_of(&notification, None);
                let outcomes = self.process_all(&objects).await;
                let summary = summary(&outcomes, None);
                log(&summary);
                match count_failed(&outcomes) {
                    0 => Ok(summary),
                    failed => Err(ForwardError::ObjectsFailed {
                        failed,
                        total: outcomes.len(),
                    }),
                }
            }
            Trigger::Queue(messages) => {
                let mut failed_ids = BTreeSet::new();
                let mut work: Vec<(usize, Item)> = Vec::new();
                for (index, message) in messages.iter().enumerate() {
                    match &message.content {
                        Ok(Notification::Backfill(item)) => match self.backfill(item).await {
                            Ok(objects) => work.extend(objects.into_iter().map(|object| {
                                let only = Some(item.share().to_string());
                                (index, Item { object, only })
                            })),
                            Err(error) => {
                                log(
                                    &json!({"event": "backfill", "message_id": message.message_id, "work": item, "outcome": "failed",
                                            "retryable": error.retryable(), "error": error.to_string()}),
                                );
                                failed_ids.insert(index);
                            }
                        },
                        Ok(notification) => work.extend(
                            self.objects_of(notification, Some(&message.message_id))
                                .into_iter()
                                .map(|object| (index, Item { object, only: None })),
                        ),
                        Err(error) => {
                            log(
                                &json!({"event": "message", "message_id": message.message_id, "outcome": "failed", "error": error}),
                            );
                            failed_ids.insert(index);
                        }
                    }
                }
                let items: Vec<Item> = work.iter().map(|(_, item)| item.clone()).collect();
                let outcomes = self.process_items(&items).await;
                for ((index, _), outcome) in work.iter().zip(&outcomes) {
                    if matches!(outcome, Outcome::Failed { .. }) {
                        failed_ids.insert(*index);
                    }
                }
                let mut response = SqsBatchResponse::default();
                for index in &failed_ids {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = messages[*index].message_id.clone();
                    response.batch_item_failures.push(failure);
                }
                log(&summary(
                    &outcomes,
                    Some((messages.len(), failed_ids.len())),
                ));
                Ok(serde_json::to_value(response).expect("a batch response serialises"))
            }
        }
    }

    /// Carries out one backfill work item: fans out (share → account → day)
    /// through the queue, or, for a day, lists the files to deliver. Work for
    /// a share that is gone, or an account it no longer covers, does nothing.
    async fn backfill(&self, work: &Work) -> Result<Vec<CreatedObject>, StoreError> {
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
            _ => Err(StoreError::Rejected {
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
                for parent in account_parents(&self.config) {
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
                for root in account_roots(&self.config, account) {
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

    fn objects_of(
        &self,
        notification: &Notification,
        message_id: Option<&str>,
    ) -> Vec<CreatedObject> {
        match notification {
            Notification::Test => {
                log(
                    &json!({"event": "test_event", "message_id": message_id, "outcome": "ignored"}),
                );
                Vec::new()
            }
            Notification::Config(kind) => {
                log(
                    &json!({"event": "config_notification", "message_type": kind, "message_id": message_id, "outcome": "ignored"}),
                );
                Vec::new()
            }
            Notification::Objects(objects) => objects.clone(),
            // Backfill work is handled before (it only comes through SQS).
            Notification::Backfill(_) => Vec::new(),
        }
    }

    /// Processes objects concurrently (bounded), outcomes in input order.
    async fn process_all(&self, objects: &[CreatedObject]) -> Vec<Outcome> {
        let items: Vec<Item> = objects
            .iter()
            .map(|object| Item {
                object: object.clone(),
                only: None,
            })
            .collect();
        self.process_items(&items).await
    }

    async fn process_items(&self, items: &[Item]) -> Vec<Outcome> {
        stream::iter(items)
            .map(|item| async move {
                let outcome = self.process_for(&item.object, item.only.as_deref()).await;
                log_outcome(&item.object, &outcome);
                outcome
            })
            .buffered(CONCURRENCY)
            .collect()
            .await
    }

    /// Does what the shares ask for one object.
    pub async fn process(&self, object: &CreatedObject) -> Outcome {
        self.process_for(object, None).await
    }

    /// Does what the shares (or only the share `only`, for backfill) ask for
    /// one object: every target (the tag, each distinct copy) is tried,
    /// independently of the others' results.
    async fn process_for(&self, object: &CreatedObject, only: Option<&str>) -> Outcome {
        if object.bucket != self.config.trail_bucket {
            return skipped(format!("bucket {} is not the trail bucket", object.bucket));
        }
        let key = match LogKey::parse(&object.key) {
            Ok(key) => key,
            Err(error) => return skipped(error.to_string()),
        };
        if key.prefix != self.config.trail_prefix {
            return skipped("outside the trail prefix".to_string());
        }
        if key.organization_id.is_some() && key.organization_id != self.config.organization_id {
            return skipped("organization layout of another organization".to_string());
        }
        let shares = match self.shares.get().await {
            Ok(shares) => shares,
            Err(error) => {
                return Outcome::Failed {
                    error: error.to_string(),
                }
            }
        };
        // IAM denies an expired share already; the forwarder stops too.
        let now = time::OffsetDateTime::now_utc();
        let selected = shares
            .routes
            .iter()
            .filter(|s| only.is_none_or(|name| s.name == name) && !s.expired_at(now));
        let (targets, notices) = targets_for(selected, &key.account, &object.key);
        // A share whose route cannot be believed delivers nothing, and the
        // files it claims fail: retried, then dead-lettered, never dropped.
        let damaged: Vec<String> = shares
            .damaged
            .iter()
            .filter(|d| only.is_none_or(|name| d.name == name) && d.claims(&key.account))
            .map(|d| {
                let error = format!(
                    "share {} is damaged ({}): nothing is delivered for it until an admin's PUT heals it",
                    d.name, d.reason
                );
                log(&json!({"event": "target", "bucket": object.bucket, "key": object.key,
                            "target": format!("share {}", d.name), "outcome": "failed",
                            "retryable": false, "error": error}));
                error
            })
            .collect();
        if targets.is_empty() && notices.is_empty() && damaged.is_empty() {
            return skipped(format!(
                "no share delivers account {}'s log files",
                key.account
            ));
        }
        let source = SourceCache::default();
        let results = futures_util::future::join_all(
            targets
                .iter()
                .map(|target| self.reach(object, &key.account, target, &source)),
        )
        .await;
        let mut actions = Vec::new();
        let mut errors = damaged;
        let mut source_gone = None;
        let mut done = Vec::new();
        for (target, result) in targets.iter().zip(results) {
            log_target(object, &target.name(), &result);
            done.push(result.is_ok());
            match result {
                Ok(action) => actions.push(action),
                Err(StoreError::NotFound { call }) => source_gone = Some(call),
                Err(error) => errors.push(format!("{}: {error}", target.name())),
            }
        }
        // Each announcement once its share's delivery is done; a delivery
        // that failed fails the object, so its notice comes on the retry.
        let due: Vec<&Notice> = notices
            .iter()
            .filter(|n| source_gone.is_none() && n.after.is_none_or(|i| done[i]))
            .collect();
        let results = futures_util::future::join_all(
            due.iter()
                .map(|notice| self.announce(object, notice, &targets, &source)),
        )
        .await;
        for (notice, result) in due.iter().zip(results) {
            let name = format!("notify {}", notice.notify.arn());
            log_target(object, &name, &result);
            match result {
                Ok(action) => actions.push(action),
                Err(StoreError::NotFound { call }) => source_gone = Some(call),
                Err(error) => errors.push(format!("{name}: {error}")),
            }
        }
        if !errors.is_empty() {
            return Outcome::Failed {
                error: errors.join("; "),
            };
        }
        if let Some(call) = source_gone {
            return skipped(format!("the object no longer exists ({call})"));
        }
        Outcome::Processed {
            account: key.account,
            actions,
        }
    }

    /// Brings one target to done. `Err(NotFound)` only ever means the
    /// source object is gone; every other error fails the object.
    async fn reach(
        &self,
        object: &CreatedObject,
        account: &str,
        target: &Target,
        source: &SourceCache,
    ) -> Result<String, StoreError> {
        match target {
            Target::Tag => self.ensure_tagged(object, account).await,
            Target::Copy(destination) => self.ensure_copied(object, destination, source).await,
        }
    }

    /// Sends one S3-event-shaped message naming where the grantee reads the
    /// file: the copy, or the trail bucket's object. One request when the
    /// event carried size and ETag; otherwise the source's HEAD (shared
    /// with the copies) supplies them.
    async fn announce(
        &self,
        object: &CreatedObject,
        notice: &Notice,
        targets: &[Target],
        source: &SourceCache,
    ) -> Result<String, StoreError> {
        // The provisioner accepts only the grantee's own queues and topics;
        // a route that says otherwise (a role description edited outside
        // the API) is refused, and the file is retried, then dead-lettered.
        if trailshare::ids::arn_account(notice.notify.arn()) != Some(&notice.grantee_account) {
            return Err(StoreError::Rejected {
                call: "notify",
                message: format!(
                    "{} is not in the grantee account {} of share {}",
                    notice.notify.arn(),
                    notice.grantee_account,
                    notice.share
                ),
            });
        }
        let (size, etag) = match (object.size, &object.etag) {
            (Some(size), Some(etag)) => (size, etag.clone()),
            _ => {
                let head = source.head(&self.objects, object).await?;
                (object.size.unwrap_or(head.size), head.etag)
            }
        };
        let (bucket, key, owner) = match notice.after.map(|i| &targets[i]) {
            Some(Target::Copy(destination)) => (
                destination.bucket.as_str(),
                destination.key.as_str(),
                Some(destination.owner.as_str()),
            ),
            _ => (object.bucket.as_str(), object.key.as_str(), None),
        };
        let announced = Announced {
            bucket,
            key,
            size,
            etag: &etag,
            bucket_owner: owner,
        };
        let message = s3_event(
            &announced,
            &notice.share,
            &self.region,
            time::OffsetDateTime::now_utc(),
        );
        self.notifier
            .notify(&notice.notify, &message.to_string())
            .await?;
        Ok(format!(
            "announced s3://{bucket}/{key} to {}",
            notice.notify.arn()
        ))
    }

    /// One read when already tagged; otherwise one read and one write that
    /// keeps the object's other tags.
    async fn ensure_tagged(
        &self,
        object: &CreatedObject,
        account: &str,
    ) -> Result<String, StoreError> {
        let mut tags = self
            .objects
            .tags(&object.bucket, &object.key)
            .await?
            .ok_or(StoreError::NotFound {
                call: "s3:GetObjectTagging",
            })?;
        if tags.iter().any(|(k, v)| k == ACCOUNT_TAG && v == account) {
            return Ok("already tagged".to_string());
        }
        tags.retain(|(k, _)| k != ACCOUNT_TAG);
        if tags.len() >= MAX_OBJECT_TAGS {
            return Err(StoreError::Rejected {
                call: "s3:PutObjectTagging",
                message: format!(
                    "the object already has {MAX_OBJECT_TAGS} tags; no room for {ACCOUNT_TAG}"
                ),
            });
        }
        tags.push((ACCOUNT_TAG.to_string(), account.to_string()));
        self.objects
            .put_tags(&object.bucket, &object.key, &tags)
            .await?;
        Ok(format!("tagged {ACCOUNT_TAG}={account}"))
    }

    /// Done when the copy is of the source's ETag (`CopyState::is_of`):
    /// one HEAD when the event carries the ETag. A new copy with our own
    /// credentials is one server-side `CopyObject` that keeps the source's
    /// metadata as it is; a stale one is redone with the metadata replaced
    /// and marked; a writer role streams the source into a marked PUT.
    async fn ensure_copied(
        &self,
        object: &CreatedObject,
        destination: &Destination,
        source: &SourceCache,
    ) -> Result<String, StoreError> {
        let target = format!("s3://{}/{}", destination.bucket, destination.key);
        let existing = self.objects.copy_state(destination).await?;
        if let Some(copy) = &existing {
            let source_etag = match &object.etag {
                Some(etag) => etag.clone(),
                None => source.head(&self.objects, object).await?.etag,
            };
            if copy.is_of(&source_etag) {
                return Ok(format!("already copied to {target}"));
            }
        }
        match (&destination.writer, existing) {
            (None, None) => {
                self.objects
                    .copy_as_is(&object.bucket, &object.key, destination)
                    .await?;
            }
            (None, Some(_)) => {
                let head = source.head(&self.objects, object).await?;
                self.objects
                    .copy_within(&object.bucket, &object.key, &head, destination)
                    .await?;
            }
            (Some(_), _) => {
                let known = source.known_etag(object);
                self.objects
                    .copy_streamed(&object.bucket, &object.key, known.as_deref(), destination)
                    .await?;
            }
        }
        Ok(format!("copied to {target}"))
    }
}

/// An object to process, for every share or only one (backfill).
#[derive(Debug, Clone)]
struct Item {
    object: CreatedObject,
    only: Option<String>,
}

/// One thing a log file owes: its tag, or one distinct copy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Tag,
    Copy(Destination),
}

impl Target {
    fn name(&self) -> String {
        match self {
            Target::Tag => "tag".to_string(),
            Target::Copy(d) => format!("copy to s3://{}/{}", d.bucket, d.key),
        }
    }
}

/// One announcement a log file owes a share's queue or topic, due once
/// the share's delivery (`after`, an index into the targets) is done.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Notice {
    share: String,
    /// The only account the queue or topic may be in.
    grantee_account: String,
    notify: Notify,
    after: Option<usize>,
}

/// The distinct targets the active shares ask for one log file, and the
/// announcements (one per share and queue or topic; the same queue asked
/// twice for the same object hears once).
fn targets_for<'a>(
    shares: impl Iterator<Item = &'a Route>,
    account: &str,
    key: &str,
) -> (Vec<Target>, Vec<Notice>) {
    let mut targets = Vec::new();
    let mut notices: Vec<Notice> = Vec::new();
    for share in shares.filter(|s| s.covers(account)) {
        let target = match &share.delivery {
            Delivery::None => None,
            Delivery::Tag => Some(Target::Tag),
            Delivery::Copy {
                bucket,
                prefix,
                role_arn,
            } => Some(Target::Copy(Destination {
                bucket: bucket.clone(),
                key: format!("{prefix}{key}"),
                owner: share.grantee_account.clone(),
                writer: role_arn.as_ref().map(|arn| Writer {
                    role_arn: arn.clone(),
                    external_id: share.external_id.clone(),
                }),
            })),
        };
        let after = target.map(|target| match targets.iter().position(|t| *t == target) {
            Some(index) => index,
            None => {
                targets.push(target);
                targets.len() - 1
            }
        });
        if let Some(notify) = &share.notify {
            // Where the grantee reads: a tag leaves the file in place.
            let place = after.filter(|i| matches!(targets[*i], Target::Copy(_)));
            let heard = notices.iter().any(|n| {
                n.notify == *notify
                    && n.after.filter(|i| matches!(targets[*i], Target::Copy(_))) == place
            });
            if !heard {
                notices.push(Notice {
                    share: share.name.clone(),
                    grantee_account: share.grantee_account.clone(),
                    notify: notify.clone(),
                    after,
                });
            }
        }
    }
    (targets, notices)
}

/// The source's HEAD, read at most once per object whatever the number of
/// copies that need it.
#[derive(Default)]
struct SourceCache {
    head: tokio::sync::OnceCell<SourceHead>,
}

impl SourceCache {
    async fn head<O: LogObjects>(
        &self,
        objects: &O,
        object: &CreatedObject,
    ) -> Result<SourceHead, StoreError> {
        self.head
            .get_or_try_init(|| async {
                objects
                    .head(&object.bucket, &object.key)
                    .await?
                    .ok_or(StoreError::NotFound {
                        call: "s3:HeadObject",
                    })
            })
            .await
            .cloned()
    }

    /// The source ETag if already known (from the event or a HEAD).
    fn known_etag(&self, object: &CreatedObject) -> Option<String> {
        object
            .etag
            .clone()
            .or_else(|| self.head.get().map(|h| h.etag.clone()))
    }
}

fn skipped(reason: String) -> Outcome {
    Outcome::Skipped { reason }
}

fn count_failed(outcomes: &[Outcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed { .. }))
        .count()
}

fn summary(outcomes: &[Outcome], messages: Option<(usize, usize)>) -> Value {
    let processed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Processed { .. }))
        .count();
    let skipped = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Skipped { .. }))
        .count();
    let mut summary = json!({"event": "summary", "objects": outcomes.len(), "processed": processed,
                             "skipped": skipped, "failed": count_failed(outcomes)});
    if let Some((total, failed)) = messages {
        summary["messages"] = json!(total);
        summary["failed_messages"] = json!(failed);
    }
    summary
}

fn log_outcome(object: &CreatedObject, outcome: &Outcome) {
    let mut line = json!({"event": "object", "bucket": object.bucket, "key": object.key});
    match outcome {
        Outcome::Processed { account, actions } => {
            line["outcome"] = json!("processed");
            line["account"] = json!(account);
            line["actions"] = json!(actions);
        }
        Outcome::Skipped { reason } => {
            line["outcome"] = json!("skipped");
            line["reason"] = json!(reason);
        }
        Outcome::Failed { error } => {
            line["outcome"] = json!("failed");
            line["error"] = json!(error);
        }
    }
    log(&line);
}

/// One line per target outcome; `retryable` says whether a redelivery may
/// succeed by itself (throttles, 5xx) or needs a setting changed first.
fn log_target(object: &CreatedObject, target: &str, result: &Result<String, StoreError>) {
    log(&target_line(object, target, result));
}

fn target_line(object: &CreatedObject, target: &str, result: &Result<String, StoreError>) -> Value {
    let mut line =
        json!({"event": "target", "bucket": object.bucket, "key": object.key, "target": target});
    match result {
        Ok(action) => {
            line["outcome"] = json!("done");
            line["action"] = json!(action);
        }
        Err(StoreError::NotFound { call }) => {
            line["outcome"] = json!("source_gone");
            line["call"] = json!(call);
        }
        Err(error) => {
            line["outcome"] = json!("failed");
            line["retryable"] = json!(error.retryable());
            line["call"] = json!(error.call());
            line["error"] = json!(error.to_string());
        }
    }
    line
}

/// One JSON line on stdout, which Lambda sends to CloudWatch Logs.
fn log(line: &Value) {
    println!("{line}");
}

#[cfg(test)]
mod tests;
