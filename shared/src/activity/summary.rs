//! Who used a share, summarized: the activity lines of the days asked for,
//! counted per grantee account and principal (DESIGN.md "Activity").
//!
//! A read counts under the principal whose `AssumeRole` issued its session:
//! the assume whose session access key the read carries (CloudTrail logs
//! the key in both); without one, the same session name, the latest
//! successful assume at or before the read, and for an organization share
//! also the same member account (the read's `account`, the session's
//! `trailshare:account` tag). A read no assume of the window explains
//! counts under `"principal": "unknown"`.
//!
//! Every line is someone's say-so (whoever could write to the bucket chose
//! it), so what is kept of it is bounded and only counted and shown: text
//! is cut to [`MAX_TEXT`] characters with control characters replaced (a
//! terminal printing it must not obey it), at most [`MAX_LINES`] lines are
//! counted, [`MAX_PRINCIPALS`] principals and [`MAX_SOURCE_IPS`] addresses
//! each are itemized, and the summary says when any bound cut something.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{from_jsonl, ActivityLine, Assumption, Read};

/// Lines counted per summary; later ones are dropped and counted as such.
/// With the reader's byte bound this keeps a summary within a 128 MiB
/// function whatever the lines hold.
pub const MAX_LINES: usize = 100_000;
/// Principals itemized; the rest are counted together under [`OTHERS`].
pub const MAX_PRINCIPALS: usize = 500;
/// Source addresses listed per principal.
pub const MAX_SOURCE_IPS: usize = 16;
/// Characters kept of any text of a line.
pub const MAX_TEXT: usize = 256;
/// The principal (and, without a tag, the account) of reads no assume of
/// the window explains.
pub const UNKNOWN: &str = "unknown";
/// Account and principal of the entry that counts every principal past
/// [`MAX_PRINCIPALS`].
pub const OTHERS: &str = "*";

/// Text of a line fit to show: at most `max` characters, control
/// characters replaced by `U+FFFD`.
pub fn clean(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

fn format_time(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// An assume as counted: the line's text cleaned, its time parsed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Assumed {
    time: OffsetDateTime,
    account: String,
    principal: String,
    session: String,
    arn: Option<String>,
    ip: String,
    denied: bool,
    key: Option<String>,
}

/// A read as counted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ReadBy {
    time: OffsetDateTime,
    session: String,
    account: Option<String>,
    ip: String,
    bytes: u64,
    /// A `GetObject` that succeeded: one file read.
    file: bool,
    denied: bool,
    key: Option<String>,
}

impl Assumed {
    fn from_line(line: &Assumption) -> Option<Assumed> {
        Some(Assumed {
            time: parse_time(&line.time)?,
            account: clean(&line.account, MAX_TEXT),
            principal: clean(&line.principal, MAX_TEXT),
            session: clean(&line.session_name, MAX_TEXT),
            arn: line.arn.as_deref().map(|arn| clean(arn, MAX_TEXT)),
            ip: clean(&line.source_ip, MAX_TEXT),
            denied: line.error_code.is_some(),
            key: line.access_key_id.as_deref().map(|k| clean(k, MAX_TEXT)),
        })
    }
}

impl ReadBy {
    fn from_line(line: &Read) -> Option<ReadBy> {
        let denied = line.error_code.is_some();
        Some(ReadBy {
            time: parse_time(&line.time)?,
            session: clean(&line.session_name, MAX_TEXT),
            account: line.account.as_deref().map(|a| clean(a, MAX_TEXT)),
            ip: clean(&line.source_ip, MAX_TEXT),
            bytes: if denied { 0 } else { line.bytes.unwrap_or(0) },
            file: !denied && line.action == "GetObject",
            denied,
            key: line.access_key_id.as_deref().map(|k| clean(k, MAX_TEXT)),
        })
    }
}

/// A session: its name, and its member account for an organization share.
/// Each maps to the successful assumes that opened it (time, entry),
/// oldest first.
type SessionKey = (String, Option<String>);

/// Lines gathered for one summary, in any order.
#[derive(Debug, Default)]
pub struct Tally {
    assumes: Vec<Assumed>,
    reads: Vec<ReadBy>,
    /// Lines that are not activity lines (not JSON, another kind, no time).
    skipped: u64,
    /// Lines past [`MAX_LINES`].
    dropped: u64,
}

impl Tally {
    /// Adds every line of an object's body.
    pub fn add_body(&mut self, body: &str) {
        let (lines, skipped) = from_jsonl(body);
        self.skipped += skipped as u64;
        for line in &lines {
            self.add(line);
        }
    }

