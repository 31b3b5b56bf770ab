//! The demo's randomness: a splitmix64 PRNG seeded from the spec (no wall clock, no global
//! state), hashing, and the random ids (UUIDs, hex, base64url) every source uses.

/// splitmix64: tiny, fast, and good enough for synthetic data.
#[derive(Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    pub(super) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }
    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    pub(super) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    pub(super) fn one<T: Copy>(&mut self, xs: &[T]) -> T {
        *self.pick(xs)
    }
    pub(super) fn weighted<T: Copy>(&mut self, table: &[(T, u32)]) -> T {
        let total: u32 = table.iter().map(|(_, w)| w).sum();
        let mut x = self.below(u64::from(total)) as u32;
        for (v, w) in table {
            if x < *w {
                return *v;
            }
            x -= w;
        }
        table[table.len() - 1].0
    }
}

pub(super) fn mix(a: u64, b: u64) -> u64 {
    Rng::new(a ^ b.wrapping_mul(0xd6e8_feb8_6659_fd93)).next()
}

/// FNV-1a, for ids that must not depend on the seed (people's ids in `identities`).
pub(super) fn hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h, 1)
}

pub(super) const HEX: &[u8; 16] = b"0123456789abcdef";
pub(super) const ALNUM: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub(super) const UPPER_ALNUM: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub(super) const B64URL: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A version-4-shaped UUID from 128 PRNG bits.
pub(super) fn push_uuid(b: &mut String, r: &mut Rng) {
    let hi = r.next();
    let lo = r.next();
    let hi = (hi & !0xf000) | 0x4000;
    let lo = (lo & !(0xc << 60)) | (0x8 << 60);
    let mut out = [0u8; 36];
    let mut o = 0;
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            out[o] = b'-';
            o += 1;
        }
        let nib = if i < 16 {
            (hi >> (60 - 4 * i)) & 0xf
        } else {
            (lo >> (60 - 4 * (i - 16))) & 0xf
        };
        out[o] = HEX[nib as usize];
        o += 1;
    }
    b.push_str(std::str::from_utf8(&out).unwrap_or_default());
}

pub(super) fn uuid_string(r: &mut Rng) -> String {
    let mut s = String::with_capacity(36);
    push_uuid(&mut s, r);
    s
}

pub(super) fn push_chars(b: &mut String, r: &mut Rng, alphabet: &[u8], n: usize) {
    for _ in 0..n {
        b.push(char::from(
            alphabet[r.below(alphabet.len() as u64) as usize],
        ));
    }
}

pub(super) fn id_string(prefix: &str, seed: u64, alphabet: &[u8], n: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    push_chars(&mut s, &mut Rng::new(seed), alphabet, n);
    s
}

pub(super) fn push_hex(b: &mut String, r: &mut Rng, n: usize) {
    push_chars(b, r, HEX, n);
}
