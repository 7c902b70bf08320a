//! HTTPS without a reverse proxy: a certificate from PEM files, reloaded when the files change, or
//! one obtained and renewed over ACME (rustls-acme, TLS-ALPN-01 on the HTTPS port itself).
//!
//! Either way the served certificate comes from a `ResolvesServerCert` that is asked again on
//! every handshake, so a new certificate takes effect for the next connection while the open ones
//! go on with the one they started with.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use futures_util::StreamExt;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// Let's Encrypt's production directory, the default of `--acme-directory`.
pub const LETS_ENCRYPT_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// Where the HTTPS certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsOptions {
    /// PEM files: the chain (leaf first) and its private key, checked for changes every
    /// `reload_interval`.
    Files {
        cert: PathBuf,
        key: PathBuf,
        reload_interval: Duration,
    },
    Acme(AcmeOptions),
}

#[derive(Debug, Clone)]
pub struct AcmeOptions {
    /// Names the certificate is for; each must resolve to this server, port 443 (or wherever the
    /// CA's validation connects) reaching the HTTPS port.
    pub domains: Vec<String>,
    /// Contact addresses for the ACME account (expiry notices), without `mailto:`.
    pub emails: Vec<String>,
    pub directory: String,
    /// Account key and certificates survive restarts here (one ACME order per renewal, not per
    /// start: CAs rate-limit orders).
    pub cache: PathBuf,
}

/// The crypto provider of the whole tree (webrtc pulls in ring).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts TLS on a TCP connection with the current certificate, and answers ACME TLS-ALPN-01
/// validation handshakes when ACME is on.
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    /// ACME only: the config for a validation handshake (ALPN `acme-tls/1`).
    challenge: Option<Arc<ServerConfig>>,
}

/// A running TLS setup: the acceptor, and the task that reloads or renews its certificate
/// (stopped when this is dropped).
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// The names the certificate is for (at start, for the URLs `ferry serve` prints).
    pub names: Vec<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Tls {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Tls {
    /// Loads the certificate files (an unreadable or mismatched pair is an error here, at start)
    /// or starts the ACME client. Must run inside a tokio runtime.
    pub fn start(options: &TlsOptions) -> io::Result<Self> {
        match options {
            TlsOptions::Files {
                cert,
                key,
                reload_interval,
            } => {
                let files = CertFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                };
                let (loaded, stamp) = files.load()?;
                let names = loaded.end_entity_cert().map(names_of).unwrap_or_default();
                let resolver = Arc::new(ReloadingCert {
                    current: ArcSwap::from_pointee(loaded),
                });
                let task = tokio::spawn(watch_files(
                    files,
                    stamp,
                    resolver.clone(),
                    *reload_interval,
                ));
                Ok(Tls {
                    acceptor: TlsAcceptor {
                        config: server_config(resolver),
                        challenge: None,
                    },
                    names,
                    task,
                })
            }
            TlsOptions::Acme(acme) => start_acme(acme),
        }
    }
}

/// DNS names and IP addresses of a certificate's subjectAltName.
fn names_of(cert: &CertificateDer<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert) else {
        return Vec::new();
    };
    let Ok(Some(san)) = parsed.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(d.to_string()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(*b)
                    .ok()
                    .map(|a| format!("[{}]", std::net::Ipv6Addr::from(a))),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    // hyper serves HTTP/1.1 only here (WebSocket upgrades need it); say so, so that a client
    // offering h2 does not pick it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

impl TlsAcceptor {
    /// The TLS handshake. `Ok(None)`: the connection was an ACME validation, which ends with the
    /// handshake.
    pub async fn accept(&self, tcp: TcpStream) -> io::Result<Option<TlsStream<TcpStream>>> {
        let start =
            tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp).await?;
        if let Some(challenge) = &self.challenge
            && rustls_acme::is_tls_alpn_challenge(&start.client_hello())
        {
            let mut validation = start.into_stream(challenge.clone()).await?;
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut validation).await;
            return Ok(None);
        }
        Ok(Some(start.into_stream(self.config.clone()).await?))
    }
}

