//! Real `tillit` processes for the end-to-end tests of the binary (`crates/cli/tests/*`): a
//! command with none of the caller's `TILLIT_*` variables, a `tillit serve` on a free port that
//! is waited for until it listens, signals, and one plain HTTP/1.1 request over a fresh TCP
//! connection (no client library, so a test sees exactly what went over the wire).
//!
//! The binary's path is passed in (`env!("CARGO_BIN_EXE_tillit")` exists only in the CLI crate's
//! tests).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `bin` run in `dir`, with no inherited `TILLIT_*` variables and warnings-only logging.
pub fn tillit_command(bin: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("TILLIT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// A loopback address with a port that was free a moment ago.
pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// Sends signal `name` (`TERM`, `KILL`, `HUP`, …) to process `pid`.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}

/// A running `tillit serve`; killed when dropped.
pub struct Served {
    /// The process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The bootstrap token it printed on a first start.
    pub token: Option<String>,
}

impl Served {
    /// `bin serve` in `dir` with `env` (configuration options), on a free port.
    pub fn start(bin: &str, dir: &Path, env: &[(&str, &str)]) -> Served {
        let addr = free_port();
        let mut cmd = tillit_command(bin, dir);
        cmd.arg("serve")
            .env("TILLIT_LISTEN", addr.to_string())
            .envs(env.iter().copied());
        Self::spawn(cmd, addr)
    }

    /// Starts `cmd` (a `tillit serve`, possibly wrapped, listening on `addr`) and waits until it
    /// prints that it listens (and, on a first start, its token). Its stdout is drained for as
    /// long as it runs, so it never blocks on a full pipe.
    pub fn spawn(mut cmd: Command, addr: SocketAddr) -> Served {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tillit serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut token, mut listening) = (None, false);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
                if listening {
                    break;
                }
                continue;
            };
            listening |= line.contains("Tillit listening on ");
            if let Some(t) = line.trim().strip_prefix("tillit_") {
                token = Some(format!("tillit_{t}"));
                break;
            }
        }
        assert!(listening, "tillit serve did not start");
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Served { child, addr, token }
    }

    /// The bootstrap token (panics on a restart, which prints none).
    pub fn token(&self) -> &str {
        self.token.as_deref().expect("a first start prints a token")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit, at most `within`.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "tillit serve did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, and a clean exit within 30 s.
    pub fn stop(mut self) {
        signal(self.pid(), "TERM");
        let status = self.wait_exit(Duration::from_secs(30));
        assert!(status.success(), "serve exited with {status}");
    }

    /// SIGKILL, and the process reaped.
    pub fn kill9(&mut self) {
        signal(self.pid(), "KILL");
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request (`Connection: close`) with an optional bearer token and an optional
/// `(content type, body)`; the status and the body (a chunked body decoded).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &str)>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        request.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some((content_type, b)) = body {
        request.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.map_or("", |(_, b)| b));
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// [`http`] with an optional JSON body.
pub fn http_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    json_body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    http(
        addr,
        method,
        path,
        token,
        json_body.map(|b| ("application/json", b)),
    )
}

/// Runs `cmd` to its end, capturing its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("tillit runs")
}

/// The status and body of a raw HTTP/1.1 response.
pub fn parse_response(raw: &[u8]) -> std::io::Result<(u16, String)> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status in {text:?}")))?;
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> std::io::Result<String> {
    let bad = || std::io::Error::other("malformed chunked body");
    let mut out = String::new();
    loop {
        let (size_line, after) = rest.split_once("\r\n").ok_or_else(bad)?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| bad())?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = after.get(..size).ok_or_else(bad)?;
        out.push_str(chunk);
        rest = after.get(size..).ok_or_else(bad)?;
        rest = rest.strip_prefix("\r\n").ok_or_else(bad)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse() {
        let cases: &[(&str, Option<(u16, &str)>)] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
                Some((200, "{}")),
            ),
            (
                "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
                Some((201, "{\"a\":1}")),
            ),
            ("HTTP/1.1 204 No Content\r\n\r\n", Some((204, ""))),
            ("garbage", None),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                None,
            ),
        ];
        for (raw, want) in cases {
            let got = parse_response(raw.as_bytes()).ok();
            let got = got.as_ref().map(|(s, b)| (*s, b.as_str()));
            assert_eq!(got, *want, "{raw:?}");
        }
    }
}
