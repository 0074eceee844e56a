//! A fault-injecting HTTP proxy between the code under test and the stand-in,
//! for the failures moto cannot produce: 500s, 503 SlowDown throttles,
//! connection resets, stalls, and S3's 403 for a wrong `ExpectedBucketOwner`.
//!
//! ```ignore
//! let proxy = FaultProxy::start(&stand_in().url);
//! proxy.set_bucket_owner(&dest, C);        // 403 unless ExpectedBucketOwner = C
//! proxy.set_rules(vec![Rule::new(Scope::Bucket(dest.clone()), 1.0, 7)]);
//! let sdk = proxy.config(&user_sdk);        // same credentials, via the proxy
//! let forwarder = Forwarder::new(IamRoles::from_sdk(&sdk), S3Objects::new(&sdk), config);
//! ...
//! let figures = proxy.counts();             // requests, faults by kind, 403s
//! ```
//!
//! Decisions are reproducible: whether an attempt fails, and how, is a hash
//! of the rule's seed, the request (method, path, query, copy source; bucket
//! names without their digits) and how many times that same request came
//! before, so neither concurrency nor unique names change which S3 attempts
//! fail. The proxy runs on its own thread and runtime (tests each have their
//! own runtime) and stops when dropped.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// How an attempt fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// 500 InternalError, before the stand-in sees the request.
    InternalError,
    /// 503 SlowDown (S3) or Throttling (IAM, STS), before the stand-in sees it.
    SlowDown,
    /// The request reaches the stand-in (its effect happens), then the
    /// connection is reset (SO_LINGER 0) instead of answered.
    Reset,
    /// The request is held 2 seconds, then forwarded: a slow answer.
    Stall,
}

impl Fault {
    /// All four kinds.
    pub const ALL: [Fault; 4] = [
        Fault::InternalError,
        Fault::SlowDown,
        Fault::Reset,
        Fault::Stall,
    ];
    /// The kinds that make an attempt fail (a stall only delays it).
    pub const FAILING: [Fault; 3] = [Fault::InternalError, Fault::SlowDown, Fault::Reset];
}

/// Which requests a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every request (S3, IAM, STS).
    All,
    /// Requests to one bucket (path-style: `/<bucket>` or `/<bucket>/<key>`).
    Bucket(String),
    /// Requests signed for one service (`s3`, `iam`, `sts`), as the SigV4
    /// credential scope names it.
    Service(String),
}

/// Fail `rate` (0.0–1.0) of the attempts in `scope`, with one of `kinds`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub scope: Scope,
    pub rate: f64,
    pub kinds: Vec<Fault>,
    pub seed: u64,
}

impl Rule {
    /// A rule with every kind of fault.
    pub fn new(scope: Scope, rate: f64, seed: u64) -> Rule {
        Rule {
            scope,
            rate,
            kinds: Fault::ALL.to_vec(),
            seed,
        }
    }
}

/// What the proxy saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// HTTP attempts received.
    pub requests: u64,
    /// Attempts that repeat an earlier identical request (SDK retries,
    /// redeliveries, repeated checks).
    pub repeats: u64,
    pub faults: BTreeMap<Fault, u64>,
    /// 403s for an `x-amz-expected-bucket-owner` that is not the owner.
    pub owner_denied: u64,
    /// Requests to a bucket with a known owner that carried no
    /// `x-amz-expected-bucket-owner` header, by bucket.
    pub owner_unchecked: BTreeMap<String, u64>,
    /// Attempts per bucket (`""`: not S3).
    pub by_bucket: BTreeMap<String, u64>,
    /// Every attempt, in arrival order: `<service> <METHOD> <path?query>`.
    pub log: Vec<String>,
}

impl Counts {
    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }
}

#[derive(Default)]
struct State {
    rules: Mutex<Vec<Rule>>,
    owners: Mutex<HashMap<String, String>>,
    counts: Mutex<Counts>,
    seen: Mutex<HashMap<String, u64>>,
}

