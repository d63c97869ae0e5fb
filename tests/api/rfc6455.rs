//! RFC 6455 conformance of the sync endpoint, one case per requirement of the
//! RFC: each case names its section, sends a raw handshake or raw frames to a
//! served server over plain TCP, and says what the server must answer (an HTTP
//! status, or its frames in order up to its close).

use std::time::Duration;

use base64::Engine as _;
use sha1::{Digest, Sha1};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use yrs::{ReadTxn, Text, Transact};

use crate::{
    harness::{test_config, TestApp},
    sync_client::WAIT,
};
use canvas_server::protocol::message;

/// The server's `MAX_MESSAGE_BYTES` in these cases: small, so a message can
/// come close to it.
const MAX_MESSAGE: usize = 8 * 1024;
/// The key of every valid handshake: RFC 6455 §1.3's example.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// A client's sync step 1 with an empty state vector: answered with a step 2.
const SYNC_STEP1: [u8; 4] = [0, 0, 1, 0];
/// A sync step 1 whose state vector names one client unknown to the board:
/// answered with a step 2 computed from the board's current content.
const SYNC_STEP1_OF_A_PEER: [u8; 6] = [0, 0, 3, 1, 5, 0];

/// One requirement of the RFC and how the server must meet it.
struct Case {
    name: &'static str,
    section: &'static str,
    send: Input,
    expect: Expect,
}

/// What the client sends.
enum Input {
    /// An upgrade request with these headers set (`None`: left out) over
    /// those of a valid one.
    Handshake(&'static [(&'static str, Option<&'static str>)]),
    /// A valid upgrade, then these bytes (frames, masked unless said otherwise).
    Frames(Vec<Vec<u8>>),
}

/// What the server must answer.
enum Expect {
    /// The upgrade is refused with this status, this code in the JSON error
    /// envelope and, when given, this header.
    Refused {
        status: u16,
        code: &'static str,
        header: Option<(&'static str, &'static str)>,
    },
    /// The upgrade is accepted, and then the server answers exactly this, in
    /// order (its own sync messages and pings aside). After a close, it ends
    /// the connection.
    Answers(Vec<Answer>),
}

/// An answer from the server after the upgrade.
#[derive(Debug)]
enum Answer {
    /// A pong with this payload.
    Pong(Vec<u8>),
    /// A close frame with this code.
    Close(u16),
    /// A y-websocket sync step 2 (the answer to a step 1) of at least this
    /// many bytes: proof that the messages before it arrived.
    SyncStep2 { min_len: usize },
}

/// A frame as the server sent it, reduced to what the cases look at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Pong(Vec<u8>),
    Close(u16),
    SyncStep2(usize),
}

impl Answer {
    fn matches(&self, seen: &Seen) -> bool {
        match (self, seen) {
            (Self::Pong(expected), Seen::Pong(payload)) => expected == payload,
            (Self::Close(expected), Seen::Close(code)) => expected == code,
            (Self::SyncStep2 { min_len }, Seen::SyncStep2(len)) => len >= min_len,
            _ => false,
        }
    }
}

/// A masked client frame: `first` is FIN, RSV and opcode; the length in its
/// shortest encoding.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut header = vec![first];
    match payload.len() {
        len @ 0..=125 => header.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            header.push(0x80 | 126);
            header.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            header.push(0x80 | 127);
            header.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    with_payload(header, payload)
}

/// A masked client frame with the header given byte for byte (up to the mask).
fn with_payload(mut header: Vec<u8>, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5A, 0x13, 0xC7, 0x2E];
    header.extend_from_slice(&mask);
    header.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, k)| b ^ k));
    header
}

/// A close frame's payload: the code and the reason's bytes.
fn close(code: u16, reason: &[u8]) -> Vec<u8> {
    [&code.to_be_bytes()[..], reason].concat()
}

