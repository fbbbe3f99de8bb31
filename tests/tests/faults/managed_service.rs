//! Fault injection on an async `#[managed(concurrent)]` service struct: four async closers in
//! three waves and a sync one. Every closer in turn fails or panics (after releasing), and the
//! `aclose` future is cut (dropped) after every number of polls, that is at every await point;
//! the value is dropped with it. Every resource is released exactly once or reported as not run
//! exactly once, none is left alive, and every injected fault comes out exactly once (returned,
//! reported, or as the panic).

use std::cell::Cell;
use std::pin::pin;
use std::rc::Rc;

use crate::support::{beside_others, faults, observe, quiet_injected_panics, Injector};
use exitstack::managed;
use exitstack_tests::executor::{poll_once, yield_once};

/// A resource: counted while alive, released by an async closer that yields twice.
struct Resource {
    name: &'static str,
    inject: Rc<Injector>,
    alive: Rc<Cell<usize>>,
    released: Rc<Cell<usize>>,
}

impl Resource {
    fn new(
        name: &'static str,
        inject: &Rc<Injector>,
        alive: &Rc<Cell<usize>>,
        released: &Rc<Cell<usize>>,
    ) -> Self {
        alive.set(alive.get() + 1);
        Resource {
            name,
            inject: Rc::clone(inject),
            alive: Rc::clone(alive),
            released: Rc::clone(released),
        }
    }

    async fn shutdown(self) -> std::io::Result<()> {
        yield_once().await;
        yield_once().await;
        self.released.set(self.released.get() + 1);
        let _ = self.name;
        self.inject.release()
    }

    fn close(self) -> std::io::Result<()> {
        self.released.set(self.released.get() + 1);
        self.inject.release()
    }
}

impl Drop for Resource {
    fn drop(&mut self) {
        self.alive.set(self.alive.get() - 1);
    }
}

#[managed(concurrent)]
struct Service {
    #[managed(aclose = Resource::shutdown)]
    db: Resource,
    #[managed(aclose = Resource::shutdown, after = db)]
    cache: Resource,
    #[managed(aclose = Resource::shutdown)]
    metrics: Resource,
    #[managed(aclose = Resource::shutdown, after = [cache, metrics])]
    log: Resource,
    #[managed(close = Resource::close, after = log)]
    config: Resource,
}

const NAMES: [&str; 5] = ["db", "cache", "metrics", "log", "config"];
const ASYNC: [bool; 5] = [true, true, true, true, false];

#[test]
fn async_managed_service_under_every_fault_and_every_cut_wave_aclose() {
    let _process = beside_others();
    quiet_injected_panics();
    let (mut runs, mut cuts, mut injected) = (0, 0, 0);
    for release in faults(NAMES.len()) {
        for polls in 0.. {
            let inject = Rc::new(Injector::new(crate::support::Fault::None, release));
            let alive = Rc::new(Cell::new(0));
            let counters: Vec<Rc<Cell<usize>>> = NAMES.iter().map(|_| Rc::default()).collect();
            let make = |i: usize| Resource::new(NAMES[i], &inject, &alive, &counters[i]);
            let finished = Cell::new(false);
            let produced = observe(|| {
                let service = Service::new(make(0), make(1), make(2), make(3), make(4));
                let mut closing = pin!(service.aclose());
                for _ in 0..polls {
                    // A resumed panic ends the run too: `observe` catches it.
                    finished.set(true);
                    if let std::task::Poll::Ready(result) = poll_once(closing.as_mut()) {
                        return crate::support::errors(result);
                    }
                    finished.set(false);
                }
                Vec::new() // cut: the future (and the value in it) is dropped here
            });
            let case = format!("{release:?}, cut after {polls} polls");
            assert_eq!(alive.get(), 0, "{case}: a resource left alive");
            let fired = inject.fired.borrow().clone();
            let everything: Vec<&String> = produced.outputs.iter().chain(&produced.panic).collect();
            for fault in &fired {
                let times = everything
                    .iter()
                    .filter(|t| t.contains(fault.as_str()))
                    .count();
                assert_eq!(times, 1, "{case}: {fault:?} in {produced:?}");
            }
            for (i, name) in NAMES.iter().enumerate() {
                let not_run = everything
                    .iter()
                    .filter(|t| t.contains(&format!("`{name}`")) && t.contains("without running"))
                    .count();
                let released = counters[i].get();
                if ASYNC[i] {
                    assert_eq!(released + not_run, 1, "{case}: {name} in {produced:?}");
                } else {
                    assert_eq!((released, not_run), (1, 0), "{case}: {name}");
                }
            }
            for text in &everything {
                let known = fired.iter().any(|f| text.contains(f.as_str()))
                    || text.contains("without running");
                assert!(known, "{case}: unexpected {text:?}");
            }
            runs += 1;
            injected += fired.len();
            if finished.get() {
                break;
            }
            cuts += 1;
        }
    }
    assert!(
        cuts > 3 * faults(NAMES.len()).len(),
        "every await point was cut"
    );
    eprintln!("faults::managed_service: {runs} runs, {cuts} cut, {injected} faults injected");
}
