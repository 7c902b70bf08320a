//! `ferry`: one binary for the server and the command-line peer. Thin: it parses arguments and
//! wires the library crates together.
#![forbid(unsafe_code)]

mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ferry", version, about = "Peer-to-peer file sharing: browser, terminal, or curl")]
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
    Serve(serve::ServeArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
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
            Command::Serve(args) => serve::run(args).await,
        }
    })
}
