//! The few lib0 encodings the framing needs: varUint and length-prefixed bytes.
//! <https://github.com/dmonad/lib0/blob/main/encoding.js>

/// A forward-only reader over a byte slice that never panics.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// A lib0 varUint: 7 bits a byte, least significant first; at most 64 bits.
    pub(crate) fn var_u64(&mut self) -> Option<u64> {
        let mut value: u64 = 0;
        for (index, &byte) in self.bytes.iter().enumerate().take(10) {
            let shift = 7 * index as u32;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return None;
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[index + 1..];
                return Some(value);
            }
        }
        None
    }

    /// A lib0 varUint8Array: varUint length, then that many bytes (checked
    /// against what is present before anything is taken).
    pub(crate) fn var_bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.var_u64()?).ok()?;
        if len > self.bytes.len() {
            return None;
        }
        let (head, tail) = self.bytes.split_at(len);
        self.bytes = tail;
        Some(head)
    }
}

/// Appends a lib0 varUint.
pub(crate) fn write_var_u64(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// How many bytes [`write_var_u64`] writes for `value`.
pub(crate) fn var_u64_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_uints_round_trip_at_every_width() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_var_u64(&mut out, value);
            assert_eq!(out.len(), var_u64_len(value));
            let mut cursor = Cursor::new(&out);
            assert_eq!(cursor.var_u64(), Some(value));
            assert!(cursor.is_empty());
        }
    }

    #[test]
    fn truncated_and_overlong_var_uints_fail() {
        assert_eq!(Cursor::new(&[0x80]).var_u64(), None);
        assert_eq!(Cursor::new(&[0xff; 11]).var_u64(), None);
        // Ten bytes whose last carries more than the 64th bit.
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert_eq!(Cursor::new(&too_big).var_u64(), None);
    }

    #[test]
    fn var_bytes_never_reads_past_the_input() {
        assert_eq!(Cursor::new(&[3, 1, 2]).var_bytes(), None);
        assert_eq!(Cursor::new(&[2, 1, 2]).var_bytes(), Some(&[1u8, 2][..]));
        // The hazard of yrs: a huge length prefix over five bytes.
        assert_eq!(
            Cursor::new(&[0x86, 0x9a, 0xe2, 0xb6, 0x11]).var_bytes(),
            None
        );
    }
}
