//! The changes saved after a document's snapshot (its incremental
//! chunks), merged into the snapshot's operations as the loaded document
//! would hold them, so that [`super::read_chunks_with`] reads both
//! without loading either.
//!
//! A change's operations are few (a write appends one change), the
//! snapshot's many, so the snapshot is still read one operation at a time
//! and the changes' operations slotted in where automerge would keep
//! them:
//! - objects come in the order of their ids, the root first;
//! - in a map, operations come by key, then by id;
//! - in a list or a text, element by element in the sequence's order
//!   (an element's insertion, then the operations put over it, by id). A
//!   new element goes right after the one it was inserted after, past
//!   any elements there with greater ids (automerge's rule; elements
//!   inserted later have greater ids, so this places it as every copy
//!   does);
//! - an operation a change names as superseded (its `pred`) gains a
//!   successor, which hides it; a delete is nothing more.
//!
//! Every change must depend only on changes the document holds, or the
//! load would hold it back: on a head of the snapshot, another change
//! here, or one of two changes inside the snapshot that automerge and
//! `rapport` name: the actor's previous change, and the document's first
//! change, which is rebuilt from its operations to know its hash
//! ([`Unseen`]). A change the snapshot may hold already is refused.
//!
//! What cannot be checked is refused, and the caller loads the document:
//! such dependencies, a `pred`, an element or an object named that is not
//! there; counters, marks and tables.

use std::collections::{BTreeMap, HashMap, VecDeque};

use automerge::{ActorId, Change, ChangeHash, ObjType, ScalarValue, legacy};

use super::Unsupported;
use super::columns::{Action, ChangeMeta, Id, Key, Op, Ops};

fn bad(what: impl Into<String>) -> Unsupported {
    Unsupported(what.into())
}

/// The most operations a first change may have to be rebuilt
/// ([`Unseen`]): about 5 MB of them held. `rapport`'s first change makes
/// a document's root and collections, a few dozen.
const FIRST_CHANGE_MOST_OPS: u64 = 50_000;

/// A key held by its operation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OwnedKey {
    Map(String),
    Elem(Option<Id>),
}

/// An operation held, from the snapshot or a change.
#[derive(Debug, Clone)]
struct Owned {
    obj: Id,
    key: OwnedKey,
    id: Id,
    insert: bool,
    action: Action,
    value: ScalarValue,
    successors: u64,
}

impl Owned {
    fn of(op: Op<'_>) -> Owned {
        Owned {
            obj: op.obj,
            key: match op.key {
                Key::Map(k) => OwnedKey::Map(k.to_string()),
                Key::Elem(e) => OwnedKey::Elem(e),
            },
            id: op.id,
            insert: op.insert,
            action: op.action,
            value: op.value,
            successors: op.successors,
        }
    }

    /// What an operation that supersedes this one names: its object, and
    /// its key in a map or its element in a sequence (an insertion's is
    /// its own id).
    fn target(&self) -> (Id, Target) {
        let target = match &self.key {
            OwnedKey::Map(k) => Target::Key(k.clone()),
            OwnedKey::Elem(_) if self.insert => Target::Elem(self.id),
            OwnedKey::Elem(Some(e)) => Target::Elem(*e),
            OwnedKey::Elem(None) => Target::Head,
        };
        (self.obj, target)
    }

