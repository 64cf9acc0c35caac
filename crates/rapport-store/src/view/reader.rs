//! postcard's encoding read by hand, for the sections read in place
//! (people's rows, the activity log): the same bytes serde reads, with
//! nothing allocated and the fields a read does not need skipped.

/// postcard's encoding, read from the front of `bytes`.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    /// Whether a read failed for want of bytes (rather than for bytes
    /// that are not postcard's): a log read in pieces then reads more.
    short: bool,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader {
            bytes,
            short: false,
        }
    }

    /// The bytes not read yet.
    pub(super) fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether a read failed because the bytes ended first.
    pub(super) fn ran_out(&self) -> bool {
        self.short
    }

    /// Whether every byte was read.
    pub(super) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(super) fn byte(&mut self) -> Option<u8> {
        let Some((&b, rest)) = self.bytes.split_first() else {
            self.short = true;
            return None;
        };
        self.bytes = rest;
        Some(b)
    }

    /// An unsigned LEB128 of at most 64 bits, as postcard writes lengths.
    pub(super) fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            // The tenth byte holds the 64th bit only.
            if i == 9 && b > 1 {
                return None;
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A zigzag LEB128 of at most 32 bits, as postcard writes an `i32`
    /// (and as strictly: a fifth byte holds four bits at most).
    pub(super) fn i32(&mut self) -> Option<i32> {
        let mut n = 0u32;
        for i in 0..5 {
            let b = self.byte()?;
            n |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == 4 && b > 0x0f {
                    return None;
                }
                return Some(((n >> 1) as i32) ^ -((n & 1) as i32));
            }
        }
        None
    }

    /// A text's bytes, unchecked.
    pub(super) fn take(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        let Some((taken, rest)) = self.bytes.split_at_checked(n) else {
            self.short = true;
            return None;
        };
        self.bytes = rest;
        Some(taken)
    }

    pub(super) fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.take()?).ok()
    }

    /// A text (or an id) read past, its bytes neither checked as UTF-8
    /// nor copied.
    pub(super) fn skip(&mut self) -> Option<()> {
        self.take().map(|_| ())
    }

    pub(super) fn bool(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    pub(super) fn option<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
        match self.byte()? {
            0 => Some(None),
            1 => f(self).map(Some),
            _ => None,
        }
    }

    pub(super) fn list<T>(&mut self, mut f: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let n = self.varint()?;
        // An item takes a byte at least.
        let mut items = Vec::with_capacity(usize::try_from(n).ok()?.min(self.bytes.len()));
        for _ in 0..n {
            items.push(f(self)?);
        }
        Some(items)
    }

    pub(super) fn skip_list(&mut self) -> Option<()> {
        let n = self.varint()?;
        for _ in 0..n {
            self.skip()?;
        }
        Some(())
    }

    /// A value of a vocabulary, by its stored spelling (compared as bytes
    /// first: no UTF-8 check for the spellings a view writes), or any
    /// spelling its parse accepts, as its serde form does.
    pub(super) fn spelling<T: Copy + std::str::FromStr>(
        &mut self,
        all: &[T],
        as_str: fn(T) -> &'static str,
    ) -> Option<T> {
        let bytes = self.take()?;
        all.iter()
            .copied()
            .find(|v| as_str(*v).as_bytes() == bytes)
            .or_else(|| std::str::from_utf8(bytes).ok()?.parse().ok())
    }
}
