//! A TCP proxy between a store and the PostgreSQL server, which a test takes down and brings
//! back, or has cut a connection at its next `COMMIT`: what a server restart, a network
//! failure or a crash at commit look like to the store, without touching the server other
//! tests share.
//!
//! Down, the proxy refuses connections and has cut every open one (as a restarting server
//! does); [`Proxy::cut_all`] cuts the open connections and keeps accepting (as terminated
//! backends look). The proxy reads the client's side of the protocol message by message (the
//! untyped startup message, then typed messages), to find a simple-query `COMMIT`.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Where the next `COMMIT` is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The connection is cut instead of passing the `COMMIT` on: nothing is committed.
    BeforeServer,
    /// The `COMMIT` reaches the server, which commits; the client loses the connection
    /// before the answer comes back.
    AfterServer,
}

pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    /// The accepting thread and its flag to stop, while the proxy is up.
    accepting: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

struct Shared {
    target: SocketAddr,
    /// Both sockets of every connection made, to cut them.
    sockets: Mutex<Vec<TcpStream>>,
    cut: Mutex<Option<Cut>>,
    /// Commits cut so far.
    cuts: AtomicUsize,
}

impl Proxy {
    /// A proxy on a free local port, up, forwarding to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Proxy {
            port: listener.local_addr().unwrap().port(),
            shared: Arc::new(Shared {
                target,
                sockets: Mutex::default(),
                cut: Mutex::default(),
                cuts: AtomicUsize::new(0),
            }),
            accepting: Mutex::default(),
        };
        proxy.accept_on(listener);
        proxy
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops accepting (connections are refused) and cuts every open connection.
    pub fn down(&self) {
        if let Some((stop, thread)) = self.accepting.lock().unwrap().take() {
            stop.store(true, Ordering::SeqCst);
            thread.join().unwrap();
        }
        self.cut_all();
    }

    /// Accepts again, on the same port.
    pub fn up(&self) {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(l) => break l,
                Err(_) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.port),
            }
        };
        self.accept_on(listener);
    }

    /// Cuts every open connection, and keeps accepting new ones.
    pub fn cut_all(&self) {
        for socket in self.shared.sockets.lock().unwrap().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// Cuts the connection that sends the next `COMMIT`, at `cut`.
    pub fn cut_next_commit(&self, cut: Cut) {
        *self.shared.cut.lock().unwrap() = Some(cut);
    }

    /// How many commits were cut so far.
    pub fn commits_cut(&self) -> usize {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    fn accept_on(&self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let shared = self.shared.clone();
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let shared = shared.clone();
                        std::thread::spawn(move || connection(client, &shared));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
        });
        *self.accepting.lock().unwrap() = Some((stop, thread));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
    }
}

/// One connection: the server's side copied as it comes, the client's message by message.
fn connection(client: TcpStream, shared: &Shared) {
    client.set_nonblocking(false).unwrap();
    let Ok(server) = TcpStream::connect(shared.target) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    shared
        .sockets
        .lock()
        .unwrap()
        .extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
    let muted = Arc::new(Muted::default());
    let (mut from_server, mut to_client) = (server.try_clone().unwrap(), client.try_clone().unwrap());
    let server_muted = muted.clone();
    std::thread::spawn(move || {
        let _ = server_side(&mut from_server, &mut to_client, &server_muted);
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let _ = client_side(client, server.try_clone().unwrap(), shared, &muted);
    let _ = server.shutdown(Shutdown::Both);
}

/// Whether the server's answers stop reaching the client, and whether one came since.
#[derive(Default)]
struct Muted {
    on: AtomicBool,
    answered: Mutex<bool>,
    answer: std::sync::Condvar,
}

fn server_side(from: &mut TcpStream, to: &mut TcpStream, muted: &Muted) -> std::io::Result<()> {
    let mut buf = [0u8; 8192];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if muted.on.load(Ordering::SeqCst) {
            *muted.answered.lock().unwrap() = true;
            muted.answer.notify_all();
        } else {
            to.write_all(&buf[..n])?;
        }
    }
}

/// SSLRequest and GSSENCRequest: the server answers with one byte, and the real startup
/// message follows.
const ENCRYPTION_REQUESTS: [u32; 2] = [80_877_103, 80_877_104];

fn client_side(
    mut from: TcpStream,
    mut to: TcpStream,
    shared: &Shared,
    muted: &Muted,
) -> std::io::Result<()> {
    loop {
        let mut len = [0u8; 4];
        from.read_exact(&mut len)?;
        let mut body = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
        from.read_exact(&mut body)?;
        to.write_all(&len)?;
        to.write_all(&body)?;
        let code = u32::from_be_bytes(body[..4].try_into().unwrap());
        if !ENCRYPTION_REQUESTS.contains(&code) {
            break;
        }
    }
    loop {
        let mut head = [0u8; 5];
        from.read_exact(&mut head)?;
        let len = u32::from_be_bytes(head[1..].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len.saturating_sub(4)];
        from.read_exact(&mut body)?;
        if head[0] == b'Q'
            && body == b"COMMIT\0"
            && let Some(cut) = shared.cut.lock().unwrap().take()
        {
            shared.cuts.fetch_add(1, Ordering::SeqCst);
            if cut == Cut::AfterServer {
                // The server commits and answers; the answer is dropped, and the client
                // loses the connection only once the commit is done.
                muted.on.store(true, Ordering::SeqCst);
                to.write_all(&head)?;
                to.write_all(&body)?;
                let answered = muted.answered.lock().unwrap();
                let _ = muted
                    .answer
                    .wait_timeout_while(answered, Duration::from_secs(10), |a| !*a)
                    .unwrap();
            }
            from.shutdown(Shutdown::Both)?;
            return Ok(());
        }
        to.write_all(&head)?;
        to.write_all(&body)?;
    }
}