    fn map_key(&self) -> Option<&str> {
        match &self.key {
            OwnedKey::Map(k) => Some(k),
            OwnedKey::Elem(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Key(String),
    Elem(Id),
    Head,
}

/// An operation superseded by a change: where it must be found.
struct Pred {
    obj: Id,
    target: Target,
    found: bool,
}

/// The snapshot's operations with the changes' merged in.
pub(super) struct Merged<'a> {
    snapshot: Ops<'a>,
    /// The snapshot's next operation.
    peek: Option<Owned>,
    /// The changes' operations not yet given, by object: a map's sorted
    /// by key and id, a sequence's by id.
    objects: BTreeMap<Id, Vec<Owned>>,
    /// The map being merged with the changes' operations on it.
    map: Option<(Id, std::iter::Peekable<std::vec::IntoIter<Owned>>)>,
    /// Operations ready to give (a sequence merged whole).
    out: VecDeque<Owned>,
    /// The operation given last, which the one returned borrows.
    last: Option<Owned>,
    preds: HashMap<Id, Pred>,
    /// The objects the changes write in, and whether their making was
    /// seen.
    made: HashMap<Id, bool>,
    /// Every actor, snapshot's and changes', by rank.
    actors: Vec<Vec<u8>>,
    /// Dependencies checked once the snapshot is read.
    unseen: Option<Unseen>,
    /// Whether the snapshot's last operation was read.
    read_all: bool,
    ended: bool,
}

impl<'a> Merged<'a> {
    /// The operations of the document chunk `snapshot` with `changes`
    /// (in any order) merged in.
    pub(super) fn new(mut snapshot: Ops<'a>, changes: &[Change]) -> Result<Self, Unsupported> {
        let (changes, unknown, first) = in_causal_order(&snapshot, changes)?;
        let decoded: Vec<_> = changes.iter().map(|c| c.decode()).collect();

        // Every actor, in the order of their bytes: a change's actor may
        // be new to the snapshot.
        let mut actors: Vec<Vec<u8>> = snapshot.actor_ids.clone();
        if actors.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("the document's actors out of order"));
        }
        for change in &decoded {
            actors.push(change.actor_id.to_bytes().to_vec());
            for op in &change.operations {
                let mut ids: Vec<&legacy::OpId> = op.pred.iter().collect();
                if let legacy::ObjectId::Id(o) = &op.obj {
                    ids.push(o);
                }
                if let legacy::Key::Seq(legacy::ElementId::Id(e)) = &op.key {
                    ids.push(e);
                }
                actors.extend(ids.into_iter().map(|i| i.actor().to_bytes().to_vec()));
            }
        }
        actors.sort();
        actors.dedup();
        let rank = |actor: &[u8]| -> Result<u32, Unsupported> {
            let i = actors
                .binary_search_by(|a| a.as_slice().cmp(actor))
                .map_err(|_| bad("an actor not listed"))?;
            u32::try_from(i).map_err(|_| bad("too many actors"))
        };
        let ranks = snapshot
            .actor_ids
            .iter()
            .map(|a| rank(a))
            .collect::<Result<Vec<_>, _>>()?;
        let unseen = if unknown.is_empty() {
            None
        } else {
            // Some dependency is taken for the snapshot's first change:
            // its operations are kept as they are read, to rebuild it.
            let first = first
                .filter(|f| f.deps == 0)
                .ok_or_else(|| bad("a change depends on a change not found"))?;
            // Its operations are held until the snapshot is read: not
            // those of a first change that imported a whole document.
            if first.max_op > FIRST_CHANGE_MOST_OPS {
                return Err(bad("a change depends on a first change too big to rebuild"));
            }
            let max = u32::try_from(first.max_op).map_err(|_| bad("too many operations"))?;
            snapshot.keep_successors_of(first.actor, max);
            Some(Unseen {
                actor: ranks[first.actor as usize],
                first,
                ops: Vec::new(),
                unknown,
            })
        };
        snapshot.rank_actors(ranks);
        let id = |o: &legacy::OpId| Id::new(o.counter(), u64::from(rank(o.actor().to_bytes())?));

        let mut merged = Merged {
            snapshot,
            peek: None,
            objects: BTreeMap::new(),
            map: None,
            out: VecDeque::new(),
            last: None,
            preds: HashMap::new(),
            made: HashMap::new(),
            actors: Vec::new(),
            unseen,
            read_all: false,
            ended: false,
        };
        for change in &decoded {
            let actor = u64::from(rank(change.actor_id.to_bytes())?);
            let start = change.start_op.get();
            for (i, op) in change.operations.iter().enumerate() {
                let counter = start
                    .checked_add(i as u64)
                    .ok_or_else(|| bad("an operation id past 64 bits"))?;
                let (action, value) = match &op.action {
                    legacy::OpType::Make(ObjType::Map) => (Action::MakeMap, ScalarValue::Null),
                    legacy::OpType::Make(ObjType::List) => (Action::MakeList, ScalarValue::Null),
                    legacy::OpType::Make(ObjType::Text) => (Action::MakeText, ScalarValue::Null),
                    legacy::OpType::Make(ObjType::Table) => return Err(bad("a table")),
                    legacy::OpType::Put(ScalarValue::Counter(_)) | legacy::OpType::Increment(_) => {
                        return Err(bad("a counter"));
                    }
                    legacy::OpType::Put(v) => (Action::Set, v.clone()),
                    legacy::OpType::Delete => (Action::Delete, ScalarValue::Null),
                    legacy::OpType::MarkBegin(..) | legacy::OpType::MarkEnd(..) => {
                        return Err(bad("a mark"));
                    }
                };
                let owned = Owned {
                    obj: match &op.obj {
                        legacy::ObjectId::Root => Id::ROOT,
                        legacy::ObjectId::Id(o) => id(o)?,
                    },
                    key: match &op.key {
                        legacy::Key::Map(k) if !op.insert => OwnedKey::Map(k.to_string()),
                        legacy::Key::Map(_) => return Err(bad("an insert in a map")),
                        legacy::Key::Seq(legacy::ElementId::Head) => OwnedKey::Elem(None),
                        legacy::Key::Seq(legacy::ElementId::Id(e)) => OwnedKey::Elem(Some(id(e)?)),
                    },
                    id: Id::new(counter, actor)?,
                    insert: op.insert,
                    action,
                    value,
                    successors: 0,
                };
                let (obj, target) = owned.target();
                for pred in op.pred.iter() {
                    let pred = id(pred)?;
                    match merged.preds.get(&pred) {
                        Some(p) if p.obj != obj || p.target != target => {
                            return Err(bad("two changes name one operation at two places"));
                        }
                        Some(_) => {}
                        None => {
                            merged.preds.insert(
                                pred,
                                Pred {
                                    obj,
                                    target: target.clone(),
                                    found: false,
                                },
                            );
                        }
                    }
                }
                if obj != Id::ROOT {
                    merged.made.entry(obj).or_insert(false);
                }
                // A delete only hides what it names.
                if action != Action::Delete {
                    merged.objects.entry(obj).or_default().push(owned);
                }
            }
        }
        for ops in merged.objects.values_mut() {
            let maps = ops.iter().filter(|o| o.map_key().is_some()).count();
            if maps == ops.len() {
                ops.sort_by(|a, b| (a.map_key(), a.id).cmp(&(b.map_key(), b.id)));
            } else if maps == 0 {
                ops.sort_by_key(|o| o.id);
            } else {
                return Err(bad("map keys and elements in one object"));
            }
        }
        merged.actors = actors;
        merged.advance()?;
        Ok(merged)
    }

