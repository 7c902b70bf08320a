//! Shared by the transport integration tests: the real server on an ephemeral loopback port.

use std::net::SocketAddr;

use ferry_server::{BoundServer, ServerConfig};

pub async fn start_server() -> SocketAddr {
    let server = BoundServer::bind(ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ServerConfig::default()
    })
    .await
    .expect("bind");
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run());
    addr
}
