//! HTTPS termination for `tillit serve`, for small installations without a reverse proxy.
//!
//! rustls with its aws-lc-rs provider (the crypto library the rest of Tillit uses), TLS 1.3
//! and 1.2, ALPN `h2` and `http/1.1`. The certificate chain and private key are PEM files
//! (`tls_cert_file`, `tls_key_file`); [`Tls::reload`] (on SIGHUP) reads them again, and new
//! handshakes use the new pair while connections already open keep theirs. A pair that does not
//! load — unreadable, not PEM, a key that does not belong to the certificate — is refused and
//! the previous pair stays in use.
//!
//! [`TlsListener`] is an [`axum::serve::Listener`], so plain HTTP and HTTPS share
//! `axum::serve` and its graceful shutdown: a task accepts TCP connections and runs each
//! handshake in a task of its own (bounded by [`HANDSHAKE_TIMEOUT`]), so a slow or silent
//! client never holds up the others.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a certificate and key pair cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS {what} file {path}: {message}")]
    Read {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error(
        "the TLS certificate file {0} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"
    )]
    NoCertificate(PathBuf),
    #[error("the TLS key file {path} holds no usable private key (PEM PKCS#8, PKCS#1 or SEC1): {message}")]
    Key { path: PathBuf, message: String },
    #[error("the private key in {key} does not belong to the certificate in {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("cannot build the TLS configuration: {0}")]
    Config(String),
}

/// The certificate in use, swapped whole by [`Tls::reload`].
#[derive(Debug)]
struct Resolver(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|current| Arc::clone(&current))
    }
}

/// The TLS side of a server: its certificate files and the acceptor that uses them.
pub struct Tls {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    resolver: Arc<Resolver>,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the pair and builds the server configuration (TLS 1.3 and 1.2, ALPN h2 and
    /// http/1.1).
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = load_pair(cert_file, key_file, &provider)?;
        let resolver = Arc::new(Resolver(RwLock::new(Arc::new(key))));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            provider,
            resolver,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Reads the files again; new handshakes use the new pair. On error the pair in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let key = load_pair(&self.cert_file, &self.key_file, &self.provider)?;
        let mut current = self
            .resolver
            .0
            .write()
            .map_err(|_| TlsError::Config("the certificate lock is poisoned".into()))?;
        *current = Arc::new(key);
        Ok(())
    }

    /// Accepts TLS connections on `listener` (see the module documentation).
    pub fn listen(&self, listener: TcpListener) -> std::io::Result<TlsListener> {
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(accept_loop(listener, self.acceptor.clone(), tx));
        Ok(TlsListener { rx, addr })
    }
}

fn load_pair(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let read = |what, path: &Path, message: String| TlsError::Read {
        what,
        path: path.to_path_buf(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| read("certificate", cert_file, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read("certificate", cert_file, e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert_file.to_path_buf()));
    }
    // Reading the key file is checked on its own first, so that a missing file says so.
    std::fs::metadata(key_file).map_err(|e| read("key", key_file, e.to_string()))?;
    let key_error = |message: String| TlsError::Key {
        path: key_file.to_path_buf(),
        message,
    };
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| key_error(e.to_string()))?;
    let key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| key_error(e.to_string()))?;
    let pair = CertifiedKey::new(chain, key);
    match pair.keys_match() {
        // A key type whose public key rustls cannot derive is not checked.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(pair)
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::Mismatch {
            cert: cert_file.to_path_buf(),
            key: key_file.to_path_buf(),
        }),
        Err(e) => Err(TlsError::Read {
            what: "certificate",
            path: cert_file.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

/// Accepts TCP connections and hands each completed handshake to the listener; ends when the
/// listener is dropped (the HTTP server stopped).
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let accepted = tokio::select! {
            () = tx.closed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
            Err(e) => {
                // As axum does for plain TCP: out of file descriptors and the like pass.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// TLS connections whose handshake completed, for `axum::serve`.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(connection) => connection,
            // The accept loop ended (it only does when this listener is dropped).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
