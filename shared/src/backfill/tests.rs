//! The window, the work items and a run's counts, as the API and the
//! forwarder read them.

use super::*;
use serde_json::json;
use time::macros::date;

const TODAY: Date = date!(2026 - 11 - 25);

#[test]
fn the_window_is_checked_field_by_field() {
    let w = parse_window(&json!({"from": "2026-11-20"}), TODAY).unwrap();
    assert_eq!((w.from, w.until), (date!(2026 - 11 - 20), TODAY));
    assert_eq!(w.days().count(), 6);
    let full = parse_window(&json!({"from": "2025-11-25", "until": "2026-11-25"}), TODAY);
    assert_eq!(full.unwrap().days().count(), 366);
    for (body, field) in [
        (json!({}), "from"),
        (json!({"from": "2026-13-01"}), "from"),
        (json!({"from": 20261101}), "from"),
        (
            json!({"from": "2026-11-20", "until": "2026-11-26"}),
            "until",
        ),
        (json!({"from": "2026-11-21", "until": "2026-11-20"}), "from"),
        (json!({"from": "2025-11-24", "until": "2026-11-25"}), "from"),
        (json!({"from": "2026-11-20", "to": "2026-11-21"}), "to"),
        (json!([]), ""),
    ] {
        let error = parse_window(&body, TODAY).unwrap_err();
        assert_eq!(error.field, field, "{body}: {error}");
    }
}

