//! HTTPS termination: a self-signed certificate made in the test, a rustls client that trusts
//! only it; TLS 1.3 and 1.2, ALPN h2 and http/1.1, HSTS, reload of the pair (keeping the old one
//! when the new files are bad), and start-up errors that name the file. The SIGHUP path of the
//! real binary is in `crates/cli/tests/ops.rs`.

#[allow(unused_macros, unused_imports)] // not every helper of `common` is used here
mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{Backend, TestServer};
use rustls::pki_types::{CertificateDer, ServerName};
use tillit_server::tls::Tls;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A self-signed certificate for `localhost` and 127.0.0.1: (certificate DER, cert PEM, key PEM).
fn self_signed() -> (CertificateDer<'static>, String, String) {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    (
        made.cert.der().clone(),
        made.cert.pem(),
        made.key_pair.serialize_pem(),
    )
}

fn write_pair(dir: &Path, cert: &str, key: &str) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    (c, k)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A client trusting only `root`, offering `alpn`, limited to `versions`.
fn connector(
    root: &CertificateDer<'static>,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

async fn connect(
    addr: SocketAddr,
    root: &CertificateDer<'static>,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    connector(root, alpn, versions)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// GET `path` over HTTP/1.1 on an open TLS stream: the whole response as text.
async fn http1_get(mut tls: TlsStream<TcpStream>, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    // A close_notify-less end is fine here: the whole response was read.
    let _ = tls.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

/// The end-entity certificate the server presented.
fn served_cert(tls: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    tls.get_ref().1.peer_certificates().unwrap()[0].clone()
}

async fn start_tls(cert: &Path, key: &Path) -> TestServer {
    let (cert, key) = (cert.to_path_buf(), key.to_path_buf());
    TestServer::start_with(
        Backend::Sqlite,
        move |c| {
            c.tls_cert_file = Some(cert);
            c.tls_key_file = Some(key);
        },
        axum::Router::new(),
    )
    .await
}

#[tokio::test]
async fn serves_https_over_h2_and_http1_with_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let (der, cert, key) = self_signed();
    let (cert_file, key_file) = write_pair(dir.path(), &cert, &key);
    let s = start_tls(&cert_file, &key_file).await;
    let addr = s.server.addr;
    assert!(s.server.state.config.base_url().starts_with("https://"));

    // HTTP/1.1 over TLS 1.3 and over TLS 1.2.
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        let tls = connect(addr, &der, &[b"http/1.1"], versions).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(served_cert(&tls), der);
        let response = http1_get(tls, "/healthz").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let lower = response.to_ascii_lowercase();
        assert!(
            lower.contains("strict-transport-security: max-age=31536000"),
            "{response}"
        );
        assert!(lower.contains("x-content-type-options: nosniff"));
    }

    // h2, negotiated by ALPN, with a real HTTP/2 request.
    let tls = connect(
        addr,
        &der,
        &[b"h2", b"http/1.1"],
        &[&rustls::version::TLS13],
    )
    .await
    .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let request = axum::http::Request::get("https://localhost/v1/orgs")
        .header("authorization", s.auth())
        .body(axum::body::Body::empty())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), axum::http::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");

    // A client that does not trust the certificate fails the handshake; plain HTTP gets no
    // HTTP answer.
    let (other, _, _) = self_signed();
    assert!(
        connect(addr, &other, &[b"http/1.1"], &[&rustls::version::TLS13])
            .await
            .is_err()
    );
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    s.stop().await;
}

#[tokio::test]
async fn reload_serves_the_new_pair_and_keeps_the_old_one_when_the_new_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    let (first, cert, key) = self_signed();
    let (cert_file, key_file) = write_pair(dir.path(), &cert, &key);
    let s = start_tls(&cert_file, &key_file).await;
    let addr = s.server.addr;
    let v13 = &[&rustls::version::TLS13][..];
    let held = connect(addr, &first, &[b"http/1.1"], v13).await.unwrap();

    let (second, cert2, key2) = self_signed();
    write_pair(dir.path(), &cert2, &key2);
    s.server.reload_tls();
    let tls = connect(addr, &second, &[b"http/1.1"], v13).await.unwrap();
    assert_eq!(served_cert(&tls), second);
    assert!(http1_get(tls, "/healthz").await.starts_with("HTTP/1.1 200"));
    // A connection opened before the reload keeps working with the old certificate.
    assert!(http1_get(held, "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));

    // Bad files (a key of another certificate; then garbage): the second pair stays in use.
    let (_, _, other_key) = self_signed();
    for (c, k) in [(cert2.as_str(), other_key.as_str()), ("garbage", "garbage")] {
        write_pair(dir.path(), c, k);
        let err = s.server.tls.as_ref().unwrap().reload().unwrap_err();
        assert!(err.to_string().contains("cert.pem") || err.to_string().contains("key.pem"));
        s.server.reload_tls();
        let tls = connect(addr, &second, &[b"http/1.1"], v13).await.unwrap();
        assert_eq!(served_cert(&tls), second);
    }
    s.stop().await;
}

#[tokio::test]
async fn startup_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = self_signed();
    let (_, _, other_key) = self_signed();
    let d = dir.path();
    let write = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let good_cert = write("good-cert.pem", &cert);
    let good_key = write("good-key.pem", &key);
    let foreign_key = write("foreign-key.pem", &other_key);
    let not_pem = write("not-pem.pem", "hello");
    let missing = d.join("missing.pem");
    // (cert, key, expected substrings)
    let cases: Vec<(&Path, &Path, &[&str])> = vec![
        (&missing, &good_key, &["certificate file", "missing.pem"]),
        (&good_cert, &missing, &["key file", "missing.pem"]),
        (&not_pem, &good_key, &["not-pem.pem", "no PEM certificate"]),
        (&good_cert, &not_pem, &["not-pem.pem", "private key"]),
        (
            &good_cert,
            &foreign_key,
            &["foreign-key.pem", "does not belong"],
        ),
        (
            &good_key,
            &good_key,
            &["good-key.pem", "no PEM certificate"],
        ),
    ];
    for (i, (c, k, expected)) in cases.into_iter().enumerate() {
        let err = Tls::load(c, k).unwrap_err().to_string();
        for e in expected {
            assert!(err.contains(e), "case {i}: {err:?} lacks {e:?}");
        }
    }
    assert!(Tls::load(&good_cert, &good_key).is_ok());

    // Through start-up: the server does not start, and says why.
    let config = tillit_server::Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: d.join("data"),
        tls_cert_file: Some(good_cert),
        tls_key_file: Some(foreign_key),
        ..tillit_server::Config::default()
    };
    let err = tillit_server::start(config)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("does not belong"), "{err}");
}
