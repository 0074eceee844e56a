//! The provisioner API over HTTPS, each request SigV4-signed for
//! `execute-api` with the caller's credentials (API Gateway's IAM auth).

use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context};
use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// How long one API call may take (the API's own limit is 30 s).
const TIMEOUT: Duration = Duration::from_secs(60);

/// A signed client for one API base URL.
pub struct Api {
    base: String,
    region: String,
    sdk: SdkConfig,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// An API answer: its status and JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Value,
}

impl Response {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Api {
    /// `base` is the API's invoke URL (stage included). The signing region
    /// is the one in an `execute-api` host name, else the configured one.
    pub fn new(base: &str, sdk: SdkConfig) -> anyhow::Result<Api> {
        let uri: http::Uri = check_api_url(base)
            .map_err(|e| anyhow!("--api {e}"))?
            .parse()
            .with_context(|| format!("--api {base} is not a URL"))?;
        let region = region_of_host(uri.host().unwrap_or_default())
            .or_else(|| sdk.region().map(|r| r.to_string()))
            .ok_or_else(|| {
                anyhow!("no AWS region: pass --region or set AWS_REGION (the API's region)")
            })?;
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .context("loading the system's TLS root certificates")?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Api {
            base: base.trim_end_matches('/').to_string(),
            region,
            sdk,
            http: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// Sends one signed request; `path_and_query` starts with `/shares`.
    pub async fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Response> {
        let url = format!("{}{path_and_query}", self.base);
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut request = http::Request::builder().method(method).uri(&url);
        if !body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        let mut request = request
            .body(body)
            .with_context(|| format!("building {method} {url}"))?;
        self.sign(&mut request).await?;
        let request = request.map(|b| Full::new(Bytes::from(b)));
        let response = tokio::time::timeout(TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| anyhow!("{method} {url}: no answer within {} s", TIMEOUT.as_secs()))?
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("{method} {url}: reading the answer"))?
            .to_bytes();
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            // API Gateway's own errors ({"message": "Forbidden"}) are JSON
            // too; anything else is shown as text.
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok(Response { status, body })
    }

    async fn sign(&self, request: &mut http::Request<Vec<u8>>) -> anyhow::Result<()> {
        let provider = self.sdk.credentials_provider().ok_or_else(|| {
            anyhow!("no AWS credentials configured (environment, --profile or SSO login)")
        })?;
        let credentials = provider
            .provide_credentials()
            .await
            .context("loading AWS credentials")?;
        let identity = Identity::from(credentials);
        let params = SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("execute-api")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .context("signing parameters")?;
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.to_str().unwrap_or_default()));
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.uri().to_string(),
            headers,
            SignableBody::Bytes(request.body()),
        )
        .context("signing the request")?;
        let (instructions, _signature) = sign(signable, &params.into())
            .context("signing the request")?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// The `--api` value parser: an `https://` URL, or `http://` to a loopback
/// host only (127.0.0.0/8, `::1`, `localhost`: the local stand-in). Over
/// plain HTTP anyone on the path reads the signed request (its headers name
/// the caller's access key and carry the share's body) and the answer can be
/// forged, so it is refused before any request: a usage error, exit 2.
pub fn check_api_url(text: &str) -> Result<String, String> {
    let uri: http::Uri = text.parse().map_err(|_| format!("{text} is not a URL"))?;
    let host = uri.host().unwrap_or_default();
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(text.to_string()),
        Some("http") if is_loopback(host) => Ok(text.to_string()),
        Some("http") if !host.is_empty() => Err(format!(
            "{text}: signed calls go over https:// only (http:// is allowed for a loopback host, the local stand-in)"
        )),
        _ => Err(format!(
            "{text} must be an https URL such as https://abc123.execute-api.us-east-1.amazonaws.com"
        )),
    }
}

/// `localhost`, 127.0.0.0/8 or `[::1]`.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `abc.execute-api.eu-west-1.amazonaws.com` → `eu-west-1`.
fn region_of_host(host: &str) -> Option<String> {
    let mut labels = host.split('.');
    labels.find(|l| *l == "execute-api")?;
    let region = labels.next()?;
    (!region.is_empty() && labels.next().is_some()).then(|| region.to_string())
}

/// What a path segment or query value keeps unencoded: RFC 3986's
/// unreserved characters.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment or query value.
pub fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_region_comes_from_an_execute_api_host() {
        assert_eq!(
            region_of_host("abc123.execute-api.eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of_host("127.0.0.1"), None);
        assert_eq!(region_of_host("api.example.com"), None);
        assert_eq!(region_of_host("execute-api.x"), None);
    }

    #[test]
    fn signed_calls_go_over_https_or_to_a_loopback_host_only() {
        for good in [
            "https://abc123.execute-api.eu-west-1.amazonaws.com/prod",
            "https://api.example.com",
            "http://127.0.0.1:4566",
            "http://127.8.9.10",
            "http://localhost:8080/x",
            "http://LOCALHOST",
            "http://[::1]:9000",
        ] {
            assert_eq!(check_api_url(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "http://abc123.execute-api.eu-west-1.amazonaws.com/prod",
            "http://10.0.0.1",
            "http://128.0.0.1",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "http://[::2]",
            "http://0.0.0.0",
        ] {
            let error = check_api_url(bad).expect_err(bad);
            assert!(error.contains("https://"), "{bad}: {error}");
        }
        for bad in ["ftp://x", "abc123.execute-api", "https://", "not a url"] {
            assert!(check_api_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_segments_are_encoded_but_unreserved_characters_kept() {
        assert_eq!(encode("bu-b.x_y~z"), "bu-b.x_y~z");
        assert_eq!(encode("a/b c+d"), "a%2Fb%20c%2Bd");
    }
}