    /// Adds one line (skipped if its time is not RFC 3339, dropped past
    /// [`MAX_LINES`]).
    pub fn add(&mut self, line: &ActivityLine) {
        if self.assumes.len() + self.reads.len() >= MAX_LINES {
            self.dropped += 1;
            return;
        }
        let added = match line {
            ActivityLine::Assume(assume) => {
                Assumed::from_line(assume).map(|a| self.assumes.push(a))
            }
            ActivityLine::Read(read) => ReadBy::from_line(read).map(|r| self.reads.push(r)),
        };
        if added.is_none() {
            self.skipped += 1;
        }
    }

    /// Lines counted so far.
    pub fn counted(&self) -> u64 {
        (self.assumes.len() + self.reads.len()) as u64
    }

    /// The summary: each line in time order (ties by content, so the same
    /// lines in any order give the same summary), assumes first so that a
    /// read finds the session that its principal opened.
    pub fn summarize(mut self, organization: bool) -> Summary {
        self.assumes.sort();
        self.reads.sort();
        let mut book = Book::default();
        let mut sessions: HashMap<SessionKey, Vec<(OffsetDateTime, usize)>> = HashMap::new();
        // A session's access key: the one link a reader cannot choose.
        let mut keys: HashMap<String, usize> = HashMap::new();
        for assume in self.assumes.iter().filter(|a| !a.denied) {
            let entry = book.entry(&assume.account, &assume.principal);
            book.entries[entry].assume(assume);
            if let Some(key) = &assume.key {
                keys.insert(key.clone(), entry);
            }
            let member = organization.then(|| assume.account.clone());
            sessions
                .entry((assume.session.clone(), member))
                .or_default()
                .push((assume.time, entry));
        }
        for read in &self.reads {
            let by = match &read.key {
                // A key no assume of the window issued: no guess by name
                // (a caller chooses its session name, not its key).
                Some(key) => keys.get(key).copied(),
                None => by_session_name(&sessions, read, organization),
            };
            let entry = by
                .unwrap_or_else(|| book.entry(read.account.as_deref().unwrap_or(UNKNOWN), UNKNOWN));
            book.entries[entry].read(read);
        }
        // Denied attempts last: anyone may make them, so they take only
        // the room the share's users left (past it, they count under `*`).
        for assume in self.assumes.iter().filter(|a| a.denied) {
            let entry = book.entry(&assume.account, &assume.principal);
            book.entries[entry].assume(assume);
        }
        book.summary(self.skipped, self.dropped, self.counted())
    }
}

/// The session a read without a key was made in: the latest successful
/// assume with its session name at or before it (for an organization
/// share, also of the read's member account; none named, no guess).
fn by_session_name(
    sessions: &HashMap<SessionKey, Vec<(OffsetDateTime, usize)>>,
    read: &ReadBy,
    organization: bool,
) -> Option<usize> {
    let member = match (organization, &read.account) {
        (true, None) => return None,
        (true, Some(account)) => Some(account.clone()),
        (false, _) => None,
    };
    let opened = sessions.get(&(read.session.clone(), member))?;
    let before = opened.partition_point(|(at, _)| *at <= read.time);
    before.checked_sub(1).map(|i| opened[i].1)
}

/// The entries being counted, bounded.
#[derive(Default)]
struct Book {
    entries: Vec<Entry>,
    index: HashMap<(String, String), usize>,
    /// The [`OTHERS`] entry, once a principal found no room.
    others: Option<usize>,
    truncated: bool,
}

impl Book {
    /// The entry of (account, principal); past [`MAX_PRINCIPALS`], the
    /// one entry of all others.
    fn entry(&mut self, account: &str, principal: &str) -> usize {
        let key = (account.to_string(), principal.to_string());
        if let Some(&found) = self.index.get(&key) {
            return found;
        }
        if self.index.len() < MAX_PRINCIPALS {
            self.entries.push(Entry::new(account, principal));
            self.index.insert(key, self.entries.len() - 1);
            return self.entries.len() - 1;
        }
        self.truncated = true;
        *self.others.get_or_insert_with(|| {
            self.entries.push(Entry::new(OTHERS, OTHERS));
            self.entries.len() - 1
        })
    }

    fn summary(self, skipped: u64, dropped: u64, counted: u64) -> Summary {
        let mut truncated = self.truncated;
        let mut accounts: BTreeMap<String, OffsetDateTime> = BTreeMap::new();
        let mut principals: Vec<Principal> = Vec::with_capacity(self.entries.len());
        for (n, entry) in self.entries.into_iter().enumerate() {
            let member = Some(n) != self.others && entry.account != UNKNOWN;
            if let (true, Some(used)) = (member, entry.last_used) {
                let last = accounts.entry(entry.account.clone()).or_insert(used);
                *last = (*last).max(used);
            }
            truncated |= entry.more_ips;
            principals.push(entry.into_principal());
        }
        // Sorted by account and principal; the others' entry last.
        principals.sort_by(|a, b| {
            let others = |p: &Principal| p.account == OTHERS && p.principal == OTHERS;
            (others(a), &a.account, &a.principal).cmp(&(others(b), &b.account, &b.principal))
        });
        Summary {
            principals,
            accounts: accounts
                .into_iter()
                .map(|(account, at)| AccountUse {
                    account,
                    last_used: format_time(at),
                })
                .collect(),
            lines: LineCounts {
                counted,
                skipped,
                dropped,
            },
            truncated,
        }
    }
}

