//! The forwarder: for each new CloudTrail log file, find the owning account
//! and the shares that deliver its logs, then tag the file in place or copy
//! it to the share's bucket. Idempotent, because S3 delivers at least once.

mod activity;
mod backfill;
mod batch;
mod batch_tail;
pub mod budget;
mod delivery;
mod last_receive;
mod log;
pub mod metrics;
mod runs;
mod shares;

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use trailshare::backfill::RunStore;
use trailshare::config::Config;
use trailshare::events::{decode, CreatedObject, Notification, Trigger};
use trailshare::key::LogKey;
use trailshare::ports::{
    AwsError, LogObjects, NoNotifier, NoQueue, Notifier, RoleReader, RoleSummary, WorkQueue,
};
use trailshare::seal::ShareKey;

use crate::budget::Budget;
use crate::delivery::SourceCache;
use crate::log::{count_failed, log, log_outcome, log_target, skipped, summary};
use crate::metrics::{Counted, Mode, Tally};
pub use crate::shares::{DamagedShare, ShareCache};
use trailshare::targets::{asked, targets_for, Asked, Notice, Target};
use trailshare::telemetry;

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
    /// Where the metric lines' metrics go (`metrics::namespace`).
    namespace: String,
    /// Where backfill runs keep their counts (`None`: not counted).
    runs: Option<crate::runs::RunBook>,
    /// Seals the runs' objects (the share secret's key).
    key: ShareKey,
    /// Where activity goes and what a share role is (`ACTIVITY_BUCKET`;
    /// `None`: activity is not extracted).
    activity: Option<activity::Activity>,
}

impl<S: RoleReader, O: LogObjects> Forwarder<S, O, NoQueue, NoNotifier> {
    /// `key` checks the seal of every route and record read from IAM.
    pub fn new(
        roles: S,
        objects: O,
        config: Config,
        key: ShareKey,
    ) -> Forwarder<S, O, NoQueue, NoNotifier> {
        let activity = activity::Activity::of(&config);
        Forwarder {
            shares: ShareCache::new(roles, &config, key.clone()),
            objects,
            queue: NoQueue,
            notifier: NoNotifier,
            region: "us-east-1".to_string(),
            config,
            namespace: metrics::DEFAULT_NAMESPACE.to_string(),
            runs: None,
            activity,
            key,
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
            namespace: self.namespace,
            runs: self.runs,
            key: self.key,
            activity: self.activity,
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
            namespace: self.namespace,
            runs: self.runs,
            key: self.key,
            activity: self.activity,
        }
    }

    /// The same forwarder publishing its metrics in `namespace` (see
    /// [`metrics::namespace`]).
    pub fn with_metrics_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The same forwarder counting backfill runs in `store`
    /// (`BACKFILL_BUCKET`).
    pub fn with_runs<R: RunStore + 'static>(mut self, store: R) -> Forwarder<S, O, Q, N> {
        self.runs = Some(crate::runs::RunBook::new(store, self.key.clone()));
        self
    }
}

impl<S: RoleReader, O: LogObjects, Q: WorkQueue, N: Notifier> Forwarder<S, O, Q, N> {
    /// Reads the share table into the cache (at start-up, before the first
    /// event). Concurrent callers wait for this one read.
    pub async fn warm_up(&self) {
        if let Err(error) = self.shares.get().await {
            telemetry::warn(
                &json!({"event": "warm_up", "outcome": "failed", "error": error.to_string()}),
            );
        }
    }

    /// Fills the share table from a listing read at start-up, concurrently
    /// with the share secret (a failure is logged; the first event reads again).
    pub async fn prime(&self, listing: Vec<RoleSummary>) {
        if let Err(error) = self.shares.prime(listing).await {
            telemetry::warn(
                &json!({"event": "warm_up", "outcome": "failed", "error": error.to_string()}),
            );
        }
    }

    /// Handles one invocation without a deadline (see
    /// [`Forwarder::handle_event_by`]).
    pub async fn handle_event(&self, event: Value) -> Result<Value, ForwardError> {
        self.handle_event_by(event, Budget::unlimited()).await
    }

