//! A saved automerge document's operations, decoded one at a time from
//! its columns as they are inflated: the chunk's layout and the column
//! encodings of automerge's binary format
//! (<https://alexjg.github.io/automerge-storage-docs/>), as automerge
//! 0.12 writes and reads them.

use std::io::{BufRead, BufReader, Read};

use automerge::ScalarValue;
use sha2::{Digest, Sha256};

use super::Unsupported;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT_CHUNK: u8 = 0;
/// A compressed column's buffer: each column inflates on its own, side by
/// side with the others, so only this much of each is ever held.
const INFLATE_BUFFER: usize = 8 * 1024;

fn bad(what: impl Into<String>) -> Unsupported {
    Unsupported(what.into())
}

/// Column types (the low three bits of a column's specification).
mod column_type {
    pub const GROUP: u32 = 0;
    pub const ACTOR: u32 = 1;
    pub const INTEGER: u32 = 2;
    pub const DELTA: u32 = 3;
    pub const BOOLEAN: u32 = 4;
    pub const STRING: u32 = 5;
    pub const VALUE_META: u32 = 6;
    pub const VALUE: u32 = 7;
}
const DEFLATE: u32 = 0b1000;

/// The operation columns of a document chunk (automerge's
/// `op_set2::columns`): (column id, type).
mod op_column {
    use super::column_type::*;
    pub const OBJ_ACTOR: (u32, u32) = (0, ACTOR);
    pub const OBJ_CTR: (u32, u32) = (0, INTEGER);
    pub const KEY_ACTOR: (u32, u32) = (1, ACTOR);
    pub const KEY_CTR: (u32, u32) = (1, DELTA);
    pub const KEY_STR: (u32, u32) = (1, STRING);
    pub const ID_ACTOR: (u32, u32) = (2, ACTOR);
    pub const ID_CTR: (u32, u32) = (2, DELTA);
    pub const INSERT: (u32, u32) = (3, BOOLEAN);
    pub const ACTION: (u32, u32) = (4, INTEGER);
    pub const VALUE_META: (u32, u32) = (5, super::column_type::VALUE_META);
    pub const VALUE: (u32, u32) = (5, super::column_type::VALUE);
    pub const SUCC_COUNT: (u32, u32) = (8, GROUP);
    pub const SUCC_ACTOR: (u32, u32) = (8, ACTOR);
    pub const SUCC_CTR: (u32, u32) = (8, DELTA);
    pub const EXPAND: (u32, u32) = (9, BOOLEAN);
    pub const MARK_NAME: (u32, u32) = (10, STRING);
    /// Every column this reader knows; any other makes it give up.
    pub const ALL: [(u32, u32); 16] = [
        OBJ_ACTOR, OBJ_CTR, KEY_ACTOR, KEY_CTR, KEY_STR, ID_ACTOR, ID_CTR, INSERT, ACTION,
        VALUE_META, VALUE, SUCC_COUNT, SUCC_ACTOR, SUCC_CTR, EXPAND, MARK_NAME,
    ];
}

