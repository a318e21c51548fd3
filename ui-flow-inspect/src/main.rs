//! `ui-flow-inspect`: decode one ui-flow frame and print it as JSON.
//!
//! Paste a binary WebSocket message as browser devtools show it (base64) or
//! as hex, and see its tag, the message's name and its fields; or, for a
//! frame that does not decode, the exact [`ui_flow::DecodeError`] with the
//! byte offset it points at.
//!
//! ```text
//! ui-flow-inspect [--client | --server | --auto] [--encoding auto|hex|base64] <FRAME | ->
//! ```
//!
//! Exit codes: 0 decoded (including an unknown tag, which receivers ignore),
//! 1 the frame does not decode, 2 the input is not hex or base64 or the
//! arguments are wrong.
//!
//! It is a debugging aid, not a client: it reads one frame and keeps no
//! state. To decode frames in a program use `ui_flow::codec`.

mod frame;
mod input;
mod render;

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Parser;

use frame::{Direction, Mode};
use input::Encoding;

/// Decode a ui-flow frame (hex or base64, as copied from browser devtools)
/// and print it as JSON.
#[derive(Debug, Parser)]
#[command(name = "ui-flow-inspect", version)]
struct Args {
    /// The frame is client → server (`ClientMessage`).
    #[arg(long, group = "direction")]
    client: bool,
    /// The frame is server → client (`ServerMessage`).
    #[arg(long, group = "direction")]
    server: bool,
    /// Try server → client, then client → server (the default).
    #[arg(long, group = "direction")]
    auto: bool,
    /// How the frame is written.
    #[arg(long, value_enum, default_value_t = Encoding::Auto)]
    encoding: Encoding,
    /// The frame as hex or base64, or `-` to read it from standard input.
    frame: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let text = if args.frame == "-" {
        let mut text = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut text) {
            eprintln!("error: cannot read standard input: {e}");
            return ExitCode::from(2);
        }
        text
    } else {
        args.frame
    };
    let bytes = match input::frame_bytes(&text, args.encoding) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mode = if args.client {
        Mode::Only(Direction::Client)
    } else if args.server {
        Mode::Only(Direction::Server)
    } else {
        Mode::Auto
    };
    match frame::inspect(&bytes, mode) {
        Ok(seen) => {
            let json = match serde_json::to_string_pretty(&seen.report()) {
                Ok(json) => json,
                Err(e) => {
                    eprintln!("error: cannot print the frame as JSON: {e}");
                    return ExitCode::from(1);
                }
            };
            match writeln!(std::io::stdout().lock(), "{json}") {
                // A reader that stopped early (`| head`) is not an error.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("error: cannot write to standard output: {e}");
                    ExitCode::from(1)
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(failures) => {
            for failure in failures {
                let error = &failure.error;
                eprintln!(
                    "error: not a valid {} frame: {error}",
                    failure.direction.as_str()
                );
                eprintln!("  DecodeError::{error:?}");
                if let Some(offset) = frame::error_offset(error) {
                    eprintln!(
                        "  at byte {offset} of {}: {}",
                        bytes.len(),
                        frame::context(&bytes, offset)
                    );
                }
            }
            ExitCode::from(1)
        }
    }
}
