//! Issue item 1: every message finishes in time.

use std::time::Duration;

use serde_json::json;
use stand_in::fault_proxy::FaultProxy;
use stand_in::lambda::{Function, QueueTrigger};

use crate::{tagging_calls, world};

/// Issue item 1: a day of 17 regions, a forwarder whose invocations get a
/// 2 s deadline (Lambda-Runtime-Deadline-Ms from the fake runtime): more
/// work than one invocation can finish (so the budget must stop taking
/// work and report the rest), nothing dead-lettered, every file delivered,
/// and each exactly once (one read and one write of its tags: nothing done
/// is redone). Without the budget every batch outlives its deadline: all of
/// it is retried (the reads and writes repeat) and dead-lettered after five.
#[tokio::test]
async fn a_17_region_day_finishes_under_a_short_deadline_with_nothing_lost_or_done_twice() {
    let w = world(3).await;
    let keys = w.files(&stand_in::SEVENTEEN_REGIONS, 16).await;
    let share = w.share().await;
    let id = w.backfill(&share).await;

    let proxy = FaultProxy::start(&w.aws.url);
    let env = w.forwarder_env(&proxy.url).await;
    let function = Function::start("forwarder", &env);
    let drained = QueueTrigger::new(&w.admin, &w.queue)
        .drain(&function, Duration::from_secs(2))
        .await;

    assert_eq!((drained.timeouts, drained.errors), (0, 0), "{drained:?}");
    assert!(
        drained.reported_failures > 0,
        "some batch held more than one deadline's work, and the budget handed it back: {drained:?}"
    );
    assert_eq!(
        w.dead_letters().await,
        0,
        "nothing dead-lettered: {drained:?}"
    );
    let log = proxy.counts().log;
    for key in &keys {
        assert!(w.tagged(key).await, "lost: {key}");
        assert_eq!(
            tagging_calls(&log, "PUT", &w.trail, key),
            1,
            "delivered once: {key}"
        );
        assert_eq!(
            tagging_calls(&log, "GET", &w.trail, key),
            1,
            "not redone: {key}"
        );
    }
    let run = w.run(&share, &id).await;
    assert_eq!(run["state"], "done", "{run}");
    // One account, one day, 17 folders.
    assert_eq!(
        run["items"],
        json!({"queued": 19, "done": 19, "failed": 0}),
        "{run}"
    );
    assert_eq!(
        run["files"],
        json!({"delivered": keys.len(), "already_done": 0, "skipped": 0, "failed": 0})
    );
    println!("17 regions x 16 files under a 2 s deadline: {drained:?}");
}
