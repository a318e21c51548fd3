//! [`Store`]: one [`Binding`], and which components to re-render when each
//! of its values changes.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use ui_flow::client::{Binding, FlowOptions, Latest, Part};
use ui_flow::{FlowSocket, Model};
use yew::functional::UseForceUpdateHandle;

/// One kind of value a component can read; a bit in [`Listener::reads`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Concern {
    State = 1,
    Status = 2,
    Latency = 4,
    Ops = 8,
    Presence = 16,
    Notifications = 32,
    Epoch = 64,
    Resource = 128,
}

impl Concern {
    fn of(part: Part) -> Option<Concern> {
        Some(match part {
            Part::State => Concern::State,
            Part::Status => Concern::Status,
            Part::Latency => Concern::Latency,
            Part::Ops => Concern::Ops,
            Part::Presence => Concern::Presence,
            Part::Notifications => Concern::Notifications,
            Part::Epoch => Concern::Epoch,
            Part::Resource => Concern::Resource,
            _ => return None,
        })
    }
}

/// A component using the store: what it read in its last render, and how
/// to re-render it.
pub(crate) struct Listener {
    reads: Cell<u8>,
    rerender: UseForceUpdateHandle,
}

impl Listener {
    pub(crate) fn new(rerender: UseForceUpdateHandle) -> Self {
        Listener {
            reads: Cell::new(0),
            rerender,
        }
    }

    /// Forgets what the previous render read; called as a render starts.
    pub(crate) fn rendering(&self) {
        self.reads.set(0);
    }

    pub(crate) fn read(&self, concern: Concern) {
        self.reads.set(self.reads.get() | concern as u8);
    }
}

/// One connection shared by the components that use it.
pub(crate) struct Store<M: Model> {
    pub(crate) binding: Binding<M>,
    listeners: RefCell<Vec<Weak<Listener>>>,
}

impl<M: Model> Store<M> {
    /// Connects to `url`. The binding's listener holds the store weakly, so
    /// dropping the last `Rc` drops the binding, which closes it.
    pub(crate) fn open(url: &str, options: &FlowOptions) -> Rc<Self> {
        Self::new(|on_change| Binding::connect(url, options, on_change))
    }

    /// Joins `resource` on `socket` (a channel of a shared connection);
    /// dropping the last `Rc` leaves it.
    pub(crate) fn join(socket: &FlowSocket, resource: &str, options: &FlowOptions) -> Rc<Self> {
        Self::new(|on_change| Binding::join(socket, resource, options, on_change))
    }

    /// A store around the binding `make` builds with the change listener it
    /// is given, which holds the store weakly.
    fn new(
        make: impl FnOnce(Box<dyn FnMut(Part, &Latest<M::State, M::Event>)>) -> Binding<M>,
    ) -> Rc<Self> {
        Rc::new_cyclic(|me: &Weak<Self>| {
            let me = me.clone();
            let binding = make(Box::new(move |part, _| {
                if let (Some(store), Some(concern)) = (me.upgrade(), Concern::of(part)) {
                    store.changed(concern);
                }
            }));
            Store {
                binding,
                listeners: RefCell::new(Vec::new()),
            }
        })
    }

    pub(crate) fn listen(&self, listener: &Rc<Listener>) {
        self.listeners.borrow_mut().push(Rc::downgrade(listener));
    }

    /// Re-renders every live component that read `concern` last time.
    fn changed(&self, concern: Concern) {
        let due: Vec<Rc<Listener>> = {
            let mut listeners = self.listeners.borrow_mut();
            listeners.retain(|l| l.strong_count() > 0);
            listeners
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|l| l.reads.get() & concern as u8 != 0)
                .collect()
        };
        for listener in due {
            listener.rerender.force_update();
        }
    }
}