#[test]
fn work_fans_out_share_to_account_to_day_and_survives_the_queue() {
    let window = Window {
        from: date!(2026 - 02 - 27),
        until: date!(2026 - 03 - 01),
    };
    let accounts = ["222222222222".to_string(), "333333333333".to_string()];
    let plan = Work::plan("bu-b", None, &accounts, window);
    assert_eq!(plan.len(), 2);
    assert_eq!(
        Work::plan("z", None, &["*".to_string()], window),
        [Work::Accounts {
            share: "z".into(),
            run: None,
            from: "2026-02-27".into(),
            until: "2026-03-01".into()
        }]
    );
    let days = plan[0].days_of(window);
    let names: Vec<String> = days
        .iter()
        .map(|w| match w {
            Work::Day { day, .. } => day.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["2026-02-27", "2026-02-28", "2026-03-01"]);
    for work in plan.iter().chain(&days) {
        let body: Value = serde_json::from_str(&work.to_body()).unwrap();
        assert_eq!(Work::from_body(&body), Some(Ok(work.clone())));
    }
    assert_eq!(Work::from_body(&json!({"Records": []})), None);
    for bad in [
        json!({"trailshare_backfill": {"step": "day", "share": "x", "account": "1", "day": "2026-01-01"}}),
        json!({"trailshare_backfill": {"step": "day", "share": "x", "account": "222222222222", "day": "yesterday"}}),
        json!({"trailshare_backfill": {"step": "launch", "share": "x"}}),
        json!({"trailshare_backfill": {"step": "day", "share": "x", "account": "222222222222", "day": "2026-01-01", "extra": 1}}),
    ] {
        assert!(matches!(Work::from_body(&bad), Some(Err(_))), "{bad}");
    }
}

/// A crafted item on the queue (anyone allowed to send could put one
/// there) is refused as its own message's failure: no window the API
/// would refuse can fan out. Failed before the fix: a 100-year window
/// and a window ending in 2099 were accepted (36,500 day items each).
#[test]
fn every_work_item_is_bounded_on_read() {
    let read = |work: Value| Work::from_body_on(&json!({ WORK_KEY: work }), TODAY);
    let ok = [
        json!({"step": "accounts", "share": "z", "from": "2025-11-25", "until": "2026-11-25"}),
        json!({"step": "account", "share": "bu-b", "account": "222222222222", "from": "2026-11-25", "until": "2026-11-25"}),
        json!({"step": "day", "share": "Legacy.Share", "account": "222222222222", "day": "2026-11-25"}),
    ];
    for work in ok {
        assert!(matches!(read(work.clone()), Some(Ok(_))), "{work}");
    }
    for (work, why) in [
        (
            json!({"step": "accounts", "share": "z", "from": "1926-01-01", "until": "2026-11-25"}),
            "366 days",
        ),
        (
            json!({"step": "account", "share": "z", "account": "222222222222", "from": "2025-11-24", "until": "2026-11-25"}),
            "366 days",
        ),
        (
            json!({"step": "accounts", "share": "z", "from": "2026-11-20", "until": "2099-12-31"}),
            "after today",
        ),
        (
            json!({"step": "account", "share": "z", "account": "222222222222", "from": "2026-11-26", "until": "2026-11-26"}),
            "after today",
        ),
        (
            json!({"step": "account", "share": "z", "account": "222222222222", "from": "2026-11-21", "until": "2026-11-20"}),
            "reversed",
        ),
        (
            json!({"step": "day", "share": "z", "account": "222222222222", "day": "2026-11-26"}),
            "after today",
        ),
        (
            json!({"step": "day", "share": "../x", "account": "222222222222", "day": "2026-11-20"}),
            "share name",
        ),
        (
            json!({"step": "day", "share": "", "account": "222222222222", "day": "2026-11-20"}),
            "share name",
        ),
        (
            json!({"step": "accounts", "share": "a".repeat(49), "from": "2026-11-20", "until": "2026-11-20"}),
            "share name",
        ),
        (
            json!({"step": "account", "share": "z", "account": "*", "from": "2026-11-20", "until": "2026-11-20"}),
            "account",
        ),
    ] {
        let error = read(work.clone()).expect("backfill work").expect_err(why);
        assert!(error.contains(why), "{work}: {error}");
    }
}

const RUN: &str = "0123456789abcdef01234567";

fn files(folder: &str, after: Option<&str>) -> Work {
    Work::Files {
        share: "bu-b".into(),
        run: Some(RUN.into()),
        account: "222222222222".into(),
        day: "2026-11-20".into(),
        folder: folder.into(),
        after: after.map(str::to_string),
    }
}

/// The fan-out keeps the run; a day becomes one `Files` item per region
/// folder, a page its continuation; each survives the queue.
#[test]
fn a_run_fans_out_to_one_page_of_one_region_folder_per_item() {
    let window = Window {
        from: date!(2026 - 11 - 19),
        until: date!(2026 - 11 - 20),
    };
    let plan = Work::plan("bu-b", Some(RUN), &["222222222222".into()], window);
    let days = plan[0].days_of(window);
    assert_eq!(days.len(), 2);
    let folders = [
        "AWSLogs/222222222222/CloudTrail/us-east-1/".to_string(),
        "AWSLogs/o-a1b2c3d4e5/222222222222/CloudTrail-Digest/eu-west-1/".to_string(),
    ];
    let pages = days[1].folders_of(&folders);
    assert_eq!(pages[0], files(&folders[0], None));
    let next = pages[0].next_page("AWSLogs/222222222222/CloudTrail/us-east-1/2026/11/20/k");
    assert_eq!(
        next,
        Some(files(
            &folders[0],
            Some("AWSLogs/222222222222/CloudTrail/us-east-1/2026/11/20/k")
        ))
    );
    assert_eq!(days[0].next_page("x"), None);
    assert!(days[0].folders_of(&folders).len() == 2 && plan[0].folders_of(&folders).is_empty());
    for work in plan.iter().chain(&days).chain(&pages).chain(&next) {
        assert_eq!(work.run(), Some(RUN));
        let body: Value = serde_json::from_str(&work.to_body()).unwrap();
        assert_eq!(Work::from_body_on(&body, TODAY), Some(Ok(work.clone())));
    }
}

/// A `Files` item lists only a region folder of its own account in the
/// deployment's layout, and continues only inside that day's folder.
#[test]
fn a_files_item_lists_only_its_accounts_region_day() {
    let layout = crate::layout::Layout::new(Some("o-a1b2c3d4e5"), Some("o-a1b2c3d4e5"));
    let root = "o-a1b2c3d4e5/AWSLogs/";
    let day = "2026/11/20/";
    for folder in [
        format!("{root}222222222222/CloudTrail/us-east-1/"),
        format!("{root}o-a1b2c3d4e5/222222222222/CloudTrail-Insight/us-gov-west-1/"),
    ] {
        let work = files(&folder, None);
        assert_eq!(work.files_prefix(&layout), Some(format!("{folder}{day}")));
        let inside = files(
            &folder,
            Some(&format!("{folder}{day}222222222222_x.json.gz")),
        );
        assert_eq!(inside.files_prefix(&layout), Some(format!("{folder}{day}")));
        let outside = files(&folder, Some(&format!("{folder}2026/11/21/")));
        assert_eq!(
            outside.files_prefix(&layout),
            None,
            "continues outside its day"
        );
    }
    for folder in [
        format!("{root}333333333333/CloudTrail/us-east-1/"),
        format!("{root}222222222222/Config/us-east-1/"),
        format!("{root}222222222222/CloudTrail/"),
        format!("{root}222222222222/CloudTrail/us-east-1/2026/"),
        format!("{root}222222222222/CloudTrail/US_EAST_1/"),
        "AWSLogs/222222222222/CloudTrail/us-east-1/".to_string(),
        format!("{root}222222222222/CloudTrail/us-east-1"),
        String::new(),
    ] {
        assert_eq!(files(&folder, None).files_prefix(&layout), None, "{folder}");
    }
    let day_item = Work::Day {
        share: "bu-b".into(),
        run: None,
        account: "222222222222".into(),
        day: "2026-11-20".into(),
    };
    assert_eq!(day_item.files_prefix(&layout), None);
}

#[test]
fn run_ids_and_keys_are_bounded_on_read() {
    let read = |work: Value| Work::from_body_on(&json!({ WORK_KEY: work }), TODAY);
    let id = new_run_id([0xab; 12]);
    assert!(is_run_id(&id) && id.len() == RUN_ID_LEN);
    let long = "k".repeat(1025);
    for (work, why) in [
        (
            json!({"step": "day", "share": "z", "run": "../../x", "account": "222222222222", "day": "2026-11-20"}),
            "run id",
        ),
        (
            json!({"step": "day", "share": "z", "run": "0123456789ABCDEF01234567", "account": "222222222222", "day": "2026-11-20"}),
            "run id",
        ),
        (
            json!({"step": "files", "share": "z", "account": "222222222222", "day": "2026-11-26", "folder": "AWSLogs/"}),
            "after today",
        ),
        (
            json!({"step": "files", "share": "z", "account": "222222222222", "day": "2026-11-20", "folder": long}),
            "folder or key",
        ),
        (
            json!({"step": "files", "share": "z", "account": "222222222222", "day": "2026-11-20", "folder": "a/", "after": "a\u{0}b"}),
            "folder or key",
        ),
        (
            json!({"step": "files", "share": "z", "account": "1", "day": "2026-11-20", "folder": "a/"}),
            "account",
        ),
    ] {
        let error = read(work.clone()).expect("backfill work").expect_err(why);
        assert!(error.contains(why), "{work}: {error}");
    }
}

fn key() -> crate::seal::ShareKey {
    crate::seal::ShareKey::new("backfill tests' share secret, 32+ bytes").unwrap()
}

fn run() -> Run {
    Run {
        id: RUN.into(),
        share: "bu-b".into(),
        from: "2026-11-19".into(),
        until: "2026-11-20".into(),
        accounts: vec!["222222222222".into()],
        created_at: "2026-11-25T00:00:00Z".into(),
        created_by: "arn:aws:iam::111111111111:user/admin".into(),
        cancelled_at: None,
        cancelled_by: None,
        updated_at: None,
        items: ItemCounts {
            queued: 1,
            ..ItemCounts::default()
        },
        files: FileCounts::default(),
    }
}

/// A run is running while queued items are neither done nor failed, done
/// when they all are, cancelled once cancelled; counts never wrap.
#[test]
fn a_runs_state_follows_its_counts() {
    let mut run = run();
    assert_eq!(run.state(), RunState::Running);
    let fan_out = Delta {
        items: ItemCounts {
            queued: 3,
            done: 1,
            failed: 0,
        },
        ..Delta::default()
    };
    run.add(&fan_out, "t1");
    assert_eq!((run.items.queued, run.items.done), (4, 1));
    assert_eq!(run.state(), RunState::Running);
    let pages = Delta {
        items: ItemCounts {
            queued: 0,
            done: 2,
            failed: 1,
        },
        files: FileCounts {
            delivered: 500,
            already_done: 20,
            skipped: 1,
            failed: 3,
        },
    };
    assert!(!pages.is_empty() && Delta::default().is_empty());
    run.add(&pages, "t2");
    assert_eq!(run.state(), RunState::Done);
    assert_eq!(run.to_api()["state"], "done");
    assert_eq!(run.to_api()["files"]["already_done"], 20);
    assert_eq!(fan_out.plus(pages).items.done, 3);
    run.files.delivered = u64::MAX - 1;
    run.add(&pages, "t3");
    assert_eq!(run.files.delivered, u64::MAX);
    run.cancelled_at = Some("t4".into());
    assert_eq!(run.state(), RunState::Cancelled);
}

/// What is read back is believed only under the stack's seal, at its own
/// key, and up to its size bound: a forged cancel, inflated counts, a run
/// copied under another id or written with another key steer nothing.
#[test]
fn a_stored_run_is_believed_only_under_its_seal_at_its_own_key() {
    let run = run();
    let stored = run.to_stored(&key());
    let at = Run::object_key("bu-b", RUN);
    assert_eq!(at, "runs/bu-b/0123456789abcdef01234567.json");
    assert_eq!(Run::from_stored(&stored, &at, &key()), Ok(run.clone()));

    let mut forged: Value = serde_json::from_slice(&stored).unwrap();
    forged["run"]["cancelled_at"] = json!("2026-11-25T00:00:01Z");
    let forged = serde_json::to_vec(&forged).unwrap();
    assert!(matches!(
        Run::from_stored(&forged, &at, &key()),
        Err(Unbelievable::Unsealed("unauthenticated"))
    ));
    let other = crate::seal::ShareKey::new("another stack's secret, also 32+ bytes").unwrap();
    assert!(matches!(
        Run::from_stored(&run.to_stored(&other), &at, &key()),
        Err(Unbelievable::Unsealed(_))
    ));
    let elsewhere = Run::object_key("bu-b", "ffffffffffffffffffffffff");
    assert_eq!(
        Run::from_stored(&stored, &elsewhere, &key()),
        Err(Unbelievable::Elsewhere)
    );
    let mut moved = run.clone();
    moved.id = "ffffffffffffffffffffffff".into();
    let mut relabelled: Value = serde_json::from_slice(&stored).unwrap();
    relabelled["run"]["id"] = json!(moved.id);
    assert!(matches!(
        Run::from_stored(
            &serde_json::to_vec(&relabelled).unwrap(),
            &elsewhere,
            &key()
        ),
        Err(Unbelievable::Unsealed(_))
    ));
    let mut unsealed: Value = serde_json::from_slice(&stored).unwrap();
    unsealed.as_object_mut().unwrap().remove("seal");
    assert!(matches!(
        Run::from_stored(&serde_json::to_vec(&unsealed).unwrap(), &at, &key()),
        Err(Unbelievable::Malformed(_))
    ));
    assert_eq!(
        Run::from_stored(&vec![b' '; MAX_RUN_BYTES + 1], &at, &key()),
        Err(Unbelievable::TooLarge)
    );
}

/// An in-memory run store whose objects another writer may change between
/// a read and a write (`meddle`: that many interfering writes).
#[derive(Default)]
struct Memory {
    objects: std::sync::Mutex<std::collections::HashMap<String, (Vec<u8>, u64)>>,
    meddle: std::sync::atomic::AtomicUsize,
}

impl RunStore for Memory {
    async fn read(&self, key: &str) -> Result<Option<StoredRun>, crate::ports::AwsError> {
        let objects = self.objects.lock().unwrap();
        Ok(objects.get(key).map(|(bytes, v)| StoredRun {
            bytes: bytes.clone(),
            version: v.to_string(),
        }))
    }

    async fn write(
        &self,
        key: &str,
        body: Vec<u8>,
        version: Option<&str>,
    ) -> Result<bool, crate::ports::AwsError> {
        use std::sync::atomic::Ordering;
        let mut objects = self.objects.lock().unwrap();
        if self.meddle.load(Ordering::SeqCst) > 0 {
            self.meddle.fetch_sub(1, Ordering::SeqCst);
            // Another invocation adds one done item first.
            let (bytes, v) = objects.get(key).cloned().unwrap();
            let mut theirs = Run::from_stored(&bytes, key, &key_()).unwrap();
            theirs.items.done += 1;
            objects.insert(key.to_string(), (theirs.to_stored(&key_()), v + 1));
        }
        let current = objects.get(key).map(|(_, v)| v.to_string());
        if current.as_deref() != version {
            return Ok(false);
        }
        let next = current.map_or(1, |v| v.parse::<u64>().unwrap() + 1);
        objects.insert(key.to_string(), (body, next));
        Ok(true)
    }
}

fn key_() -> crate::seal::ShareKey {
    key()
}

/// Concurrent invocations never lose each other's counts: a write that
/// lost the race reads again and adds its counts to the newer run; a run
/// changed under every attempt is an error, not a lost count.
#[tokio::test]
async fn concurrent_updates_add_up() {
    let store = Memory::default();
    let run = run();
    assert_eq!(runs::create(&store, &key(), &run).await, Ok(true));
    assert_eq!(
        runs::create(&store, &key(), &run).await,
        Ok(false),
        "ids are not reused"
    );
    let add = |run: &mut Run| {
        run.add(
            &Delta {
                items: ItemCounts {
                    queued: 2,
                    done: 1,
                    failed: 0,
                },
                ..Delta::default()
            },
            "t",
        );
        true
    };
    store.meddle.store(2, std::sync::atomic::Ordering::SeqCst);
    let known = runs::read(&store, &key(), "bu-b", RUN).await.unwrap();
    let updated = runs::update(&store, &key(), ("bu-b", RUN), Some(known), add)
        .await
        .unwrap();
    assert_eq!((updated.items.queued, updated.items.done), (3, 3));
    let stored = runs::read(&store, &key(), "bu-b", RUN).await.unwrap();
    assert_eq!(stored.run, updated);

    store
        .meddle
        .store(runs::UPDATE_ATTEMPTS, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        runs::update(&store, &key(), ("bu-b", RUN), None, add).await,
        Err(RunError::Contended)
    );
    assert_eq!(
        runs::read(&store, &key(), "bu-b", "ffffffffffffffffffffffff").await,
        Err(RunError::Missing)
    );
    let unchanged = runs::update(&store, &key(), ("bu-b", RUN), None, |_| false).await;
    assert_eq!(
        unchanged.unwrap().items.done,
        3 + runs::UPDATE_ATTEMPTS as u64
    );
}

#[test]
fn the_runs_bucket_is_checked_naming_the_variable() {
    let config = |vars: &[(&str, &str)]| {
        crate::config::Config::from_lookup(|name| {
            (name == "TRAIL_BUCKET")
                .then(|| "trail-bucket".to_string())
                .or_else(|| {
                    vars.iter()
                        .find(|(k, _)| *k == name)
                        .map(|(_, v)| v.to_string())
                })
        })
    };
    assert_eq!(config(&[]).unwrap().backfill_bucket, None);
    let set = config(&[("BACKFILL_BUCKET", "runs-bucket")]).unwrap();
    assert_eq!(set.backfill_bucket.as_deref(), Some("runs-bucket"));
    let error = config(&[("BACKFILL_BUCKET", "Not_A_Bucket")]).unwrap_err();
    assert_eq!(error.variable, "BACKFILL_BUCKET");
}
