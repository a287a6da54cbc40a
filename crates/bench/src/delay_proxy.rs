//! A delay line in front of a unix socket, standing in for the network between shuin
//! and a network HSM: every chunk read on one side is written to the other side
//! `one_way` after it was read, in order, in both directions. Reading never waits for
//! writing, so requests in flight overlap as they would on a wire (a round trip costs
//! twice `one_way`, many round trips can be under way at once). With a zero delay it is
//! the same path without the wait, so a baseline crosses the same hops.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Serves `listen` until killed, each connection forwarded to `to`.
pub(crate) fn run(listen: &Path, to: &Path, one_way: Duration) -> Result<String, String> {
    let _ = std::fs::remove_file(listen);
    let listener =
        UnixListener::bind(listen).map_err(|e| format!("binding {}: {e}", listen.display()))?;
    eprintln!(
        "delay-proxy: {} -> {} with {:?} each way",
        listen.display(),
        to.display(),
        one_way
    );
    for client in listener.incoming() {
        let client = client.map_err(|e| format!("accepting on {}: {e}", listen.display()))?;
        match UnixStream::connect(to) {
            Ok(server) => connect(client, server, one_way)?,
            Err(e) => eprintln!("delay-proxy: connecting to {}: {e}", to.display()),
        }
    }
    Ok("delay_proxy: stopped".to_owned())
}

/// Joins `client` and `server` with a delay line each way.
fn connect(client: UnixStream, server: UnixStream, one_way: Duration) -> Result<(), String> {
    let clone = |s: &UnixStream| s.try_clone().map_err(|e| format!("cloning a socket: {e}"));
    delay_line(clone(&client)?, clone(&server)?, one_way);
    delay_line(server, client, one_way);
    Ok(())
}

/// Reads `from` and writes each chunk to `to` once `one_way` has passed since it was
/// read. When `from` ends, `to`'s writing side is shut down after the last chunk.
fn delay_line(mut from: UnixStream, mut to: UnixStream, one_way: Duration) {
    let (chunks, due) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = buffer.get(..n).unwrap_or_default().to_vec();
                    if chunks.send((Instant::now() + one_way, chunk)).is_err() {
                        break;
                    }
                }
            }
        }
        // Dropping `chunks` tells the writer the stream ended.
    });
    thread::spawn(move || {
        for (at, chunk) in due {
            let now = Instant::now();
            if at > now {
                thread::sleep(at - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bytes_cross_in_order_both_ways_and_the_end_is_passed_on() {
        let (near, proxy_near) = UnixStream::pair().unwrap();
        let (proxy_far, far) = UnixStream::pair().unwrap();
        connect(proxy_near, proxy_far, Duration::from_millis(1)).unwrap();
        let (mut near, mut far) = (near, far);
        for i in 0..50u8 {
            near.write_all(&[i; 3]).unwrap();
        }
        let mut got = vec![0u8; 150];
        far.read_exact(&mut got).unwrap();
        let sent: Vec<u8> = (0..50u8).flat_map(|i| [i; 3]).collect();
        assert_eq!(got, sent);
        far.write_all(b"answer").unwrap();
        far.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        near.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"answer");
    }
}
