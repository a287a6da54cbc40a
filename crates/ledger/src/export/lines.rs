//! Decoding `entries.jsonl` on worker threads: the reader cuts the file into batches of
//! lines, workers check each line is a canonical entry and hash it, and the caller gets
//! the results one line at a time, in order. Decoding (JSON parsing and re-encoding to
//! check the canonical form) and the leaf hashes are most of the cost of verifying an
//! export, and they are independent per line; the Merkle tree and every check on the
//! sequence stay with the caller, in line order.

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Mutex, PoisonError};

use crate::{merkle, Book, Entry, LedgerError};

use super::ExportError;

/// Lines per batch.
const BATCH_LINES: usize = 4096;
/// At most this many worker threads.
const MAX_WORKERS: usize = 8;

/// One line decoded: its seq, its book and its leaf hash; or why it is not a canonical
/// entry.
pub(super) type Decoded = Result<(u64, Book, [u8; 32]), LedgerError>;

/// How a batch of lines ends.
enum Tail {
    /// More lines follow.
    More,
    /// The end of the file, after a newline (or an empty file).
    End,
    /// The last line has no newline; it is line `line` (1-based).
    Incomplete { line: u64 },
    /// Reading failed.
    Failed(std::io::Error),
}

/// Complete lines (each without its newline), stored end to end.
struct Batch {
    data: Vec<u8>,
    ends: Vec<usize>,
}

type Job = (Batch, SyncSender<Vec<Decoded>>);

/// Reads up to [`BATCH_LINES`] lines; `before` lines were read earlier.
fn read_batch(entries: &mut impl BufRead, before: u64) -> (Batch, Tail) {
    let mut batch = Batch {
        data: Vec::with_capacity(BATCH_LINES * 400),
        ends: Vec::with_capacity(BATCH_LINES),
    };
    while batch.ends.len() < BATCH_LINES {
        let start = batch.data.len();
        match entries.read_until(b'\n', &mut batch.data) {
            Ok(0) => return (batch, Tail::End),
            Ok(_) => {}
            Err(error) => return (batch, Tail::Failed(error)),
        }
        if batch.data.last() != Some(&b'\n') {
            let complete = u64::try_from(batch.ends.len()).unwrap_or(u64::MAX);
            batch.data.truncate(start);
            return (
                batch,
                Tail::Incomplete {
                    line: before.saturating_add(complete).saturating_add(1),
                },
            );
        }
        batch.data.pop();
        batch.ends.push(batch.data.len());
    }
    (batch, Tail::More)
}

/// Decodes every line of a batch, stopping after the first that fails (the caller stops
/// there too).
fn decode(batch: &Batch) -> Vec<Decoded> {
    let mut out = Vec::with_capacity(batch.ends.len());
    let mut start = 0;
    for &end in &batch.ends {
        let line = &batch.data[start..end];
        start = end;
        let decoded = Entry::from_canonical(line).map(|e| (e.seq, e.book, merkle::leaf_hash(line)));
        let failed = decoded.is_err();
        out.push(decoded);
        if failed {
            break;
        }
    }
    out
}

fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only to take a job; a poisoned lock still holds the receiver.
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((batch, reply)) = job else { return };
        // The caller may have stopped at an earlier error and gone.
        let _ = reply.send(decode(&batch));
    }
}

/// Calls `each` with every line of `entries` decoded, in order, until it returns an error;
/// then reports a final line without newline or a read error, in its place.
pub(super) fn for_each_decoded(
    entries: &mut impl BufRead,
    mut each: impl FnMut(Decoded) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, MAX_WORKERS);
    let (job_sender, job_receiver) = sync_channel::<Job>(workers);
    let job_receiver = Mutex::new(job_receiver);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let jobs = &job_receiver;
            scope.spawn(move || work(jobs));
        }
        // Dropping the sender on return (whatever the outcome) lets the workers end,
        // and the scope waits for them.
        let jobs = job_sender;
        let mut in_flight: VecDeque<(Receiver<Vec<Decoded>>, Tail)> = VecDeque::new();
        let mut read = 0u64;
        let mut reading = true;
        loop {
            while reading && in_flight.len() <= 2 * workers {
                let (batch, tail) = read_batch(entries, read);
                read = read.saturating_add(u64::try_from(batch.ends.len()).unwrap_or(u64::MAX));
                reading = matches!(tail, Tail::More);
                let (reply, answer) = sync_channel(1);
                jobs.send((batch, reply)).map_err(|_| worker_stopped())?;
                in_flight.push_back((answer, tail));
            }
            let Some((answer, tail)) = in_flight.pop_front() else {
                return Ok(());
            };
            for decoded in answer.recv().map_err(|_| worker_stopped())? {
                each(decoded)?;
            }
            match tail {
                Tail::More | Tail::End => {}
                Tail::Incomplete { line } => return Err(ExportError::IncompleteLine { line }),
                Tail::Failed(source) => return Err(ExportError::ReadEntries { source }),
            }
        }
    })
}

/// A worker thread ended without answering (it panicked; the scope re-raises the panic).
fn worker_stopped() -> ExportError {
    ExportError::ReadEntries {
        source: std::io::Error::other("a verification worker stopped"),
    }
}
