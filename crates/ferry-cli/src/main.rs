//! `ferry`: one binary for the server and the command-line peer. Thin: it parses arguments and
//! wires the library crates together.
//!
//! Modules depend downwards only: `send` → `multi_send` (several receivers at once); `send` /
//! `receive` → `peer_common` (arguments, link setup,
//! reports) → `session` (the engine driver) → `ui`, `disk`, `prefetch`, `sources`. `ui` (terminal
//! and `--json` output) depends on nothing else here.
#![warn(clippy::unwrap_used)]

mod disk;
mod kept_identity;
mod multi_send;
mod peer_common;
mod prefetch;
mod receive;
mod send;
mod serve;
mod serve_urls;
mod session;
mod sources;
mod ui;
mod writeback;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Peer-to-peer file sharing: browser, terminal, or curl"
)]
struct Cli {
    /// Log filter, e.g. `info`, `debug`, `ferry_server=trace`.
    #[arg(long, global = true, env = "FERRY_LOG", default_value = "info")]
    log_level: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: web app, signaling, relays, on one port.
    Serve(Box<serve::ServeArgs>),
    /// Send files or folders: prints a code, a link and a QR code for the receiver.
    Send(send::SendArgs),
    /// Receive what a sender in room <code> offers.
    Receive(receive::ReceiveArgs),
}

fn main() -> std::process::ExitCode {
    // `{:#}`: the error and its causes on one line. Returning the error from main would print its
    // Debug form, which carries a stack backtrace whenever RUST_BACKTRACE is set.
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    // Peers print their own progress; library chatter (webrtc-rs logs ICE/DTLS at info and
    // warn) only when asked for with --log-level / FERRY_LOG.
    if matches!(cli.command, Command::Send(_) | Command::Receive(_))
        && cli.log_level == "info"
        && std::env::var_os("FERRY_LOG").is_none()
    {
        cli.log_level = "off,ferry=warn".into();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log_level)
                .map_err(|e| anyhow::anyhow!("invalid --log-level {:?}: {e}", cli.log_level))?,
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Send(args) => send::run(args).await,
            Command::Receive(args) => receive::run(args).await,
        }
    })
}
