//! The summary's attribution and bounds, the window's rules, and the walk
//! over an in-memory bucket (which days it reads, where it stops).

use std::collections::BTreeMap;
use std::sync::Mutex;

use proptest::prelude::*;
use serde_json::json;
use time::macros::date;

use super::read::{parse_query, read_window, ActivityObjects, Fetched, Limits};
use super::summary::{Tally, MAX_LINES, MAX_PRINCIPALS, MAX_SOURCE_IPS, OTHERS, UNKNOWN};
use super::{day_prefix, to_jsonl, ActivityLine, Assumption, Read};
use crate::backfill::Window;
use crate::ports::{AwsError, ListedObject, Page};

const B: &str = "222222222222";
const C: &str = "333333333333";

fn at(minute: u32) -> String {
    format!("2026-12-06T10:{minute:02}:00Z")
}

fn assume(minute: u32, account: &str, principal: &str, session: &str) -> ActivityLine {
    ActivityLine::Assume(Assumption {
        time: at(minute),
        account: account.into(),
        principal: principal.into(),
        session_name: session.into(),
        source_ip: "198.51.100.7".into(),
        ..Default::default()
    })
}

fn denied(minute: u32, account: &str, principal: &str) -> ActivityLine {
    let ActivityLine::Assume(mut line) = assume(minute, account, principal, "s") else {
        unreachable!()
    };
    line.error_code = Some("AccessDenied".into());
    ActivityLine::Assume(line)
}

fn read(minute: u32, session: &str, account: Option<&str>, bytes: u64) -> ActivityLine {
    ActivityLine::Read(Read {
        time: at(minute),
        action: "GetObject".into(),
        key: "AWSLogs/222222222222/x.json.gz".into(),
        bytes: Some(bytes),
        session_name: session.into(),
        account: account.map(str::to_string),
        source_ip: "203.0.113.9".into(),
        error_code: None,
        access_key_id: None,
    })
}

/// A line with the session's access key set (an assume's or a read's).
fn keyed(line: ActivityLine, key: &str) -> ActivityLine {
    match line {
        ActivityLine::Assume(mut a) => {
            a.access_key_id = Some(key.into());
            ActivityLine::Assume(a)
        }
        ActivityLine::Read(mut r) => {
            r.access_key_id = Some(key.into());
            ActivityLine::Read(r)
        }
    }
}

fn summarize(lines: &[ActivityLine], organization: bool) -> serde_json::Value {
    let mut tally = Tally::default();
    tally.add_body(&to_jsonl(lines));
    serde_json::to_value(tally.summarize(organization)).unwrap()
}

/// (account, principal) → (assumed, denied, files_read, bytes_read).
fn counts(summary: &serde_json::Value) -> BTreeMap<(String, String), [u64; 4]> {
    summary["principals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let n = |k: &str| p[k].as_u64().unwrap();
            (
                (
                    p["account"].as_str().unwrap().into(),
                    p["principal"].as_str().unwrap().into(),
                ),
                [n("assumed"), n("denied"), n("files_read"), n("bytes_read")],
            )
        })
        .collect()
}

fn key(account: &str, principal: &str) -> (String, String) {
    (account.into(), principal.into())
}

#[test]
fn a_read_counts_under_the_latest_assume_of_its_session_before_it() {
    let lines = [
        read(0, "s", None, 1),
        assume(1, B, "AROAB:alice", "s"),
        read(2, "s", None, 10),
        assume(3, B, "AROAB:bob", "s"),
        read(3, "s", None, 100),
        read(4, "other", None, 1000),
        denied(5, C, "AIDAC"),
    ];
    let summary = summarize(&lines, false);
    let counts = counts(&summary);
    assert_eq!(counts[&key(B, "AROAB:alice")], [1, 0, 1, 10]);
    assert_eq!(
        counts[&key(B, "AROAB:bob")],
        [1, 0, 1, 100],
        "an assume at the read's second issued it"
    );
    assert_eq!(
        counts[&key(UNKNOWN, UNKNOWN)],
        [0, 0, 2, 1001],
        "before any assume, or a session nobody opened"
    );
    assert_eq!(counts[&key(C, "AIDAC")], [0, 1, 0, 0]);
    let alice = &summary["principals"][0];
    assert_eq!(
        (alice["first"].as_str(), alice["last"].as_str()),
        (Some("2026-12-06T10:01:00Z"), Some("2026-12-06T10:02:00Z"))
    );
    assert_eq!(alice["source_ips"], json!(["198.51.100.7", "203.0.113.9"]));
    // Only accounts that used the share: C was only denied.
    assert_eq!(
        summary["accounts"],
        json!([{"account": B, "last_used": "2026-12-06T10:03:00Z"}])
    );
    assert_eq!(
        summary["lines"],
        json!({"counted": 7, "skipped": 0, "dropped": 0})
    );
    assert_eq!(summary["truncated"], false);
}

