//! One CloudTrail digest file: its fields, the string CloudTrail signs, and
//! the hashes, as the user guide's "CloudTrail digest file structure" and
//! "Custom implementations of CloudTrail log file integrity validation"
//! define them.

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The only algorithms CloudTrail uses (`digestSignatureAlgorithm`,
/// `previousDigestHashAlgorithm`, `logFiles[].hashAlgorithm`).
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";
pub const HASH_ALGORITHM: &str = "SHA-256";

/// The fields of a digest file that validation reads. Unknown fields are
/// ignored: they are covered by the hash of the whole file anyway.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DigestFile {
    pub aws_account_id: String,
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    pub digest_signature_algorithm: String,
    /// The previous digest's fields are all null in a chain's starting digest.
    pub previous_digest_s3_bucket: Option<String>,
    pub previous_digest_s3_object: Option<String>,
    pub previous_digest_hash_value: Option<String>,
    pub previous_digest_hash_algorithm: Option<String>,
    pub previous_digest_signature: Option<String>,
    /// Empty when no log file was delivered in the hour.
    pub log_files: Vec<LogFileEntry>,
}

/// One log file a digest lists.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LogFileEntry {
    pub s3_bucket: String,
    pub s3_object: String,
    /// Hex SHA-256 of the log file's *uncompressed* content.
    pub hash_value: String,
    pub hash_algorithm: String,
}

impl DigestFile {
    /// The string CloudTrail signs (user guide, "Recreate the data signing
    /// string"): end time, `bucket/key` of this digest, hex SHA-256 of this
    /// digest's *uncompressed* content, and the previous digest's hex
    /// signature — the text `null` in a starting digest, as CloudTrail's Java
    /// signer writes it.
    pub fn signing_string(&self, uncompressed_sha256_hex: &str) -> String {
        format!(
            "{}\n{}/{}\n{}\n{}",
            self.digest_end_time,
            self.digest_s3_bucket,
            self.digest_s3_object,
            uncompressed_sha256_hex,
            self.previous_digest_signature.as_deref().unwrap_or("null"),
        )
    }
}

