//! Slow clients and floods (issue 12, item 2): idle half-sent connections, the header-read
//! timeout, the minimum blob upload rate, saturation, the request timeout and the shutdown
//! deadline of the real binary. Loopback only; every test is bounded in time and traffic.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::*;

/// Idle half-sent connections opened by the flood test (fewer if the fd limit is low).
const IDLE_CONNECTIONS: usize = 2000;

/// The soft limit on open files of this process (`/proc/self/limits`), if known.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn addr_of(h: &Harness) -> std::net::SocketAddr {
    h.tokenizer.as_ref().unwrap().addr()
}

/// Reads until EOF, an error, or `limit`; returns what was read and whether the peer closed.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

/// Reads until a complete HTTP response head has arrived; returns the head.
async fn read_head(s: &mut TcpStream, limit: Duration) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .expect("no response in time")
            .expect("read failed");
        assert!(n > 0, "closed before a response: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Opens a raw PUT of `len` bytes to the presigned `url` and sends its headers (no body yet).
async fn start_raw_put(base: &str, url: &str, headers: &[(String, String)], len: usize) -> TcpStream {
    let target = url.strip_prefix(base).unwrap();
    let mut req = format!("PUT {target} HTTP/1.1\r\nhost: localhost\r\ncontent-length: {len}\r\n");
    for (k, v) in headers {
        req.extend([k.as_str(), ": ", v.as_str(), "\r\n"]);
    }
    req.push_str("\r\n");
    let mut s = TcpStream::connect(base.strip_prefix("http://").unwrap()).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    s
}

fn temp_files(h: &Harness) -> usize {
    std::fs::read_dir(h.dir.join("blobs").join("tmp")).unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_half_sent_connections_do_not_starve_health() {
    // Each connection costs two descriptors here (client and server side, one process).
    let count =
        open_files_limit().map_or(IDLE_CONNECTIONS, |limit| IDLE_CONNECTIONS.min(limit.saturating_sub(256) / 2));
    assert!(count >= 500, "the open-files limit is too low for this test: {:?}", open_files_limit());
    if count < IDLE_CONNECTIONS {
        eprintln!(
            "open-files limit {:?}: using {count} idle connections instead of {IDLE_CONNECTIONS}",
            open_files_limit()
        );
    }
    let h = Harness::embedded_with(|c| c.limits.header_read_timeout = Duration::from_mins(1)).await;
    let addr = addr_of(&h);
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET /health HT").await.unwrap();
        idle.push(conn);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut times = Vec::new();
    for _ in 0..5 {
        let fresh = client(); // a fresh connection each time
        let started = Instant::now();
        let resp = Resp::from(fresh.get(h.url("/health")).send().await.unwrap()).await;
        times.push(started.elapsed());
        assert_eq!(resp.status, 200);
    }
    times.sort();
    assert!(times[2] < Duration::from_millis(100), "/health median {:?} (all: {times:?})", times[2]);
    assert!(times[4] < Duration::from_millis(500), "/health slowest {:?}", times[4]);

    // The idle connections were held open, not dropped to make room.
    let mut buf = [0u8; 16];
    for conn in idle.iter().step_by(97) {
        let read = conn.try_read(&mut buf);
        assert!(
            matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "an idle connection was closed or answered: {read:?}"
        );
    }
}

#[tokio::test]
async fn header_read_timeout_closes_a_half_sent_connection() {
    let h = Harness::embedded_with(|c| c.limits.header_read_timeout = Duration::from_millis(500)).await;
    let mut s = TcpStream::connect(addr_of(&h)).await.unwrap();
    let t = Instant::now();
    s.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\n").await.unwrap();
    let (got, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    let took = t.elapsed();
    assert!(closed, "the half-sent connection was not closed");
    assert!(took >= Duration::from_millis(400), "closed too early ({took:?})");
    assert!(!String::from_utf8_lossy(&got).contains(" 200 "), "a half-sent request was served");
    // A complete request on a new connection is still served.
    assert_eq!(h.get("/health", &[]).await.status, 200);
}

#[tokio::test]
async fn a_trickled_blob_upload_is_cut_off_and_its_temp_file_removed() {
    let h = Harness::embedded_with(|c| {
        c.limits.blob_min_rate_bytes = 1024;
        c.limits.blob_min_rate_window = Duration::from_secs(1);
    })
    .await;
    let (_token, url, headers) = h.tokenize(&h.user_jwt("trickle-session"), json!({"dataType":"string"})).await;
    let mut s = start_raw_put(&h.base, &url, &headers, 100).await;
    let t = Instant::now();
    let (mut rd, mut wr) = s.split();
    let trickle = async {
        // One byte a second; the server's cut-off ends this via a write error or the select below.
        for _ in 0..100 {
            if wr.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    let mut head = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    };
    let observed_temp = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        temp_files(&h)
    };
    let cut = async {
        tokio::select! {
            () = read => {},
            () = trickle => panic!("the trickle ran to completion"),
        }
    };
    let (cut, during) = tokio::join!(tokio::time::timeout(Duration::from_secs(8), cut), observed_temp);
    cut.expect("no answer to the trickled upload in time");
    let took = t.elapsed();
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(head.starts_with("HTTP/1.1 408"), "expected 408, got {head:?} after {took:?}");
    assert!(took < Duration::from_secs(5), "cut off after {took:?}");
    assert_eq!(during, 1, "the upload's temp file existed while it ran");
    assert_eq!(temp_files(&h), 0, "the temp file was removed");
    // Nothing was stored under the object key: the download finds no object.
    let dl = url.replace("method=PUT", "method=GET");
    let (status, _) = download(&h.client, &dl, &headers).await;
    assert_ne!(status, 200);
}

#[tokio::test]
async fn saturation_answers_503_with_retry_after() {
    let h = Harness::embedded_with(|c| {
        c.limits.max_concurrent_requests = 1;
        c.limits.blob_min_rate_bytes = 0;
    })
    .await;
    let user = h.user_jwt("saturation-session");
    let (_token, url, headers) = h.tokenize(&user, json!({"dataType":"string"})).await;
    // A stalled upload holds the only request slot.
    let mut put = start_raw_put(&h.base, &url, &headers, 10).await;
    put.write_all(b"01234").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let r = h.post("/tokenize", Some(&user), &json!({"metadata":{"dataType":"string"}})).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.error_name(), "overloaded");
    assert_eq!(r.header("retry-after"), Some("1"));
    // Liveness probes are exempt.
    assert_eq!(h.get("/health", &[]).await.status, 200);

    // The slot comes back when the upload completes.
    put.write_all(b"56789").await.unwrap();
    let head = read_head(&mut put, Duration::from_secs(5)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let r = h.post("/tokenize", Some(&user), &json!({"metadata":{"dataType":"string"}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_json_request_that_hangs_times_out() {
    let h = Harness::embedded_with(|c| c.limits.request_timeout = Duration::from_millis(500)).await;
    let user = h.user_jwt("timeout-session");
    let mut s = TcpStream::connect(addr_of(&h)).await.unwrap();
    let req = format!(
        "POST /tokenize HTTP/1.1\r\nhost: localhost\r\nauthorization: {user}\r\ncontent-type: application/json\r\n\
         content-length: 100\r\n\r\n{{\"metadata\":"
    );
    let t = Instant::now();
    s.write_all(req.as_bytes()).await.unwrap();
    let head = read_head(&mut s, Duration::from_secs(5)).await;
    let took = t.elapsed();
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
    assert!(took >= Duration::from_millis(400) && took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn over_the_connection_cap_a_connection_is_answered_503_and_closed() {
    let h = Harness::embedded_with(|c| {
        c.limits.max_connections = 2;
        c.limits.header_read_timeout = Duration::from_mins(1);
    })
    .await;
    let addr = addr_of(&h);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /health HT").await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(addr).await.unwrap();
    let (got, closed) = read_until_closed(&mut extra, Duration::from_secs(5)).await;
    let got = String::from_utf8_lossy(&got).into_owned();
    assert!(closed, "the connection over the cap was kept open");
    assert!(got.starts_with("HTTP/1.1 503"), "{got:?}");
    assert!(got.contains("retry-after: 1"), "{got:?}");
    // Room again once a held connection goes away.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.get("/health", &[]).await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// The binary

#[tokio::test]
async fn sigterm_exits_within_the_shutdown_deadline_despite_a_hung_client() {
    let dir = temp_dir("limits-binary");
    let port = closed_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lunasec-tokenizer"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(["--dev", "--http-addr", &format!("127.0.0.1:{port}")])
        .env("TOKENIZER_DATA_DIR", &dir)
        .env("SESSION_PUBLIC_KEY", RSA2048_PUBLIC)
        .env("AUTH_PROVIDERS", r#"{"app":{"url":"http://localhost:3001","default":true}}"#)
        .env("TOKENIZER_SHUTDOWN_GRACE", "2s")
        .env("TOKENIZER_REQUEST_TIMEOUT", "5m")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the binary did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A hung client: a request whose body never finishes (an in-flight request, which a graceful
    // shutdown waits for).
    let user = default_keyset().user_jwt("hung-client-session").unwrap();
    let mut hung = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!(
        "POST /tokenize HTTP/1.1\r\nhost: localhost\r\nauthorization: {user}\r\ncontent-type: application/json\r\n\
         content-length: 100\r\n\r\n{{\"metadata\":"
    );
    hung.write_all(req.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let t = Instant::now();
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(6), "did not exit within the shutdown deadline");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let took = t.elapsed();
    assert!(status.success(), "{status:?}");
    // It waited for the in-flight request (graceful), then gave up at the deadline.
    assert!(took >= Duration::from_millis(1800), "exited after {took:?}: the hung request was not waited for");
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("shutdown deadline reached"), "{log}");
    assert!(!log.contains(&user), "the JWT is never logged");
    let (_, closed) = read_until_closed(&mut hung, Duration::from_secs(2)).await;
    assert!(closed, "the hung client's connection was closed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_documents_the_limits() {
    let out = Command::new(env!("CARGO_BIN_EXE_lunasec-tokenizer")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in [
        "TOKENIZER_HEADER_READ_TIMEOUT",
        "TOKENIZER_REQUEST_TIMEOUT",
        "TOKENIZER_MAX_CONNECTIONS",
        "TOKENIZER_MAX_CONCURRENT_REQUESTS",
        "TOKENIZER_SHUTDOWN_GRACE",
        "BLOB_MIN_UPLOAD_RATE",
        "BLOB_MIN_UPLOAD_WINDOW",
    ] {
        assert!(help.contains(var), "--help does not mention {var}");
    }
}

/// Issue 12 item 5: a signed-in session cannot create tokens without limit (`429` with
/// Retry-After); other sessions and the application are unaffected.
#[tokio::test]
async fn a_session_creating_tokens_too_fast_gets_429_and_no_one_else_does() {
    let h = Harness::embedded_with(|c| c.limits.tokenize_per_session_per_minute = 5).await;
    let greedy = h.user_jwt("rate-greedy");
    for _ in 0..5 {
        assert_eq!(h.post("/tokenize", Some(&greedy), &json!({})).await.status, 200);
    }
    let r = h.post("/tokenize", Some(&greedy), &json!({})).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.error_name(), "rateLimited");
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=12).contains(&retry), "5 a minute: one more within 12 s, told {retry}");
    assert!(r.header("lunasec-session-hash").is_some(), "still the caller's session");
    let other = h.user_jwt("rate-other");
    assert_eq!(h.post("/tokenize", Some(&other), &json!({})).await.status, 200);
    for _ in 0..10 {
        assert_eq!(
            h.post("/tokenize", Some(&h.app_jwt()), &json!({})).await.status,
            200,
            "applications are not limited"
        );
    }
    // Reading is not limited.
    assert_eq!(h.get("/health", &[]).await.status, 200);
}