#[test]
fn an_organization_share_attributes_reads_per_member_account() {
    // Two members' readers use the same session name.
    let lines = [
        assume(0, B, "AROAB:reader", "trailshare"),
        assume(1, C, "AROAC:reader", "trailshare"),
        read(2, "trailshare", Some(B), 5),
        read(3, "trailshare", Some(C), 7),
        read(4, "trailshare", None, 11),
        read(5, "other", Some(C), 13),
    ];
    let counts = counts(&summarize(&lines, true));
    assert_eq!(counts[&key(B, "AROAB:reader")], [1, 0, 1, 5]);
    assert_eq!(counts[&key(C, "AROAC:reader")], [1, 0, 1, 7]);
    assert_eq!(
        counts[&key(UNKNOWN, UNKNOWN)],
        [0, 0, 1, 11],
        "no member named: no guess"
    );
    assert_eq!(counts[&key(C, UNKNOWN)], [0, 0, 1, 13]);
    // The same lines for a share of one grantee: the latest assume wins.
    let counts = counts_of(&lines, false);
    assert_eq!(counts[&key(C, "AROAC:reader")], [1, 0, 3, 23]);
}

/// CloudTrail's data events carry no session tags, and members may share a
/// session name (`trailshare credentials` names every session alike): the
/// session's access key, logged in the assume's response and in every read,
/// says whose read it is.
#[test]
fn the_session_access_key_ties_a_read_to_its_member() {
    let lines = [
        keyed(assume(0, B, "AROAB:reader", "trailshare"), "ASIAB1"),
        keyed(assume(1, C, "AROAC:reader", "trailshare"), "ASIAC1"),
        keyed(read(2, "trailshare", None, 5), "ASIAB1"),
        keyed(read(3, "trailshare", None, 7), "ASIAC1"),
        keyed(read(4, "trailshare", None, 11), "ASIAZZ"),
    ];
    let summary = summarize(&lines, true);
    let counts = counts(&summary);
    assert_eq!(counts[&key(B, "AROAB:reader")], [1, 0, 1, 5]);
    assert_eq!(counts[&key(C, "AROAC:reader")], [1, 0, 1, 7]);
    assert_eq!(
        counts[&key(UNKNOWN, UNKNOWN)],
        [0, 0, 1, 11],
        "an unknown key: no guess"
    );
    // A denied assume issues no key: a read claiming it stays unknown.
    let mut denied_line = denied(0, B, "AROAB:reader");
    denied_line = keyed(denied_line, "ASIAD1");
    let counts = counts_of(&[denied_line, keyed(read(1, "s", None, 3), "ASIAD1")], true);
    assert_eq!(counts[&key(UNKNOWN, UNKNOWN)], [0, 0, 1, 3]);
}

/// A read carrying a key that no assume of the window issued is not pinned
/// on whoever last used its session name (a caller picks the name, not the
/// key); a read without a key (older lines) still goes by the name.
#[test]
fn a_read_with_an_unknown_key_is_not_guessed_by_session_name() {
    let lines = [
        keyed(assume(0, B, "AROAB:y", "usual"), "ASIAY1"),
        keyed(read(1, "usual", None, 5), "ASIAX9"),
        read(2, "usual", None, 7),
    ];
    let counts = counts_of(&lines, false);
    assert_eq!(counts[&key(B, "AROAB:y")], [1, 0, 1, 7]);
    assert_eq!(counts[&key(UNKNOWN, UNKNOWN)], [0, 0, 1, 5]);
}

/// Denied attempts (anyone may make them) take only the room the share's
/// users leave: a flood of them early in the window pushes no member into
/// the `*` entry.
#[test]
fn denied_floods_do_not_crowd_out_the_share_s_users() {
    let mut lines: Vec<ActivityLine> = (0..MAX_PRINCIPALS + 10)
        .map(|n| denied(0, C, &format!("AIDAFLOOD{n:05}")))
        .collect();
    lines.push(assume(5, B, "AROAB:reader", "s"));
    lines.push(read(6, "s", None, 9));
    let summary = summarize(&lines, false);
    let counts = counts(&summary);
    assert_eq!(counts[&key(B, "AROAB:reader")], [1, 0, 1, 9]);
    assert_eq!(counts[&key(OTHERS, OTHERS)][1], 11, "the flood's tail");
    assert_eq!(summary["accounts"][0]["account"], B);
}