/// Checks a SHA256withRSA (PKCS#1 v1.5) signature over the signing string.
pub fn signature_is_valid(key: &rsa::PublicKey, signing_string: &str, signature: &[u8]) -> bool {
    key.pkcs1v15_verify::<Sha256>(signing_string.as_bytes(), signature)
        .is_ok()
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Hex SHA-256 of the uncompressed content of a gzip stream, read in pieces
/// so a large log file never sits in memory whole.
pub fn gunzip_sha256_hex(reader: impl Read) -> io::Result<String> {
    let mut decoder = MultiGzDecoder::new(reader);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = decoder.read(&mut buffer)?;
        if read == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

/// A digest lists one hour of one account's log files in one region: a few
/// KiB, a few MiB for the busiest accounts (about 250 bytes per log file).
/// Anything larger is not a digest and must not exhaust memory (a gzip bomb,
/// a 1 GiB "digest"): digests are read as a stream and cut off here.
pub const MAX_DIGEST_BYTES: u64 = 64 * 1024 * 1024;
/// The compressed size allowed, checked before anything is read.
pub const MAX_DIGEST_GZ_BYTES: u64 = 16 * 1024 * 1024;

/// The uncompressed bytes of a digest file, at most [`MAX_DIGEST_BYTES`]
/// (for tests and tools; validation streams with [`read_digest`]).
pub fn gunzip_digest(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    Capped::new(MultiGzDecoder::new(bytes)).read_to_end(&mut out)?;
    Ok(out)
}

/// A reader that hashes what passes through it and fails once more than
/// [`MAX_DIGEST_BYTES`] have.
struct Capped<R> {
    inner: R,
    left: u64,
    hasher: Sha256,
}

const TOO_LARGE: &str = "larger than any digest file when uncompressed";

impl<R: Read> Capped<R> {
    fn new(inner: R) -> Self {
        Capped {
            inner,
            left: MAX_DIGEST_BYTES,
            hasher: Sha256::new(),
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::new(io::ErrorKind::InvalidData, TOO_LARGE));
        }
        self.left -= n as u64;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Why a file cannot be read as a digest: the text of a `malformed` problem.
pub type NotADigest = String;

/// Reads `path` as a gzip JSON digest into `T`, as a stream: the compressed
/// size is checked first, the uncompressed size while reading, so memory
/// stays small whatever the file. Returns `T` and the hex SHA-256 of the
/// whole uncompressed content (what the signature covers). Only I/O errors
/// opening the file are `Err`.
pub fn read_digest<T>(
    path: &std::path::Path,
    parse: impl FnOnce(&mut dyn Read) -> serde_json::Result<T>,
) -> io::Result<Result<(T, String), NotADigest>> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > MAX_DIGEST_GZ_BYTES {
        return Ok(Err(format!(
            "{size} bytes compressed: larger than any digest file (at most {MAX_DIGEST_GZ_BYTES})"
        )));
    }
    let decoder = MultiGzDecoder::new(io::BufReader::new(file.take(MAX_DIGEST_GZ_BYTES)));
    let mut reader = io::BufReader::new(Capped::new(decoder));
    let parsed = match parse(&mut reader) {
        Ok(parsed) => parsed,
        Err(error) => return Ok(Err(explain(error))),
    };
    // The hash covers the whole content, past what the parser needed.
    if let Err(error) = io::copy(&mut reader, &mut io::sink()) {
        return Ok(Err(explain(serde_json::Error::io(error))));
    }
    let capped = reader.into_inner();
    Ok(Ok((parsed, hex::encode(capped.hasher.finalize()))))
}

fn explain(error: serde_json::Error) -> NotADigest {
    if !error.is_io() {
        return format!("not a CloudTrail digest: {error}");
    }
    let text = error.to_string();
    match text.contains(TOO_LARGE) {
        true => format!("{TOO_LARGE} (at most {MAX_DIGEST_BYTES} bytes): a gzip bomb?"),
        false => format!("not a gzip file: {text}"),
    }
}

/// A digest's fields without its list of log files (which is only counted):
/// what validation keeps of every digest, so memory does not grow with the
/// number of log files. [`for_each_log_file`] streams the list later.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DigestHead {
    pub aws_account_id: String,
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    pub digest_signature_algorithm: String,
    pub previous_digest_s3_bucket: Option<String>,
    pub previous_digest_s3_object: Option<String>,
    pub previous_digest_hash_value: Option<String>,
    pub previous_digest_hash_algorithm: Option<String>,
    pub previous_digest_signature: Option<String>,
    /// How many log files it lists.
    #[serde(rename = "logFiles", deserialize_with = "count_list")]
    pub log_file_count: usize,
}

impl DigestHead {
    /// See [`DigestFile::signing_string`].
    pub fn signing_string(&self, uncompressed_sha256_hex: &str) -> String {
        format!(
            "{}\n{}/{}\n{}\n{}",
            self.digest_end_time,
            self.digest_s3_bucket,
            self.digest_s3_object,
            uncompressed_sha256_hex,
            self.previous_digest_signature.as_deref().unwrap_or("null"),
        )
    }
}

/// Counts a JSON list without keeping its elements.
fn count_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    struct Count;
    impl<'de> serde::de::Visitor<'de> for Count {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of log files")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
            let mut n = 0;
            while seq.next_element::<LogFileEntry>()?.is_some() {
                n += 1;
            }
            Ok(n)
        }
    }
    deserializer.deserialize_seq(Count)
}

/// Parses a digest's head from a reader (for [`read_digest`]).
pub fn parse_head(reader: &mut dyn Read) -> serde_json::Result<DigestHead> {
    serde_json::from_reader(reader)
}

/// Calls `each` on every log file a digest lists, one at a time, without
/// holding the list (for [`read_digest`]).
pub fn for_each_log_file(
    reader: &mut dyn Read,
    each: &mut dyn FnMut(LogFileEntry),
) -> serde_json::Result<()> {
    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
    struct Top<'a>(&'a mut dyn FnMut(LogFileEntry));
    struct List<'a>(&'a mut dyn FnMut(LogFileEntry));
    impl<'de> Visitor<'de> for Top<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a CloudTrail digest object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                match key.as_ref() {
                    "logFiles" => map.next_value_seed(List(&mut *self.0))?,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for List<'_> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for List<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of log files")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(entry) = seq.next_element::<LogFileEntry>()? {
                (self.0)(entry);
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_reader(reader);
    serde::Deserializer::deserialize_map(&mut de, Top(each))?;
    de.end()
}
