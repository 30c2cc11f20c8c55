//! Timelock encryption to a drand quicknet round (the `tle` crate's scheme and wire format).
//!
//! Encryption to round `n` (identity `ID = sha256(n as u64 big-endian)`, `Q_id = H_G1(ID)` with
//! quicknet's hash-to-curve DST, `P_pub` the quicknet key on G2):
//!
//! * a random AES key `k` (32 bytes) encrypts the message with AES-256-GCM (random 12-byte nonce);
//! * Boneh–Franklin FullIdent encrypts `k`: random `t ∈ Fr`, `σ = sha256(t as 32 LE bytes)`,
//!   `r = Fr(sha256(σ ‖ k) as big-endian, reduced)`, `U = r·G2`,
//!   `V = σ ⊕ sha256(e(Q_id, r·P_pub))`, `W = k ⊕ sha256(σ)`.
//!
//! The round's signature `S = sk·Q_id` opens it: `σ = V ⊕ sha256(e(S, U))`, `k = W ⊕ sha256(σ)`,
//! and `U = r·G2` is checked before the body is decrypted. Pairing outputs are hashed in
//! arkworks' compressed serialization of `Fq12` (576 bytes).
//!
//! Wire format (arkworks `serialize_compressed` of `TLECiphertext`; `vec` = u64 LE length + bytes):
//! `U` (96-byte compressed G2) ‖ vec(V) ‖ vec(W) ‖ vec(body) ‖ vec(b"AES_GCM_"), where
//! body = vec(AES ciphertext with tag) ‖ vec(nonce).

use std::sync::OnceLock;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use ark_bls12_381::{Bls12_381, Fr, G1Affine, G1Projective, G2Affine, G2Projective, g1};
use ark_ec::hashing::HashToCurve;
use ark_ec::hashing::curve_maps::wb::WBMap;
use ark_ec::hashing::map_to_curve_hasher::MapToCurveBasedHasher;
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::field_hashers::DefaultFieldHasher;
use ark_ff::{PrimeField, UniformRand};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use crate::{QUICKNET_PUBLIC_KEY, TimelockError};

/// Quicknet's hash-to-curve domain separation tag (RFC 9380, G1, SHA-256, SSWU, random oracle).
const QUICKNET_DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";

/// The `tle` cipher-suite tag of AES-256-GCM.
const CIPHER_SUITE: &[u8] = b"AES_GCM_";

/// Length of a compressed quicknet signature (a G1 point).
pub const SIGNATURE_LEN: usize = 48;

const G2_COMPRESSED_LEN: usize = 96;
const NONCE_LEN: usize = 12;

/// The message drand signs for `round`: `sha256(round as u64 big-endian)`. It is also the IBE
/// identity a ciphertext for that round is encrypted to.
pub fn round_message(round: u64) -> [u8; 32] {
    Sha256::digest(round.to_be_bytes()).into()
}

fn quicknet_key() -> Result<G2Affine, TimelockError> {
    static KEY: OnceLock<Option<G2Affine>> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        let bytes = hex::decode(QUICKNET_PUBLIC_KEY).ok()?;
        G2Affine::deserialize_compressed(bytes.as_slice()).ok()
    });
    key.ok_or_else(|| TimelockError::Internal("the quicknet public key does not decode".into()))
}

/// `H_G1(message)` with quicknet's DST.
fn hash_to_g1(message: &[u8]) -> Result<G1Affine, TimelockError> {
    let hasher = MapToCurveBasedHasher::<
        G1Projective,
        DefaultFieldHasher<Sha256, 128>,
        WBMap<g1::Config>,
    >::new(QUICKNET_DST)
    .map_err(|e| TimelockError::Internal(format!("hash to curve: {e}")))?;
    hasher
        .hash(message)
        .map_err(|e| TimelockError::Internal(format!("hash to curve: {e}")))
}