fn counts_of(lines: &[ActivityLine], organization: bool) -> BTreeMap<(String, String), [u64; 4]> {
    counts(&summarize(lines, organization))
}

#[test]
fn lines_are_bounded_cleaned_and_never_trusted_for_more() {
    let mut lines: Vec<ActivityLine> = (0..MAX_PRINCIPALS + 3)
        .map(|n| assume(0, B, &format!("AROA{n:05}"), "s"))
        .collect();
    let ActivityLine::Assume(mut loud) = assume(1, B, "AROA00000", "s") else {
        unreachable!()
    };
    loud.account = format!("\u{1b}[31m{}", "9".repeat(1000));
    lines.push(ActivityLine::Assume(loud));
    for n in 0..MAX_SOURCE_IPS + 1 {
        let ActivityLine::Assume(mut line) = assume(2, B, "AROA00001", "t") else {
            unreachable!()
        };
        line.source_ip = format!("192.0.2.{n}");
        lines.push(ActivityLine::Assume(line));
    }
    let summary = summarize(&lines, false);
    assert_eq!(summary["truncated"], true);
    let principals = summary["principals"].as_array().unwrap();
    assert_eq!(principals.len(), MAX_PRINCIPALS + 1);
    let others = principals.last().unwrap();
    assert_eq!(
        (others["account"].as_str(), others["principal"].as_str()),
        (Some(OTHERS), Some(OTHERS))
    );
    assert_eq!(others["assumed"], 4, "3 past the bound, the loud one too");
    let ips = principals
        .iter()
        .find(|p| p["principal"] == "AROA00001")
        .unwrap();
    assert_eq!(ips["source_ips"].as_array().unwrap().len(), MAX_SOURCE_IPS);
    // Cleaned text, cut short: a terminal printing it obeys nothing.
    let mut tally = Tally::default();
    let ActivityLine::Assume(mut loud) = assume(1, B, "AROA1", "s") else {
        unreachable!()
    };
    loud.principal = format!("\u{1b}]0;pwned\u{7}{}", "x".repeat(1000));
    tally.add(&ActivityLine::Assume(loud));
    let principal = tally.summarize(false).principals[0].principal.clone();
    assert_eq!(principal.chars().count(), super::summary::MAX_TEXT);
    assert!(!principal.chars().any(char::is_control), "{principal:?}");
}

#[test]
fn lines_without_a_time_are_skipped_and_lines_past_the_bound_dropped() {
    let mut tally = Tally::default();
    let mut bad = read(0, "s", None, 1);
    if let ActivityLine::Read(line) = &mut bad {
        line.time = "yesterday".into();
    }
    tally.add_body(&format!(
        "{}not json\n",
        to_jsonl(&[bad, read(1, "s", None, 1)])
    ));
    for _ in 0..MAX_LINES {
        tally.add(&read(2, "s", None, 1));
    }
    let summary = tally.summarize(false);
    assert_eq!(
        (
            summary.lines.counted,
            summary.lines.skipped,
            summary.lines.dropped
        ),
        (MAX_LINES as u64, 2, 1)
    );
    assert_eq!(summary.principals[0].files_read, MAX_LINES as u64);
}

#[test]
fn a_denied_or_listing_read_is_a_use_but_no_file() {
    let mut list = read(1, "s", None, 300);
    let mut refused = read(2, "s", None, 999);
    if let (ActivityLine::Read(l), ActivityLine::Read(r)) = (&mut list, &mut refused) {
        l.action = "ListObjectsV2".into();
        r.error_code = Some("AccessDenied".into());
    }
    let summary = summarize(&[assume(0, B, "P", "s"), list, refused], false);
    let p = &summary["principals"][0];
    assert_eq!(
        (&p["reads"], &p["files_read"], &p["bytes_read"]),
        (&json!(2), &json!(0), &json!(300))
    );
    assert_eq!(summary["accounts"][0]["last_used"], "2026-12-06T10:02:00Z");
}

fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_window_defaults_to_the_last_week_and_names_a_bad_field() {
    let today = date!(2026 - 12 - 07);
    let window = parse_query(&[], today).unwrap();
    assert_eq!((window.from, window.until), (date!(2026 - 12 - 01), today));
    let window = parse_query(&query(&[("until", "2026-02-03")]), today).unwrap();
    assert_eq!(window.from, date!(2026 - 01 - 28));
    let window = parse_query(&query(&[("from", "2025-12-07")]), today).unwrap();
    assert_eq!(window.days().count(), 366);
    for (pairs, field) in [
        (&[("from", "2025-12-06")][..], "from"),
        (
            &[("from", "2026-12-08"), ("until", "2026-12-07")][..],
            "from",
        ),
        (&[("until", "2026-12-08")][..], "until"),
        (&[("until", "2026-2-03")][..], "until"),
        (&[("from", "")][..], "from"),
        (&[("form", "2026-12-01")][..], "form"),
    ] {
        let error = parse_query(&query(pairs), today).unwrap_err();
        assert_eq!(error.field, field, "{pairs:?}: {error}");
    }
}

