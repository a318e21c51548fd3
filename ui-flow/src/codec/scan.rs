//! A non-recursive walk over MessagePack bytes.
//!
//! Every frame is walked once before anything is decoded, so the typed decode
//! that follows never meets input that is truncated, nested too deep or
//! declares a length the input cannot hold. The walk keeps its own small stack
//! instead of recursing, so hostile input cannot overflow the call stack here
//! either.

use super::payload::head::{Cursor, Head};
use crate::error::DecodeError;

/// One value's header: where its body ends (for scalars, strings, binaries and
/// extensions) or how many child values follow (for arrays and maps).
#[derive(Debug, PartialEq, Eq)]
struct Header {
    /// Offset just past the header and any inline body.
    next: usize,
    /// Child values that follow (arrays: n, maps: 2n).
    children: u64,
    /// Whether the value is an array or a map.
    container: bool,
}

fn be(buf: &[u8], at: usize, n: usize) -> Result<u64, DecodeError> {
    let bytes = buf
        .get(at..at + n)
        .ok_or(DecodeError::Truncated { offset: buf.len() })?;
    Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

/// The offset past the value at `pos` if it is one of the most common
/// kinds: a fixint or a short string that fits.
#[inline(always)]
fn skip_short(buf: &[u8], pos: usize) -> Option<usize> {
    match buf.get(pos) {
        Some(&byte) if !(0x80..0xe0).contains(&byte) => Some(pos + 1),
        Some(&byte) if byte & 0xe0 == 0xa0 => {
            let next = pos + 1 + usize::from(byte & 0x1f);
            (next <= buf.len()).then_some(next)
        }
        _ => None,
    }
}

/// Reads the header at `pos` when it is well-formed and its declared length
/// fits, else `None`. This is the hot path of every walk; [`header_exact`]
/// says what is wrong when it returns `None` (and gives the same header when
/// it does not). The marker and its lengths are read by the payload
/// reader's head reader, the one reader of MessagePack heads in the codec.
#[inline(always)]
fn header_fast(buf: &[u8], pos: usize) -> Option<Header> {
    let mut cursor = Cursor::new(buf.get(pos..)?);
    let head = cursor.head().ok()?;
    // Past the marker and its lengths (and an extension's type).
    let body = buf.len() - cursor.remaining();
    // (offset past the header and inline body, child values, is a container)
    let (next, children, container) = match head {
        Head::Str(len) | Head::Bin(len) | Head::Ext(_, len) => {
            (body.checked_add(usize::try_from(len).ok()?)?, 0, false)
        }
        Head::Array(len) => (body, usize::try_from(len).ok()?, true),
        Head::Map(len) => (body, usize::try_from(len).ok()?.checked_mul(2)?, true),
        _ => (body, 0, false),
    };
    if next > buf.len() || children > buf.len() - next {
        return None;
    }
    Some(Header {
        next,
        children: children as u64,
        container,
    })
}

/// Reads the header at `pos` and says exactly what is wrong with it, if
/// anything. Only called when [`header_fast`] gave up.
#[cold]
#[inline(never)]
fn header_exact(buf: &[u8], pos: usize) -> Result<Header, DecodeError> {
    let byte = *buf.get(pos).ok_or(DecodeError::Truncated { offset: pos })?;
    let body = pos + 1;
    // (extra header bytes holding a length, fixed body bytes, container kind)
    let sized = |len_bytes: usize, fixed: usize| -> Result<Header, DecodeError> {
        let len = be(buf, body, len_bytes)?;
        let start = body + len_bytes + fixed;
        // An extension's type byte can be missing even when its length is 0.
        if start > buf.len() {
            return Err(DecodeError::Truncated { offset: buf.len() });
        }
        let remaining = buf.len().saturating_sub(start);
        if len > remaining as u64 {
            return Err(DecodeError::LengthExceedsInput {
                declared: len,
                remaining,
                offset: pos,
            });
        }
        Ok(Header {
            next: start + len as usize,
            children: 0,
            container: false,
        })
    };
    let container = |len_bytes: usize, per_entry: u64| -> Result<Header, DecodeError> {
        let len = if len_bytes == 0 {
            u64::from(byte & 0x0f)
        } else {
            be(buf, body, len_bytes)?
        };
        let start = body + len_bytes;
        let children = len * per_entry;
        let remaining = buf.len().saturating_sub(start);
        if children > remaining as u64 {
            return Err(DecodeError::LengthExceedsInput {
                declared: len,
                remaining,
                offset: pos,
            });
        }
        Ok(Header {
            next: start,
            children,
            container: true,
        })
    };
    let fixed = |n: usize| -> Result<Header, DecodeError> {
        if body + n > buf.len() {
            return Err(DecodeError::Truncated { offset: buf.len() });
        }
        Ok(Header {
            next: body + n,
            children: 0,
            container: false,
        })
    };
    match byte {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => fixed(0),
        0x80..=0x8f => container(0, 2),
        0x90..=0x9f => container(0, 1),
        0xa0..=0xbf => {
            let len = usize::from(byte & 0x1f);
            let remaining = buf.len() - body;
            if len > remaining {
                return Err(DecodeError::LengthExceedsInput {
                    declared: len as u64,
                    remaining,
                    offset: pos,
                });
            }
            fixed(len)
        }
        0xc1 => Err(DecodeError::ReservedByte { offset: pos }),
        0xc4 | 0xd9 => sized(1, 0),
        0xc5 | 0xda => sized(2, 0),
        0xc6 | 0xdb => sized(4, 0),
        0xc7 => sized(1, 1),
        0xc8 => sized(2, 1),
        0xc9 => sized(4, 1),
        0xca => fixed(4),
        0xcb => fixed(8),
        0xcc | 0xd0 => fixed(1),
        0xcd | 0xd1 => fixed(2),
        0xce | 0xd2 => fixed(4),
        0xcf | 0xd3 => fixed(8),
        0xd4 => fixed(2),
        0xd5 => fixed(3),
        0xd6 => fixed(5),
        0xd7 => fixed(9),
        0xd8 => fixed(17),
        0xdc => container(2, 1),
        0xdd => container(4, 1),
        0xde => container(2, 2),
        0xdf => container(4, 2),
    }
}

/// Walks exactly one value starting at `start`, checking nesting depth
/// (the outermost container is depth 1), and returns the offset just past it.
#[inline]
pub(crate) fn walk(buf: &[u8], start: usize, max_depth: usize) -> Result<usize, DecodeError> {
    // Past a few KiB the stack costs little next to the bytes walked, and a
    // long value is the likely one to open more than `max_depth`
    // containers, which would make the fast path walk part of it twice.
    if buf.len().saturating_sub(start) <= FEW_CONTAINERS_MAX_INPUT
        && let Some(end) = walk_few_containers(buf, start, max_depth)
    {
        return Ok(end);
    }
    walk_exact(buf, start, max_depth)
}

/// The most bytes (from the value's start to the end of the input) for
/// which [`walk`] tries [`walk_few_containers`] first.
const FEW_CONTAINERS_MAX_INPUT: usize = 4096;

/// The fast path of [`walk`] for values that open at most `max_depth`
/// containers, which is what ordinary payloads do. `None` when the value
/// opens more, or is malformed; [`walk_exact`] then gives the answer.
///
/// Why it gives the same end as [`walk_exact`] without a stack: MessagePack
/// is written in pre-order, so a value ends after its header and, for a
/// container, after its children, each ending the same way. Counting the
/// values still owed (one, plus every container's children as its header
/// is read) visits exactly the headers `walk_exact` visits, in the same
/// order, and stops where it stops. The stack is only needed to know the
/// depth; but a value nested `d` deep sits inside `d` containers, all of
/// them opened by then, so a value that opens no more than `max_depth`
/// containers in all is within the limit.
///
/// The count cannot overflow: every value owed needs at least one byte, so
/// owing more than the bytes left is malformed (and the exact walk says
/// where). After that check the count is at most `buf.len()`, and one
/// header adds at most `buf.len()` more before the next check.
#[inline]
fn walk_few_containers(buf: &[u8], start: usize, max_depth: usize) -> Option<usize> {
    let mut owed: usize = 1;
    let mut containers_left = max_depth;
    let mut pos = start;
    while owed > 0 {
        owed -= 1;
        if let Some(next) = skip_short(buf, pos) {
            pos = next;
            continue;
        }
        let head = header_fast(buf, pos)?;
        if head.container {
            containers_left = containers_left.checked_sub(1)?;
            // `header_fast` has checked that `children` fit in what is left.
            owed += head.children as usize;
            if owed > buf.len() - head.next {
                return None;
            }
        }
        pos = head.next;
    }
    Some(pos)
}

/// [`walk`] with a stack of container counts, which says exactly what is
/// wrong and where.
#[inline(never)]
fn walk_exact(buf: &[u8], start: usize, max_depth: usize) -> Result<usize, DecodeError> {
    // Values left in the current container (or the one value asked for), and
    // the counts of the containers around it, innermost last.
    let mut left: u64 = 1;
    let mut outer = Outer::default();
    let mut pos = start;
    loop {
        while left == 0 {
            match outer.pop() {
                Some(count) => left = count,
                None => return Ok(pos),
            }
        }
        left -= 1;
        if let Some(next) = skip_short(buf, pos) {
            pos = next;
            continue;
        }
        let head = match header_fast(buf, pos) {
            Some(head) => head,
            None => header_exact(buf, pos)?,
        };
        if head.container {
            if outer.len() >= max_depth {
                return Err(DecodeError::TooDeep {
                    max: max_depth,
                    offset: pos,
                });
            }
            if head.children > 0 {
                outer.push(left);
                left = head.children;
            }
        }
        pos = head.next;
    }
}

/// A stack of counts that keeps the first few on the stack frame, so walking
/// an ordinary frame does not allocate.
#[derive(Default)]
struct Outer {
    near: [u64; 16],
    far: Vec<u64>,
    len: usize,
}

impl Outer {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, count: u64) {
        match self.near.get_mut(self.len) {
            Some(slot) => *slot = count,
            None => self.far.push(count),
        }
        self.len += 1;
    }

    fn pop(&mut self) -> Option<u64> {
        self.len = self.len.checked_sub(1)?;
        match self.near.get(self.len) {
            Some(count) => Some(*count),
            None => self.far.pop(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_nested_values() {
        // {"a": [1, "x", nil], "b": {}}
        let bytes = [
            0x82, 0xa1, b'a', 0x93, 0x01, 0xa1, b'x', 0xc0, 0xa1, b'b', 0x80,
        ];
        assert_eq!(walk(&bytes, 0, 8), Ok(bytes.len()));
        assert_eq!(walk(&bytes, 0, usize::MAX), Ok(bytes.len()));
        assert_eq!(walk(&bytes, 0, 2), Ok(bytes.len()));
        assert!(matches!(
            walk(&bytes, 0, 1),
            Err(DecodeError::TooDeep { max: 1, offset: 3 })
        ));
    }

    #[test]
    fn rejects_length_bombs_and_truncation() {
        // array32 declaring 2^32-1 elements with nothing after it
        let bomb = [0xdd, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            walk(&bomb, 0, 8),
            Err(DecodeError::LengthExceedsInput { .. })
        ));
        // str8 of length 5 with 2 bytes present
        assert!(matches!(
            walk(&[0xd9, 5, b'a', b'b'], 0, 8),
            Err(DecodeError::LengthExceedsInput { .. })
        ));
        assert_eq!(
            walk(&[0xcd, 0x01], 0, 8),
            Err(DecodeError::Truncated { offset: 2 })
        );
        assert_eq!(
            walk(&[0x92, 0x01], 0, 8),
            Err(DecodeError::LengthExceedsInput {
                declared: 2,
                remaining: 1,
                offset: 0
            })
        );
        assert_eq!(walk(&[], 0, 8), Err(DecodeError::Truncated { offset: 0 }));
        // ext8 of length 0 whose type byte is missing
        assert_eq!(
            walk(&[0xc7, 0x00], 0, 8),
            Err(DecodeError::Truncated { offset: 2 })
        );
        assert_eq!(
            walk(&[0xc8, 0x00, 0x00], 0, usize::MAX),
            Err(DecodeError::Truncated { offset: 3 })
        );
        assert_eq!(
            walk(&[0xc1], 0, 8),
            Err(DecodeError::ReservedByte { offset: 0 })
        );
    }

    #[test]
    fn the_fast_header_path_agrees_with_the_exact_one() {
        // Every marker, followed by length bytes that make its declared size
        // fit, overflow or run out, in inputs of every length up to 8 bytes.
        let fills: [&[u8]; 6] = [
            &[],
            &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
            &[0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00],
            &[0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00],
            &[0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ];
        for marker in 0..=255u8 {
            for fill in fills {
                let mut buf = vec![marker];
                buf.extend_from_slice(fill);
                for len in 0..=buf.len() {
                    let input = &buf[..len];
                    let exact = header_exact(input, 0);
                    match header_fast(input, 0) {
                        Some(head) => assert_eq!(Ok(head), exact, "{input:02x?}"),
                        None => assert!(exact.is_err(), "{input:02x?}: {exact:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn the_fast_walk_agrees_with_the_exact_one() {
        // Every input of up to 3 bytes, and every marker followed by
        // lengths that fit, overflow or run out, with nested containers.
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for a in 0..=255u8 {
            inputs.push(vec![a]);
            for b in 0..=255u8 {
                inputs.push(vec![a, b]);
                for c in [
                    0x00, 0x01, 0x7f, 0x80, 0x81, 0x90, 0x91, 0xa1, 0xc0, 0xdc, 0xff,
                ] {
                    inputs.push(vec![a, b, c]);
                }
            }
        }
        inputs.push(vec![0x91; 20].into_iter().chain([0xc0]).collect());
        inputs.push(
            [
                0x82, 0xa1, b'a', 0x93, 0x01, 0xa1, b'x', 0xc0, 0xa1, b'b', 0x80,
            ]
            .to_vec(),
        );
        inputs.push([0x92, 0x91, 0x90, 0x81, 0xa0, 0x90].to_vec());
        for input in &inputs {
            for start in 0..input.len().min(2) {
                for max_depth in [0, 1, 2, 3, 64] {
                    let exact = walk_exact(input, start, max_depth);
                    if let Some(end) = walk_few_containers(input, start, max_depth) {
                        assert_eq!(
                            exact,
                            Ok(end),
                            "{input:02x?} from {start}, depth {max_depth}"
                        );
                    }
                    assert_eq!(walk(input, start, max_depth), exact);
                }
            }
        }
    }

    #[test]
    fn the_fast_walk_takes_ordinary_values() {
        // {"a": [1, "x", nil], "b": {}}: three containers, nested two deep.
        let bytes = [
            0x82, 0xa1, b'a', 0x93, 0x01, 0xa1, b'x', 0xc0, 0xa1, b'b', 0x80,
        ];
        assert_eq!(walk_few_containers(&bytes, 0, 3), Some(bytes.len()));
        // Within the depth limit but more containers than it: the exact walk decides.
        assert_eq!(walk_few_containers(&bytes, 0, 2), None);
        assert_eq!(walk(&bytes, 0, 2), Ok(bytes.len()));
        // A length bomb is left to the exact walk.
        assert_eq!(walk_few_containers(&[0x9f, 0xc0], 0, 64), None);
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let depth = 100_000;
        let mut bytes = vec![0x91; depth];
        bytes.push(0xc0);
        assert_eq!(walk(&bytes, 0, usize::MAX), Ok(bytes.len()));
        assert!(matches!(
            walk(&bytes, 0, 64),
            Err(DecodeError::TooDeep { max: 64, .. })
        ));
    }
}
