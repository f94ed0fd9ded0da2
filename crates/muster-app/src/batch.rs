//! Writes that many tasks make at once, committed together: one transaction
//! (and on SQLite one fsync) for whatever queued up meanwhile, instead of
//! one each.
//!
//! A [`Batcher`] is one task with a queue. Each caller sends its item and
//! waits for its own result, which comes only after the transaction that
//! wrote it committed, so a caller sees exactly what it would have seen
//! writing alone. With one item in flight it is written at once; under load
//! the items that queued up during a commit share the next one. If a batch
//! fails, its items are written again one by one, so one bad item fails only
//! itself. The engine uses two: recording deliveries, and moving pages.
//!
//! A batcher writes up to `lanes` batches at once. On SQLite one (there is
//! one writer); on PostgreSQL a batch of many statements spends most of its
//! time in round trips, so while one waits the next is written
//! ([`lanes_for`]). Writes of two lanes may then interleave: the store
//! takes a batch's row locks in one order for that.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use muster_store::StoreError;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// The most items one transaction writes.
pub const MAX_BATCH: usize = 256;

/// Batches a batcher writes at once on PostgreSQL. Each holds one
/// connection of the pool while it writes (see `muster_store::postgres`).
pub const POSTGRES_LANES: usize = 2;

/// Batches written at once on `backend`.
pub fn lanes_for(backend: &str) -> usize {
    if backend == "postgres" { POSTGRES_LANES } else { 1 }
}

type Reply<O> = oneshot::Sender<Result<O, StoreError>>;
type Write<I, O> =
    Arc<dyn Fn(Vec<I>) -> Pin<Box<dyn Future<Output = Result<Vec<O>, StoreError>> + Send>> + Send + Sync>;

pub struct Batcher<I, O> {
    queue: mpsc::Sender<(I, Reply<O>)>,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        Batcher { queue: self.queue.clone() }
    }
}

impl<I: Clone + Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the task on the current runtime; `write` writes a batch in one
    /// transaction and returns one result per item, in order; up to `lanes`
    /// batches are written at once. `what` names it in logs.
    pub fn spawn(what: &'static str, lanes: usize, write: Write<I, O>) -> Batcher<I, O> {
        let (queue, mut rx) = mpsc::channel::<(I, Reply<O>)>(4 * MAX_BATCH);
        let lanes = Arc::new(Semaphore::new(lanes.max(1)));
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            loop {
                // A lane first, then what queued up meanwhile: the batch
                // taken is as large as the wait for the lane made it.
                let Ok(lane) = lanes.clone().acquire_owned().await else { return };
                if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
                    return;
                }
                let (items, replies): (Vec<I>, Vec<Reply<O>>) = batch.drain(..).unzip();
                let write = write.clone();
                tokio::spawn(async move {
                    write_batch(what, &write, items, replies).await;
                    drop(lane);
                });
            }
        });
        Batcher { queue }
    }

    /// Writes `item` in the next batch; its result once that committed.
    pub async fn write(&self, item: I) -> Result<O, StoreError> {
        let (tx, rx) = oneshot::channel();
        if self.queue.send((item, tx)).await.is_err() {
            return Err(StoreError::Corrupt("the batch writer has stopped".into()));
        }
        rx.await.unwrap_or_else(|_| Err(StoreError::Corrupt("the batch writer dropped a write".into())))
    }
}

/// Writes one batch and answers each of its callers.
async fn write_batch<I: Clone, O>(what: &'static str, write: &Write<I, O>, items: Vec<I>, replies: Vec<Reply<O>>) {
    let n = items.len();
    match write(items.clone()).await {
        Ok(out) if out.len() == n => {
            for (reply, o) in replies.into_iter().zip(out) {
                let _ = reply.send(Ok(o));
            }
        }
        Ok(out) => {
            for reply in replies {
                let e = StoreError::Corrupt(format!("{what}: {} results for {n} items", out.len()));
                let _ = reply.send(Err(e));
            }
        }
        Err(e) if n > 1 => {
            tracing::warn!(error = %e, items = n, "{what}: a batch failed; writing its items one by one");
            for (item, reply) in items.into_iter().zip(replies) {
                let result = write(vec![item])
                    .await
                    .and_then(|mut out| out.pop().ok_or_else(|| StoreError::Corrupt(format!("{what}: no result"))));
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            // One item: its own error, as writing alone.
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(e));
            }
        }
    }
}