/// Serves whatever certificate was loaded last.
#[derive(Debug)]
struct ReloadingCert {
    current: ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
}

/// What tells a changed file: modification time and size of both files.
type Stamp = [(Option<SystemTime>, u64); 2];

fn stamp_of(path: &Path) -> (Option<SystemTime>, u64) {
    match std::fs::metadata(path) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    }
}

impl CertFiles {
    fn stamp(&self) -> Stamp {
        [stamp_of(&self.cert), stamp_of(&self.key)]
    }

    fn load(&self) -> io::Result<(CertifiedKey, Stamp)> {
        let stamp = self.stamp();
        let bad = |what: &Path, e: &dyn std::fmt::Display| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", what.display()),
            )
        };
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| bad(&self.cert, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(&self.cert, &e))?;
        if chain.is_empty() {
            return Err(bad(&self.cert, &"no CERTIFICATE in the file"));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| bad(&self.key, &e))?;
        let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| {
            bad(
                &self.key,
                &format!("does not go with {}: {e}", self.cert.display()),
            )
        })?;
        Ok((certified, stamp))
    }
}

/// Polls the files' stamps; a changed pair that loads replaces the served certificate. One that
/// does not (a half-written file, a key from another pair) keeps the old certificate and is tried
/// again on the next change or tick, so writing cert then key one after the other works.
async fn watch_files(
    files: CertFiles,
    mut served: Stamp,
    resolver: Arc<ReloadingCert>,
    every: Duration,
) {
    let mut warned: Option<Stamp> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = files.stamp();
        if now == served {
            continue;
        }
        match files.load() {
            Ok((certified, stamp)) => {
                resolver.current.store(Arc::new(certified));
                served = stamp;
                warned = None;
                tracing::info!(cert = %files.cert.display(), "certificate reloaded");
            }
            Err(e) if warned != Some(now) => {
                tracing::warn!(error = %e, "changed certificate files do not load; still serving the previous certificate");
                warned = Some(now);
            }
            Err(_) => {}
        }
    }
}

/// The ACME client's own trust: the system store (which honours `SSL_CERT_FILE`, e.g. for a
/// test CA) plus the Mozilla roots.
fn acme_client_config() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "a system CA certificate did not load");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "system CA certificates for the ACME client");
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn start_acme(options: &AcmeOptions) -> io::Result<Tls> {
    if options.domains.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ACME needs at least one domain",
        ));
    }
    std::fs::create_dir_all(&options.cache).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("ACME cache {}: {e}", options.cache.display()),
        )
    })?;
    let mut state =
        rustls_acme::AcmeConfig::new_with_client_config(&options.domains, acme_client_config())
            .contact(options.emails.iter().map(|e| format!("mailto:{e}")))
            .directory(&options.directory)
            .cache(rustls_acme::caches::DirCache::new(options.cache.clone()))
            .state();
    let resolver = state.resolver();
    let challenge = state.challenge_rustls_config_with_provider(provider());
    let domains = options.domains.join(",");
    // The state is a stream that never ends: each item is a step (cached certificate loaded,
    // order placed, new certificate deployed, cache written); polling it is what renews (at two
    // thirds of the certificate's lifetime) and retries failures with backoff.
    let task = tokio::spawn(async move {
        while let Some(event) = state.next().await {
            match event {
                Ok(rustls_acme::EventOk::DeployedNewCert) => {
                    tracing::info!(%domains, "ACME: new certificate deployed")
                }
                Ok(rustls_acme::EventOk::DeployedCachedCert) => {
                    tracing::info!(%domains, "ACME: cached certificate deployed")
                }
                Ok(ok) => tracing::debug!(?ok, "ACME"),
                Err(e) => tracing::warn!(%domains, error = %e, "ACME failed; retrying later"),
            }
        }
    });
    Ok(Tls {
        acceptor: TlsAcceptor {
            config: server_config(resolver),
            challenge: Some(challenge),
        },
        names: options.domains.clone(),
        task,
    })
}