/// sha256 of the compressed serialization of a pairing output.
fn hash_gt(gt: &<Bls12_381 as Pairing>::TargetField) -> Result<[u8; 32], TimelockError> {
    let mut bytes = Vec::with_capacity(576);
    gt.serialize_compressed(&mut bytes)
        .map_err(|e| TimelockError::Internal(format!("serialize Fq12: {e}")))?;
    Ok(Sha256::digest(&bytes).into())
}

/// `H3(σ, k)`: sha256 of the concatenation read as a big-endian integer mod r.
fn h3(sigma: &[u8; 32], key: &[u8; 32]) -> Fr {
    let mut h = Sha256::new();
    h.update(sigma);
    h.update(key);
    Fr::from_be_bytes_mod_order(&h.finalize())
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = *a;
    out.iter_mut().zip(b).for_each(|(o, x)| *o ^= x);
    out
}

fn put_vec(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Encrypts `plaintext` so that drand quicknet's signature of `round` decrypts it (OS randomness).
pub fn encrypt(plaintext: &[u8], round: u64) -> Result<Vec<u8>, TimelockError> {
    encrypt_with_rng(plaintext, round, &mut rand::rngs::OsRng)
}

/// [`encrypt`] with a caller-chosen CSPRNG (deterministic tests).
pub fn encrypt_with_rng<R: RngCore + CryptoRng>(
    plaintext: &[u8],
    round: u64,
    rng: &mut R,
) -> Result<Vec<u8>, TimelockError> {
    let p_pub = quicknet_key()?;
    let q_id = hash_to_g1(&round_message(round))?;

    // The body: AES-256-GCM under a fresh key.
    let mut key = [0u8; 32];
    rng.fill_bytes(&mut key);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let body_ct = Aes256Gcm::new(&key.into())
        .encrypt(Nonce::from_slice(&nonce), plaintext)
        .map_err(|_| TimelockError::InvalidInput("message too long for AES-GCM".into()))?;

    // The header: FullIdent encryption of the key to the round's identity.
    let t = Fr::rand(rng);
    let mut t_bytes = Vec::with_capacity(32);
    t.serialize_compressed(&mut t_bytes)
        .map_err(|e| TimelockError::Internal(format!("serialize Fr: {e}")))?;
    let sigma: [u8; 32] = Sha256::digest(&t_bytes).into();
    let r = h3(&sigma, &key);
    let u = (G2Affine::generator() * r).into_affine();
    let r_pub = (p_pub * r).into_affine();
    let g_id = Bls12_381::pairing(q_id, r_pub).0;
    let v = xor32(&sigma, &hash_gt(&g_id)?);
    let w = xor32(&key, &Sha256::digest(sigma).into());

    let mut body = Vec::with_capacity(body_ct.len() + NONCE_LEN + 16);
    put_vec(&mut body, &body_ct);
    put_vec(&mut body, &nonce);

    let mut out = Vec::with_capacity(G2_COMPRESSED_LEN + 3 * 8 + 64 + body.len() + 16);
    u.serialize_compressed(&mut out)
        .map_err(|e| TimelockError::Internal(format!("serialize G2: {e}")))?;
    put_vec(&mut out, &v);
    put_vec(&mut out, &w);
    put_vec(&mut out, &body);
    put_vec(&mut out, CIPHER_SUITE);
    Ok(out)
}

/// A cursor over a ciphertext.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], TimelockError> {
        if self.rest.len() < n {
            return Err(TimelockError::MalformedCiphertext(format!(
                "truncated in {what} (needs {n} bytes, {} left)",
                self.rest.len()
            )));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn vec(&mut self, what: &str) -> Result<&'a [u8], TimelockError> {
        let len_bytes: [u8; 8] = self
            .take(8, what)?
            .try_into()
            .map_err(|_| TimelockError::MalformedCiphertext(format!("length of {what}")))?;
        let len = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|_| {
            TimelockError::MalformedCiphertext(format!("length of {what} overflows"))
        })?;
        self.take(len, what)
    }

    fn array32(&mut self, what: &str) -> Result<[u8; 32], TimelockError> {
        self.vec(what)?
            .try_into()
            .map_err(|_| TimelockError::MalformedCiphertext(format!("{what} is not 32 bytes long")))
    }

    fn finish(&self, what: &str) -> Result<(), TimelockError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(TimelockError::MalformedCiphertext(format!(
                "{} trailing bytes after {what}",
                self.rest.len()
            )))
        }
    }
}

