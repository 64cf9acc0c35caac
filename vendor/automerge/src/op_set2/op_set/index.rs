use crate::op_set2::op_set::{MarkIndexBuilder, MarkIndexColumn};
use crate::op_set2::{ChangeOp, Op, OpBuilder, OpSet};
use crate::types::{ObjId, ObjType, OpId, SequenceType, TextEncoding};
use std::collections::HashMap;

// TODO : this could be faster and use less memory if
// hexane::Encoder was used here instead of Vec<>

pub(crate) struct IndexBuilder {
    counters: HashMap<OpId, Vec<(usize, usize)>>,
    // PATCHED (rapport): a byte for each op (`Bytes32`; were `u32`s, and
    // the widths `u64`s before that: 31 MB for a 100k-record document).
    succ: Bytes32,
    top: Vec<bool>,
    widths: Bytes32,
    incs: Vec<Option<i64>>,
    // PATCHED (rapport): only the ops that have a mark index entry, with
    // their position (was one `Option<MarkIndexBuilder>`, 64 bytes, for
    // every op: 251 MB of a 100k-record document's 459 MB load peak).
    marks: Vec<(usize, MarkIndexBuilder)>,
    obj_info: ObjIndex,
    last_flush: usize,
    text_encoding: TextEncoding,
    mark_order: MarkOrderValidator,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct MarkOrderValidator {
    begins: HashMap<OpId, ObjId>,
    error: Option<String>,
}

impl MarkOrderValidator {
    pub(crate) fn process_op(&mut self, op: &Op<'_>) {
        let mark_index = op.mark_index();
        self.process_mark_index(op, &mark_index);
    }

    pub(crate) fn process_mark_index(
        &mut self,
        op: &Op<'_>,
        mark_index: &Option<MarkIndexBuilder>,
    ) {
        if self.error.is_some() {
            return;
        }
        self.check_mark_op(op, mark_index);
    }

    pub(crate) fn take_error(&mut self) -> Option<String> {
        self.error.take()
    }

    /// Check that mark ops:
    /// * Always start and end in the same object
    /// * Have the start op appear before the end op
    fn check_mark_op(&mut self, op: &Op<'_>, mark_index: &Option<MarkIndexBuilder>) {
        match mark_index {
            Some(MarkIndexBuilder::Start(id, _)) => {
                self.begins.insert(*id, op.obj);
            }
            Some(MarkIndexBuilder::End(begin)) => match self.begins.get(begin) {
                Some(obj) if *obj == op.obj => {}
                Some(_) => {
                    self.error = Some(format!(
                        "mark end {:?} references mark begin {:?} in a different object",
                        op.id, begin
                    ));
                }
                None => {
                    self.error = Some(format!(
                        "mark end {:?} occurs before mark begin {:?}",
                        op.id, begin
                    ));
                }
            },
            None => {}
        }
    }
}

#[derive(Debug, Default, Clone)]
pub(crate) struct ObjIndex(pub(crate) HashMap<OpId, ObjInfo>);

impl ObjIndex {
    pub(crate) fn object_type(&self, obj: &ObjId) -> Option<ObjType> {
        if obj.is_root() {
            Some(ObjType::Map)
        } else {
            self.0.get(&obj.0).map(|p| p.obj_type)
        }
    }

    pub(crate) fn object_parent(&self, obj: &ObjId) -> Option<ObjId> {
        if obj.is_root() {
            None
        } else {
            self.0.get(&obj.0).map(|p| p.parent)
        }
    }

    pub(crate) fn insert(&mut self, id: OpId, obj_info: ObjInfo) {
        self.0.insert(id, obj_info);
    }

    pub(crate) fn remove(&mut self, id: OpId) {
        self.0.remove(&id);
    }
}

#[derive(Copy, Clone, Debug)]
pub(crate) struct ObjInfo {
    pub(crate) parent: ObjId,
    pub(crate) obj_type: ObjType,
}

impl ObjInfo {
    pub(crate) fn with_new_actor(self, idx: usize) -> Self {
        Self {
            parent: self.parent.with_new_actor(idx),
            obj_type: self.obj_type,
        }
    }

    pub(crate) fn without_actor(self, idx: usize) -> Option<Self> {
        Some(Self {
            parent: self.parent.without_actor(idx)?,
            obj_type: self.obj_type,
        })
    }
}

impl Op<'_> {
    pub(crate) fn obj_info(&self) -> Option<ObjInfo> {
        let obj_type = ObjType::try_from(self.action).ok()?;
        let parent = self.obj;
        Some(ObjInfo { parent, obj_type })
    }
}

impl ChangeOp {
    pub(crate) fn obj_info(&self) -> Option<ObjInfo> {
        self.bld.obj_info()
    }
}

impl OpBuilder<'_> {
    pub(crate) fn obj_info(&self) -> Option<ObjInfo> {
        let obj_type = ObjType::try_from(self.action).ok()?;
        let parent = self.obj;
        Some(ObjInfo { parent, obj_type })
    }
}

pub(crate) struct Indexes {
    pub(crate) text: hexane::PrefixColumn<Option<u32>>,
    pub(crate) top: hexane::PrefixColumn<bool>,
    pub(crate) visible: hexane::Column<bool>,
    pub(crate) inc: hexane::Column<Option<i64>>,
    pub(crate) mark: MarkIndexColumn,
    pub(crate) obj_info: ObjIndex,
}

