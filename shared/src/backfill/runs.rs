//! Keeping runs: the [`RunStore`] port (one object per run, written only
//! if nobody wrote it since it was read) and the reads and updates over it.
//! A run's counts stay exact under concurrent invocations: each adds its
//! counts to what it last read, and a write that lost the race reads again.

use std::future::Future;

use super::run::{Run, Unbelievable};
use crate::ports::AwsError;
use crate::seal::ShareKey;

/// Conditional writes tried before an update gives up (each loser reads
/// the object again; with a handful of concurrent invocations per run a
/// second try almost always lands).
pub const UPDATE_ATTEMPTS: usize = 8;

/// An object as read, with its version (S3's ETag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRun {
    pub bytes: Vec<u8>,
    pub version: String,
}

/// Where runs are kept: objects written only if unchanged since read.
pub trait RunStore: Send + Sync {
    /// The object at `key` (at most [`super::MAX_RUN_BYTES`] are read:
    /// a larger one is an error), `None` when there is none.
    fn read(&self, key: &str) -> impl Future<Output = Result<Option<StoredRun>, AwsError>> + Send;
    /// Writes `body` at `key` if the object is still at `version` (`None`:
    /// only if there is none). `Ok(false)`: another writer came first and
    /// nothing was written.
    fn write(
        &self,
        key: &str,
        body: Vec<u8>,
        version: Option<&str>,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
}

type Boxed<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`RunStore`] as an object.
trait DynRuns: Send + Sync {
    fn dyn_read<'a>(&'a self, key: &'a str) -> Boxed<'a, Result<Option<StoredRun>, AwsError>>;
    fn dyn_write<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        version: Option<&'a str>,
    ) -> Boxed<'a, Result<bool, AwsError>>;
}

impl<R: RunStore> DynRuns for R {
    fn dyn_read<'a>(&'a self, key: &'a str) -> Boxed<'a, Result<Option<StoredRun>, AwsError>> {
        Box::pin(RunStore::read(self, key))
    }
    fn dyn_write<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        version: Option<&'a str>,
    ) -> Boxed<'a, Result<bool, AwsError>> {
        Box::pin(RunStore::write(self, key, body, version))
    }
}

/// Any run store as one type, so a function holds one (or none) without a
/// type parameter.
pub struct AnyRuns(Box<dyn DynRuns>);

impl AnyRuns {
    pub fn new<R: RunStore + 'static>(store: R) -> AnyRuns {
        AnyRuns(Box::new(store))
    }
}

impl std::fmt::Debug for AnyRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnyRuns(…)")
    }
}

impl RunStore for AnyRuns {
    async fn read(&self, key: &str) -> Result<Option<StoredRun>, AwsError> {
        self.0.dyn_read(key).await
    }
    async fn write(
        &self,
        key: &str,
        body: Vec<u8>,
        version: Option<&str>,
    ) -> Result<bool, AwsError> {
        self.0.dyn_write(key, body, version).await
    }
}

/// Why a run could not be read or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("no such run")]
    Missing,
    #[error(transparent)]
    Unbelievable(#[from] Unbelievable),
    #[error("the run object changed under {UPDATE_ATTEMPTS} writes in a row")]
    Contended,
}

/// A run as read, with the version its next write must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub run: Run,
    pub version: String,
}

/// Reads run `id` of `share` and believes it only under the seal.
pub async fn read<R: RunStore>(
    store: &R,
    key: &ShareKey,
    share: &str,
    id: &str,
) -> Result<Versioned, RunError> {
    let object_key = Run::object_key(share, id);
    let stored = store.read(&object_key).await?.ok_or(RunError::Missing)?;
    let run = Run::from_stored(&stored.bytes, &object_key, key)?;
    Ok(Versioned {
        run,
        version: stored.version,
    })
}

/// Writes a new run; `Ok(false)` if its id is taken.
pub async fn create<R: RunStore>(store: &R, key: &ShareKey, run: &Run) -> Result<bool, AwsError> {
    store.write(&run.key(), run.to_stored(key), None).await
}

/// Applies `change` to run `id` of `share` and writes it, reading again
/// and reapplying whenever another writer came first. `known` (a version
/// already read) saves the first read. `change` returns `false` when there
/// is nothing to write (the run as read is returned).
pub async fn update<R, F>(
    store: &R,
    key: &ShareKey,
    (share, id): (&str, &str),
    mut known: Option<Versioned>,
    mut change: F,
) -> Result<Run, RunError>
where
    R: RunStore,
    F: FnMut(&mut Run) -> bool,
{
    for _ in 0..UPDATE_ATTEMPTS {
        let current = match known.take() {
            Some(current) => current,
            None => read(store, key, share, id).await?,
        };
        let mut run = current.run;
        if !change(&mut run) {
            return Ok(run);
        }
        if store
            .write(&run.key(), run.to_stored(key), Some(&current.version))
            .await?
        {
            return Ok(run);
        }
    }
    Err(RunError::Contended)
}