/// Bytes in order: a column's own, or inflated from them.
enum Source<'a> {
    Plain(&'a [u8]),
    Deflated(Box<BufReader<flate2::bufread::DeflateDecoder<&'a [u8]>>>),
}

impl<'a> Source<'a> {
    fn new(bytes: &'a [u8], deflated: bool) -> Source<'a> {
        if deflated {
            Source::Deflated(Box::new(BufReader::with_capacity(
                INFLATE_BUFFER,
                flate2::bufread::DeflateDecoder::new(bytes),
            )))
        } else {
            Source::Plain(bytes)
        }
    }

    /// The next byte; `None` at the end.
    #[inline]
    fn byte(&mut self) -> Result<Option<u8>, Unsupported> {
        match self {
            Source::Plain(bytes) => match bytes.split_first() {
                Some((b, rest)) => {
                    *bytes = rest;
                    Ok(Some(*b))
                }
                None => Ok(None),
            },
            Source::Deflated(reader) => {
                let buf = reader
                    .fill_buf()
                    .map_err(|e| bad(format!("a column does not inflate: {e}")))?;
                let Some(b) = buf.first().copied() else {
                    return Ok(None);
                };
                reader.consume(1);
                Ok(Some(b))
            }
        }
    }

    /// Whether every byte has been read.
    fn is_empty(&mut self) -> Result<bool, Unsupported> {
        match self {
            Source::Plain(bytes) => Ok(bytes.is_empty()),
            Source::Deflated(reader) => Ok(reader
                .fill_buf()
                .map_err(|e| bad(format!("a column does not inflate: {e}")))?
                .is_empty()),
        }
    }

    fn some_byte(&mut self) -> Result<u8, Unsupported> {
        self.byte()?
            .ok_or_else(|| bad("a column ends within a value"))
    }

    /// The next `n` bytes, into `out` (cleared first).
    fn take(&mut self, n: usize, out: &mut Vec<u8>) -> Result<(), Unsupported> {
        out.clear();
        match self {
            Source::Plain(bytes) => {
                if bytes.len() < n {
                    return Err(bad("a column ends within a value"));
                }
                let (head, rest) = bytes.split_at(n);
                out.extend_from_slice(head);
                *bytes = rest;
            }
            Source::Deflated(reader) => {
                let got = reader
                    .take(n as u64)
                    .read_to_end(out)
                    .map_err(|e| bad(format!("a column does not inflate: {e}")))?;
                if got < n {
                    return Err(bad("a column ends within a value"));
                }
            }
        }
        Ok(())
    }

    /// A LEB128 number's bits, how many it has (a multiple of 7), and its
    /// last byte; `None` at the end of the column.
    fn leb_or_end(&mut self) -> Result<Option<(u64, u32, u8)>, Unsupported> {
        let Some(first) = self.byte()? else {
            return Ok(None);
        };
        let mut value = u64::from(first & 0x7f);
        let mut shift = 7;
        let mut b = first;
        while b & 0x80 != 0 {
            b = self.some_byte()?;
            if shift > 63 {
                return Err(bad("a number overflows 64 bits"));
            }
            value |= u64::from(b & 0x7f) << shift;
            shift += 7;
        }
        Ok(Some((value, shift, b)))
    }

    /// An unsigned LEB128 number; `None` at the end of the column.
    fn uleb_or_end(&mut self) -> Result<Option<u64>, Unsupported> {
        match self.leb_or_end()? {
            // A tenth byte holds the 64th bit alone.
            Some((_, 70, last)) if last > 1 => Err(bad("a number overflows 64 bits")),
            leb => Ok(leb.map(|(value, _, _)| value)),
        }
    }

    fn uleb(&mut self) -> Result<u64, Unsupported> {
        self.uleb_or_end()?
            .ok_or_else(|| bad("a column ends within a value"))
    }

    /// A signed LEB128 number; `None` at the end of the column.
    fn sleb_or_end(&mut self) -> Result<Option<i64>, Unsupported> {
        let Some((bits, shift, last)) = self.leb_or_end()? else {
            return Ok(None);
        };
        // A tenth byte holds the sign alone.
        if shift == 70 && last != 0 && last != 0x7f {
            return Err(bad("a number overflows 64 bits"));
        }
        let mut value = bits as i64;
        if shift < 64 && last & 0x40 != 0 {
            value |= -1i64 << shift;
        }
        Ok(Some(value))
    }

    fn sleb(&mut self) -> Result<i64, Unsupported> {
        self.sleb_or_end()?
            .ok_or_else(|| bad("a column ends within a value"))
    }
}

/// A value of a run-length encoded column.
trait Item: Sized {
    fn read(src: &mut Source<'_>, into: &mut Self) -> Result<(), Unsupported>;
}

impl Item for u64 {
    fn read(src: &mut Source<'_>, into: &mut u64) -> Result<(), Unsupported> {
        *into = src.uleb()?;
        Ok(())
    }
}

impl Item for i64 {
    fn read(src: &mut Source<'_>, into: &mut i64) -> Result<(), Unsupported> {
        *into = src.sleb()?;
        Ok(())
    }
}

impl Item for String {
    fn read(src: &mut Source<'_>, into: &mut String) -> Result<(), Unsupported> {
        let len = src.uleb()? as usize;
        let mut bytes = std::mem::take(into).into_bytes();
        src.take(len, &mut bytes)?;
        *into = String::from_utf8(bytes).map_err(|_| bad("a string column holds no UTF-8"))?;
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Run {
    Repeat,
    Literal,
    Null,
}

/// A run-length encoded column: a signed count, then one value repeated
/// that many times (positive), that many values (negative), or an
/// unsigned count of nulls (zero). Past its end, a column is null.
struct Rle<'a, T> {
    src: Source<'a>,
    left: u64,
    run: Run,
    value: T,
    /// Whether the column's end was reached (a null before it is not).
    ended: bool,
}

impl<'a, T: Item + Default> Rle<'a, T> {
    fn new(src: Source<'a>) -> Self {
        Rle {
            src,
            left: 0,
            run: Run::Null,
            value: T::default(),
            ended: false,
        }
    }

    /// The next run's head, if the current one is done; `false` at the
    /// column's end.
    fn fill(&mut self) -> Result<bool, Unsupported> {
        while self.left == 0 {
            let Some(count) = self.src.sleb_or_end()? else {
                self.ended = true;
                return Ok(false);
            };
            if count > 0 {
                T::read(&mut self.src, &mut self.value)?;
                self.left = count as u64;
                self.run = Run::Repeat;
            } else if count < 0 {
                self.left = count.unsigned_abs();
                self.run = Run::Literal;
            } else {
                self.left = self.src.uleb()?;
                self.run = Run::Null;
            }
        }
        Ok(true)
    }

    /// Whether every value has been read.
    fn at_end(&mut self) -> Result<bool, Unsupported> {
        Ok(!self.fill()?)
    }

    fn next(&mut self) -> Result<Option<&T>, Unsupported> {
        if !self.fill()? {
            return Ok(None);
        }
        self.left -= 1;
        match self.run {
            Run::Repeat => Ok(Some(&self.value)),
            Run::Literal => {
                T::read(&mut self.src, &mut self.value)?;
                Ok(Some(&self.value))
            }
            Run::Null => Ok(None),
        }
    }
}

/// Differences, run-length encoded; null leaves the sum as it was.
struct Delta<'a> {
    deltas: Rle<'a, i64>,
    sum: i64,
}

impl Delta<'_> {
    fn next(&mut self) -> Result<Option<i64>, Unsupported> {
        Ok(match self.deltas.next()? {
            Some(d) => {
                self.sum = self
                    .sum
                    .checked_add(*d)
                    .ok_or_else(|| bad("a counter overflows"))?;
                Some(self.sum)
            }
            None => None,
        })
    }
}

impl Delta<'_> {
    /// Reads past `n` values (a successor list), a run at a time: a
    /// repeated difference is added once for the run, so a long run costs
    /// no more than a short one. The column must hold them.
    fn skip(&mut self, mut n: u64) -> Result<(), Unsupported> {
        while n > 0 {
            if !self.deltas.fill()? {
                return Err(bad("a successor column ends early"));
            }
            let take = n.min(self.deltas.left);
            match self.deltas.run {
                Run::Literal => {
                    for _ in 0..take {
                        self.next()?;
                    }
                }
                Run::Repeat => {
                    let add = i64::try_from(take)
                        .ok()
                        .and_then(|t| self.deltas.value.checked_mul(t))
                        .and_then(|d| self.sum.checked_add(d))
                        .ok_or_else(|| bad("a counter overflows"))?;
                    self.sum = add;
                    self.deltas.left -= take;
                }
                Run::Null => self.deltas.left -= take,
            }
            n -= take;
        }
        Ok(())
    }
}

impl<T: Item + Default> Rle<'_, T> {
    /// Reads past `n` values, a run at a time. The column must hold them.
    fn skip(&mut self, mut n: u64) -> Result<(), Unsupported> {
        while n > 0 {
            if !self.fill()? {
                return Err(bad("a successor column ends early"));
            }
            let take = n.min(self.left);
            if let Run::Literal = self.run {
                for _ in 0..take {
                    self.next()?;
                }
            } else {
                self.left -= take;
            }
            n -= take;
        }
        Ok(())
    }
}