    /// The next operation; `None` after the last, once every operation
    /// the changes name was found where they name it.
    pub(super) fn next_op(&mut self) -> Result<Option<Op<'_>>, Unsupported> {
        let Some(mut op) = self.next_owned()? else {
            if !self.ended {
                self.ended = true;
                if self.preds.values().any(|p| !p.found) {
                    return Err(bad("a change supersedes an operation not there"));
                }
                if self.made.values().any(|m| !m) {
                    return Err(bad("a change writes in an object not there"));
                }
                if let Some(unseen) = self.unseen.take() {
                    unseen.check(&self.actors)?;
                }
            }
            return Ok(None);
        };
        if let Some(pred) = self.preds.get_mut(&op.id) {
            let (obj, target) = op.target();
            if pred.obj != obj || pred.target != target {
                return Err(bad("a change supersedes an operation elsewhere"));
            }
            pred.found = true;
            op.successors = op
                .successors
                .checked_add(1)
                .ok_or_else(|| bad("too many successors"))?;
        }
        if matches!(
            op.action,
            Action::MakeMap | Action::MakeList | Action::MakeText | Action::MakeTable
        ) && let Some(made) = self.made.get_mut(&op.id)
        {
            *made = true;
        }
        let op = self.last.insert(op);
        Ok(Some(Op {
            obj: op.obj,
            key: match &op.key {
                OwnedKey::Map(k) => Key::Map(k),
                OwnedKey::Elem(e) => Key::Elem(*e),
            },
            id: op.id,
            insert: op.insert,
            action: op.action,
            value: std::mem::replace(&mut op.value, ScalarValue::Null),
            successors: op.successors,
            succ: &[],
        }))
    }

    /// The snapshot's next operation, the one after it read ahead.
    fn advance(&mut self) -> Result<Option<Owned>, Unsupported> {
        let next = match (self.read_all, &mut self.unseen) {
            (true, _) => None,
            (false, None) => self.snapshot.next_op()?.map(Owned::of),
            (false, Some(unseen)) => match self.snapshot.next_op()? {
                Some(op) if unseen.holds(op.id) => {
                    let succ = op.succ.to_vec();
                    let op = Owned::of(op);
                    unseen.ops.push((op.clone(), succ));
                    Some(op)
                }
                op => op.map(Owned::of),
            },
        };
        self.read_all = next.is_none();
        Ok(std::mem::replace(&mut self.peek, next))
    }

    fn next_owned(&mut self) -> Result<Option<Owned>, Unsupported> {
        loop {
            if let Some(op) = self.out.pop_front() {
                return Ok(Some(op));
            }
            if let Some((obj, changes)) = &mut self.map {
                let here = self.peek.as_ref().filter(|s| s.obj == *obj);
                if let Some(s) = here
                    && s.map_key().is_none()
                {
                    return Err(bad("map keys and elements in one object"));
                }
                let change_first = match (here, changes.peek()) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(s), Some(c)) => (c.map_key(), c.id) < (s.map_key(), s.id),
                };
                if change_first {
                    return Ok(changes.next());
                }
                if here.is_some() {
                    return self.advance();
                }
                self.map = None;
                continue;
            }
            let snapshot = self.peek.as_ref().map(|s| s.obj);
            let Some(obj) = self.objects.keys().next().copied() else {
                return self.advance();
            };
            if snapshot.is_some_and(|s| s < obj) {
                return self.advance();
            }
            let ops = self.objects.remove(&obj).unwrap_or_default();
            if ops.first().is_some_and(|o| o.map_key().is_some()) {
                self.map = Some((obj, ops.into_iter().peekable()));
                continue;
            }
            let mut theirs = Vec::new();
            while self.peek.as_ref().is_some_and(|s| s.obj == obj) {
                theirs.extend(self.advance()?);
            }
            self.out.extend(sequence(theirs, ops)?);
        }
    }
}