/// A y-websocket update message of at most `max` and over `max - 100` bytes.
fn update_message_near(max: usize) -> Vec<u8> {
    let doc = yrs::Doc::new();
    let text = doc.get_or_insert_text("padding");
    text.insert(&mut doc.transact_mut(), 0, &"x".repeat(max - 60));
    let update = doc
        .transact()
        .encode_state_as_update_v1(&yrs::StateVector::default());
    let message = message::encode_update(&update);
    assert!(
        (max - 100..=max).contains(&message.len()),
        "{} bytes",
        message.len()
    );
    message
}

fn cases() -> Vec<Case> {
    use Answer::{Close, Pong, SyncStep2};
    let big = update_message_near(MAX_MESSAGE);
    let (big_start, big_end) = big.split_at(big.len() - 4);
    let refused = |status, code| Expect::Refused {
        status,
        code,
        header: None,
    };
    let closes = |code| Expect::Answers(vec![Close(code)]);
    vec![
        // Opening handshake.
        Case {
            name: "a key of 15 bytes is refused",
            section: "4.2.1",
            send: Input::Handshake(&[("Sec-WebSocket-Key", Some("dGhlIHNhbXBsZSBub25j"))]),
            expect: refused(400, "bad_request"),
        },
        Case {
            name: "a key that is not base64 is refused",
            section: "4.2.1",
            send: Input::Handshake(&[("Sec-WebSocket-Key", Some("not a base64 key, at all!"))]),
            expect: refused(400, "bad_request"),
        },
        Case {
            name: "a missing key is refused",
            section: "4.2.1",
            send: Input::Handshake(&[("Sec-WebSocket-Key", None)]),
            expect: refused(400, "bad_request"),
        },
        Case {
            name: "a version other than 13 is refused naming 13",
            section: "4.2.2, 4.4",
            send: Input::Handshake(&[("Sec-WebSocket-Version", Some("8"))]),
            expect: Expect::Refused {
                status: 426,
                code: "upgrade_required",
                header: Some(("sec-websocket-version", "13")),
            },
        },
        Case {
            name: "a request without a version is not a handshake",
            section: "4.2.1",
            send: Input::Handshake(&[("Sec-WebSocket-Version", None)]),
            expect: refused(400, "bad_request"),
        },
        // Framing.
        Case {
            name: "an unmasked client frame is a protocol error",
            section: "5.1",
            send: Input::Frames(vec![vec![0x82, 0x01, 0x00]]),
            expect: closes(1002),
        },
        Case {
            name: "RSV1 without an extension is a protocol error",
            section: "5.2",
            send: Input::Frames(vec![frame(0xC2, &SYNC_STEP1)]),
            expect: closes(1002),
        },
        Case {
            name: "RSV3 without an extension is a protocol error",
            section: "5.2",
            send: Input::Frames(vec![frame(0x92, &SYNC_STEP1)]),
            expect: closes(1002),
        },
        Case {
            name: "a reserved data opcode is a protocol error",
            section: "5.2",
            send: Input::Frames(vec![frame(0x83, b"")]),
            expect: closes(1002),
        },
        Case {
            name: "a reserved control opcode is a protocol error",
            section: "5.2",
            send: Input::Frames(vec![frame(0x8B, b"")]),
            expect: closes(1002),
        },
        Case {
            name: "a 16-bit length below 126 is a protocol error",
            section: "5.2",
            send: Input::Frames(vec![with_payload(
                vec![0x82, 0x80 | 126, 0, 4],
                &SYNC_STEP1,
            )]),
            expect: closes(1002),
        },
        Case {
            name: "a 64-bit length below 65536 is a protocol error",
            section: "5.2",
            send: Input::Frames(vec![with_payload(
                vec![0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 4],
                &SYNC_STEP1,
            )]),
            expect: closes(1002),
        },
        // Fragmentation.
        Case {
            name: "a ping between fragments is answered and the message still arrives",
            section: "5.4",
            send: Input::Frames(vec![
                frame(0x02, &SYNC_STEP1[..2]),
                frame(0x89, b"mid-message"),
                frame(0x80, &SYNC_STEP1[2..]),
            ]),
            expect: Expect::Answers(vec![
                Pong(b"mid-message".to_vec()),
                SyncStep2 { min_len: 2 },
            ]),
        },
        Case {
            name: "control frames between fragments do not spend the message's size budget",
            section: "5.4",
            send: Input::Frames(vec![
                frame(0x02, big_start),
                frame(0x89, &[7; 125]),
                frame(0x8A, &[8; 125]),
                frame(0x80, big_end),
                frame(0x82, &SYNC_STEP1_OF_A_PEER),
            ]),
            expect: Expect::Answers(vec![
                Pong(vec![7; 125]),
                SyncStep2 {
                    min_len: MAX_MESSAGE - 200,
                },
            ]),
        },
        Case {
            name: "a continuation with no message to continue is a protocol error",
            section: "5.4",
            send: Input::Frames(vec![frame(0x80, &SYNC_STEP1)]),
            expect: closes(1002),
        },
        Case {
            name: "a new data frame inside a fragmented message is a protocol error",
            section: "5.4",
            send: Input::Frames(vec![
                frame(0x02, &SYNC_STEP1[..2]),
                frame(0x82, &SYNC_STEP1),
            ]),
            expect: closes(1002),
        },
        // Control frames.
        Case {
            name: "a fragmented control frame is a protocol error",
            section: "5.5",
            send: Input::Frames(vec![frame(0x09, b"half"), frame(0x82, &SYNC_STEP1)]),
            expect: closes(1002),
        },
        Case {
            name: "a control frame over 125 bytes is a protocol error",
            section: "5.5",
            send: Input::Frames(vec![frame(0x89, &[1; 126])]),
            expect: closes(1002),
        },
        Case {
            name: "a ping is answered with a pong carrying its payload",
            section: "5.5.2, 5.5.3",
            send: Input::Frames(vec![frame(0x89, b"are you there?")]),
            expect: Expect::Answers(vec![Pong(b"are you there?".to_vec())]),
        },
        Case {
            name: "a ping of 125 bytes is answered in full",
            section: "5.5.2, 5.5.3",
            send: Input::Frames(vec![frame(0x89, &[9; 125])]),
            expect: Expect::Answers(vec![Pong(vec![9; 125])]),
        },
        // Closing handshake.
        Case {
            name: "a client's close is echoed with its code",
            section: "5.5.1",
            send: Input::Frames(vec![frame(0x88, &close(1000, b"bye"))]),
            expect: closes(1000),
        },
        Case {
            name: "a client's close with an application code is echoed",
            section: "5.5.1, 7.4.2",
            send: Input::Frames(vec![frame(0x88, &close(4000, "à bientôt".as_bytes()))]),
            expect: closes(4000),
        },
        Case {
            name: "a close without a body is answered 1000",
            section: "5.5.1, 7.1.5",
            send: Input::Frames(vec![frame(0x88, b"")]),
            expect: closes(1000),
        },
        Case {
            name: "a close with a one-byte body is a protocol error",
            section: "5.5.1",
            send: Input::Frames(vec![frame(0x88, &[3])]),
            expect: closes(1002),
        },
        Case {
            name: "a close code reserved for reporting (1005) is a protocol error",
            section: "7.4.1",
            send: Input::Frames(vec![frame(0x88, &close(1005, b""))]),
            expect: closes(1002),
        },
        Case {
            name: "a close code below 1000 is a protocol error",
            section: "7.4.2",
            send: Input::Frames(vec![frame(0x88, &close(999, b""))]),
            expect: closes(1002),
        },
        Case {
            name: "a close reason that is not UTF-8 is invalid data",
            section: "5.5.1, 8.1",
            send: Input::Frames(vec![frame(0x88, &close(1000, &[b'o', b'k', 0xFF]))]),
            expect: closes(1007),
        },
        Case {
            name: "a close reason cut inside a character is invalid data",
            section: "5.5.1, 8.1",
            send: Input::Frames(vec![frame(0x88, &close(1000, &[0xCE]))]),
            expect: closes(1007),
        },
        // Data.
        Case {
            name: "a text message is data the server cannot accept",
            section: "7.4.1",
            send: Input::Frames(vec![frame(0x81, b"hello")]),
            expect: closes(1003),
        },
        Case {
            name: "a fragmented text message is data the server cannot accept",
            section: "5.4, 7.4.1",
            send: Input::Frames(vec![frame(0x01, b"hel"), frame(0x80, b"lo")]),
            expect: closes(1003),
        },
    ]
}