/// A running proxy. See the module documentation.
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`: point an SDK here (`config`).
    pub url: String,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (the stand-in's URL) on a free port of
    /// 127.0.0.1, injecting nothing until `set_rules`.
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let upstream: hyper::Uri = upstream.parse().expect("upstream URL");
        let state = Arc::new(State::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread_state = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(serve(listener, upstream, thread_state, stopped));
            // Dropping the runtime ends every open connection.
        });
        FaultProxy {
            url,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Replaces the rules; the first rule whose scope matches decides.
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *self.state.rules.lock().unwrap() = rules;
    }

    /// Makes the proxy answer S3's 403 AccessDenied to a request for `bucket`
    /// whose `x-amz-expected-bucket-owner` is not `account`.
    pub fn set_bucket_owner(&self, bucket: &str, account: &str) {
        self.state
            .owners
            .lock()
            .unwrap()
            .insert(bucket.to_string(), account.to_string());
    }

    pub fn counts(&self) -> Counts {
        self.state.counts.lock().unwrap().clone()
    }

    /// `sdk` (credentials, region, retry settings) with its endpoint here.
    pub fn config(&self, sdk: &SdkConfig) -> SdkConfig {
        sdk.to_builder().endpoint_url(&self.url).build()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

async fn serve(
    listener: std::net::TcpListener,
    upstream: hyper::Uri,
    state: Arc<State>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build_http();
    loop {
        let (stream, _peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue,
            },
        };
        // A second handle on the socket, so that a `Reset` fault can set
        // linger 0 (closing then sends a RST) on its own connection only:
        // set at accept, it also reset large answers moto sends with
        // `Connection: close` while they were still being sent.
        let Ok(socket) = std::os::fd::AsFd::as_fd(&stream).try_clone_to_owned() else {
            continue;
        };
        let socket = Arc::new(socket);
        let (client, upstream, state) = (client.clone(), upstream.clone(), state.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let socket = socket.clone();
                handle(
                    request,
                    client.clone(),
                    upstream.clone(),
                    state.clone(),
                    socket,
                )
            });
            // An error here is a `Reset` fault (or the client going away).
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Why the proxy dropped a connection instead of answering.
#[derive(Debug)]
struct ResetByProxy;
impl std::fmt::Display for ResetByProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the fault proxy")
    }
}
impl std::error::Error for ResetByProxy {}

async fn handle(
    mut request: Request<Incoming>,
    client: Client<HttpConnector, Incoming>,
    upstream: hyper::Uri,
    state: Arc<State>,
    socket: Arc<std::os::fd::OwnedFd>,
) -> Result<Response<Body>, ResetByProxy> {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let bucket = request
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let identity = format!(
        "{} {} {}",
        request.method(),
        without_bucket_digits(&path_and_query),
        without_bucket_digits(&header("x-amz-copy-source").unwrap_or_default())
    );
    let expected_owner = header("x-amz-expected-bucket-owner");
    // `Credential=<key>/<date>/<region>/<service>/aws4_request`
    let service = header("authorization")
        .and_then(|auth| {
            let scope = auth.split("Credential=").nth(1)?;
            scope.split('/').nth(3).map(str::to_string)
        })
        .unwrap_or_default();
    let is_head = request.method() == hyper::Method::HEAD;

    let attempt = {
        let mut seen = state.seen.lock().unwrap();
        let n = seen.entry(identity.clone()).or_insert(0);
        *n += 1;
        *n - 1
    };
    let owner = state.owners.lock().unwrap().get(&bucket).cloned();
    let fault = decide(
        &state.rules.lock().unwrap(),
        &bucket,
        &service,
        &identity,
        attempt,
    );
    {
        let mut counts = state.counts.lock().unwrap();
        counts.requests += 1;
        if attempt > 0 {
            counts.repeats += 1;
        }
        *counts.by_bucket.entry(bucket.clone()).or_default() += 1;
        counts
            .log
            .push(format!("{service} {} {path_and_query}", request.method()));
        if let Some(fault) = fault {
            *counts.faults.entry(fault).or_default() += 1;
        }
        if owner.is_some() && expected_owner.is_none() {
            *counts.owner_unchecked.entry(bucket.clone()).or_default() += 1;
        }
    }

    match fault {
        Some(Fault::InternalError) => {
            return Ok(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &bucket,
                "InternalError",
                is_head,
            ))
        }
        Some(Fault::SlowDown) => {
            let code = if bucket.is_empty() {
                "Throttling"
            } else {
                "SlowDown"
            };
            return Ok(error(
                StatusCode::SERVICE_UNAVAILABLE,
                &bucket,
                code,
                is_head,
            ));
        }
        Some(Fault::Stall) => tokio::time::sleep(Duration::from_secs(2)).await,
        Some(Fault::Reset) | None => {}
    }
    if let (Some(owner), Some(expected)) = (&owner, &expected_owner) {
        if owner != expected {
            state.counts.lock().unwrap().owner_denied += 1;
            return Ok(error(
                StatusCode::FORBIDDEN,
                &bucket,
                "AccessDenied",
                is_head,
            ));
        }
    }

    // Forward as sent: the Host header (which SigV4 signed) is kept.
    let mut target = upstream.clone().into_parts();
    target.path_and_query = Some(path_and_query.parse().expect("path and query"));
    *request.uri_mut() = hyper::Uri::from_parts(target).expect("upstream URI");
    let response = match client.request(request).await {
        Ok(response) => response,
        Err(e) => {
            return Ok(error(
                StatusCode::BAD_GATEWAY,
                &bucket,
                &format!("ProxyUpstream {e}"),
                is_head,
            ))
        }
    };
    if fault == Some(Fault::Reset) {
        // The stand-in has done the work; the caller never hears of it.
        let _ = response.into_body().collect().await;
        let _ = socket2::SockRef::from(&*socket).set_linger(Some(Duration::ZERO));
        return Err(ResetByProxy);
    }
    Ok(response.map(BodyExt::boxed))
}

/// A path with the digits of its bucket name left out, so that the unique
/// suffixes tests give bucket names (`trail-<pid>-<n>`) do not change the
/// decisions from one run to the next.
fn without_bucket_digits(path: &str) -> String {
    let path = path.trim_start_matches('/');
    let (bucket, rest) = path.split_at(path.find(['/', '?']).unwrap_or(path.len()));
    let bucket: String = bucket.chars().filter(|c| !c.is_ascii_digit()).collect();
    format!("/{bucket}{rest}")
}

fn decide(
    rules: &[Rule],
    bucket: &str,
    service: &str,
    identity: &str,
    attempt: u64,
) -> Option<Fault> {
    let rule = rules.iter().find(|rule| match &rule.scope {
        Scope::All => true,
        Scope::Bucket(name) => name == bucket,
        Scope::Service(name) => name == service,
    })?;
    if rule.kinds.is_empty() {
        return None;
    }
    let mut hash = 0xcbf2_9ce4_8422_2325_u64; // FNV-1a
    for byte in identity.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let first = splitmix(rule.seed ^ hash ^ attempt.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let unit = (first >> 11) as f64 / (1u64 << 53) as f64;
    (unit < rule.rate).then(|| rule.kinds[(splitmix(first) % rule.kinds.len() as u64) as usize])
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// An error as the service writes it: S3's `<Error>` for bucket requests,
/// the query protocol's `<ErrorResponse>` for IAM and STS.
fn error(status: StatusCode, bucket: &str, code: &str, is_head: bool) -> Response<Body> {
    let body = if is_head {
        String::new()
    } else if bucket.is_empty() {
        format!("<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code><Message>injected by the fault proxy</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>")
    } else {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected by the fault proxy</Message><BucketName>{bucket}</BucketName><RequestId>fault-proxy</RequestId></Error>")
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .header("x-amz-request-id", "fault-proxy")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never: Infallible| match never {})
                .boxed(),
        )
        .expect("error response")
}