/// Booleans as the lengths of alternating runs, false first. Past its
/// end, a column is false.
struct Bools<'a> {
    src: Source<'a>,
    left: u64,
    value: bool,
}

impl Bools<'_> {
    fn next(&mut self) -> Result<bool, Unsupported> {
        while self.left == 0 {
            let Some(run) = self.src.uleb_or_end()? else {
                return Ok(false);
            };
            self.value = !self.value;
            self.left = run;
        }
        self.left -= 1;
        Ok(self.value)
    }
}

/// An operation's id, or an object's (the id of the operation that made
/// it): ordered as automerge orders them, by counter, then actor (whose
/// index in a document orders as its bytes do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id {
    pub counter: u32,
    pub actor: u32,
}

impl Id {
    /// As automerge holds one: each part in 32 bits (a document with more
    /// operations or actors does not load either).
    pub(super) fn new(counter: u64, actor: u64) -> Result<Id, Unsupported> {
        match (u32::try_from(counter), u32::try_from(actor)) {
            (Ok(counter), Ok(actor)) => Ok(Id { counter, actor }),
            _ => Err(bad("an operation id past 32 bits")),
        }
    }
}

impl Id {
    pub const ROOT: Id = Id {
        counter: 0,
        actor: 0,
    };
}

/// What an operation does (automerge's action codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    MakeMap,
    Set,
    MakeList,
    Delete,
    MakeText,
    Increment,
    MakeTable,
    Mark,
}

