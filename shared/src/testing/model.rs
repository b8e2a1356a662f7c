//! Running the protocol models (feature `model-checking`): an exhaustive breadth-first search
//! with `stateright`, a one-line report of what was explored, and counterexamples printed as
//! numbered steps.
//!
//! The models are finite and acyclic (every run, fault and crash comes from a budget), so the
//! search visits every reachable state; "eventually" properties are written as invariants over
//! quiescent states (no action left), which the search checks exactly.
//!
//! Test support: a violated expectation fails the calling test.
#![allow(clippy::panic)]

use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

use stateright::{Checker, HasDiscoveries, Path};
pub use stateright::{Model, Property};

/// What one exhaustive search explored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explored {
    /// States generated, repeats included.
    pub states: usize,
    /// Distinct states.
    pub unique: usize,
    /// Longest path explored (in steps).
    pub depth: usize,
    /// Wall time of the search.
    pub elapsed: Duration,
}

/// A violated property and its shortest counterexample.
type Violation<M> = (
    &'static str,
    Path<<M as Model>::State, <M as Model>::Action>,
);

/// The result of checking a model: what was explored and the counterexamples found.
pub struct Outcome<M: Model> {
    /// The model that was checked.
    pub model: M,
    /// What the search explored.
    pub explored: Explored,
    violations: Vec<Violation<M>>,
}

impl<M: Model> Debug for Outcome<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let violated: Vec<_> = self.violations.iter().map(|(name, _)| *name).collect();
        f.debug_struct("Outcome")
            .field("explored", &self.explored)
            .field("violated", &violated)
            .finish()
    }
}

impl<M> Outcome<M>
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Clone + Debug + Hash + PartialEq + Send + Sync,
    M::Action: Clone + Debug + PartialEq,
{
    /// Fails with the shortest counterexample of each violated property.
    pub fn assert_holds(&self) {
        if let Some((name, path)) = self.violations.first() {
            panic!(
                "property \"{name}\" violated ({} violation(s)):\n{}",
                self.violations.len(),
                steps(path)
            );
        }
    }

    /// The shortest counterexample of `property` as numbered steps; fails when it holds.
    pub fn counterexample(&self, property: &str) -> String {
        match self.violations.iter().find(|(name, _)| *name == property) {
            Some((_, path)) => steps(path),
            None => panic!(
                "expected a counterexample to \"{property}\", found none in {} states",
                self.explored.unique
            ),
        }
    }

    /// The actions of the shortest counterexample of `property` (empty when it holds).
    pub fn counterexample_actions(&self, property: &str) -> Vec<M::Action> {
        self.violations
            .iter()
            .find(|(name, _)| *name == property)
            .map(|(_, path)| path.clone().into_actions())
            .unwrap_or_default()
    }
}

/// Explores every reachable state of `model` breadth first (so each counterexample is a
/// shortest one), or stops once `stop_at` (a property name) is violated, and prints one line
/// naming the model, the states explored and the time taken.
pub fn check<M>(name: &str, model: M, stop_at: Option<&'static str>) -> Outcome<M>
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Clone + Debug + Hash + PartialEq + Send + Sync,
    M::Action: Clone + Debug + PartialEq,
{
    let started = Instant::now();
    let mut builder = model.clone().checker();
    if let Some(property) = stop_at {
        builder = builder.finish_when(HasDiscoveries::AnyOf([property].into_iter().collect()));
    }
    let checker = builder.spawn_bfs().join();
    let explored = Explored {
        states: checker.state_count(),
        unique: checker.unique_state_count(),
        depth: checker.max_depth(),
        elapsed: started.elapsed(),
    };
    let mut violations: Vec<_> = checker.discoveries().into_iter().collect();
    violations.sort_by_key(|(name, path)| (path.clone().into_actions().len(), *name));
    println!(
        "model {name}: {} unique states ({} generated), depth {}, {:.2?}, violated: {:?}",
        explored.unique,
        explored.states,
        explored.depth,
        explored.elapsed,
        violations.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
    Outcome {
        model,
        explored,
        violations,
    }
}

/// A path as numbered actions, ending with the final state.
pub fn steps<S: Debug + Clone, A: Debug + Clone>(path: &Path<S, A>) -> String {
    let mut out = String::new();
    let pairs = path.clone().into_vec();
    for (n, (_, action)) in pairs.iter().enumerate() {
        if let Some(action) = action {
            out.push_str(&format!("  {:>2}. {action:?}\n", n + 1));
        }
    }
    out.push_str(&format!("  final state: {:?}\n", path.last_state()));
    out
}
