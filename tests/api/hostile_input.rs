//! Hostile payloads shared by the hostile-input tests and the `hostile_frames` bench.

/// The 5-byte update on which yrs 0.28 `Update::decode_v1` spends ~0.5 s and
/// ~500 MB before failing.
pub const HAZARD: [u8; 5] = [0x86, 0x9a, 0xe2, 0xb6, 0x11];

/// Deterministic pseudo-random bytes (xorshift64).
pub struct Noise(pub u64);

impl Noise {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Frames as a hostile client would send them: the hazard as sync update and
/// step 2, random update payloads, and an awareness message announcing a huge count.
pub fn hostile_frames(count: usize) -> Vec<Vec<u8>> {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    (0..count)
        .map(|i| match i % 4 {
            0 => [&[0u8, 2, 5][..], &HAZARD].concat(),
            1 => [&[0u8, 1, 5][..], &HAZARD].concat(),
            2 => {
                let len = 1 + (noise.next() % 60) as usize;
                let payload = noise.bytes(len);
                [vec![0u8, 2, len as u8], payload].concat()
            }
            _ => vec![1, 6, 0x86, 0x9a, 0xe2, 0xb6, 0x11, 0x01],
        })
        .collect()
}
