//! Reading one CloudTrail log file (`{"Records": [...]}`, gzip) as a
//! stream: one record at a time is in memory, never the whole document,
//! and what is kept is bounded ([`Limits`]), whatever the file holds.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufReader, Read};

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;
use serde_json::Value;

use super::extract::{extract, ShareRoles};
use super::ActivityLine;

/// Bounds on what one log file may cost. CloudTrail writes a file about
/// every five minutes per Region, typically under a few MB uncompressed;
/// these leave a wide margin and still cap memory at tens of MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Uncompressed bytes read at most; a larger file fails (and is
    /// retried, then dead-lettered: never silently cut short).
    pub max_bytes: u64,
    /// Lines kept of one file in all; further ones are counted as dropped.
    pub max_lines: usize,
    /// (share, day) objects written for one file at most; lines for more
    /// are counted as dropped (a hostile file naming many share roles).
    pub max_objects: usize,
    /// Bytes of lines (as written) kept of one file in all: callers choose
    /// much of a line (session tags, user agent), so a count of lines
    /// alone would not bound memory. Further lines are counted as dropped.
    pub max_kept_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 512 * 1024 * 1024,
            max_lines: 20_000,
            max_objects: 256,
            max_kept_bytes: 2 * 1024 * 1024,
        }
    }
}

/// What one log file said about share roles.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// (share, day) → its lines, in file order: the same file always
    /// gives the same objects.
    pub objects: BTreeMap<(String, String), Vec<ActivityLine>>,
    /// Records read.
    pub records: usize,
    /// Lines not kept because a limit was reached.
    pub dropped: usize,
    /// Bytes of the lines kept, as written (one JSON line each).
    pub kept_bytes: usize,
}

impl Extracted {
    /// Lines kept in all.
    pub fn lines(&self) -> usize {
        self.objects.values().map(Vec::len).sum()
    }

    fn keep(&mut self, share: String, day: String, line: ActivityLine, limits: &Limits) {
        let group = (share, day);
        let known = self.objects.contains_key(&group);
        let size = serde_json::to_vec(&line).map_or(usize::MAX, |l| l.len() + 1);
        if self.lines() >= limits.max_lines
            || (!known && self.objects.len() >= limits.max_objects)
            || self.kept_bytes.saturating_add(size) > limits.max_kept_bytes
        {
            self.dropped += 1;
            return;
        }
        self.kept_bytes += size;
        self.objects.entry(group).or_default().push(line);
    }
}

/// Why a log file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the log file is larger than {0} bytes uncompressed")]
    TooLarge(u64),
    #[error("the log file is not a CloudTrail log file: {0}")]
    Malformed(String),
}

/// Reads a log file (`gzip`: compressed, as CloudTrail writes `.json.gz`)
/// and keeps what concerns share roles.
pub fn scan(
    input: impl Read,
    gzip: bool,
    roles: &ShareRoles,
    limits: Limits,
) -> Result<Extracted, ScanError> {
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(input)))
    } else {
        Box::new(input)
    };
    // One byte more than allowed tells a file at the limit from one over it.
    let mut counted = reader.take(limits.max_bytes + 1);
    let mut deserializer = serde_json::Deserializer::from_reader(BufReader::new(&mut counted));
    let mut found = Extracted::default();
    let result = deserializer
        .deserialize_map(FileVisitor {
            roles,
            limits: &limits,
            found: &mut found,
        })
        .and_then(|()| deserializer.end());
    if counted.limit() == 0 {
        return Err(ScanError::TooLarge(limits.max_bytes));
    }
    result.map_err(|e| ScanError::Malformed(e.to_string()))?;
    Ok(found)
}

/// The file's top level: `Records` is read record by record, anything
/// else is skipped without being kept.
struct FileVisitor<'a> {
    roles: &'a ShareRoles,
    limits: &'a Limits,
    found: &'a mut Extracted,
}

impl<'de> Visitor<'de> for FileVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CloudTrail log file ({\"Records\": [...]})")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "Records" {
                map.next_value_seed(RecordsSeed {
                    roles: self.roles,
                    limits: self.limits,
                    found: &mut *self.found,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct RecordsSeed<'a> {
    roles: &'a ShareRoles,
    limits: &'a Limits,
    found: &'a mut Extracted,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of CloudTrail records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut records: A) -> Result<(), A::Error> {
        while let Some(record) = records.next_element::<Value>()? {
            self.found.records += 1;
            if let Some((share, day, line)) = extract(&record, self.roles) {
                self.found.keep(share, day, line, self.limits);
            }
        }
        Ok(())
    }
}
