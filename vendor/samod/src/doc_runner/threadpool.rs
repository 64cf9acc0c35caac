use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use crate::{actor_task::ActorTask, doc_actor_inner::DocActorInner};

/// PATCHED (rapport): called when a document's task panics on a shared
/// pool (`ConcurrencyConfig::SharedThreadpool`).
pub(crate) type OnPanic = Arc<dyn Fn() + Send + Sync>;

/// PATCHED (rapport): a rayon pool that several repos share
/// (`ConcurrencyConfig::SharedThreadpool`), with one FIFO of the documents
/// waiting to run. A document that used up its batch is queued behind every
/// document already waiting, whatever repo they belong to: rescheduling it
/// on rayon itself would put it on its worker's local queue, which rayon
/// serves before jobs queued from outside the pool, so one busy document
/// could starve every other repo's.
pub struct SharedPool {
    pool: rayon::ThreadPool,
    ready: Mutex<VecDeque<Arc<ThreadpoolActor>>>,
}

impl SharedPool {
    pub fn new(pool: rayon::ThreadPool) -> Self {
        Self {
            pool,
            ready: Mutex::new(VecDeque::new()),
        }
    }

    fn ready(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<ThreadpoolActor>>> {
        self.ready.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where a repo's documents run.
#[derive(Clone)]
pub(crate) enum Runner {
    /// The repo's own pool (upstream).
    Own(Arc<rayon::ThreadPool>),
    /// PATCHED (rapport): a pool shared with other repos.
    Shared {
        pool: Arc<SharedPool>,
        on_panic: OnPanic,
    },
}

/// A document's FIFO mailbox, shared by hub/IO dispatch and DocHandle operations.
/// Only one runner drains it, so Rayon scheduling cannot reorder actor tasks.
/// Idle documents do not occupy a worker thread.
pub(crate) struct ThreadpoolActor {
    inner: Arc<Mutex<DocActorInner>>,
    runner: Runner, // PATCHED (rapport): was the pool
    mailbox: Mutex<Mailbox>,
}

#[derive(Default)]
struct Mailbox {
    tasks: VecDeque<ActorTask>,
    running: bool,
}

impl ThreadpoolActor {
    pub(crate) fn new(inner: Arc<Mutex<DocActorInner>>, runner: Runner) -> Arc<Self> {
        Arc::new(Self {
            inner,
            runner,
            mailbox: Mutex::new(Mailbox::default()),
        })
    }

    pub(crate) fn dispatch(self: &Arc<Self>, task: ActorTask) {
        let mut mailbox = self.mailbox.lock().unwrap();
        mailbox.tasks.push_back(task);
        if mailbox.running {
            return;
        }
        mailbox.running = true;
        drop(mailbox);
        self.schedule();
    }

    fn schedule(self: &Arc<Self>) {
        match &self.runner {
            Runner::Own(pool) => {
                let actor = self.clone();
                pool.spawn_fifo(move || actor.run());
            }
            // PATCHED (rapport): one job per queued document; each job runs
            // whichever document has waited longest (see `SharedPool`).
            Runner::Shared { pool, .. } => {
                pool.ready().push_back(self.clone());
                let shared = pool.clone();
                pool.pool.spawn(move || {
                    let next = shared.ready().pop_front();
                    if let Some(actor) = next {
                        actor.run();
                    }
                });
            }
        }
    }

    fn run(self: Arc<Self>) {
        // Yield between batches so a busy document does not monopolize the pool.
        // spawn_fifo also avoids putting this actor ahead of other queued actors
        // when rescheduling from within a Rayon worker.
        // PATCHED (rapport): it does not: rayon serves a worker's own queue
        // before jobs queued from outside the pool. On a shared pool,
        // `schedule` queues the actor behind the others (`SharedPool`).
        const BATCH_SIZE: usize = 64;
        for _ in 0..BATCH_SIZE {
            let task = {
                let mut mailbox = self.mailbox.lock().unwrap();
                let Some(task) = mailbox.tasks.pop_front() else {
                    // Empty detection and relinquishing the runner must be atomic
                    // with dispatch, otherwise an arriving task could be stranded.
                    mailbox.running = false;
                    return;
                };
                task
            };
            // Never hold the mailbox lock while executing user code or waiting
            // for synchronous DocHandle access to release the document lock.
            // PATCHED (rapport): on a shared pool a panic is reported to
            // this repo and the mailbox stays marked running, so nothing
            // runs this document again (upstream: the panic reaches rayon's
            // handler, with the same effect on the mailbox).
            let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.inner.lock().unwrap().handle_task(task)
            }));
            if let Err(payload) = handled {
                match &self.runner {
                    Runner::Shared { on_panic, .. } => {
                        // Its own panic must not escape to the shared pool.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                            || on_panic(),
                        ));
                        return;
                    }
                    Runner::Own(_) => std::panic::resume_unwind(payload),
                }
            }
        }
        self.schedule();
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use std::{sync::mpsc, time::Duration};

    use automerge::Automerge;
    use futures::{
        FutureExt, StreamExt,
        channel::{mpsc as async_mpsc, oneshot},
    };

    use super::*;
    use crate::{ConcurrencyConfig, Repo, doc_runner::DocRunner};

    async fn repo(threads: usize) -> Repo {
        Repo::build_tokio()
            .with_concurrency(ConcurrencyConfig::Threadpool(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap(),
            ))
            .load()
            .await
    }

    #[tokio::test]
    async fn hub_and_handle_tasks_share_fifo_order_even_when_submitted_from_a_worker() {
        tokio::time::timeout(Duration::from_secs(5), async {
            let repo = repo(1).await;
            let doc = repo.create(Automerge::new()).await.unwrap();
            let (pool, actor_id) = {
                let inner = repo.inner.lock().unwrap();
                let DocRunner::Threadpool(super::Runner::Own(pool)) = &inner.doc_runner
                else {
                    unreachable!()
                };
                (pool.clone(), *inner.actors.keys().next().unwrap())
            };
            // Repeat to exercise both active and idle mailbox dispatch. More than
            // one batch also checks ordering across rescheduling boundaries.
            for _ in 0..3 {
                let (tx, mut rx) = async_mpsc::unbounded();
                let inner = repo.inner.clone();
                let doc = doc.clone();
                pool.spawn(move || {
                    for index in 0..200 {
                        let tx = tx.clone();
                        if index % 2 == 0 {
                            // Poll once to submit the DocHandle task without waiting
                            // for the only worker (this one) to execute it.
                            assert!(
                                doc.with_document_async(move |_| {
                                    tx.unbounded_send(index).unwrap();
                                })
                                .now_or_never()
                                .is_none()
                            );
                        } else {
                            inner.lock().unwrap().dispatch_task(
                                actor_id,
                                ActorTask::WithDocument(Box::new(move |_| {
                                    tx.unbounded_send(index).unwrap();
                                })),
                            );
                        }
                    }
                });
                let mut actual = Vec::new();
                while let Some(index) = rx.next().await {
                    actual.push(index);
                }
                assert_eq!(actual, (0..200).collect::<Vec<_>>());
            }
            repo.stop().await;
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn queued_tasks_for_a_busy_actor_do_not_occupy_other_workers() {
        tokio::time::timeout(Duration::from_secs(5), async {
            let repo = repo(2).await;
            let busy = repo.create(Automerge::new()).await.unwrap();
            let other = repo.create(Automerge::new()).await.unwrap();
            let (started, ready) = oneshot::channel();
            let (release, wait) = mpsc::channel();
            let mut blocked = Box::pin(busy.with_document_async(move |_| {
                let _ = started.send(());
                // Bound failures even if the async test times out.
                let _ = wait.recv_timeout(Duration::from_secs(5));
            }));
            assert!(futures::poll!(&mut blocked).is_pending());
            ready.await.unwrap();
            let mut queued = Vec::new();
            for _ in 0..100 {
                let mut task = Box::pin(busy.with_document_async(|_| ()));
                assert!(futures::poll!(&mut task).is_pending());
                queued.push(task);
            }
            other.with_document_async(|_| ()).await.unwrap();
            release.send(()).unwrap();
            blocked.await.unwrap();
            for task in queued {
                task.await.unwrap();
            }
            repo.stop().await;
        })
        .await
        .unwrap();
    }
}
