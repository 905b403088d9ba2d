//! [`Link`]: one multiplexed TCP connection to one node, with the replies read by
//! [`super::decode`]. A writer task sends requests in order and queues what each one waits for; a
//! reader task reads replies and hands them out in the same order.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::{ErrorKind, RedisError, RedisResult, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use super::decode;
use crate::resp::{FrameScan, Stop};

/// Requests smaller than this are copied into one buffer and written together; larger ones
/// (pipelines of big messages) are written from their own buffer.
const COALESCE: usize = 64 * 1024;
/// The read buffer grows by at least this much.
const READ_CHUNK: usize = 64 * 1024;

/// A clonable handle on one connection; the connection closes when the last clone is dropped.
#[derive(Clone)]
pub struct Link {
    requests: mpsc::UnboundedSender<Request>,
    db: i64,
}

struct Request {
    bytes: Vec<u8>,
    waiter: Waiter,
}

/// What one request waits for: `skip` replies to drop, then one reply (`count: None`) or an
/// array of `count` replies. `raw`: a stream reply is wanted as its bytes
/// ([`decode::decode_entries`]).
struct Waiter {
    skip: usize,
    count: Option<usize>,
    raw: bool,
    got: Vec<Value>,
    reply: oneshot::Sender<RedisResult<Value>>,
}

impl Waiter {
    /// Whether the waiter has all it waits for: a pipeline's replies, once those to skip are gone.
    fn complete(&self) -> bool {
        self.skip == 0 && self.count.is_some_and(|n| self.got.len() >= n)
    }
}

/// The waiters, in the order their requests were written, and whether the connection is gone.
#[derive(Default)]
struct Queue {
    waiters: VecDeque<Waiter>,
    closed: bool,
}

type Shared = Arc<Mutex<Queue>>;

fn lock(q: &Shared) -> std::sync::MutexGuard<'_, Queue> {
    q.lock().unwrap_or_else(|e| e.into_inner())
}

/// The error a request gets when the connection is gone: the one redis-rs gives, which its
/// cluster layer answers by reconnecting.
pub fn closed() -> RedisError {
    RedisError::from(io::Error::from(io::ErrorKind::BrokenPipe))
}

impl Link {
    /// Connects, authenticates (AUTH [user] password, SELECT db when not 0) and starts the
    /// connection's two tasks.
    pub async fn connect(
        host: &str,
        port: u16,
        settings: &redis::RedisConnectionInfo,
        nodelay: bool,
        timeout: Duration,
    ) -> RedisResult<Link> {
        let mut stream = within(timeout, async {
            Ok(TcpStream::connect((host, port)).await?)
        })
        .await?;
        stream.set_nodelay(nodelay)?;
        within(timeout, handshake(&mut stream, settings)).await?;
        let (rd, wr) = stream.into_split();
        let queue = Shared::default();
        let reader = tokio::spawn(read_replies(rd, queue.clone())).abort_handle();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_requests(wr, rx, queue, reader));
        Ok(Link {
            requests: tx,
            db: settings.db(),
        })
    }

    /// Sends `bytes` and waits for the reply (`count: None`) or for `count` replies after
    /// skipping `skip`, as an array. `raw`: the reply, if a non-empty array, comes as its bytes.
    pub async fn request(
        &self,
        bytes: Vec<u8>,
        skip: usize,
        count: Option<usize>,
        raw: bool,
    ) -> RedisResult<Value> {
        let (tx, rx) = oneshot::channel();
        let waiter = Waiter {
            skip,
            count,
            raw,
            got: Vec::with_capacity(count.unwrap_or(0)),
            reply: tx,
        };
        if waiter.complete() {
            // Nothing to wait for (a pipeline with no commands): nothing to send either, as no
            // waiter would own the replies of what was sent.
            return Ok(Value::Array(Vec::new()));
        }
        self.requests
            .send(Request { bytes, waiter })
            .map_err(|_| closed())?;
        rx.await.unwrap_or_else(|_| Err(closed()))
    }

    pub fn db(&self) -> i64 {
        self.db
    }
}

/// `step`, or a timed-out I/O error (as redis-rs gives it) if it takes longer than `timeout`.
async fn within<T>(
    timeout: Duration,
    step: impl std::future::Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    tokio::time::timeout(timeout, step)
        .await
        .unwrap_or_else(|_| Err(io::Error::from(io::ErrorKind::TimedOut).into()))
}

/// AUTH and SELECT on the bare stream, before it is shared; replies read with [`decode::decode`].
async fn handshake(
    stream: &mut TcpStream,
    settings: &redis::RedisConnectionInfo,
) -> RedisResult<()> {
    let mut pipe = redis::pipe();
    let mut auth = None;
    if let Some(password) = settings.password() {
        let cmd = pipe.cmd("AUTH");
        if let Some(user) = settings.username() {
            cmd.arg(user);
        }
        cmd.arg(password);
        auth = Some(0);
    }
    if settings.db() != 0 {
        pipe.cmd("SELECT").arg(settings.db());
    }
    if pipe.is_empty() {
        return Ok(());
    }
    stream.write_all(&pipe.get_packed_pipeline()).await?;
    let (mut buf, mut scan) = (Vec::with_capacity(256), FrameScan::default());
    for i in 0..pipe.len() {
        let reply = loop {
            if let Some(len) = scan.scan(&buf).map_err(malformed)? {
                let reply = decode::decode(&buf[..len]).map_err(malformed)?;
                buf.drain(..len);
                break reply;
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(closed());
            }
        };
        if let Value::ServerError(e) = reply {
            return Err(if auth == Some(i) {
                // As redis-rs says it, so that callers recognise a wrong password the same way.
                RedisError::from((
                    ErrorKind::AuthenticationFailed,
                    "Password authentication failed",
                ))
            } else {
                e.into()
            });
        }
    }
    Ok(())
}

