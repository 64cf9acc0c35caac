use std::collections::{HashMap, HashSet};

use crate::{
    DialerId, DocSearchPhase, DocumentActorId,
    actors::hub::{
        dialer::{DialerState, DialerStatus},
        state::ActorInfo,
    },
};

pub(super) struct Searches {
    pub(super) phases: HashMap<DocumentActorId, DocSearchPhase>,
    pub(super) last_dialers: HashMap<DialerId, DialerStatus>,
    /// PATCHED (rapport): the actors whose phase may differ from `phases`
    /// (added, or their phase set, since the last `pop_state_updates`), so
    /// that only they are compared after each hub event.
    dirty: HashSet<DocumentActorId>,
}

impl Searches {
    pub(super) fn new() -> Self {
        Self {
            phases: HashMap::new(),
            last_dialers: HashMap::new(),
            dirty: HashSet::new(),
        }
    }

    /// PATCHED (rapport): `actor` was added or its phase was set.
    pub(super) fn mark(&mut self, actor: DocumentActorId) {
        self.dirty.insert(actor);
    }

    pub(super) fn add_search(&mut self, actor: DocumentActorId, phase: DocSearchPhase) {
        self.phases.insert(actor, phase);
        self.dirty.insert(actor); // PATCHED (rapport)
    }

    pub(super) fn pop_state_updates(
        &mut self,
        actors: &HashMap<DocumentActorId, ActorInfo>,
        dialers: &HashMap<DialerId, DialerState>,
    ) -> HashMap<DocumentActorId, DocSearchPhase> {
        let new_dialer_state = dialers
            .iter()
            .map(|(dialer_id, state)| (*dialer_id, state.status.clone()))
            .collect::<HashMap<DialerId, DialerStatus>>();
        let dialers_changed = self.last_dialers != new_dialer_state;
        self.last_dialers = new_dialer_state;

        // PATCHED (rapport): only the actors marked since the last call are
        // compared (all of them when a dialer changed), and a phase is
        // cloned and stored only when it changed. Upstream cloned and
        // re-inserted every loaded document's phase after every hub event;
        // the result is the same, since a phase changes only through
        // `State::update_document_search_phase` (which marks it).
        let dirty = std::mem::take(&mut self.dirty);
        let candidates: Box<dyn Iterator<Item = (&DocumentActorId, &ActorInfo)>> =
            if dialers_changed {
                Box::new(actors.iter())
            } else {
                Box::new(dirty.iter().filter_map(|id| actors.get_key_value(id)))
            };
        let mut result = HashMap::new();
        for (actor_id, actor) in candidates {
            match self.phases.get_mut(actor_id) {
                Some(last) if *last == actor.search_phase => {
                    if dialers_changed {
                        result.insert(*actor_id, actor.search_phase.clone());
                    }
                }
                Some(last) => {
                    *last = actor.search_phase.clone();
                    result.insert(*actor_id, actor.search_phase.clone());
                }
                None => {
                    self.phases.insert(*actor_id, actor.search_phase.clone());
                    result.insert(*actor_id, actor.search_phase.clone());
                }
            }
        }
        result
    }
}