/// Where an operation applies: a map's key, or a sequence's element
/// (`None`: the head, before the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key<'k> {
    Map(&'k str),
    Elem(Option<Id>),
}

/// One operation, as the document stores it (its successors counted, not
/// listed: this reader needs only whether it has any).
pub struct Op<'k> {
    pub obj: Id,
    pub key: Key<'k>,
    pub id: Id,
    pub insert: bool,
    pub action: Action,
    pub value: ScalarValue,
    pub successors: u64,
    /// The ids of its successors, for the operations asked for
    /// ([`Ops::keep_successors_of`]); empty for any other.
    pub succ: &'k [Id],
}

/// A document chunk's operations, in the order it stores them.
pub struct Ops<'a> {
    obj_actor: Rle<'a, u64>,
    obj_ctr: Rle<'a, u64>,
    key_actor: Rle<'a, u64>,
    key_ctr: Delta<'a>,
    key_str: Rle<'a, String>,
    id_actor: Rle<'a, u64>,
    id_ctr: Delta<'a>,
    insert: Bools<'a>,
    action: Rle<'a, u64>,
    value_meta: Rle<'a, u64>,
    value: Source<'a>,
    succ_count: Rle<'a, u64>,
    succ_actor: Rle<'a, u64>,
    succ_ctr: Delta<'a>,
    expand: Bools<'a>,
    mark_name: Rle<'a, String>,
    raw: Vec<u8>,
    /// How many actors the document lists.
    actors: u32,
    /// The actors the document lists, in its order (their bytes').
    pub actor_ids: Vec<Vec<u8>>,
    /// The hashes of the document's heads.
    pub heads: Vec<[u8; 32]>,
    /// Each actor's place among more actors than the document lists
    /// ([`Ops::rank_actors`]); empty: its own index.
    ranks: std::rc::Rc<[u32]>,
    /// The change columns of actors and sequence numbers, and whether
    /// each is deflated.
    /// The change columns, by their specification (without the
    /// deflate bit), and whether each is deflated.
    change_columns: Vec<(u32, &'a [u8], bool)>,
    /// Whose successors [`Op::succ`] lists: an actor's index and the
    /// highest counter.
    keep_succ: Option<(u32, u32)>,
    succ: Vec<Id>,
    /// Each head's index among the changes (`None`: the chunk does not
    /// say, as older writers did not).
    head_indices: Option<Vec<u64>>,
}

/// What [`Ops::held`] tells of the changes a document chunk holds.
#[derive(Debug)]
pub struct Held {
    /// Each actor's last sequence number (0: none), by its index.
    pub last_seq: Vec<u64>,
    /// Each head's actor index and sequence number, in the heads' order.
    pub heads: Vec<(u32, u64)>,
    /// The first change, as the chunk describes it.
    pub first: Option<ChangeMeta>,
}

/// A change as a document chunk describes it (its operations are among
/// the document's).
#[derive(Debug, Clone)]
pub struct ChangeMeta {
    /// Its actor's index.
    pub actor: u32,
    pub seq: u64,
    pub max_op: u64,
    pub time: i64,
    pub message: Option<String>,
    /// How many changes it depends on.
    pub deps: u64,
    pub extra: Vec<u8>,
}