/// A sequence's operations, `snapshot`'s (in its order) and the changes'
/// (by id), in the order of its elements.
fn sequence(snapshot: Vec<Owned>, changes: Vec<Owned>) -> Result<Vec<Owned>, Unsupported> {
    // Each element: its insertion first, then the operations put over it.
    let mut elements: Vec<Vec<Owned>> = Vec::new();
    for op in snapshot {
        match op.key {
            OwnedKey::Map(_) => return Err(bad("a map key in a sequence")),
            _ if op.insert => elements.push(vec![op]),
            OwnedKey::Elem(target) => match elements.last_mut() {
                Some(e) if Some(e[0].id) == target => e.push(op),
                _ => return Err(bad("an element out of order")),
            },
        }
    }
    let place = |elements: &[Vec<Owned>], id: Id| elements.iter().position(|e| e[0].id == id);
    for op in changes {
        let OwnedKey::Elem(target) = op.key else {
            return Err(bad("a map key in a sequence"));
        };
        if op.insert {
            let mut at = match target {
                None => 0,
                Some(after) => {
                    place(&elements, after).ok_or_else(|| bad("an insert after no element"))? + 1
                }
            };
            while elements.get(at).is_some_and(|e| e[0].id > op.id) {
                at += 1;
            }
            elements.insert(at, vec![op]);
        } else {
            let Some(at) = target.and_then(|t| place(&elements, t)) else {
                return Err(bad("an operation on no element"));
            };
            elements[at].push(op);
        }
    }
    Ok(elements
        .into_iter()
        .flat_map(|mut e| {
            e[1..].sort_by_key(|o| o.id);
            e
        })
        .collect())
}

/// `changes` without those the snapshot holds (one of its heads) or that
/// come twice, each after those it depends on.
///
/// A dependency must be a head of the snapshot or another change here,
/// with one exception: automerge makes each change depend on its actor's
/// previous one as well, which a teammate's change merged in after the
/// snapshot may find inside it, no longer a head. So one dependency that
/// is neither is taken for that previous change when the snapshot's
/// last change by the actor is the one before and no dependency found
/// is it. Anything else is refused: a change the snapshot may hold
/// already, or one whose dependency is missing (automerge's load would
/// hold it back).
/// Ordered, the changes come with, for each that depends on changes not
/// found, those and whether one of them may be its actor's previous
/// change; and the snapshot's first change, for [`Unseen`].
type Ordered<'c> = (
    Vec<&'c Change>,
    Vec<(Vec<ChangeHash>, bool)>,
    Option<ChangeMeta>,
);

