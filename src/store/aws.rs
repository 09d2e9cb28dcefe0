//! The standard AWS credential chain for `s3://` locations, as the AWS CLI
//! finds credentials, from the SDK's own `aws-config`: environment
//! variables; the shared config and credentials files with `AWS_PROFILE`
//! or `--profile` (static keys, SSO sessions from `aws sso login`'s cache,
//! `credential_process`, roles assumed from a source profile); web identity
//! (EKS IRSA); container credentials (ECS, Batch); and the EC2 instance
//! metadata service unless `AWS_EC2_METADATA_DISABLED` is true. The region
//! comes from the same chain (environment, then the profile).
//!
//! The chain is loaded once per process and shared by the source and the
//! lake. [`SdkCredentials`] adapts it to object_store's credential provider
//! and keeps the credentials until five minutes before they expire, so a
//! long run refreshes them as it goes.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::aws::AwsCredential;
use object_store::CredentialProvider;

/// Credentials are fetched again this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// The profile `--profile` names; set once, before any location opens.
static PROFILE: OnceLock<Option<String>> = OnceLock::new();
/// The chain, loaded by the first `s3://` location.
static CHAIN: OnceLock<Result<Chain, String>> = OnceLock::new();

/// Uses the named profile of the shared config files (as `--profile` does
/// for the AWS CLI), instead of `AWS_PROFILE` or `default`. Call before any
/// location opens; later calls change nothing.
pub fn use_profile(name: Option<String>) {
    let _ = PROFILE.set(name);
}

/// What the chain resolved for this process.
#[derive(Debug, Clone)]
pub struct Chain {
    /// `None` when requests go unsigned (`AWS_SKIP_SIGNATURE`).
    pub credentials: Option<Arc<SdkCredentials>>,
    /// The region the chain found (environment or profile), if any.
    pub region: Option<String>,
}

/// The chain, loaded (and its credentials fetched once) on first use.
/// The error says what was tried and what to do.
pub fn chain() -> Result<&'static Chain, String> {
    CHAIN
        .get_or_init(|| {
            let profile = PROFILE.get().cloned().flatten();
            super::block_on_own(load(profile)).unwrap_or_else(|| {
                Err("loading AWS credentials failed: no runtime, or it panicked".into())
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn env_true(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

async fn load(profile: Option<String>) -> Result<Chain, String> {
    // The SDK's HTTPS client (for STS, SSO and the metadata endpoints) on
    // rustls with ring. Connections are not pooled: credentials are
    // fetched rarely, and a pooled connection would belong to this
    // loading runtime, not to the run's.
    let http = aws_smithy_http_client::Builder::new()
        .pool_max_idle_per_host(0)
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if let Some(p) = &profile {
        loader = loader.profile_name(p);
    }
    let config = loader.load().await;
    let region = config.region().map(|r| r.to_string());
    if env_true("AWS_SKIP_SIGNATURE") {
        return Ok(Chain {
            credentials: None,
            region,
        });
    }
    let Some(provider) = config.credentials_provider() else {
        return Err(no_credentials(profile.as_deref(), "no credential chain"));
    };
    let credentials = Arc::new(SdkCredentials {
        provider,
        cached: tokio::sync::Mutex::new(None),
    });
    // Fetched now, so a run without credentials fails before it starts,
    // saying so, rather than at its first request.
    credentials
        .fetch()
        .await
        .map_err(|e| no_credentials(profile.as_deref(), &e))?;
    Ok(Chain {
        credentials: Some(credentials),
        region,
    })
}

/// "No credentials", with what was tried and what to do.
fn no_credentials(profile: Option<&str>, detail: &str) -> String {
    let profile = profile
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_PROFILE").ok())
        .unwrap_or_else(|| "default".into());
    let imds = if env_true("AWS_EC2_METADATA_DISABLED") {
        "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"
    } else {
        "EC2 instance metadata"
    };
    format!(
        "no AWS credentials found (tried: environment variables AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY; profile {profile:?} in ~/.aws/config and ~/.aws/credentials, with \
         its SSO session, credential_process or role; web identity (AWS_WEB_IDENTITY_TOKEN_FILE); \
         container credentials (AWS_CONTAINER_CREDENTIALS_*); {imds}): {detail}. \
         Log in with `aws sso login --profile NAME` and pass `--profile NAME` (or set \
         AWS_PROFILE=NAME), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )
}

/// The SDK's credentials for object_store, kept until shortly before they
/// expire.
pub struct SdkCredentials {
    provider: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl std::fmt::Debug for SdkCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SdkCredentials")
    }
}

impl SdkCredentials {
    /// The current credentials: the cached ones while they have more than
    /// [`REFRESH_BEFORE_EXPIRY`] left, else fresh ones from the chain. A
    /// refresh that fails while the old ones are still valid keeps them.
    async fn fetch(&self) -> Result<Arc<AwsCredential>, String> {
        let mut cached = self.cached.lock().await;
        let now = SystemTime::now();
        if let Some((c, expiry)) = cached.as_ref() {
            if expiry.is_none_or(|e| e > now + REFRESH_BEFORE_EXPIRY) {
                return Ok(c.clone());
            }
        }
        match self.provider.provide_credentials().await {
            Ok(fresh) => {
                let c = Arc::new(AwsCredential {
                    key_id: fresh.access_key_id().to_string(),
                    secret_key: fresh.secret_access_key().to_string(),
                    token: fresh.session_token().map(str::to_string),
                });
                *cached = Some((c.clone(), fresh.expiry()));
                Ok(c)
            }
            Err(e) => match cached.as_ref() {
                Some((c, Some(expiry))) if *expiry > now => Ok(c.clone()),
                _ => Err(explain(&e)),
            },
        }
    }
}

/// A credentials error with its causes, credentials withheld.
fn explain(e: &CredentialsError) -> String {
    let mut text = match e {
        CredentialsError::CredentialsNotLoaded(_) => "no provider in the chain had any".to_string(),
        other => other.to_string(),
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    super::redact(&text)
}

#[async_trait::async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        self.fetch()
            .await
            .map_err(|reason| object_store::Error::Generic {
                store: "S3",
                source: reason.into(),
            })
    }
}