impl IndexBuilder {
    pub(crate) fn new(op_set: &OpSet, encoding: TextEncoding) -> Self {
        Self {
            counters: HashMap::new(),
            succ: Bytes32::with_capacity(op_set.len()),
            top: Vec::with_capacity(op_set.len()),
            widths: Bytes32::with_capacity(op_set.len()),
            incs: Vec::with_capacity(op_set.sub_len()),
            marks: Vec::new(),
            obj_info: ObjIndex::default(),
            last_flush: 0,
            text_encoding: encoding,
            mark_order: MarkOrderValidator::default(),
        }
    }

    pub(crate) fn flush(&mut self) {
        let len = self.succ.len();
        for (delta, succ) in self.succ.small[self.last_flush..].iter().rev().enumerate() {
            if *succ == 0 {
                self.top[len - delta - 1] = true;
                break;
            }
        }
        self.last_flush = len;
    }
    pub(crate) fn process_op(&mut self, op: &Op<'_>) {
        let mark_index = op.mark_index();
        self.mark_order.process_mark_index(op, &mark_index);
        if let Some(mark_index) = mark_index {
            self.marks.push((self.succ.len(), mark_index));
        }

        self.succ.push(vis_num(op));
        self.top.push(false);

        self.widths
            .push(op.width(SequenceType::Text, self.text_encoding) as u32);

        let count = self.counters.remove(&op.id);

        if let Some(i) = op.get_increment_value() {
            for (succ_idx, op_idx) in count.into_iter().flatten() {
                self.incs[succ_idx] = Some(i);
                self.succ.set(op_idx, self.succ.get(op_idx) - 1);
            }
        }

        if let Some(obj_info) = op.obj_info() {
            self.obj_info.insert(op.id, obj_info);
        }
    }

    pub(crate) fn process_succ(&mut self, op_is_counter: bool, id: OpId) {
        if op_is_counter {
            self.counters
                .entry(id)
                .or_default()
                .push((self.incs.len(), self.succ.len() - 1));
        }
        self.incs.push(None); // will update later
    }

    pub(crate) fn finish(mut self) -> (Indexes, MarkOrderValidator) {
        self.flush();

        // PATCHED (rapport): streamed into the column (`collect` went
        // through a `Vec` of every op's value first).
        let mut text = hexane::PrefixColumn::new();
        text.extend(
            self.widths
                .iter()
                .zip(self.top.iter())
                .map(|(w, t)| if *t { Some(w) } else { None }),
        );
        drop(self.widths);

        // PATCHED (rapport): streamed into their columns too (each went
        // through a `Vec` of its own).
        let mut visible = hexane::Column::new();
        visible.extend(self.succ.small.iter().map(|&n| n == 0));

        let mut top = hexane::PrefixColumn::new();
        top.extend(self.top.iter().copied());
        drop(self.top);

        let inc = hexane::Column::from_values(self.incs);

        let mut mark = MarkIndexColumn::new();
        mark.extend_sparse(self.succ.len(), self.marks);

        let obj_info = self.obj_info;

        (
            Indexes {
                text,
                top,
                visible,
                inc,
                mark,
                obj_info,
            },
            self.mark_order,
        )
    }
}

/// PATCHED (rapport): a `u32` for each op of a load in one byte: most ops
/// have no successor or one, and a width of 0 or 1. `u32::MAX`, which
/// `vis_num` gives every increment op, has a byte of its own; the rare
/// other values over 253 are in a map beside.
#[derive(Debug, Default)]
struct Bytes32 {
    small: Vec<u8>,
    big: HashMap<usize, u32>,
}

impl Bytes32 {
    /// In `small`, a value held in `big`.
    const BIG: u8 = u8::MAX;
    /// In `small`, `u32::MAX`.
    const MAX: u8 = u8::MAX - 1;

    fn with_capacity(n: usize) -> Self {
        Self {
            small: Vec::with_capacity(n),
            big: HashMap::new(),
        }
    }

    fn len(&self) -> usize {
        self.small.len()
    }

    fn push(&mut self, value: u32) {
        let i = self.small.len();
        self.small.push(Self::small(value).unwrap_or(Self::BIG));
        if self.small[i] == Self::BIG {
            self.big.insert(i, value);
        }
    }

    fn get(&self, i: usize) -> u32 {
        match self.small[i] {
            Self::BIG => self.big[&i],
            Self::MAX => u32::MAX,
            n => u32::from(n),
        }
    }

    fn set(&mut self, i: usize, value: u32) {
        if self.small[i] == Self::BIG {
            self.big.remove(&i);
        }
        self.small[i] = Self::small(value).unwrap_or(Self::BIG);
        if self.small[i] == Self::BIG {
            self.big.insert(i, value);
        }
    }

    /// `value` in a byte, if it has one.
    fn small(value: u32) -> Option<u8> {
        match value {
            u32::MAX => Some(Self::MAX),
            n => u8::try_from(n).ok().filter(|&n| n < Self::MAX),
        }
    }

    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

fn vis_num(op: &Op<'_>) -> u32 {
    if op.is_inc() {
        u32::MAX
    } else {
        op.succ().len() as u32
    }
}