/// A reply that is not RESP2 as redis-rs's parse error, which its cluster layer answers by
/// reconnecting.
fn malformed(stop: Stop) -> RedisError {
    let why = match stop {
        Stop::Malformed(why) => why,
        Stop::Need(_) => "reply shorter than it says",
    };
    RedisError::from((ErrorKind::Parse, "malformed reply", why.to_string()))
}

/// Writes requests in order, each after queueing its waiter; small ones waiting together go out
/// in one write. Ends when every handle is dropped or the connection fails, and then stops the
/// reader; whoever still waits hears why.
async fn write_requests(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Request>,
    queue: Shared,
    reader: AbortHandle,
) {
    let error = match write_all_requests(&mut wr, &mut rx, &queue).await {
        Ok(()) => closed(),
        Err(e) => e,
    };
    reader.abort();
    fail_all(&queue, error);
}

/// The writer's loop: until every handle is dropped (`Ok`) or a write fails or the reader
/// found the connection closed (`Err`).
async fn write_all_requests(
    wr: &mut OwnedWriteHalf,
    rx: &mut mpsc::UnboundedReceiver<Request>,
    queue: &Shared,
) -> RedisResult<()> {
    let mut out: Vec<u8> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(req) = next.take() {
            if let Err(waiter) = enqueue(queue, req.waiter) {
                let _ = waiter.reply.send(Err(closed()));
                return Err(closed());
            }
            if req.bytes.len() >= COALESCE {
                flush(wr, &mut out).await?;
                wr.write_all(&req.bytes).await?;
            } else {
                out.extend_from_slice(&req.bytes);
            }
            next = rx.try_recv().ok();
            if next.is_none() || out.len() >= COALESCE {
                flush(wr, &mut out).await?;
            }
        }
    }
    Ok(())
}

/// Queues a waiter, or gives it back if the connection is already closed.
fn enqueue(queue: &Shared, waiter: Waiter) -> Result<(), Waiter> {
    let mut q = lock(queue);
    if q.closed {
        return Err(waiter);
    }
    q.waiters.push_back(waiter);
    Ok(())
}

async fn flush(wr: &mut OwnedWriteHalf, out: &mut Vec<u8>) -> RedisResult<()> {
    if !out.is_empty() {
        wr.write_all(out).await?;
        out.clear();
    }
    Ok(())
}

/// Reads replies and hands each to the oldest waiter. On end of stream or an error, every
/// waiter gets the error and the connection counts as closed.
async fn read_replies(mut rd: OwnedReadHalf, queue: Shared) {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut start = 0; // where the next reply begins in `buf`
    let mut scan = FrameScan::default(); // how far into that reply we have looked
    let error = loop {
        buf.reserve(READ_CHUNK);
        match rd.read_buf(&mut buf).await {
            Ok(0) => break closed(),
            Ok(_) => {}
            Err(e) => break e.into(),
        }
        if let Err(e) = deliver_whole(&queue, &buf, &mut start, &mut scan) {
            break e;
        }
        // Keep the unread part; move it to the front only when that copies less than was read.
        if start == buf.len() {
            buf.clear();
            start = 0;
        } else if start > buf.len() / 2 {
            buf.drain(..start);
            start = 0;
        }
    };
    fail_all(&queue, error);
}

/// Hands out every whole reply in `buf` from `start` on, moving `start` past them.
fn deliver_whole(
    queue: &Shared,
    buf: &[u8],
    start: &mut usize,
    scan: &mut FrameScan,
) -> RedisResult<()> {
    while *start < buf.len() {
        let rest = &buf[*start..];
        let Some(len) = scan.scan(rest).map_err(malformed)? else {
            return Ok(());
        };
        let raw = lock(queue)
            .waiters
            .front()
            .is_some_and(|w| w.raw && w.skip == 0);
        let frame = &rest[..len];
        let reply = if raw {
            decode::decode_entries(frame)
        } else {
            decode::decode(frame)
        };
        deliver(queue, reply.map_err(malformed)?);
        *start += len;
    }
    Ok(())
}

/// Gives `v` to the oldest waiter: dropped if it is one to skip, kept until a pipeline's
/// replies are all there (a pipeline of none is answered once the skipped are gone). A reply
/// nobody waits for (its request was cancelled) is dropped.
fn deliver(queue: &Shared, v: Value) {
    let mut q = lock(queue);
    let Some(w) = q.waiters.front_mut() else {
        return;
    };
    let reply = if w.skip > 0 {
        w.skip -= 1;
        None
    } else if w.count.is_none() {
        Some(v)
    } else {
        w.got.push(v);
        None
    };
    let reply = match reply {
        Some(v) => v,
        None if w.complete() => Value::Array(std::mem::take(&mut w.got)),
        None => return,
    };
    let w = q.waiters.pop_front().expect("front exists");
    drop(q);
    let _ = w.reply.send(Ok(reply));
}

/// Marks the connection closed and gives `error` to every waiter.
fn fail_all(queue: &Shared, error: RedisError) {
    let waiters = {
        let mut q = lock(queue);
        q.closed = true;
        std::mem::take(&mut q.waiters)
    };
    for w in waiters {
        let _ = w.reply.send(Err(error.clone()));
    }
}