    /// Handles one invocation within `budget` (from the invocation's
    /// deadline). SQS batches answer with the messages to retry (see
    /// `batch`); direct invocations fail as a whole if any object failed.
    pub async fn handle_event_by(
        &self,
        event: Value,
        budget: Budget,
    ) -> Result<Value, ForwardError> {
        match decode(&event)? {
            Trigger::Direct(notification) => {
                let objects = self.objects_of(&notification, None);
                let tally = Tally::default();
                let outcomes = self.process_all(&objects, &tally).await;
                tally.emit(&self.namespace);
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
            Trigger::Queue(messages) => Ok(self.handle_batch(&messages, budget).await),
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
    async fn process_all(&self, objects: &[CreatedObject], tally: &Tally) -> Vec<Outcome> {
        let items: Vec<Item> = objects
            .iter()
            .map(|object| Item {
                object: object.clone(),
                only: None,
            })
            .collect();
        self.process_items(&items, tally).await
    }

    async fn process_items(&self, items: &[Item], tally: &Tally) -> Vec<Outcome> {
        stream::iter(items)
            .map(|item| async move {
                let outcome = self
                    .process_for(&item.object, item.only.as_deref(), tally)
                    .await;
                log_outcome(&item.object, &outcome);
                outcome
            })
            .buffered(CONCURRENCY)
            .collect()
            .await
    }

    /// Does what the shares ask for one object (and writes its metrics).
    pub async fn process(&self, object: &CreatedObject) -> Outcome {
        let tally = Tally::default();
        let outcome = self.process_for(object, None, &tally).await;
        tally.emit(&self.namespace);
        outcome
    }

    /// Does what the shares (or only the share `only`, for backfill) ask for
    /// one object: every target (the tag, each distinct copy) is tried,
    /// independently of the others' results.
    async fn process_for(
        &self,
        object: &CreatedObject,
        only: Option<&str>,
        tally: &Tally,
    ) -> Outcome {
        let key = match self.trail_key(object) {
            Ok(key) => key,
            Err(outcome) => return outcome,
        };
        let shares = match self.shares.get().await {
            Ok(shares) => shares,
            Err(error) => return failed(error),
        };
        let (targets, notices, asked) = wanted(&shares.routes, only, &key.account, &object.key);
        let damaged = damaged_claims(&shares.damaged, object, &key.account, only, tally);
        // A backfill (`only`) redoes one share's deliveries, not activity.
        let activity = self
            .activity
            .as_ref()
            .filter(|a| only.is_none() && a.reads(&key));
        if targets.is_empty() && notices.is_empty() && damaged.is_empty() && activity.is_none() {
            return skipped(format!(
                "no share delivers account {}'s log files",
                key.account
            ));
        }
        let source = SourceCache::default();
        let mut gathered = Gathered {
            errors: damaged,
            ..Gathered::default()
        };
        let count = |i, t: &Target, r: &Result<String, AwsError>| {
            tally.target(&asked, i, t, Counted::of(r, source.known_size(object)))
        };
        let deliveries = self.reach_all(
            object,
            &key.account,
            &targets,
            &source,
            &mut gathered,
            count,
        );
        let extraction = self.activity_of(activity, object, &shares);
        let (done, extracted) = futures_util::future::join(deliveries, extraction).await;
        activity::gather(object, &mut gathered, extracted);
        // Each announcement once its share's delivery is done; a delivery
        // that failed fails the object, so its notice comes on the retry.
        let due: Vec<&Notice> = notices
            .iter()
            .filter(|n| gathered.source_gone.is_none() && n.after.is_none_or(|i| done[i]))
            .collect();
        let results = futures_util::future::join_all(
            due.iter()
                .map(|notice| self.announce(object, notice, &targets, &source)),
        )
        .await;
        for (notice, result) in due.iter().zip(results) {
            tally.notice(&asked, &notices, notice, Counted::of(&result, None));
            gathered.add_notice(object, notice, result);
        }
        if !gathered.errors.is_empty() {
            return Outcome::Failed {
                error: gathered.errors.join("; "),
            };
        }
        if let Some(call) = gathered.source_gone {
            // Its announcements are not sent either: skipped too.
            for notice in notices.iter().filter(|n| !due.contains(n)) {
                tally.notice(&asked, &notices, notice, Counted::Skipped);
            }
            return skipped(format!("the object no longer exists ({call})"));
        }
        Outcome::Processed {
            account: key.account,
            actions: gathered.actions,
        }
    }

    /// Every target at once; each result logged, counted (`count`) and
    /// gathered. Which targets are done, in order (announcements wait on them).
    async fn reach_all(
        &self,
        object: &CreatedObject,
        account: &str,
        targets: &[Target],
        source: &SourceCache,
        gathered: &mut Gathered,
        count: impl Fn(usize, &Target, &Result<String, AwsError>),
    ) -> Vec<bool> {
        let results = futures_util::future::join_all(
            targets
                .iter()
                .map(|target| self.reach(object, account, target, source)),
        )
        .await;
        let mut done = Vec::new();
        for (index, (target, result)) in targets.iter().zip(results).enumerate() {
            log_target(object, &target.name(), &result);
            count(index, target, &result);
            done.push(result.is_ok());
            gathered.add(&target.name(), result);
        }
        done
    }

    /// The object's CloudTrail key, if it is a file of this stack's trail
    /// (its bucket, prefix and organization); else why it is skipped.
    fn trail_key(&self, object: &CreatedObject) -> Result<LogKey, Outcome> {
        if object.bucket != self.config.trail_bucket {
            return Err(skipped(format!(
                "bucket {} is not the trail bucket",
                object.bucket
            )));
        }
        let key = LogKey::parse(&object.key).map_err(|error| skipped(error.to_string()))?;
        if key.prefix != self.config.trail_prefix {
            return Err(skipped("outside the trail prefix".to_string()));
        }
        if key.organization_id.is_some() && key.organization_id != self.config.organization_id {
            return Err(skipped(
                "organization layout of another organization".to_string(),
            ));
        }
        Ok(key)
    }
}

/// What the shares (`only` the one named, if any) want done with an
/// account's file: the targets, the announcements, and which shares each
/// result counts for in the metrics. IAM denies an expired share already;
/// the forwarder stops too.
fn wanted(
    routes: &[trailshare::route::Route],
    only: Option<&str>,
    account: &str,
    key: &str,
) -> (Vec<Target>, Vec<Notice>, Vec<Asked>) {
    let now = time::OffsetDateTime::now_utc();
    let selected = || {
        routes
            .iter()
            .filter(move |s| only.is_none_or(|name| s.name == name) && !s.expired_at(now))
    };
    let (targets, notices) = targets_for(selected(), account, key);
    let asked = asked(selected(), account, key, &targets, &notices);
    (targets, notices, asked)
}

fn failed(error: impl std::fmt::Display) -> Outcome {
    Outcome::Failed {
        error: error.to_string(),
    }
}

/// What one object's deliveries and announcements came to: the actions
/// done, the errors (which fail the object), and whether its source is gone.
#[derive(Default)]
struct Gathered {
    actions: Vec<String>,
    errors: Vec<String>,
    source_gone: Option<&'static str>,
}

impl Gathered {
    fn add_notice(
        &mut self,
        object: &CreatedObject,
        notice: &Notice,
        result: Result<String, AwsError>,
    ) {
        let name = format!("notify {}", notice.notify.arn());
        log_target(object, &name, &result);
        self.add(&name, result);
    }

    fn add(&mut self, name: &str, result: Result<String, AwsError>) {
        match result {
            Ok(action) => self.actions.push(action),
            Err(AwsError::NotFound { call }) => self.source_gone = Some(call),
            Err(error) => self.errors.push(format!("{name}: {error}")),
        }
    }
}

/// A share whose route cannot be believed delivers nothing, and the files
/// it claims fail: retried, then dead-lettered, never dropped. One error
/// (and one log line) per damaged share that claims `account`'s file.
fn damaged_claims(
    damaged: &[DamagedShare],
    object: &CreatedObject,
    account: &str,
    only: Option<&str>,
    tally: &Tally,
) -> Vec<String> {
    damaged
        .iter()
        .filter(|d| only.is_none_or(|name| d.name == name) && d.claims(account))
        .map(|d| {
            let error = format!(
                "share {} is damaged ({}): nothing is delivered for it until an admin's PUT heals it",
                d.name, d.reason
            );
            tally.count(&d.name, Mode::Damaged, Counted::Failed);
            telemetry::error(&json!({"event": "target", "bucket": object.bucket, "key": object.key,
                        "target": format!("share {}", d.name), "outcome": "failed",
                        "retryable": false, "error": error}));
            error
        })
        .collect()
}

/// An object to process, for every share or only one (backfill).
#[derive(Debug, Clone)]
struct Item {
    object: CreatedObject,
    only: Option<String>,
}

#[cfg(test)]
mod tests;