#[tokio::test]
async fn the_sync_endpoint_meets_each_requirement_of_rfc_6455() {
    let app = TestApp::spawn_with(canvas_server::Config {
        max_message_bytes: MAX_MESSAGE,
        ..test_config()
    })
    .await;
    let (ada, board) = app.user_with_board("ada").await;
    let path = format!("/api/v1/boards/{board}/sync?token={}", ada.token);
    let mut failures = Vec::new();
    for case in cases() {
        if let Err(why) = run(&app, &path, &case).await {
            failures.push(format!("§{} {}: {why}", case.section, case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Runs one case on a connection of its own.
async fn run(app: &TestApp, path: &str, case: &Case) -> Result<(), String> {
    let mut stream = TcpStream::connect(app.addr)
        .await
        .map_err(|err| format!("connect: {err}"))?;
    let overrides = match &case.send {
        Input::Handshake(overrides) => *overrides,
        Input::Frames(_) => &[],
    };
    let request = handshake(path, overrides);
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|err| format!("send handshake: {err}"))?;
    let mut buf = Vec::new();
    let head = read_head(&mut stream, &mut buf).await?;
    match &case.expect {
        Expect::Refused {
            status,
            code,
            header,
        } => {
            if head.status != *status {
                return Err(format!("status {}, expected {status}", head.status));
            }
            if let Some((name, value)) = header {
                if head.header(name) != Some(*value) {
                    return Err(format!("{name}: {:?}, expected {value}", head.header(name)));
                }
            }
            let body = read_body(&mut stream, &mut buf, &head).await?;
            let body: serde_json::Value =
                serde_json::from_slice(&body).map_err(|err| format!("body not JSON: {err}"))?;
            if body["error"]["code"] != *code {
                return Err(format!("body {body}, expected code {code}"));
            }
            Ok(())
        }
        Expect::Answers(expected) => {
            if head.status != 101 || head.header("sec-websocket-accept") != Some(&accept(KEY)) {
                return Err(format!("upgrade not accepted: {head:?}"));
            }
            if let Input::Frames(frames) = &case.send {
                stream
                    .write_all(&frames.concat())
                    .await
                    .map_err(|err| format!("send frames: {err}"))?;
            }
            let seen = read_answers(&mut stream, &mut buf, expected.len()).await;
            let matched = seen.len() == expected.len()
                && expected
                    .iter()
                    .zip(&seen)
                    .all(|(want, got)| want.matches(got));
            if !matched {
                return Err(format!("answered {seen:?}, expected {expected:?}"));
            }
            if matches!(seen.last(), Some(Seen::Close(_))) && !ends(&mut stream).await {
                return Err("the connection stayed open after the close".to_owned());
            }
            Ok(())
        }
    }
}

/// A valid upgrade request for `path`, with `overrides` applied.
fn handshake(path: &str, overrides: &[(&str, Option<&str>)]) -> String {
    let headers = [
        ("Host", Some("localhost")),
        ("Connection", Some("Upgrade")),
        ("Upgrade", Some("websocket")),
        ("Sec-WebSocket-Version", Some("13")),
        ("Sec-WebSocket-Key", Some(KEY)),
    ];
    let mut request = format!("GET {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        let value = overrides
            .iter()
            .find(|(overridden, _)| *overridden == name)
            .map_or(value, |(_, value)| *value);
        if let Some(value) = value {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    request.push_str("\r\n");
    request
}

/// `Sec-WebSocket-Accept` for `key` (RFC 6455 §4.2.2).
fn accept(key: &str) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// A response's status line and headers.
#[derive(Debug)]
struct Head {
    status: u16,
    /// Names lowercased.
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(have, _)| have == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Reads more bytes into `buf` within [`WAIT`]; `false` at the end of the stream.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<bool, String> {
    let mut chunk = [0; 16 * 1024];
    match tokio::time::timeout(WAIT, stream.read(&mut chunk)).await {
        Err(_) => Err("no answer in time".to_owned()),
        Ok(Err(err)) => Err(format!("read: {err}")),
        Ok(Ok(read)) => {
            buf.extend_from_slice(&chunk[..read]);
            Ok(read > 0)
        }
    }
}

/// Reads a response's head, leaving what follows it in `buf`.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Head, String> {
    let end = loop {
        if let Some(at) = buf.windows(4).position(|window| window == b"\r\n\r\n") {
            break at;
        }
        if !read_more(stream, buf).await? {
            return Err("connection closed before a response".to_owned());
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end + 4);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("no status line in {head:?}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok(Head { status, headers })
}

/// Reads a response body of `Content-Length` bytes.
async fn read_body(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    head: &Head,
) -> Result<Vec<u8>, String> {
    let len: usize = head
        .header("content-length")
        .and_then(|len| len.parse().ok())
        .ok_or("no Content-Length")?;
    while buf.len() < len {
        if !read_more(stream, buf).await? {
            return Err("body cut short".to_owned());
        }
    }
    Ok(buf[..len].to_vec())
}

/// Reads server frames until `wanted` answers came, a close came, the stream
/// ended or [`WAIT`] passed; the server's own sync messages and pings are skipped.
async fn read_answers(stream: &mut TcpStream, buf: &mut Vec<u8>, wanted: usize) -> Vec<Seen> {
    let mut seen = Vec::new();
    while seen.len() < wanted && !matches!(seen.last(), Some(Seen::Close(_))) {
        let Some((opcode, payload)) = next_server_frame(stream, buf).await else {
            break;
        };
        match (opcode, payload.as_slice()) {
            (0xA, _) => seen.push(Seen::Pong(payload)),
            (0x8, [high, low, ..]) => seen.push(Seen::Close(u16::from_be_bytes([*high, *low]))),
            (0x8, _) => seen.push(Seen::Close(1005)),
            (0x2, [0, 1, ..]) => seen.push(Seen::SyncStep2(payload.len())),
            _ => {}
        }
    }
    seen
}

/// The next frame the server sent (servers never mask): its opcode and payload.
async fn next_server_frame(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(u8, Vec<u8>)> {
    loop {
        if let Some((opcode, start, len)) = server_frame_at_start(buf) {
            if buf.len() >= start + len {
                let payload = buf[start..start + len].to_vec();
                buf.drain(..start + len);
                return Some((opcode, payload));
            }
        }
        if !read_more(stream, buf).await.ok()? {
            return None;
        }
    }
}

/// The opcode, payload offset and payload length of the frame `buf` starts
/// with, once its header is whole.
fn server_frame_at_start(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let [first, second, ..] = *buf else {
        return None;
    };
    let (start, len) = match second & 0x7F {
        126 => (
            4,
            usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
        ),
        127 => (
            10,
            usize::try_from(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)).ok()?,
        ),
        len => (2, usize::from(len)),
    };
    Some((first & 0x0F, start, len))
}

/// Whether the server ends the connection within [`WAIT`] (what it sends
/// meanwhile is ignored).
async fn ends(stream: &mut TcpStream) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut chunk = [0; 1024];
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left.max(Duration::from_millis(1)), stream.read(&mut chunk))
            .await
        {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}
