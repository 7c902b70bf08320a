//! A webrtc-rs runtime that gives every ICE UDP socket large kernel buffers.
//!
//! webrtc-rs binds its UDP sockets itself, with the kernel's default ~200 KiB receive queue. On a
//! TURN path all of a transfer's packets arrive in bursts from one relay address, and the
//! receiver dropped hundreds of datagrams at that queue (seen in the NAT tests: 359 receive
//! buffer errors for a 16 MiB transfer, ~20× slower than direct), each drop costing an SCTP
//! retransmission. The runtime hook `wrap_udp_socket` is the one place we can set the size.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

/// Kernel socket buffer size asked for (the kernel caps it at `net.core.rmem_max`/`wmem_max`).
pub const UDP_SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// [`TokioRuntime`] with larger UDP socket buffers; everything else is delegated.
pub struct BufferedUdpRuntime {
    inner: TokioRuntime,
}

impl BufferedUdpRuntime {
    pub fn new() -> Arc<Self> {
        Arc::new(BufferedUdpRuntime {
            inner: TokioRuntime,
        })
    }
}

impl fmt::Debug for BufferedUdpRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BufferedUdpRuntime")
    }
}

impl Runtime for BufferedUdpRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let sock = socket2::SockRef::from(&socket);
        // Best effort: a smaller buffer only costs throughput, never correctness.
        let _ = sock.set_recv_buffer_size(UDP_SOCKET_BUFFER);
        let _ = sock.set_send_buffer_size(UDP_SOCKET_BUFFER);
        self.inner.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "tokio+udp-buffers"
    }
}
