//! What the driver, the connection and its handles share, and the lock
//! around it: [`Lock`], taken with [`lock`].
//!
//! Natively a `std::sync::Mutex`: handles may be used from any thread. In
//! the browser a `RefCell`: wasm32-unknown-unknown runs the client, its
//! driver and every handle on the page's one thread (no threads, no shared
//! memory), so the lock is never contended, only re-entered, which a
//! `RefCell` refuses with a panic as std's mutex does there ("cannot
//! recursively acquire mutex"). It saves the mutex's poison handling and
//! its `lock` per held type, about 0.5 KB of wasm. What these locks hold in
//! the browser is not `Send` anyway (`Host` and `Listener` are only
//! `MaybeSend`), so no public type loses `Send` or `Sync` by it.
//!
//! Not for the adapters' bindings (`binding`), whose values may be shared
//! with a framework that asks for `Sync`: those stay `Mutex`es.

use std::sync::Arc;

#[cfg(target_arch = "wasm32")]
pub(crate) use std::cell::{RefCell as Lock, RefMut as Guard};
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use std::sync::{Mutex as Lock, MutexGuard as Guard};

/// `value` behind a [`Lock`], to be shared.
// In the browser the `Arc` holds a `RefCell`, which is not `Sync`: as the
// module says, nothing there crosses a thread.
#[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
pub(crate) fn shared<T>(value: T) -> Arc<Lock<T>> {
    Arc::new(Lock::new(value))
}

/// Takes the lock. Natively a poisoned lock is taken all the same: a
/// panicking callback does not run under it.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn lock<T: ?Sized>(lock: &Lock<T>) -> Guard<'_, T> {
    lock.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes the lock.
#[cfg(target_arch = "wasm32")]
pub(crate) fn lock<T: ?Sized>(lock: &Lock<T>) -> Guard<'_, T> {
    lock.borrow_mut()
}

/// Takes a `std::sync::Mutex` (the bindings' own), poisoned or not.
pub(crate) fn lock_mutex<T: ?Sized>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
