//! The unbounded queues between a driver's loop and what reports to it:
//! handles and page listeners send the loop its inputs, the loop sends each
//! socket what the client wrote for it.
//!
//! Natively these are `futures-channel`'s `mpsc` queues: handles live on
//! any thread and the native driver reads them as streams. In the browser
//! everything runs on the page's one thread and the loop only needs "take
//! the next item, or wait until there is one", so a queue here is a
//! `VecDeque` behind an `Rc` with the waiting loop's `Waker` beside it: a
//! fraction of the code of a lock-free queue, which the browser client pays
//! for in its download. Both sides have the same names and the same
//! meaning: a send fails once the receiver is gone, and the receiver is
//! told the queue is closed once every sender is gone and it is empty.
//!
//! This is not a general channel: it is not `Send`, has no bound and wakes
//! one waiting receiver.

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};

#[cfg(target_arch = "wasm32")]
pub(crate) use local::{TryRecvError, UnboundedReceiver, UnboundedSender, unbounded};

// Compiled natively too, to be tested there.
#[cfg(any(target_arch = "wasm32", test))]
mod local {
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::future::{Future, poll_fn};
    use std::rc::Rc;
    use std::task::{Poll, Waker};

    struct Inner<T> {
        items: VecDeque<T>,
        senders: usize,
        receiving: bool,
        /// The receiver waiting for an item, woken by the next send or by
        /// the last sender's drop.
        waiting: Option<Waker>,
    }

    /// Sends items to the queue's receiver.
    pub(crate) struct UnboundedSender<T>(Rc<RefCell<Inner<T>>>);

    /// Takes the queue's items in the order they were sent.
    pub(crate) struct UnboundedReceiver<T>(Rc<RefCell<Inner<T>>>);

    /// Why [`UnboundedReceiver::try_recv`] returned no item.
    #[derive(Debug)]
    pub(crate) enum TryRecvError {
        /// Nothing queued now; a sender may still send.
        Empty,
        /// Nothing queued and every sender is gone.
        Closed,
    }

    /// The queue is empty and every sender is gone.
    #[derive(Debug)]
    pub(crate) struct RecvError;