/// The parts of a serialized ciphertext.
struct Parsed<'a> {
    u: G2Affine,
    v: [u8; 32],
    w: [u8; 32],
    body_ct: &'a [u8],
    nonce: &'a [u8],
}

fn parse(ciphertext: &[u8]) -> Result<Parsed<'_>, TimelockError> {
    let mut rd = Reader { rest: ciphertext };
    let u_bytes = rd.take(G2_COMPRESSED_LEN, "header U")?;
    let u = G2Affine::deserialize_compressed(u_bytes)
        .map_err(|e| TimelockError::MalformedCiphertext(format!("header U: {e}")))?;
    let v = rd.array32("header V")?;
    let w = rd.array32("header W")?;
    let body = rd.vec("body")?;
    let suite = rd.vec("cipher suite")?;
    rd.finish("cipher suite")?;
    if suite != CIPHER_SUITE {
        return Err(TimelockError::MalformedCiphertext(format!(
            "unsupported cipher suite {:?}",
            String::from_utf8_lossy(suite)
        )));
    }
    let mut brd = Reader { rest: body };
    let body_ct = brd.vec("AES ciphertext")?;
    let nonce = brd.vec("AES nonce")?;
    brd.finish("AES nonce")?;
    if nonce.len() != NONCE_LEN {
        return Err(TimelockError::MalformedCiphertext(format!(
            "AES nonce is {} bytes, not {NONCE_LEN}",
            nonce.len()
        )));
    }
    Ok(Parsed {
        u,
        v,
        w,
        body_ct,
        nonce,
    })
}

fn parse_signature(signature: &[u8]) -> Result<G1Affine, TimelockError> {
    if signature.len() != SIGNATURE_LEN {
        return Err(TimelockError::MalformedSignature(format!(
            "{} bytes, expected {SIGNATURE_LEN}",
            signature.len()
        )));
    }
    G1Affine::deserialize_compressed(signature)
        .map_err(|e| TimelockError::MalformedSignature(e.to_string()))
}

/// Decrypts a ciphertext from [`encrypt`] (or `bittensor-drand`) with the quicknet signature of
/// its round (48 bytes, compressed G1).
pub fn decrypt(ciphertext: &[u8], signature: &[u8]) -> Result<Vec<u8>, TimelockError> {
    let ct = parse(ciphertext)?;
    let sig = parse_signature(signature)?;
    let sigma = xor32(&ct.v, &hash_gt(&Bls12_381::pairing(sig, ct.u).0)?);
    let key = xor32(&ct.w, &Sha256::digest(sigma).into());
    let r = h3(&sigma, &key);
    if G2Projective::from(G2Affine::generator()) * r != G2Projective::from(ct.u) {
        return Err(TimelockError::WrongSignature);
    }
    Aes256Gcm::new(&key.into())
        .decrypt(Nonce::from_slice(ct.nonce), ct.body_ct)
        .map_err(|_| TimelockError::BodyDecryption)
}