fn in_causal_order<'c>(
    snapshot: &Ops<'_>,
    changes: &'c [Change],
) -> Result<Ordered<'c>, Unsupported> {
    let held_by_snapshot = snapshot.held()?;
    // Each change known by its hash: its actor and sequence number.
    let mut known: HashMap<ChangeHash, (Vec<u8>, u64)> = HashMap::new();
    for (hash, (actor, seq)) in snapshot.heads.iter().zip(&held_by_snapshot.heads) {
        let actor = snapshot.actor_ids[*actor as usize].clone();
        known.insert(ChangeHash(*hash), (actor, *seq));
    }
    let last_seq = |actor: &[u8]| {
        snapshot
            .actor_ids
            .iter()
            .position(|a| a.as_slice() == actor)
            .map_or(0, |i| held_by_snapshot.last_seq[i])
    };
    let mut left: Vec<&Change> = Vec::new();
    for change in changes {
        let hash = change.hash();
        if known.contains_key(&hash) || left.iter().any(|c| c.hash() == hash) {
            continue;
        }
        if change.seq() <= last_seq(change.actor_id().to_bytes()) {
            return Err(bad("a change the document may hold already"));
        }
        // (The load refuses two changes an actor numbered alike.)
        if left
            .iter()
            .any(|c| c.actor_id() == change.actor_id() && c.seq() == change.seq())
        {
            return Err(bad("two changes with one actor's sequence number"));
        }
        left.push(change);
    }
    let mut ordered = Vec::with_capacity(left.len());
    let mut unseen = Vec::new();
    while !left.is_empty() {
        let before = left.len();
        let mut i = 0;
        while i < left.len() {
            let change = left[i];
            let actor = change.actor_id().to_bytes();
            let unknown: Vec<&ChangeHash> = change
                .deps()
                .iter()
                .filter(|d| !known.contains_key(d))
                .collect();
            let waits = unknown.iter().any(|d| left.iter().any(|c| c.hash() == **d));
            let previous = (actor.to_vec(), change.seq().wrapping_sub(1));
            // Up to two not found: the snapshot's first change (the
            // records `rapport` appends are made on it alone) and the
            // actor's previous change, told apart once the first is
            // rebuilt ([`Unseen`]).
            if !waits && unknown.len() <= 2 {
                left.remove(i);
                known.insert(change.hash(), (actor.to_vec(), change.seq()));
                ordered.push(change);
                if !unknown.is_empty() {
                    // Not if that previous change is known (a head, or
                    // one of these): then it is no dependency not found.
                    let may_be_previous = change.seq() > 1
                        && last_seq(actor) == change.seq() - 1
                        && !known.values().any(|k| *k == previous);
                    unseen.push((unknown.into_iter().copied().collect(), may_be_previous));
                }
            } else {
                i += 1;
            }
        }
        if left.len() == before {
            return Err(bad(
                "a change depends on a change neither saved after the document nor found in it",
            ));
        }
    }
    Ok((ordered, unseen, held_by_snapshot.first))
}

/// Dependencies of the changes that are neither a head of the snapshot
/// nor another change. Two kinds are expected of automerge and
/// `rapport`: the actor's previous change (automerge names it in every
/// change) and the document's first change (`rapport` makes the records
/// it appends on that change alone). The first change's hash is not in
/// the snapshot, so it is rebuilt from its operations as they are read
/// (those of its actor up to its last counter, each with its successors:
/// the ones among them are its preds, and a counter with no operation is
/// a delete of what names it as a successor) and its description in the
/// change columns, and encoded as automerge encodes a change.
struct Unseen {
    first: ChangeMeta,
    /// The first change's actor's rank.
    actor: u32,
    /// Its operations read so far, each with its successors.
    ops: Vec<(Owned, Vec<Id>)>,
    /// Per change: its dependencies not found, and whether one of them
    /// may be its actor's previous change.
    unknown: Vec<(Vec<ChangeHash>, bool)>,
}

impl Unseen {
    /// Whether the operation `id` is the first change's.
    fn holds(&self, id: Id) -> bool {
        id.actor == self.actor && u64::from(id.counter) <= self.first.max_op
    }