/// Parses `bytes` as exactly one document chunk, its checksum checked,
/// and returns its operations.
pub fn document_ops(bytes: &[u8]) -> Result<Ops<'_>, Unsupported> {
    let mut input = Source::Plain(bytes);
    let mut magic = Vec::new();
    input.take(4, &mut magic)?;
    if magic != MAGIC {
        return Err(bad("not an automerge chunk"));
    }
    let mut checksum = Vec::new();
    input.take(4, &mut checksum)?;
    let header_start = 8;
    if input.some_byte()? != DOCUMENT_CHUNK {
        return Err(bad("not a document chunk"));
    }
    let len = input.uleb()? as usize;
    let Source::Plain(rest) = input else {
        unreachable!("the input is plain bytes")
    };
    let header_len = bytes.len() - rest.len();
    if rest.len() != len {
        return Err(bad(if rest.len() > len {
            "more than one chunk"
        } else {
            "the chunk is cut short"
        }));
    }
    let hash = Sha256::new()
        .chain_update(&bytes[header_start..header_len])
        .chain_update(rest)
        .finalize();
    if hash[..4] != checksum[..] {
        return Err(bad("the chunk's checksum does not match"));
    }

    let mut body = Source::Plain(rest);
    let mut scratch = Vec::new();
    // Actors, then the heads.
    let actors = u32::try_from(body.uleb()?).map_err(|_| bad("too many actors"))?;
    let mut actor_ids = Vec::new();
    for _ in 0..actors {
        let n = body.uleb()? as usize;
        body.take(n, &mut scratch)?;
        actor_ids.push(scratch.clone());
    }
    let heads = body.uleb()? as usize;
    body.take(
        heads.checked_mul(32).ok_or_else(|| bad("too many heads"))?,
        &mut scratch,
    )?;
    let heads: Vec<[u8; 32]> = scratch
        .chunks_exact(32)
        .map(|h| <[u8; 32]>::try_from(h).expect("32 bytes"))
        .collect();
    let columns = |body: &mut Source<'_>| -> Result<Vec<(u32, usize)>, Unsupported> {
        (0..body.uleb()?)
            .map(|_| {
                let spec = u32::try_from(body.uleb()?).map_err(|_| bad("a column spec"))?;
                Ok((spec, body.uleb()? as usize))
            })
            .collect()
    };
    let change_columns = columns(&mut body)?;
    let op_columns = columns(&mut body)?;
    let Source::Plain(mut data) = body else {
        unreachable!("the body is plain bytes")
    };
    let mut at = 0usize;
    let mut kept_change_columns = Vec::new();
    for (spec, len) in &change_columns {
        let column = data
            .get(at..at.saturating_add(*len))
            .ok_or_else(|| bad("the change columns are cut short"))?;
        at += len;
        kept_change_columns.push((spec & !DEFLATE, column, spec & DEFLATE != 0));
    }
    let skip = change_columns
        .iter()
        .try_fold(0usize, |sum, (_, len)| sum.checked_add(*len))
        .ok_or_else(|| bad("the change columns overflow"))?;
    data = data
        .get(skip..)
        .ok_or_else(|| bad("the change columns are cut short"))?;
    let mut found: [Option<(&[u8], bool)>; 16] = [None; 16];
    for (spec, len) in op_columns {
        if data.len() < len {
            return Err(bad("the operation columns are cut short"));
        }
        let (column, rest) = data.split_at(len);
        data = rest;
        let which = (spec >> 4, spec & 0b111);
        let Some(i) = op_column::ALL.iter().position(|c| *c == which) else {
            return Err(bad(format!(
                "an operation column this reader does not know: {spec}"
            )));
        };
        if found[i].is_some() {
            return Err(bad("an operation column twice"));
        }
        found[i] = Some((column, spec & DEFLATE != 0));
    }
    // What is left: each head's index among the changes.
    let head_indices = if data.is_empty() {
        None
    } else {
        let mut suffix = Source::Plain(data);
        Some(
            (0..heads.len())
                .map(|_| suffix.uleb())
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let mut source = |c: (u32, u32)| {
        let i = op_column::ALL.iter().position(|x| *x == c).unwrap_or(0);
        let (bytes, deflated) = found[i].take().unwrap_or((&[], false));
        Source::new(bytes, deflated)
    };
    let delta = |src| Delta {
        deltas: Rle::new(src),
        sum: 0,
    };
    let bools = |src| Bools {
        src,
        left: 0,
        value: true,
    };
    Ok(Ops {
        obj_actor: Rle::new(source(op_column::OBJ_ACTOR)),
        obj_ctr: Rle::new(source(op_column::OBJ_CTR)),
        key_actor: Rle::new(source(op_column::KEY_ACTOR)),
        key_ctr: delta(source(op_column::KEY_CTR)),
        key_str: Rle::new(source(op_column::KEY_STR)),
        id_actor: Rle::new(source(op_column::ID_ACTOR)),
        id_ctr: delta(source(op_column::ID_CTR)),
        insert: bools(source(op_column::INSERT)),
        action: Rle::new(source(op_column::ACTION)),
        value_meta: Rle::new(source(op_column::VALUE_META)),
        value: source(op_column::VALUE),
        succ_count: Rle::new(source(op_column::SUCC_COUNT)),
        succ_actor: Rle::new(source(op_column::SUCC_ACTOR)),
        succ_ctr: delta(source(op_column::SUCC_CTR)),
        expand: bools(source(op_column::EXPAND)),
        mark_name: Rle::new(source(op_column::MARK_NAME)),
        raw: Vec::new(),
        actors,
        actor_ids,
        heads,
        ranks: std::rc::Rc::from([]),
        change_columns: kept_change_columns,
        keep_succ: None,
        succ: Vec::new(),
        head_indices,
    })
}

impl Ops<'_> {
    /// Each actor's last change in the chunk and each head's actor and
    /// sequence number, read from its change columns.
    pub fn held(&self) -> Result<Held, Unsupported> {
        let Some(indices) = &self.head_indices else {
            return Err(bad(
                "a document that does not say which changes are its heads",
            ));
        };
        let column = |id: u32, ty: u32| {
            let spec = (id << 4) | ty;
            let found = self.change_columns.iter().find(|(s, _, _)| *s == spec);
            found.map_or(Source::Plain(&[]), |(_, bytes, deflated)| {
                Source::new(bytes, *deflated)
            })
        };
        let delta = |src| Delta {
            deltas: Rle::new(src),
            sum: 0,
        };
        let mut actors = Rle::<u64>::new(column(0, column_type::ACTOR));
        let mut seqs = delta(column(0, column_type::DELTA));
        let first = self.first_change(column, delta)?;
        let mut held = Held {
            last_seq: vec![0; self.actors as usize],
            heads: vec![(0, 0); indices.len()],
            first,
        };
        let mut found = 0;
        let mut index = 0u64;
        while let Some(actor) = actors.next()?.copied() {
            let seq = seqs
                .next()?
                .and_then(|s| u64::try_from(s).ok())
                .ok_or_else(|| bad("a change without a sequence number"))?;
            let actor = u32::try_from(actor)
                .ok()
                .filter(|a| *a < self.actors)
                .ok_or_else(|| bad("a change by an actor the document does not list"))?;
            let last = &mut held.last_seq[actor as usize];
            *last = (*last).max(seq);
            for (i, _) in indices.iter().enumerate().filter(|(_, h)| **h == index) {
                held.heads[i] = (actor, seq);
                found += 1;
            }
            index += 1;
        }
        if found != indices.len() {
            return Err(bad("a head that is no change of the document"));
        }
        Ok(held)
    }

    /// The first change's description, from the first value of each
    /// change column.
    fn first_change<'c>(
        &self,
        column: impl Fn(u32, u32) -> Source<'c>,
        delta: impl Fn(Source<'c>) -> Delta<'c>,
    ) -> Result<Option<ChangeMeta>, Unsupported> {
        let Some(actor) = Rle::<u64>::new(column(0, column_type::ACTOR))
            .next()?
            .copied()
        else {
            return Ok(None);
        };
        let number = |d: Option<i64>| d.ok_or_else(|| bad("a change without a number"));
        let seq = number(delta(column(0, column_type::DELTA)).next()?)?;
        let max_op = number(delta(column(1, column_type::DELTA)).next()?)?;
        let time = delta(column(2, column_type::DELTA)).next()?.unwrap_or(0);
        let message = Rle::<String>::new(column(3, column_type::STRING))
            .next()?
            .cloned();
        let deps = Rle::<u64>::new(column(4, column_type::GROUP))
            .next()?
            .copied()
            .unwrap_or(0);
        let meta = Rle::<u64>::new(column(5, column_type::VALUE_META))
            .next()?
            .copied()
            .unwrap_or(0);
        let mut extra = Vec::new();
        let len = usize::try_from(meta >> 4).map_err(|_| bad("a change's extra bytes"))?;
        column(5, column_type::VALUE).take(len, &mut extra)?;
        Ok(Some(ChangeMeta {
            actor: u32::try_from(actor)
                .ok()
                .filter(|a| *a < self.actors)
                .ok_or_else(|| bad("a change by an actor the document does not list"))?,
            seq: u64::try_from(seq).map_err(|_| bad("a change's sequence number"))?,
            max_op: u64::try_from(max_op).map_err(|_| bad("a change's last operation"))?,
            time,
            message,
            deps,
            extra,
        }))
    }

    /// From now on, each operation made by `actor` (its index) with a
    /// counter up to `max` lists its successors ([`Op::succ`]).
    pub fn keep_successors_of(&mut self, actor: u32, max: u32) {
        self.keep_succ = Some((actor, max));
    }

    /// From now on, each operation's ids give the actor at index `i` of
    /// the document's list as `ranks[i]`: its place among more actors
    /// (those of changes saved after the document), so that ids still
    /// order as automerge orders them.
    pub fn rank_actors(&mut self, ranks: Vec<u32>) {
        self.ranks = ranks.into();
    }

    /// The next operation; `None` after the last. Its key borrows from
    /// this reader until the next call.
    pub fn next_op(&mut self) -> Result<Option<Op<'_>>, Unsupported> {
        let actors = self.actors;
        let ranks = self.ranks.clone();
        let mut op = self.read_op()?;
        if let Some(op) = &mut op {
            let ids = [
                Some(op.obj),
                Some(op.id),
                match op.key {
                    Key::Elem(e) => e,
                    Key::Map(_) => None,
                },
            ];
            if ids
                .iter()
                .flatten()
                .any(|i| i.actor >= actors && *i != Id::ROOT)
            {
                return Err(bad("an actor the document does not list"));
            }
            if !ranks.is_empty() {
                let rank = |id: &mut Id| {
                    if *id != Id::ROOT {
                        id.actor = ranks[id.actor as usize];
                    }
                };
                rank(&mut op.obj);
                rank(&mut op.id);
                if let Key::Elem(Some(e)) = &mut op.key {
                    rank(e);
                }
            }
        }
        Ok(op)
    }

    fn read_op(&mut self) -> Result<Option<Op<'_>>, Unsupported> {
        // Every operation has an action: the column's end is the last.
        let Some(action) = self.action.next()?.copied() else {
            if !self.action.ended {
                return Err(bad("an operation without an action"));
            }
            // Every column ends with the operations, as automerge checks.
            let ended = self.obj_actor.at_end()?
                && self.obj_ctr.at_end()?
                && self.key_actor.at_end()?
                && self.key_ctr.deltas.at_end()?
                && self.key_str.at_end()?
                && self.id_actor.at_end()?
                && self.id_ctr.deltas.at_end()?
                && self.value_meta.at_end()?
                && self.value.is_empty()?
                && self.succ_count.at_end()?
                && self.succ_actor.at_end()?
                && self.succ_ctr.deltas.at_end()?
                && self.mark_name.at_end()?;
            if !ended {
                return Err(bad("a column longer than the operations"));
            }
            return Ok(None);
        };
        let action = match action {
            0 => Action::MakeMap,
            1 => Action::Set,
            2 => Action::MakeList,
            3 => Action::Delete,
            4 => Action::MakeText,
            5 => Action::Increment,
            6 => Action::MakeTable,
            7 => Action::Mark,
            other => return Err(bad(format!("an unknown action {other}"))),
        };
        let obj_actor = self.obj_actor.next()?.copied();
        let obj = match self.obj_ctr.next()?.copied() {
            None | Some(0) => Id::ROOT,
            Some(counter) => Id::new(
                counter,
                obj_actor.ok_or_else(|| bad("an object without an actor"))?,
            )?,
        };
        let key_actor = self.key_actor.next()?.copied();
        let key_ctr = self.key_ctr.next()?;
        let id_actor = self.id_actor.next()?.copied();
        let id = match (self.id_ctr.next()?, id_actor) {
            (Some(counter), Some(actor)) if counter > 0 => Id::new(counter as u64, actor)?,
            _ => return Err(bad("an operation without an id")),
        };
        let insert = self.insert.next()?;
        let meta = self.value_meta.next()?.copied().unwrap_or(0);
        let len = usize::try_from(meta >> 4).map_err(|_| bad("a value's length"))?;
        self.value.take(len, &mut self.raw)?;
        let value = scalar(meta & 0b1111, &self.raw)?;
        let successors = self.succ_count.next()?.copied().unwrap_or(0);
        self.succ.clear();
        if self
            .keep_succ
            .is_some_and(|(actor, max)| id.actor == actor && id.counter <= max)
        {
            for _ in 0..successors {
                let actor = self.succ_actor.next()?.copied();
                let counter = self.succ_ctr.next()?;
                let (Some(actor), Some(counter)) = (actor, counter) else {
                    return Err(bad("a successor without an id"));
                };
                let mut succ = Id::new(counter as u64, actor)?;
                if succ.actor >= self.actors {
                    return Err(bad("an actor the document does not list"));
                }
                if let Some(rank) = self.ranks.get(succ.actor as usize) {
                    succ.actor = *rank;
                }
                self.succ.push(succ);
            }
        } else {
            self.succ_actor.skip(successors)?;
            self.succ_ctr.skip(successors)?;
        }
        if self.expand.next()? || self.mark_name.next()?.is_some() {
            return Err(bad("a mark"));
        }
        let key = match self.key_str.next()? {
            Some(s) => Key::Map(s.as_str()),
            None => Key::Elem(match (key_ctr, key_actor) {
                (None | Some(0), _) => None,
                (Some(counter), Some(actor)) if counter > 0 => {
                    Some(Id::new(counter as u64, actor)?)
                }
                _ => return Err(bad("an element without an actor")),
            }),
        };
        Ok(Some(Op {
            obj,
            key,
            id,
            insert,
            action,
            value,
            successors,
            succ: &self.succ,
        }))
    }
}