/// Checks that `signature` is drand quicknet's BLS signature of `round`:
/// `e(S, G2) = e(H_G1(sha256(round)), P_pub)`.
pub fn verify_round_signature(round: u64, signature: &[u8]) -> Result<(), TimelockError> {
    let sig = parse_signature(signature)?;
    let q_id = hash_to_g1(&round_message(round))?;
    let lhs = Bls12_381::pairing(sig, G2Affine::generator());
    let rhs = Bls12_381::pairing(q_id, quicknet_key()?);
    if lhs == rhs {
        Ok(())
    } else {
        Err(TimelockError::InvalidRoundSignature(round))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quicknet round 1000, as published by drand (`/public/1000` of chain 52db9ba7…).
    const ROUND: u64 = 1000;
    const SIGNATURE: &str = "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39";
    /// The round's published randomness (`sha256(signature)`).
    const RANDOMNESS: &str = "fe290beca10872ef2fb164d2aa4442de4566183ec51c56ff3cd603d930e54fdd";

    fn sig() -> Vec<u8> {
        hex::decode(SIGNATURE).expect("hex")
    }

    #[test]
    fn published_signature_verifies_against_the_quicknet_key() {
        verify_round_signature(ROUND, &sig()).expect("round 1000 signature verifies");
        assert_eq!(hex::encode(Sha256::digest(sig())), RANDOMNESS);
        let err = verify_round_signature(ROUND + 1, &sig()).expect_err("other round");
        assert!(matches!(err, TimelockError::InvalidRoundSignature(1001)));
    }

    #[test]
    fn round_trip_with_a_published_signature() {
        let msg = b"audiosubnet timelock round trip";
        let ct = encrypt(msg, ROUND).expect("encrypt");
        assert_eq!(ct.len(), 244 + msg.len());
        assert_eq!(decrypt(&ct, &sig()).expect("decrypt"), msg);
        // Randomized: two encryptions differ but both open.
        let ct2 = encrypt(msg, ROUND).expect("encrypt");
        assert_ne!(ct, ct2);
        assert_eq!(decrypt(&ct2, &sig()).expect("decrypt"), msg);
        // Empty message.
        let empty = encrypt(b"", ROUND).expect("encrypt");
        assert!(decrypt(&empty, &sig()).expect("decrypt").is_empty());
    }

    #[test]
    fn the_wrong_round_does_not_open() {
        let ct = encrypt(b"x", ROUND + 1).expect("encrypt");
        assert!(matches!(
            decrypt(&ct, &sig()),
            Err(TimelockError::WrongSignature)
        ));
    }

    #[test]
    fn corruption_is_detected() {
        let ct = encrypt(b"payload", ROUND).expect("encrypt");
        // The last byte of the AES ciphertext (tag): IBE opens, AES-GCM does not.
        let tag_end = ct.len() - 16 - 8 - 12 - 8;
        let mut bad = ct.clone();
        bad[tag_end - 1] ^= 1;
        assert!(matches!(
            decrypt(&bad, &sig()),
            Err(TimelockError::BodyDecryption)
        ));
        // V flipped: the U check fails.
        let mut bad = ct.clone();
        bad[96 + 8] ^= 1;
        assert!(matches!(
            decrypt(&bad, &sig()),
            Err(TimelockError::WrongSignature)
        ));
        // Truncated, trailing bytes, bad suite, bad signature length.
        assert!(matches!(
            decrypt(&ct[..ct.len() - 1], &sig()),
            Err(TimelockError::MalformedCiphertext(_))
        ));
        let mut long = ct.clone();
        long.push(0);
        assert!(matches!(
            decrypt(&long, &sig()),
            Err(TimelockError::MalformedCiphertext(_))
        ));
        let mut suite = ct.clone();
        let n = suite.len();
        suite[n - 1] = b'X';
        assert!(matches!(
            decrypt(&suite, &sig()),
            Err(TimelockError::MalformedCiphertext(_))
        ));
        assert!(matches!(
            decrypt(&ct, &sig()[..47]),
            Err(TimelockError::MalformedSignature(_))
        ));
        assert!(matches!(
            decrypt(&[], &sig()),
            Err(TimelockError::MalformedCiphertext(_))
        ));
    }

    #[test]
    fn layout_matches_tle_serialization() {
        let ct = encrypt(b"abc", 7).expect("encrypt");
        let le =
            |at: usize| u64::from_le_bytes(ct[at..at + 8].try_into().expect("8 bytes")) as usize;
        assert_eq!(le(96), 32);
        assert_eq!(le(96 + 40), 32);
        let body_len = le(96 + 80);
        assert_eq!(body_len, 8 + 3 + 16 + 8 + 12);
        assert_eq!(le(96 + 88), 3 + 16);
        let suite_at = 96 + 88 + body_len;
        assert_eq!(le(suite_at), 8);
        assert_eq!(&ct[suite_at + 8..], b"AES_GCM_");
    }
}