/// An activity bucket in memory that logs each request and pages by
/// `page` keys.
struct Mem {
    objects: BTreeMap<String, Vec<u8>>,
    page: usize,
    log: Mutex<Vec<String>>,
}

impl Mem {
    fn new(page: usize) -> Mem {
        Mem {
            objects: BTreeMap::new(),
            page,
            log: Mutex::new(Vec::new()),
        }
    }

    fn put(&mut self, share: &str, day: &str, name: &str, lines: &[ActivityLine]) {
        let key = format!("{}{name}.jsonl", day_prefix(share, day));
        self.objects.insert(key, to_jsonl(lines).into_bytes());
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl ActivityObjects for Mem {
    async fn list_page(&self, prefix: &str, after: Option<&str>) -> Result<Page, AwsError> {
        self.log.lock().unwrap().push(format!("list {prefix}"));
        let mut keys = self
            .objects
            .iter()
            .filter(|(k, _)| k.starts_with(prefix) && after.is_none_or(|a| k.as_str() > a));
        let objects: Vec<ListedObject> = keys
            .by_ref()
            .take(self.page)
            .map(|(k, v)| ListedObject {
                key: k.clone(),
                etag: None,
                size: Some(v.len() as u64),
            })
            .collect();
        Ok(Page {
            objects,
            more: keys.next().is_some(),
        })
    }

    async fn fetch(&self, key: &str, max_bytes: u64) -> Result<Fetched, AwsError> {
        self.log.lock().unwrap().push(format!("get {key}"));
        Ok(match self.objects.get(key) {
            None => Fetched::Gone,
            Some(body) if body.len() as u64 > max_bytes => Fetched::TooLarge,
            Some(body) => Fetched::Body(body.clone()),
        })
    }
}

fn window(from: time::Date, until: time::Date) -> Window {
    Window { from, until }
}

#[tokio::test]
async fn only_the_days_asked_for_are_read_newest_first() {
    let mut mem = Mem::new(2);
    for day in ["2026-12-04", "2026-12-05", "2026-12-06", "2026-12-07"] {
        for n in 0..3 {
            mem.put("b", day, &format!("f{n}"), &[read(n, "s", None, 1)]);
        }
    }
    mem.put("b-2", "2026-12-05", "f", &[read(0, "s", None, 1)]);
    let asked = window(date!(2026 - 12 - 05), date!(2026 - 12 - 06));
    let reading = read_window(&mem, "b", asked, false, Limits::default())
        .await
        .unwrap();
    assert!(reading.complete);
    assert_eq!(reading.read_from, Some(date!(2026 - 12 - 05)));
    assert_eq!((reading.objects_read, reading.objects_skipped), (6, 0));
    assert_eq!(reading.summary.lines.counted, 6);
    let log = mem.log();
    assert_eq!(
        log.iter()
            .filter(|l| l.starts_with("list"))
            .cloned()
            .collect::<Vec<_>>(),
        [
            "list share=b/date=2026-12-06/",
            "list share=b/date=2026-12-06/",
            "list share=b/date=2026-12-05/",
            "list share=b/date=2026-12-05/",
        ],
        "two pages a day, no other day, no other share"
    );
    assert!(log
        .iter()
        .all(|l| l.contains("/date=2026-12-05/") || l.contains("/date=2026-12-06/")));
    let answer = reading.to_api("b", asked);
    assert_eq!(
        (
            &answer["from"],
            &answer["until"],
            &answer["complete"],
            &answer["objects"]
        ),
        (
            &json!("2026-12-05"),
            &json!("2026-12-06"),
            &json!(true),
            &json!({"read": 6, "skipped": 0})
        )
    );
}

#[tokio::test]
async fn a_day_past_the_limits_ends_the_walk_and_says_so() {
    let mut mem = Mem::new(1000);
    for (day, files) in [("2026-12-05", 1), ("2026-12-06", 3), ("2026-12-07", 2)] {
        for n in 0..files {
            mem.put("b", day, &format!("f{n}"), &[read(n, "s", None, 1)]);
        }
    }
    let asked = window(date!(2026 - 12 - 05), date!(2026 - 12 - 07));
    let limits = Limits {
        max_objects: 4,
        ..Limits::default()
    };
    let reading = read_window(&mem, "b", asked, false, limits).await.unwrap();
    assert!(!reading.complete);
    assert_eq!(
        reading.read_from,
        Some(date!(2026 - 12 - 07)),
        "12-06 would make 5"
    );
    assert_eq!(reading.objects_read, 2);
    assert!(!mem
        .log()
        .iter()
        .any(|l| l.starts_with("get") && l.contains("2026-12-06")));
    // A day alone over the limits: nothing read, and the answer says so.
    let limits = Limits {
        max_objects: 1,
        ..Limits::default()
    };
    let reading = read_window(&mem, "b", asked, false, limits).await.unwrap();
    assert_eq!(
        (reading.complete, reading.read_from, reading.objects_read),
        (false, None, 0)
    );
    // An object over its own bound is skipped, the rest read.
    let mut big = Mem::new(1000);
    big.put("b", "2026-12-07", "small", &[read(0, "s", None, 1)]);
    let many: Vec<ActivityLine> = (0..50).map(|n| read(n, "s", None, 1)).collect();
    big.put("b", "2026-12-07", "large", &many);
    let limits = Limits {
        max_object_bytes: 1024,
        ..Limits::default()
    };
    let reading = read_window(&big, "b", asked, false, limits).await.unwrap();
    assert_eq!(
        (
            reading.complete,
            reading.objects_read,
            reading.objects_skipped
        ),
        (false, 1, 1)
    );
    assert!(!big
        .log()
        .iter()
        .any(|l| l.contains("large") && l.starts_with("get")));
}

/// Lines from a small alphabet (few sessions, accounts, minutes) so that
/// sessions are shared, reused and interleaved with reads.
fn line() -> impl Strategy<Value = ActivityLine> {
    let account = prop_oneof![Just(B), Just(C)];
    let session = prop_oneof![Just("s1"), Just("s2"), Just("s3")];
    prop_oneof![
        (
            0u32..30,
            account.clone(),
            0u8..3,
            session.clone(),
            any::<bool>()
        )
            .prop_map(|(minute, account, who, session, refused)| {
                let ActivityLine::Assume(mut line) =
                    assume(minute, account, &format!("P{who}"), session)
                else {
                    unreachable!()
                };
                line.error_code = refused.then(|| "AccessDenied".into());
                ActivityLine::Assume(line)
            }),
        (
            0u32..30,
            session,
            proptest::option::of(account),
            0u64..5000,
            any::<bool>()
        )
            .prop_map(|(minute, session, account, bytes, list)| {
                let mut line = read(minute, session, account, bytes);
                if let (true, ActivityLine::Read(read)) = (list, &mut line) {
                    read.action = "ListObjectsV2".into();
                }
                line
            }),
    ]
}

proptest! {
    /// Every line is counted exactly once, under one principal, whatever
    /// the order the objects came in; the order never changes the summary.
    #[test]
    fn every_line_is_counted_exactly_once_in_any_order(
        lines in proptest::collection::vec(line(), 0..60),
        organization in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let summary = summarize(&lines, organization);
        let total = |key: &str| -> u64 {
            summary["principals"].as_array().unwrap().iter().map(|p| p[key].as_u64().unwrap()).sum()
        };
        let reads: Vec<&Read> = lines.iter().filter_map(|l| match l { ActivityLine::Read(r) => Some(r), _ => None }).collect();
        let assumes: Vec<&Assumption> = lines.iter().filter_map(|l| match l { ActivityLine::Assume(a) => Some(a), _ => None }).collect();
        prop_assert_eq!(total("reads"), reads.len() as u64);
        prop_assert_eq!(total("files_read"), reads.iter().filter(|r| r.action == "GetObject").count() as u64);
        prop_assert_eq!(total("bytes_read"), reads.iter().map(|r| r.bytes.unwrap_or(0)).sum::<u64>());
        prop_assert_eq!(total("assumed"), assumes.iter().filter(|a| a.error_code.is_none()).count() as u64);
        prop_assert_eq!(total("denied"), assumes.iter().filter(|a| a.error_code.is_some()).count() as u64);
        // A principal with reads has an assume of its own, or is unknown.
        for p in summary["principals"].as_array().unwrap() {
            if p["reads"].as_u64().unwrap() > 0 && p["principal"] != UNKNOWN {
                prop_assert!(p["assumed"].as_u64().unwrap() > 0, "{}", p);
            }
        }
        let mut shuffled = lines.clone();
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(summarize(&shuffled, organization), summary);
    }
}