/// A value from its type code and bytes, as automerge reads one.
fn scalar(type_code: u64, raw: &[u8]) -> Result<ScalarValue, Unsupported> {
    // A number's bytes are exactly its LEB128.
    let int = |raw: &[u8]| -> Result<i64, Unsupported> {
        let mut src = Source::Plain(raw);
        let v = src.sleb()?;
        if !src.is_empty()? {
            return Err(bad("a number value with bytes after it"));
        }
        Ok(v)
    };
    let uint = |raw: &[u8]| -> Result<u64, Unsupported> {
        let mut src = Source::Plain(raw);
        let v = src.uleb()?;
        if !src.is_empty()? {
            return Err(bad("a number value with bytes after it"));
        }
        Ok(v)
    };
    Ok(match type_code {
        0 => ScalarValue::Null,
        1 => ScalarValue::Boolean(false),
        2 => ScalarValue::Boolean(true),
        3 => ScalarValue::Uint(uint(raw)?),
        4 => ScalarValue::Int(int(raw)?),
        5 => ScalarValue::F64(f64::from_le_bytes(
            raw.try_into().map_err(|_| bad("a float not of 8 bytes"))?,
        )),
        6 => ScalarValue::Str(
            std::str::from_utf8(raw)
                .map_err(|_| bad("a string value holds no UTF-8"))?
                .into(),
        ),
        7 => ScalarValue::Bytes(raw.to_vec()),
        8 => ScalarValue::Counter(int(raw)?.into()),
        9 => ScalarValue::Timestamp(int(raw)?),
        other => ScalarValue::Unknown {
            type_code: other as u8,
            bytes: raw.to_vec(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uleb(bytes: &[u8]) -> Result<u64, Unsupported> {
        Source::Plain(bytes).uleb()
    }

    fn sleb(bytes: &[u8]) -> Result<i64, Unsupported> {
        Source::Plain(bytes).sleb()
    }

    #[test]
    fn numbers_of_ten_bytes_read_to_their_64th_bit_and_no_further() {
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(uleb(&max), Ok(u64::MAX));
        let mut over = max;
        over[9] = 0x03;
        assert!(uleb(&over).is_err());
        let min = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f];
        assert_eq!(sleb(&min), Ok(i64::MIN));
        assert_eq!(sleb(&[0x7f]), Ok(-1));
        assert_eq!(sleb(&[0x3f]), Ok(63));
        let mut bad_sign = min;
        bad_sign[9] = 0x3f;
        assert!(sleb(&bad_sign).is_err());
        assert!(uleb(&[0x80]).is_err(), "cut within");
    }

    /// A successor list is read past a run at a time: a run of 2^60 of
    /// them costs one step, and a column that ends early is refused.
    #[test]
    fn values_are_skipped_by_runs() {
        // A run of 2^60 differences of 1, then a literal run of 5 and 7.
        let mut bytes = Vec::new();
        leb128_signed(&mut bytes, 1 << 60);
        leb128_signed(&mut bytes, 1);
        leb128_signed(&mut bytes, -2);
        leb128_signed(&mut bytes, 5);
        leb128_signed(&mut bytes, 7);
        let mut delta = Delta {
            deltas: Rle::new(Source::Plain(&bytes)),
            sum: 0,
        };
        delta.skip((1 << 60) - 1).unwrap();
        assert_eq!(delta.next(), Ok(Some(1 << 60)));
        delta.skip(1).unwrap();
        assert_eq!(delta.next(), Ok(Some((1 << 60) + 12)));
        assert!(delta.skip(1).is_err());

        let mut actors: Rle<'_, u64> = Rle::new(Source::Plain(&bytes));
        actors.skip(1 << 60).unwrap();
        assert_eq!(actors.next(), Ok(Some(&5)));
        assert_eq!(actors.next(), Ok(Some(&7)));
        assert_eq!(actors.next(), Ok(None));
        assert!(actors.at_end().unwrap());
    }

    fn leb128_signed(out: &mut Vec<u8>, mut v: i64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
            out.push(if done { byte } else { byte | 0x80 });
            if done {
                break;
            }
        }
    }
}