    /// Every dependency not found is the first change, or at most one
    /// the actor's previous change.
    fn check(mut self, actors: &[Vec<u8>]) -> Result<(), Unsupported> {
        let unknown = std::mem::take(&mut self.unknown);
        let first = self.rebuild(actors)?;
        for (deps, may_be_previous) in unknown {
            let rest = deps.iter().filter(|d| **d != first).count();
            if rest > 1 || (rest == 1 && !may_be_previous) {
                return Err(bad("a change depends on a change not found"));
            }
        }
        Ok(())
    }

    /// The first change's hash.
    fn rebuild(self, actors: &[Vec<u8>]) -> Result<ChangeHash, Unsupported> {
        let cannot = || bad("the document's first change cannot be rebuilt");
        let mut preds: HashMap<Id, Vec<Id>> = HashMap::new();
        let mut by_id: HashMap<Id, &Owned> = HashMap::new();
        for (op, succ) in &self.ops {
            by_id.insert(op.id, op);
            for s in succ.iter().filter(|s| self.holds(**s)) {
                preds.entry(*s).or_default().push(op.id);
            }
        }
        let op_id = |id: &Id| -> Result<legacy::OpId, Unsupported> {
            let actor = actors.get(id.actor as usize).ok_or_else(cannot)?;
            Ok(legacy::OpId(
                u64::from(id.counter),
                ActorId::from(actor.as_slice()),
            ))
        };
        let obj = |id: Id| -> Result<legacy::ObjectId, Unsupported> {
            Ok(if id == Id::ROOT {
                legacy::ObjectId::Root
            } else {
                legacy::ObjectId::Id(op_id(&id)?)
            })
        };
        let elem = |e: Option<Id>| -> Result<legacy::ElementId, Unsupported> {
            Ok(match e {
                None => legacy::ElementId::Head,
                Some(e) => legacy::ElementId::Id(op_id(&e)?),
            })
        };
        let mut operations = Vec::new();
        for counter in 1..=self.first.max_op {
            let id = Id::new(counter, u64::from(self.actor))?;
            let pred: Vec<legacy::OpId> = preds
                .get(&id)
                .into_iter()
                .flatten()
                .map(op_id)
                .collect::<Result<_, _>>()?;
            let op = match by_id.get(&id) {
                Some(op) => legacy::Op {
                    action: match op.action {
                        Action::Set => legacy::OpType::Put(op.value.clone()),
                        Action::MakeMap => legacy::OpType::Make(ObjType::Map),
                        Action::MakeList => legacy::OpType::Make(ObjType::List),
                        Action::MakeText => legacy::OpType::Make(ObjType::Text),
                        Action::MakeTable => legacy::OpType::Make(ObjType::Table),
                        Action::Delete | Action::Increment | Action::Mark => return Err(cannot()),
                    },
                    obj: obj(op.obj)?,
                    key: match &op.key {
                        OwnedKey::Map(k) => legacy::Key::Map(k.as_str().into()),
                        OwnedKey::Elem(e) => legacy::Key::Seq(elem(*e)?),
                    },
                    pred: pred.into(),
                    insert: op.insert,
                },
                None => {
                    // A delete, where what it supersedes is.
                    let target = preds
                        .get(&id)
                        .and_then(|p| p.first())
                        .and_then(|p| by_id.get(p))
                        .ok_or_else(cannot)?;
                    let key = match target.target().1 {
                        Target::Key(k) => legacy::Key::Map(k.as_str().into()),
                        Target::Elem(e) => legacy::Key::Seq(elem(Some(e))?),
                        Target::Head => return Err(cannot()),
                    };
                    legacy::Op {
                        action: legacy::OpType::Delete,
                        obj: obj(target.obj)?,
                        key,
                        pred: pred.into(),
                        insert: false,
                    }
                }
            };
            operations.push(op);
        }
        let actor = actors.get(self.actor as usize).ok_or_else(cannot)?;
        let expanded = automerge::ExpandedChange {
            operations,
            actor_id: ActorId::from(actor.as_slice()),
            hash: None,
            seq: self.first.seq,
            start_op: std::num::NonZeroU64::MIN,
            time: self.first.time,
            message: self.first.message,
            deps: Vec::new(),
            extra_bytes: self.first.extra,
            author: None,
        };
        // (automerge panics on what its encoder does not expect.)
        std::panic::catch_unwind(|| Change::from(expanded).hash()).map_err(|_| cannot())
    }
}
