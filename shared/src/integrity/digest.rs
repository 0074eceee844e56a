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

/// A digest lists one hour of log files: a few KiB to a few MiB. Anything
/// larger is not a digest, and must not exhaust memory (a gzip bomb).
pub const MAX_DIGEST_BYTES: u64 = 256 * 1024 * 1024;

/// The uncompressed bytes of a digest file, at most [`MAX_DIGEST_BYTES`].
pub fn gunzip_digest(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(MAX_DIGEST_BYTES + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > MAX_DIGEST_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "larger than any digest file when uncompressed",
        ));
    }
    Ok(out)
}