/// One (account, principal) being counted.
struct Entry {
    account: String,
    principal: String,
    arn: Option<String>,
    assumed: u64,
    denied: u64,
    first: Option<OffsetDateTime>,
    last: Option<OffsetDateTime>,
    /// The latest successful assume or read: when it last used the share.
    last_used: Option<OffsetDateTime>,
    source_ips: BTreeSet<String>,
    more_ips: bool,
    reads: u64,
    files_read: u64,
    bytes_read: u64,
}

impl Entry {
    fn new(account: &str, principal: &str) -> Entry {
        Entry {
            account: account.to_string(),
            principal: principal.to_string(),
            arn: None,
            assumed: 0,
            denied: 0,
            first: None,
            last: None,
            last_used: None,
            source_ips: BTreeSet::new(),
            more_ips: false,
            reads: 0,
            files_read: 0,
            bytes_read: 0,
        }
    }

    fn seen(&mut self, at: OffsetDateTime, ip: &str, used: bool) {
        self.first = Some(self.first.map_or(at, |first| first.min(at)));
        self.last = Some(self.last.map_or(at, |last| last.max(at)));
        if used {
            self.last_used = Some(self.last_used.map_or(at, |last| last.max(at)));
        }
        if !ip.is_empty() && !self.source_ips.contains(ip) {
            if self.source_ips.len() < MAX_SOURCE_IPS {
                self.source_ips.insert(ip.to_string());
            } else {
                self.more_ips = true;
            }
        }
    }

    fn assume(&mut self, assume: &Assumed) {
        if assume.denied {
            self.denied += 1;
        } else {
            self.assumed += 1;
        }
        if self.arn.is_none() {
            self.arn.clone_from(&assume.arn);
        }
        self.seen(assume.time, &assume.ip, !assume.denied);
    }

    /// A read is a use of the session even when S3 denied it.
    fn read(&mut self, read: &ReadBy) {
        self.reads += 1;
        self.files_read += u64::from(read.file);
        self.bytes_read = self.bytes_read.saturating_add(read.bytes);
        self.seen(read.time, &read.ip, true);
    }

    fn into_principal(self) -> Principal {
        Principal {
            account: self.account,
            principal: self.principal,
            arn: self.arn,
            assumed: self.assumed,
            denied: self.denied,
            first: self.first.map(format_time).unwrap_or_default(),
            last: self.last.map(format_time).unwrap_or_default(),
            source_ips: self.source_ips.into_iter().collect(),
            reads: self.reads,
            files_read: self.files_read,
            bytes_read: self.bytes_read,
        }
    }
}

/// The summary of some days' lines, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub principals: Vec<Principal>,
    /// When each grantee (member) account last used the share: its latest
    /// successful assume or read; accounts only denied are not listed.
    pub accounts: Vec<AccountUse>,
    pub lines: LineCounts,
    /// Whether a bound cut the itemization: principals past
    /// [`MAX_PRINCIPALS`] (counted under [`OTHERS`]), addresses past
    /// [`MAX_SOURCE_IPS`].
    pub truncated: bool,
}

/// One grantee principal's use of the share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub account: String,
    /// `principalId` as CloudTrail gives it, or [`UNKNOWN`].
    pub principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Successful assumes.
    pub assumed: u64,
    /// Denied assumes.
    pub denied: u64,
    /// Its earliest and latest line (assume, denied or read), RFC 3339.
    pub first: String,
    pub last: String,
    pub source_ips: Vec<String>,
    /// S3 requests made with its sessions (reads, lists, heads; denied too).
    pub reads: u64,
    /// Successful `GetObject`s.
    pub files_read: u64,
    /// Bytes S3 sent for its successful requests.
    pub bytes_read: u64,
}

/// When one account last used the share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountUse {
    pub account: String,
    pub last_used: String,
}

/// What became of the lines read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LineCounts {
    pub counted: u64,
    /// Not activity lines: not JSON, another kind, a time not RFC 3339.
    pub skipped: u64,
    /// Past [`MAX_LINES`]: not counted.
    pub dropped: u64,
}
