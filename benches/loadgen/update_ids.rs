//! The (client, clock range) pairs a Yjs v1 update inserts, read straight off
//! the bytes without building the update, so receivers stay cheap.
//!
//! The v1 structs section is `varUint clients, (varUint structs, varUint
//! client, varUint clock, struct*)*`; each struct starts with an info byte
//! whose low 5 bits name it: 0 GC and 10 Skip (a varUint length each), else an
//! Item: left origin (two varUints) if bit 0x80, right origin if bit 0x40, and
//! when neither, the parent (`varUint 1, varString name` or `varUint 0, ID`)
//! and, if bit 0x20, the parent key (varString); then its content, whose
//! length in clocks this module works out. Content this module cannot skip
//! (nested types, subdocuments, moves) is only accepted as the last struct;
//! otherwise, and on anything malformed, the caller falls back to yrs.

use crate::proto::Reader;

/// Skips one lib0 `Any` value.
fn skip_any(r: &mut Reader<'_>, depth: u32) -> Option<()> {
    if depth > 32 {
        return None;
    }
    let tag = r.byte()?;
    match tag {
        127 | 126 | 121 | 120 => {}
        125 => while r.byte()? >= 0x80 {},
        124 => r.skip(4)?,
        123 | 122 => r.skip(8)?,
        119 | 116 => {
            r.var_bytes()?;
        }
        118 => {
            for _ in 0..r.var_u64()? {
                r.var_bytes()?;
                skip_any(r, depth + 1)?;
            }
        }
        117 => {
            for _ in 0..r.var_u64()? {
                skip_any(r, depth + 1)?;
            }
        }
        _ => return None,
    }
    Some(())
}

/// Length in clocks of an item's content, skipping it; `Err(len)` when the
/// content cannot be skipped (`len` is known, the rest of the input is not).
fn content_len(r: &mut Reader<'_>, content: u8, last: bool) -> Option<Result<u64, u64>> {
    Some(Ok(match content {
        // Deleted: a length.
        1 => r.var_u64()?,
        // JSON: count, then that many strings.
        2 => {
            let count = r.var_u64()?;
            for _ in 0..count {
                r.var_bytes()?;
            }
            count
        }
        // Binary, Embed: one buffer or string.
        3 | 5 => {
            r.var_bytes()?;
            1
        }
        // String: length in UTF-16 code units.
        4 => {
            let text = std::str::from_utf8(r.var_bytes()?).ok()?;
            text.chars().map(|c| c.len_utf16() as u64).sum()
        }
        // Format: key, value.
        6 => {
            r.var_bytes()?;
            r.var_bytes()?;
            1
        }
        // Any: count, then that many values (not read when nothing follows).
        8 => {
            let count = r.var_u64()?;
            if last {
                return Some(Ok(count));
            }
            for _ in 0..count {
                skip_any(r, 0)?;
            }
            count
        }
        // Type, Doc, Move: one clock, contents not skipped here.
        7 | 9 | 11 => return Some(Err(1)),
        _ => return None,
    }))
}

/// Appends `(client, from, to)` for every inserted clock range of `update`;
/// `None` when the bytes need the full decoder.
pub fn insertions(update: &[u8], out: &mut Vec<(u64, u64, u64)>) -> Option<()> {
    out.clear();
    let mut r = Reader::new(update);
    let clients = r.var_u64()?;
    for client_no in 0..clients {
        let structs = r.var_u64()?;
        let client = r.var_u64()?;
        let mut clock = r.var_u64()?;
        for struct_no in 0..structs {
            let info = r.byte()?;
            let len = match info & 0x1f {
                0 => r.var_u64()?,
                10 => {
                    clock += r.var_u64()?;
                    continue;
                }
                content => {
                    if info & 0x80 != 0 {
                        r.var_u64()?;
                        r.var_u64()?;
                    }
                    if info & 0x40 != 0 {
                        r.var_u64()?;
                        r.var_u64()?;
                    }
                    if info & 0xc0 == 0 {
                        if r.var_u64()? == 1 {
                            r.var_bytes()?;
                        } else {
                            r.var_u64()?;
                            r.var_u64()?;
                        }
                        if info & 0x20 != 0 {
                            r.var_bytes()?;
                        }
                    }
                    let last = client_no + 1 == clients && struct_no + 1 == structs;
                    match content_len(&mut r, content, last)? {
                        Ok(len) => len,
                        Err(len) => {
                            if !last {
                                return None;
                            }
                            len
                        }
                    }
                }
            };
            if len > 0 {
                match out.last_mut() {
                    Some(prev) if prev.0 == client && prev.2 == clock => prev.2 += len,
                    _ => out.push((client, clock, clock + len)),
                }
            }
            clock += len;
        }
    }
    Some(())
}
