//! Nothing is lost under faults: the forwarder, driven the way SQS drives it
//! (batches of 10, failed messages redelivered, at most 5 receives, then the
//! dead-letter list), talks to the stand-in through `FaultProxy`, which fails
//! a seeded share of its HTTP attempts. The SDK's own retries stay on, as
//! deployed. `FAULT_SEED=<n>` replays another seed.

mod files;
mod scenarios;
mod sqs;

use std::io::Write;
use std::time::Instant;

use forwarder::Forwarder;
use stand_in::fault_proxy::{Counts, Fault, FaultProxy};
use stand_in::world::{Grants, World};
use trailshare::aws::{IamRoles, S3Objects};

use files::LogObject;
use sqs::{notification, Drained};

/// A prefix with a space and a plus: keys travel encoded in notifications
/// and in URLs through the proxy.
const PREFIX: &str = "trail logs+x";
const MAX_RECEIVES: u32 = 5;
const BATCH: usize = 10;
/// Batches in flight at once (Lambda's concurrent pollers).
const POLLERS: usize = 4;
const COPY_ETAG: &str = "trailshare-source-etag";

/// The SDK's retry quota (token bucket) is shared by every S3 client of a
/// process, as in a deployed function; one scenario at a time keeps one
/// scenario's faults from spending another's retries.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn seed() -> u64 {
    std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261125)
}

type Fwd = Forwarder<IamRoles, S3Objects>;

async fn world() -> World {
    World::new(&[("TRAIL_PREFIX", PREFIX), ("SHARE_CACHE_SECONDS", "60")]).await
}

/// The forwarder, signed as a user of A with the forwarder's permissions
/// (listing its destinations too), talking to the stand-in through `proxy`.
async fn proxied_forwarder(
    w: &World,
    proxy: &FaultProxy,
    destinations: &[&str],
    writers: &[&str],
) -> Fwd {
    let user = w
        .forwarder_user(Grants {
            destinations,
            list_destinations: true,
            writers,
            ..Grants::default()
        })
        .await;
    w.forwarder_as(&proxy.config(&user))
}

fn print_figures(
    name: &str,
    objects: usize,
    counts: &Counts,
    drained: &Drained,
    lost: usize,
    started: Instant,
) {
    let faults: Vec<String> = Fault::ALL
        .iter()
        .map(|k| format!("{k:?} {}", counts.faults.get(k).copied().unwrap_or(0)))
        .collect();
    // Straight to stderr, not through the test harness's capture: the
    // figures belong in `make test`'s output even when the test passes.
    let _ = writeln!(
        std::io::stderr(),
        "[{name}] seed {}: {objects} objects, {} messages acknowledged, {} dead-lettered; {} receives (at most {} for an acknowledged message) in {} invocations ({} failed whole); \
         {} HTTP attempts through the proxy, {} repeated; faults injected {} ({}); {} refused for a wrong ExpectedBucketOwner; lost = {lost}; {:.1} s",
        seed(),
        drained.acknowledged.len(),
        drained.dead.len(),
        drained.receives,
        drained.max_receives_acknowledged,
        drained.invocations,
        drained.invocation_errors,
        counts.requests,
        counts.repeats,
        counts.total_faults(),
        faults.join(", "),
        counts.owner_denied,
        started.elapsed().as_secs_f64(),
    );
}

fn messages_for(w: &World, objects: &[LogObject]) -> Vec<(String, String)> {
    objects
        .iter()
        .enumerate()
        .map(|(i, o)| (format!("m-{i:04}"), notification(&w.bucket, &o.key)))
        .collect()
}
