//! The inspector as a user runs it: the real binary, real arguments and
//! standard input, checking stdout, stderr and the exit code.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value as Json;

fn sample(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name);
    std::fs::read_to_string(&path).expect("read a sample frame")
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ui-flow-inspect"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ui-flow-inspect");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    pipe.write_all(stdin.unwrap_or_default().as_bytes())
        .expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("ui-flow-inspect runs")
}

fn json(out: &Output) -> Json {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_server_delta_from_spaced_hex() {
    let out = run(&[sample("delta.hex").trim()], None);
    let v = json(&out);
    assert_eq!(v["direction"], "server");
    assert_eq!(v["t"], 1001);
    assert_eq!(v["name"], "Delta");
    assert_eq!(v["range"], "state sync");
    assert_eq!(v["fields"]["seq"], 42);
    assert_eq!(v["fields"]["timestamp"], 1_700_000_000_000u64);
    assert_eq!(v["fields"]["delta"]["tags"][1], "new");
    // Fields print in wire order.
    let text = String::from_utf8_lossy(&out.stdout);
    let (delta, seq) = (
        text.find("\"delta\"").expect("delta"),
        text.find("\"seq\"").expect("seq"),
    );
    assert!(delta < seq, "{text}");
}

#[test]
fn a_client_action_from_base64_on_stdin() {
    let v = json(&run(&["-"], Some(&sample("action.b64"))));
    assert_eq!(v["direction"], "client");
    assert_eq!(v["name"], "Action");
    assert_eq!(
        v["fields"]["op_id"]["$uuid"],
        "67e55044-10b1-426f-9247-bb680e5fe0c8"
    );
    assert_eq!(v["fields"]["action"]["Move"]["dx"], -1);
}

#[test]
fn url_safe_base64_without_padding_reads_the_same() {
    let standard = sample("action.b64");
    let url_safe: String = standard
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    assert_ne!(
        url_safe,
        standard.trim(),
        "the sample exercises both alphabets"
    );
    let a = run(&["--client", standard.trim()], None);
    let b = run(&["--client", &url_safe], None);
    assert_eq!(json(&a), json(&b));
}

#[test]
fn big_integers_and_binary_survive_exactly() {
    // {"t": 1, "client_ts": 2^53 + 1, "server_ts": u64::MAX, "extra": bin [0, 255]}
    let mut frame = vec![0x84, 0xa1, b't', 0x01];
    frame.extend_from_slice(&[0xa9]);
    frame.extend_from_slice(b"client_ts");
    frame.push(0xcf);
    frame.extend_from_slice(&((1u64 << 53) + 1).to_be_bytes());
    frame.extend_from_slice(&[0xa9]);
    frame.extend_from_slice(b"server_ts");
    frame.extend_from_slice(&[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    frame.extend_from_slice(&[0xa5]);
    frame.extend_from_slice(b"extra");
    frame.extend_from_slice(&[0xc4, 0x02, 0x00, 0xff]);
    let out = run(&["--server", &hex::encode(&frame)], None);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("\"client_ts\": 9007199254740993"), "{text}");
    assert!(
        text.contains("\"server_ts\": 18446744073709551615"),
        "{text}"
    );
    let v = json(&out);
    assert_eq!(v["name"], "Pong");
    assert_eq!(v["fields"]["extra"]["$bin"], "00ff");
    assert_eq!(v["unused"][0], "extra");
}

#[test]
fn unknown_tags_print_their_range_and_raw_map() {
    let v = json(&run(&[sample("unknown.hex").trim()], None));
    assert_eq!(v["t"], 6001);
    assert_eq!(v["name"], Json::Null);
    assert_eq!(v["range"], "reserved");
    assert_eq!(v["fields"]["hint"], "from a newer server");
    // A tag only the other direction knows is unknown in the forced one.
    let v = json(&run(&["--client", sample("delta.hex").trim()], None));
    assert_eq!(
        (v["direction"].clone(), v["name"].clone()),
        ("client".into(), Json::Null)
    );
}

#[test]
fn a_truncated_frame_prints_the_exact_error_and_offset() {
    let out = run(&["--server", sample("truncated.hex").trim()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("not a valid server frame: frame ends in the middle of a value at byte 88"),
        "{err}"
    );
    assert!(
        err.contains("DecodeError::Truncated { offset: 88 }"),
        "{err}"
    );
    assert!(
        err.contains("at byte 88 of 88: … 6d 70 cf 00 00 01 8b cf [end]"),
        "{err}"
    );
    assert!(
        !err.contains("client"),
        "--server tries one direction: {err}"
    );
}

#[test]
fn auto_reports_both_directions_when_neither_decodes() {
    // {"t": 1000} lacks the required fields of Snapshot and of Action.
    let out = run(&["81a174cd03e8"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("not a valid server frame: Snapshot is missing required field"),
        "{err}"
    );
    assert!(
        err.contains("not a valid client frame: Action is missing required field"),
        "{err}"
    );
}

#[test]
fn input_that_is_not_a_frame_is_a_usage_error() {
    let out = run(&["not a frame!"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("neither hex nor base64"),
        "{}",
        stderr(&out)
    );
    let out = run(&["-"], Some("   \n"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));
    let out = run(&["--client", "--server", "00"], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the directions exclude each other"
    );
}

#[test]
fn a_reader_that_stops_early_is_not_a_crash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ui-flow-inspect"))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ui-flow-inspect");
    // Close the reading end before the frame arrives, as `| head -0` would.
    drop(child.stdout.take());
    let mut pipe = child.stdin.take().expect("stdin is piped");
    pipe.write_all(sample("delta.hex").as_bytes())
        .expect("write stdin");
    drop(pipe);
    let out = child.wait_with_output().expect("ui-flow-inspect runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}
