//! The one seeded random number generator of the tests, benches and the corpus: xorshift64
//! (Marsaglia's 13, 7, 17 triple). Deterministic and dependency-free, so a failing seed
//! reproduces and a generated corpus is the same bytes on every machine.

/// xorshift64. `Rng::new(seed)` mixes the seed first (any seed, 0 included, gives a good
/// start); `Rng::from_state(state)` starts from the raw state, for sequences that were
/// recorded from a given state.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`: the seed is spread over all 64 bits first, so that small
    /// seeds do not start with mostly-zero outputs.
    pub fn new(seed: u64) -> Rng {
        Rng::from_state(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491_4f6c_dd1d)
    }

    /// A generator whose next output is the xorshift step of `state` (0, the one state
    /// xorshift cannot leave, is taken as 1).
    pub fn from_state(state: u64) -> Rng {
        Rng(if state == 0 { 1 } else { state })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// In `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// In `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True `percent` times in a hundred.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.next_u64() as usize % items.len()]
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    /// `n` bytes drawn from `alphabet`.
    pub fn bytes_from(&mut self, n: usize, alphabet: &[u8]) -> Vec<u8> {
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }

    /// `n` lowercase hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.next_u64() as usize % 16]))
            .collect()
    }

    /// `n` ASCII letters and digits.
    pub fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|_| char::from(A[self.next_u64() as usize % A.len()]))
            .collect()
    }
}
