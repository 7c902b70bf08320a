//! `ferry receive <code>`: join the room, show the offer, ask, and write into `--out`.

use std::path::PathBuf;

use clap::Args;
use ferry_protocol::signaling::ServerMessage;
use ferry_transport::{PeerSignaling, SignalingClient};

use crate::kept_identity::KeptIdentity;
use crate::peer_common::{
    LossWording, PeerArgs, connection_lost, ctrl_c, link, report, wait_after_loss,
};
use crate::session::{Mode, Session};
use crate::ui::Ui;

#[derive(Args)]
pub struct ReceiveArgs {
    /// The room code shown by the sender (case and dashes do not matter).
    code: String,
    /// Folder to write into; nothing is ever written outside it.
    #[arg(long, short, default_value = ".")]
    out: PathBuf,
    /// Accept the offer without asking.
    #[arg(long, short)]
    yes: bool,
    #[command(flatten)]
    peer: PeerArgs,
}

pub async fn run(args: ReceiveArgs) -> anyhow::Result<()> {
    let out = args.out.clone();
    if !out.is_dir() {
        anyhow::bail!("--out {} is not a folder", out.display());
    }
    // Run again on the same code, it comes back as the same peer (kept_identity.rs).
    let mut kept = KeptIdentity::open(&args.peer.server, &args.code);
    let token = kept.as_ref().and_then(|k| k.token()).map(str::to_string);
    let mut sig = SignalingClient::connect_as(&args.peer.server, token.as_deref()).await?;
    if let Some(k) = kept.as_mut() {
        k.store(sig.token());
    }
    crate::peer_common::announce_self(&sig, &Ui::new(args.peer.json));
    let room = sig
        .join_room(&args.code)
        .await
        .map_err(|e| anyhow::anyhow!("cannot join room {:?}: {e}", args.code))?;
    let mut joined = None;
    let peer_id = match room.peers.as_slice() {
        [only] => only.id.clone(),
        [_, _, ..] => {
            // Several peers: the sender's other receivers are here too (`ferry send
            // --receivers`). The sender is whoever starts connecting to us.
            eprintln!(
                "{} peers are in room {}; waiting for the sender to connect…",
                room.peers.len(),
                room.id
            );
            loop {
                tokio::select! {
                    m = sig.recv() => {
                        let m = m?;
                        let from = match &m {
                            ServerMessage::Signal { from, .. } => Some(from.clone()),
                            ServerMessage::RelayReady { peer_id, .. } => Some(peer_id.clone()),
                            _ => None,
                        };
                        if let Some(from) = from {
                            // Its first signal is part of the connection: handed back for it.
                            sig.unread([m]);
                            break from;
                        }
                    }
                    _ = ctrl_c() => anyhow::bail!("cancelled before the sender connected"),
                }
            }
        }
        [] => {
            eprintln!("Waiting for the sender to join room {}…", room.id);
            loop {
                tokio::select! {
                    m = sig.recv() => {
                        if let ServerMessage::PeerJoined { room: r, peer } = m? && r == room.id {
                            joined = Some(peer.clone());
                            break peer.id;
                        }
                    }
                    _ = ctrl_c() => anyhow::bail!("cancelled before the sender joined"),
                }
            }
        }
    };
    // The hub's word on what the sender is (a native peer or a browser) sizes its packets.
    let peer_client = room
        .peers
        .iter()
        .chain(joined.as_ref())
        .find(|p| p.id == peer_id)
        .map_or_else(|| "unknown".to_string(), |p| p.client.clone());
    let mut ui = Ui::new(args.peer.json);
    loop {
        let peer_link = link(&mut sig, &peer_id, &peer_client, &args.peer, &ui).await?;
        let mut session = Session::new(
            Mode::Receive {
                out: out.clone(),
                yes: args.yes,
            },
            ui,
        );
        session.verify(peer_link.identities());
        let departed = peer_link.departed(&mut sig, &peer_id);
        let outcome = session.run(&peer_link, ctrl_c(), departed).await?;
        ui = Ui::new(args.peer.json);
        if connection_lost(&outcome) {
            // What arrived is in its .ferry-part: the sender's next offer of the file resumes
            // from it, on a new connection, in this same run.
            let say = LossWording {
                who: "sender",
                kept: "; what arrived is kept",
                then: "",
                otherwise: "; run again to resume from what was kept",
            };
            wait_after_loss(&mut sig, &peer_link, &peer_id, &room.id, &say, &ui).await?;
            continue;
        }
        let r = report(outcome, &session, &peer_link, "received", &ui);
        peer_link.close().await;
        sig.close().await;
        if r.is_ok()
            && let Some(k) = kept
        {
            k.forget();
        }
        return r;
    }
}