    pub(crate) fn unbounded<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
        let inner = Rc::new(RefCell::new(Inner {
            items: VecDeque::new(),
            senders: 1,
            receiving: true,
            waiting: None,
        }));
        (UnboundedSender(Rc::clone(&inner)), UnboundedReceiver(inner))
    }

    impl<T> UnboundedSender<T> {
        /// Queues `item`, or hands it back if the receiver is gone.
        pub(crate) fn unbounded_send(&self, item: T) -> Result<(), T> {
            let waiting = {
                let mut inner = self.0.borrow_mut();
                if !inner.receiving {
                    return Err(item);
                }
                inner.items.push_back(item);
                inner.waiting.take()
            };
            // Woken outside the borrow: a waker may run code that sends.
            if let Some(waker) = waiting {
                waker.wake();
            }
            Ok(())
        }
    }

    impl<T> Clone for UnboundedSender<T> {
        fn clone(&self) -> Self {
            self.0.borrow_mut().senders += 1;
            UnboundedSender(Rc::clone(&self.0))
        }
    }

    impl<T> Drop for UnboundedSender<T> {
        fn drop(&mut self) {
            let waiting = {
                let mut inner = self.0.borrow_mut();
                inner.senders -= 1;
                if inner.senders > 0 {
                    return;
                }
                inner.waiting.take()
            };
            if let Some(waker) = waiting {
                waker.wake();
            }
        }
    }

    impl<T> UnboundedReceiver<T> {
        /// The next item if one is queued.
        pub(crate) fn try_recv(&mut self) -> Result<T, TryRecvError> {
            let mut inner = self.0.borrow_mut();
            match inner.items.pop_front() {
                Some(item) => Ok(item),
                None if inner.senders == 0 => Err(TryRecvError::Closed),
                None => Err(TryRecvError::Empty),
            }
        }

        /// The next item, once there is one; an error once the queue is
        /// empty and every sender is gone.
        pub(crate) fn recv(&mut self) -> impl Future<Output = Result<T, RecvError>> + '_ {
            poll_fn(|cx| match self.try_recv() {
                Ok(item) => Poll::Ready(Ok(item)),
                Err(TryRecvError::Closed) => Poll::Ready(Err(RecvError)),
                Err(TryRecvError::Empty) => {
                    self.0.borrow_mut().waiting = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
        }
    }

    impl<T> Drop for UnboundedReceiver<T> {
        fn drop(&mut self) {
            let items = {
                let mut inner = self.0.borrow_mut();
                inner.receiving = false;
                inner.waiting = None;
                std::mem::take(&mut inner.items)
            };
            // Dropped outside the borrow, as an item's drop may send.
            drop(items);
        }
    }

    #[cfg(test)]
    mod tests {
        use std::pin::pin;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::task::{Context, Wake};

        use super::*;

        /// Counts its wakes.
        #[derive(Default)]
        struct Count(AtomicUsize);

        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }

        #[test]
        fn items_come_out_in_order_from_every_sender() {
            let (first, mut receiver) = unbounded();
            let second = first.clone();
            first.unbounded_send(1).expect("receiver is there");
            second.unbounded_send(2).expect("receiver is there");
            first.unbounded_send(3).expect("receiver is there");
            assert_eq!(receiver.try_recv().ok(), Some(1));
            assert_eq!(receiver.try_recv().ok(), Some(2));
            assert_eq!(receiver.try_recv().ok(), Some(3));
            assert!(matches!(receiver.try_recv(), Err(TryRecvError::Empty)));
        }

        #[test]
        fn a_waiting_receiver_is_woken_by_a_send_and_then_gets_the_item() {
            let (sender, mut receiver) = unbounded();
            let count = Arc::new(Count::default());
            let waker = Waker::from(Arc::clone(&count));
            let mut cx = Context::from_waker(&waker);
            let mut next = pin!(receiver.recv());
            assert!(next.as_mut().poll(&mut cx).is_pending());
            assert_eq!(count.0.load(Ordering::SeqCst), 0);
            sender.unbounded_send("frame").expect("receiver is there");
            assert_eq!(count.0.load(Ordering::SeqCst), 1);
            assert!(matches!(
                next.as_mut().poll(&mut cx),
                Poll::Ready(Ok("frame"))
            ));
        }

        #[test]
        fn the_queue_closes_when_the_last_sender_goes_after_its_items_are_taken() {
            let (sender, mut receiver) = unbounded();
            let other = sender.clone();
            sender.unbounded_send(7).expect("receiver is there");
            drop(sender);
            assert!(matches!(receiver.try_recv(), Ok(7)));
            assert!(matches!(receiver.try_recv(), Err(TryRecvError::Empty)));
            let count = Arc::new(Count::default());
            let waker = Waker::from(Arc::clone(&count));
            let mut cx = Context::from_waker(&waker);
            let mut next = pin!(receiver.recv());
            assert!(next.as_mut().poll(&mut cx).is_pending());
            drop(other);
            assert_eq!(count.0.load(Ordering::SeqCst), 1);
            assert!(matches!(
                next.as_mut().poll(&mut cx),
                Poll::Ready(Err(RecvError))
            ));
        }

        #[test]
        fn a_send_fails_once_the_receiver_is_gone_and_queued_items_are_dropped() {
            let (sender, receiver) = unbounded();
            let item = Arc::new(());
            sender
                .unbounded_send(Arc::clone(&item))
                .expect("receiver is there");
            drop(receiver);
            assert_eq!(Arc::strong_count(&item), 1, "the queued item was dropped");
            assert!(sender.unbounded_send(Arc::clone(&item)).is_err());
        }
    }
}
