//! `btauth/1`: the signed HTTP requests of the bittensor SDK 11 (`bittensor.http_auth`).
//!
//! A request carries six `X-Bittensor-*` headers; the signature covers a newline-joined payload
//! of the protocol name, the scheme, the method, the request target, the sha256 of the raw body,
//! the nanosecond nonce and the sender and receiver hotkeys ([`build_payload`]). Verification
//! follows the SDK's order: header shape, receiver binding, freshness, signature, replay. It is
//! split in two so a server can refuse bad headers before reading a body:
//! [`check_headers`] (steps 1–3, no body needed) and [`PendingAuth::verify`] (step 4). The
//! replay step ([`ReplayStore`]) is separate so the axon can record a nonce only after the
//! signature verified and its blacklist accepted the caller. [`verify`] does all five in one.
//!
//! Error messages are fixed strings: they never echo the signature, the payload or header values.
//!
//! ```
//! use audiosubnet_protocol::btauth::{self, ReplayStore, VerifyConfig};
//! use audiosubnet_wallet::Keypair;
//! let alice = Keypair::from_uri("//Alice").unwrap();
//! let bob = Keypair::from_uri("//Bob").unwrap().ss58();
//! let body = br#"{"text":"hi"}"#;
//! let headers = btauth::sign(&alice, "POST", "/tts", body, Some(&bob), None);
//! let pairs = headers.iter().map(|(k, v)| (*k, v.as_str()));
//! let mut store = ReplayStore::default();
//! let caller = btauth::verify(pairs, body, "POST", "/tts", &bob, &VerifyConfig::default(),
//!     &mut store, btauth::now_ns(), std::time::Instant::now()).unwrap();
//! assert_eq!(caller.hotkey_ss58, alice.ss58());
//! ```

use audiosubnet_wallet::{AccountId, Keypair};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// First line of every payload.
pub const PROTOCOL: &str = "btauth/1";
/// Value of [`HEADER_VERSION`].
pub const VERSION: &str = "1";
/// Protocol version header.
pub const HEADER_VERSION: &str = "X-Bittensor-Version";
/// Sender's ss58 hotkey.
pub const HEADER_HOTKEY: &str = "X-Bittensor-Hotkey";
/// Receiver's ss58 hotkey (absent: unbound).
pub const HEADER_RECEIVER: &str = "X-Bittensor-Receiver";
/// Decimal nanoseconds since the Unix epoch.
pub const HEADER_NONCE: &str = "X-Bittensor-Nonce";
/// Signature scheme; absent means sr25519.
pub const HEADER_CRYPTO: &str = "X-Bittensor-Crypto";
/// `0x` + hex of the signature.
pub const HEADER_SIGNATURE: &str = "X-Bittensor-Signature";
/// The SDK's default freshness window (a nonce older than this is stale).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(10);
/// The SDK's default allowance for a nonce ahead of our clock.
pub const DEFAULT_ALLOWED_SKEW: Duration = Duration::from_secs(2);
/// How long accepted nonces are remembered (the SDK's `InMemoryNonceStore` retention).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(60);
/// Accepted nonces remembered at most; beyond this the oldest is forgotten early.
pub const DEFAULT_REPLAY_CAPACITY: usize = 262_144;

/// Receiver line of a payload not bound to a receiver.
const NO_RECEIVER: &str = "-";
/// Longest value accepted for any btauth header; longer ones are malformed (bounds the work
/// done on unauthenticated input). A 64-byte signature is 130 characters.
const MAX_HEADER_LEN: usize = 256;

/// A signature scheme of `btauth/1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Schnorrkel over Ristretto, signing context `substrate` (the default).
    Sr25519,
    /// Ed25519.
    Ed25519,
}

impl Scheme {
    /// The canonical name, as it appears in the payload and the header.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Sr25519 => "sr25519",
            Scheme::Ed25519 => "ed25519",
        }
    }

    /// The SDK's crypto type code (`bittensor_core.CRYPTO_*`).
    pub fn code(self) -> u8 {
        match self {
            Scheme::Ed25519 => 0,
            Scheme::Sr25519 => 1,
        }
    }

    /// Parses a header value as the SDK's `parse_crypto_type` does: a name, case-insensitive and
    /// trimmed, or the decimal code (`0` ed25519, `1` sr25519).
    pub fn parse(value: &str) -> Option<Scheme> {
        let v = value.trim().to_ascii_lowercase();
        match v.as_str() {
            "sr25519" => return Some(Scheme::Sr25519),
            "ed25519" => return Some(Scheme::Ed25519),
            _ => {}
        }
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match v.trim_start_matches('0') {
            "" => Some(Scheme::Ed25519),
            "1" => Some(Scheme::Sr25519),
            _ => None,
        }
    }
}

/// Why a `btauth/1` request was refused. Every variant is a 401 for the application; the
/// messages are safe to send to the unauthenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A header is missing, repeated or unparseable, or the key or signature has a bad encoding.
    #[error("malformed auth: {0}")]
    Malformed(&'static str),
    /// The nonce is outside the freshness window.
    #[error("stale request: {0}")]
    Stale(&'static str),
    /// The signature does not verify against the claimed hotkey.
    #[error("bad signature: the signature does not verify against the claimed hotkey")]
    BadSignature,
    /// This (hotkey, nonce) pair was already accepted.
    #[error("replayed request: this nonce was already accepted from this hotkey")]
    Replayed,
    /// The request is bound to another receiver, or to none while one is required.
    #[error("wrong receiver: {0}")]
    WrongReceiver(&'static str),
}

impl AuthError {
    /// The HTTP status an application answers with (always 401; policy refusals are 403 and
    /// are not authentication errors).
    pub fn status(&self) -> u16 {
        401
    }

    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthError::Malformed(_) => "malformed",
            AuthError::Stale(_) => "stale",
            AuthError::BadSignature => "bad_signature",
            AuthError::Replayed => "replayed",
            AuthError::WrongReceiver(_) => "wrong_receiver",
        }
    }
}

/// The verifier's policy; the defaults are the SDK's.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// How old a nonce may be.
    pub max_age: Duration,
    /// How far ahead of our clock a nonce may be.
    pub allowed_skew: Duration,
    /// Refuse requests without `X-Bittensor-Receiver`.
    pub require_receiver: bool,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        VerifyConfig {
            max_age: DEFAULT_MAX_AGE,
            allowed_skew: DEFAULT_ALLOWED_SKEW,
            require_receiver: true,
        }
    }
}

/// Lower-case hex sha256 of `body`.
pub fn sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The exact bytes that are signed (the SDK's `build_payload`). `receiver` `None` or empty is
/// written as `-`; `method` is upper-cased; `path` is the request target with its query.
pub fn build_payload(
    scheme: Scheme,
    method: &str,
    path: &str,
    body: &[u8],
    nonce_ns: i128,
    sender_ss58: &str,
    receiver_ss58: Option<&str>,
) -> Vec<u8> {
    let receiver = receiver_ss58
        .filter(|r| !r.is_empty())
        .unwrap_or(NO_RECEIVER);
    let nonce = nonce_ns.to_string();
    let hash = sha256_hex(body);
    let method = method.to_uppercase();
    let lines = [
        PROTOCOL,
        scheme.name(),
        method.as_str(),
        path,
        hash.as_str(),
        nonce.as_str(),
        sender_ss58,
        receiver,
    ];
    lines.join("\n").into_bytes()
}

/// Nanoseconds since the Unix epoch (`time.time_ns()`).
pub fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

/// The auth headers for a request, signed by an arbitrary `signer` under `scheme` (the SDK's
/// `sign`). `nonce_ns` `None` takes the clock; each try of a request must sign a fresh nonce.
/// The crypto header is sent only for non-default schemes, the receiver only when bound.
#[allow(clippy::too_many_arguments)]
pub fn sign_with(
    scheme: Scheme,
    sender_ss58: &str,
    signer: impl FnOnce(&[u8]) -> [u8; 64],
    method: &str,
    path: &str,
    body: &[u8],
    receiver_ss58: Option<&str>,
    nonce_ns: Option<i128>,
) -> Vec<(&'static str, String)> {
    let nonce = nonce_ns.unwrap_or_else(now_ns);
    let payload = build_payload(
        scheme,
        method,
        path,
        body,
        nonce,
        sender_ss58,
        receiver_ss58,
    );
    let signature = signer(&payload);
    let mut headers = vec![
        (HEADER_VERSION, VERSION.to_string()),
        (HEADER_HOTKEY, sender_ss58.to_string()),
        (HEADER_NONCE, nonce.to_string()),
        (HEADER_SIGNATURE, format!("0x{}", hex::encode(signature))),
    ];
    if scheme != Scheme::Sr25519 {
        headers.push((HEADER_CRYPTO, scheme.name().to_string()));
    }
    if let Some(r) = receiver_ss58 {
        headers.push((HEADER_RECEIVER, r.to_string()));
    }
    headers
}

/// [`sign_with`] an sr25519 hotkey. The key is only borrowed for the signature.
pub fn sign(
    hotkey: &Keypair,
    method: &str,
    path: &str,
    body: &[u8],
    receiver_ss58: Option<&str>,
    nonce_ns: Option<i128>,
) -> Vec<(&'static str, String)> {
    sign_with(
        Scheme::Sr25519,
        &hotkey.ss58(),
        |payload| hotkey.sign(payload),
        method,
        path,
        body,
        receiver_ss58,
        nonce_ns,
    )
}

/// Headers that passed the shape, receiver and freshness checks; the signature is still to be
/// verified against the body ([`PendingAuth::verify`]).
#[derive(Debug, Clone)]
pub struct PendingAuth {
    scheme: Scheme,
    sender: String,
    receiver: Option<String>,
    nonce: i128,
    signature: Vec<u8>,
}

impl PendingAuth {
    /// The claimed (not yet verified) sender.
    pub fn claimed_hotkey(&self) -> &str {
        &self.sender
    }

    /// Step 4: the signature under the declared scheme only. An undecodable ss58 or a
    /// signature that is not 64 bytes is [`AuthError::Malformed`], as in the SDK.
    pub fn verify(self, method: &str, path: &str, body: &[u8]) -> Result<Verified, AuthError> {
        let malformed = AuthError::Malformed("invalid hotkey address or signature encoding");
        let hotkey = AccountId::from_ss58(&self.sender).map_err(|_| malformed.clone())?;
        let signature: [u8; 64] = self
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| malformed)?;
        let payload = build_payload(
            self.scheme,
            method,
            path,
            body,
            self.nonce,
            &self.sender,
            self.receiver.as_deref(),
        );
        let valid = match self.scheme {
            Scheme::Sr25519 => hotkey.verify(&payload, &signature),
            Scheme::Ed25519 => hotkey.verify_ed25519(&payload, &signature),
        };
        if !valid {
            return Err(AuthError::BadSignature);
        }
        Ok(Verified {
            hotkey,
            hotkey_ss58: self.sender,
            nonce_ns: self.nonce,
            scheme: self.scheme,
        })
    }
}

/// The authenticated sender of a request whose signature verified (the SDK's `Caller`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The sender's public key.
    pub hotkey: AccountId,
    /// The sender's ss58 address as it was signed.
    pub hotkey_ss58: String,
    /// The request's nonce.
    pub nonce_ns: i128,
    /// The scheme the signature verified under.
    pub scheme: Scheme,
}

/// Parses a decimal integer as Python's `int(str)` does: surrounding whitespace, an optional
/// sign, and single underscores between digits. Values past i128 are clamped (they are stale).
fn parse_python_int(s: &str) -> Option<i128> {
    let s = s.trim();
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') {
        return None;
    }
    let mut value: i128 = 0;
    let mut previous_underscore = false;
    for b in digits.bytes() {
        match b {
            b'_' if !previous_underscore => previous_underscore = true,
            b'0'..=b'9' => {
                previous_underscore = false;
                value = value
                    .saturating_mul(10)
                    .saturating_add(i128::from(b - b'0'));
            }
            _ => return None,
        }
    }
    Some(if negative { -value } else { value })
}

/// Parses `0x`-optional hex as Python's `bytes.fromhex` does (whitespace between byte pairs).
fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let compact: String = s.split_ascii_whitespace().collect();
    hex::decode(compact).ok()
}

/// Steps 1–3 of the SDK's `verify`: header shape, receiver binding, freshness. Needs no body.
/// `headers` are (name, value) pairs, names matched case-insensitively; a repeated btauth
/// header is malformed (which copy would count is ambiguous).
pub fn check_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    self_hotkey_ss58: &str,
    config: &VerifyConfig,
    now_ns: i128,
) -> Result<PendingAuth, AuthError> {
    const NAMES: [&str; 6] = [
        HEADER_VERSION,
        HEADER_HOTKEY,
        HEADER_RECEIVER,
        HEADER_NONCE,
        HEADER_CRYPTO,
        HEADER_SIGNATURE,
    ];
    let mut found: [Option<&str>; 6] = [None; 6];
    for (name, value) in headers {
        let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name)) else {
            continue;
        };
        if found[i].is_some() {
            return Err(AuthError::Malformed("a btauth header is repeated"));
        }
        if value.len() > MAX_HEADER_LEN {
            return Err(AuthError::Malformed("a btauth header is too long"));
        }
        found[i] = Some(value);
    }
    let [version, sender, receiver, nonce, crypto, signature] = found;

    if version != Some(VERSION) {
        return Err(AuthError::Malformed(
            "missing or unsupported X-Bittensor-Version (expected '1')",
        ));
    }
    let sender = sender
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::Malformed("missing X-Bittensor-Hotkey"))?;
    let nonce = nonce.ok_or(AuthError::Malformed("missing X-Bittensor-Nonce"))?;
    let nonce = parse_python_int(nonce).ok_or(AuthError::Malformed(
        "X-Bittensor-Nonce is not a decimal integer",
    ))?;
    let scheme = match crypto {
        None => Scheme::Sr25519,
        Some(c) => {
            Scheme::parse(c).ok_or(AuthError::Malformed("unsupported X-Bittensor-Crypto"))?
        }
    };
    let signature = signature.ok_or(AuthError::Malformed("missing X-Bittensor-Signature"))?;
    let signature =
        parse_hex(signature).ok_or(AuthError::Malformed("X-Bittensor-Signature is not hex"))?;

    match receiver {
        None if config.require_receiver => {
            return Err(AuthError::WrongReceiver(
                "missing X-Bittensor-Receiver: this server requires receiver-bound requests",
            ));
        }
        Some(r) if r != self_hotkey_ss58 => {
            return Err(AuthError::WrongReceiver(
                "request was signed for a different receiving hotkey",
            ));
        }
        _ => {}
    }

    if now_ns - nonce > config.max_age.as_nanos() as i128 {
        return Err(AuthError::Stale("nonce is older than the freshness window"));
    }
    if nonce - now_ns > config.allowed_skew.as_nanos() as i128 {
        return Err(AuthError::Stale("nonce is too far in the future"));
    }
    Ok(PendingAuth {
        scheme,
        sender: sender.to_string(),
        receiver: receiver.map(str::to_string),
        nonce,
        signature,
    })
}

/// All five steps of the SDK's `verify`, recording the nonce in `store` on success.
#[allow(clippy::too_many_arguments)]
pub fn verify<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: &[u8],
    method: &str,
    path: &str,
    self_hotkey_ss58: &str,
    config: &VerifyConfig,
    store: &mut ReplayStore,
    now_ns: i128,
    now: Instant,
) -> Result<Verified, AuthError> {
    let verified =
        check_headers(headers, self_hotkey_ss58, config, now_ns)?.verify(method, path, body)?;
    store.check_and_store(&verified.hotkey, verified.nonce_ns, now)?;
    Ok(verified)
}

/// Accepted `(hotkey, nonce)` pairs, each remembered for a retention period, with a hard size
/// limit. Write it only after the signature verified, so unauthenticated traffic cannot fill it.
///
/// When full, the entry closest to expiry is forgotten early and its nonce becomes a floor for
/// its own hotkey (nonces at or below it are refused as replays), so an eviction never reopens
/// a replay, and a hotkey that floods the store only raises its own floor. Floors last as long
/// as entries and are bounded the same way. Every operation is O(log n).
#[derive(Debug)]
pub struct ReplayStore {
    retention: Duration,
    capacity: usize,
    seen: HashMap<([u8; 32], i128), u64>,
    /// (expiry, sequence) → key: the next to expire first.
    order: BTreeMap<(Instant, u64), ([u8; 32], i128)>,
    /// hotkey → (highest nonce forgotten early, its key in `floor_order`).
    floors: HashMap<[u8; 32], (i128, (Instant, u64))>,
    floor_order: BTreeMap<(Instant, u64), [u8; 32]>,
    sequence: u64,
}

impl Default for ReplayStore {
    fn default() -> Self {
        ReplayStore::new(DEFAULT_RETENTION, DEFAULT_REPLAY_CAPACITY)
    }
}

impl ReplayStore {
    /// A store that remembers pairs for `retention` (at least the freshness window) and at most
    /// `capacity` of them (at least 1).
    pub fn new(retention: Duration, capacity: usize) -> Self {
        ReplayStore {
            retention,
            capacity: capacity.max(1),
            seen: HashMap::new(),
            order: BTreeMap::new(),
            floors: HashMap::new(),
            floor_order: BTreeMap::new(),
            sequence: 0,
        }
    }

    /// Pairs remembered now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Records the pair, or [`AuthError::Replayed`] when it was seen (or may have been: at or
    /// below its hotkey's eviction floor).
    pub fn check_and_store(
        &mut self,
        hotkey: &AccountId,
        nonce_ns: i128,
        now: Instant,
    ) -> Result<(), AuthError> {
        while let Some((&(expiry, seq), _)) = self.order.first_key_value() {
            if expiry > now {
                break;
            }
            if let Some(key) = self.order.remove(&(expiry, seq)) {
                self.seen.remove(&key);
            }
        }
        while let Some((&(expiry, seq), _)) = self.floor_order.first_key_value() {
            if expiry > now {
                break;
            }
            self.drop_first_floor(expiry, seq);
        }
        let key = (hotkey.0, nonce_ns);
        let below_floor = self.floors.get(&hotkey.0).is_some_and(|f| nonce_ns <= f.0);
        if below_floor || self.seen.contains_key(&key) {
            return Err(AuthError::Replayed);
        }
        while self.seen.len() >= self.capacity {
            let Some((&(expiry, seq), _)) = self.order.first_key_value() else {
                break;
            };
            if let Some(evicted) = self.order.remove(&(expiry, seq)) {
                self.seen.remove(&evicted);
                self.raise_floor(evicted, now);
            }
        }
        self.sequence += 1;
        self.seen.insert(key, self.sequence);
        self.order
            .insert((now + self.retention, self.sequence), key);
        Ok(())
    }

    fn raise_floor(&mut self, (hotkey, nonce): ([u8; 32], i128), now: Instant) {
        if let Some((floor, order_key)) = self.floors.remove(&hotkey) {
            // Refresh: the higher floor, retained from now.
            self.floor_order.remove(&order_key);
            self.insert_floor(hotkey, floor.max(nonce), now);
        } else {
            while self.floors.len() >= self.capacity {
                let Some((&(expiry, seq), _)) = self.floor_order.first_key_value() else {
                    break;
                };
                self.drop_first_floor(expiry, seq);
            }
            self.insert_floor(hotkey, nonce, now);
        }
    }

    fn insert_floor(&mut self, hotkey: [u8; 32], floor: i128, now: Instant) {
        self.sequence += 1;
        let order_key = (now + self.retention, self.sequence);
        self.floors.insert(hotkey, (floor, order_key));
        self.floor_order.insert(order_key, hotkey);
    }

    fn drop_first_floor(&mut self, expiry: Instant, seq: u64) {
        if let Some(hotkey) = self.floor_order.remove(&(expiry, seq))
            && self
                .floors
                .get(&hotkey)
                .is_some_and(|f| f.1 == (expiry, seq))
        {
            self.floors.remove(&hotkey);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Keypair {
        Keypair::from_uri("//Alice").unwrap()
    }
    fn bob() -> String {
        Keypair::from_uri("//Bob").unwrap().ss58()
    }
    const NOW: i128 = 1_700_000_000_000_000_000;

    fn pairs<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        h.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    fn check(
        h: &[(&'static str, String)],
        body: &[u8],
        path: &str,
        store: &mut ReplayStore,
    ) -> Result<Verified, AuthError> {
        verify(
            pairs(h),
            body,
            "POST",
            path,
            &bob(),
            &VerifyConfig::default(),
            store,
            NOW,
            Instant::now(),
        )
    }

    fn signed(
        body: &[u8],
        path: &str,
        receiver: Option<&str>,
        nonce: i128,
    ) -> Vec<(&'static str, String)> {
        sign(&alice(), "POST", path, body, receiver, Some(nonce))
    }

    fn set(h: &mut Vec<(&'static str, String)>, name: &'static str, value: Option<&str>) {
        h.retain(|(k, _)| *k != name);
        if let Some(v) = value {
            h.push((name, v.to_string()));
        }
    }

    #[test]
    fn payload_is_the_sdk_layout() {
        let p = build_payload(Scheme::Sr25519, "post", "/tts?x=1", b"", 5, "5Sender", None);
        let text = String::from_utf8(p).unwrap();
        assert_eq!(
            text,
            "btauth/1\nsr25519\nPOST\n/tts?x=1\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n5\n5Sender\n-"
        );
        let p = build_payload(Scheme::Ed25519, "GET", "/", b"abc", 7, "5S", Some("5R"));
        assert!(String::from_utf8(p).unwrap().ends_with("\n7\n5S\n5R"));
        let p = build_payload(Scheme::Ed25519, "GET", "/", b"", 7, "5S", Some(""));
        assert!(String::from_utf8(p).unwrap().ends_with("\n5S\n-"));
    }

    #[test]
    fn scheme_parses_like_the_sdk() {
        assert_eq!(Scheme::parse(" SR25519 "), Some(Scheme::Sr25519));
        assert_eq!(Scheme::parse("ed25519"), Some(Scheme::Ed25519));
        assert_eq!(Scheme::parse("0"), Some(Scheme::Ed25519));
        assert_eq!(Scheme::parse("01"), Some(Scheme::Sr25519));
        assert_eq!(Scheme::parse("2"), None);
        assert_eq!(Scheme::parse("ecdsa"), None);
        assert_eq!(Scheme::parse(""), None);
    }

    #[test]
    fn python_int_rules() {
        assert_eq!(parse_python_int(" 12 "), Some(12));
        assert_eq!(parse_python_int("+1_000"), Some(1000));
        assert_eq!(parse_python_int("-3"), Some(-3));
        for bad in ["", "1__0", "_1", "1_", "0x10", "1.0", "١"] {
            assert_eq!(parse_python_int(bad), None, "{bad}");
        }
    }

    #[test]
    fn signed_request_verifies_once() {
        let mut store = ReplayStore::default();
        let h = signed(b"body", "/tts", Some(&bob()), NOW);
        let v = check(&h, b"body", "/tts", &mut store).unwrap();
        assert_eq!(v.hotkey_ss58, alice().ss58());
        assert_eq!(v.nonce_ns, NOW);
        assert_eq!(
            check(&h, b"body", "/tts", &mut store),
            Err(AuthError::Replayed)
        );
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let mut store = ReplayStore::default();
        let h = signed(b"", "/tts", Some(&bob()), NOW);
        let lower: Vec<(String, String)> = h
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        let it = lower.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let cfg = VerifyConfig::default();
        let r = verify(
            it,
            b"",
            "POST",
            "/tts",
            &bob(),
            &cfg,
            &mut store,
            NOW,
            Instant::now(),
        );
        assert!(r.is_ok());
    }

    #[test]
    fn malformed_headers() {
        let mut store = ReplayStore::default();
        let good = signed(b"", "/tts", Some(&bob()), NOW);
        let cases: [(&'static str, Option<&str>); 8] = [
            (HEADER_VERSION, None),
            (HEADER_VERSION, Some("2")),
            (HEADER_HOTKEY, None),
            (HEADER_HOTKEY, Some("")),
            (HEADER_NONCE, None),
            (HEADER_NONCE, Some("12ab")),
            (HEADER_CRYPTO, Some("ecdsa")),
            (HEADER_SIGNATURE, Some("0xzz")),
        ];
        for (name, value) in cases {
            let mut h = good.clone();
            set(&mut h, name, value);
            let r = check(&h, b"", "/tts", &mut store);
            assert!(
                matches!(r, Err(AuthError::Malformed(_))),
                "{name}={value:?}: {r:?}"
            );
        }
        let mut h = good.clone();
        set(&mut h, HEADER_SIGNATURE, None);
        assert!(matches!(
            check(&h, b"", "/tts", &mut store),
            Err(AuthError::Malformed(_))
        ));
        // Decodes as hex but is not 64 bytes; an undecodable sender: malformed at step 4.
        let mut h = good.clone();
        set(&mut h, HEADER_SIGNATURE, Some("0xabcd"));
        assert!(matches!(
            check(&h, b"", "/tts", &mut store),
            Err(AuthError::Malformed(_))
        ));
        let mut h = good.clone();
        set(&mut h, HEADER_HOTKEY, Some("5notanaddress"));
        assert!(matches!(
            check(&h, b"", "/tts", &mut store),
            Err(AuthError::Malformed(_))
        ));
        // Repeated header.
        let mut h = good.clone();
        h.push((HEADER_NONCE, NOW.to_string()));
        assert!(matches!(
            check(&h, b"", "/tts", &mut store),
            Err(AuthError::Malformed(_))
        ));
        assert!(store.is_empty());
    }

    #[test]
    fn receiver_binding() {
        let mut store = ReplayStore::default();
        let unbound = signed(b"", "/tts", None, NOW);
        assert!(matches!(
            check(&unbound, b"", "/tts", &mut store),
            Err(AuthError::WrongReceiver(_))
        ));
        let other = signed(b"", "/tts", Some(&alice().ss58()), NOW);
        assert!(matches!(
            check(&other, b"", "/tts", &mut store),
            Err(AuthError::WrongReceiver(_))
        ));
        let cfg = VerifyConfig {
            require_receiver: false,
            ..VerifyConfig::default()
        };
        let r = verify(
            pairs(&unbound),
            b"",
            "POST",
            "/tts",
            &bob(),
            &cfg,
            &mut store,
            NOW,
            Instant::now(),
        );
        assert!(r.is_ok());
    }

    #[test]
    fn freshness_window() {
        let mut store = ReplayStore::default();
        let s = 1_000_000_000;
        for (nonce, ok) in [
            (NOW - 10 * s, true),
            (NOW - 10 * s - 1, false),
            (NOW + 2 * s, true),
            (NOW + 2 * s + 1, false),
            (0, false),
        ] {
            let h = signed(b"", "/tts", Some(&bob()), nonce);
            let r = check(&h, b"", "/tts", &mut store);
            if ok {
                assert!(r.is_ok(), "{nonce}: {r:?}");
            } else {
                assert!(matches!(r, Err(AuthError::Stale(_))), "{nonce}: {r:?}");
            }
        }
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let mut store = ReplayStore::default();
        let h = signed(b"body", "/tts?a=1", Some(&bob()), NOW);
        assert_eq!(
            check(&h, b"bodx", "/tts?a=1", &mut store),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            check(&h, b"body", "/tts?a=2", &mut store),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            check(&h, b"body", "/tts", &mut store),
            Err(AuthError::BadSignature)
        );
        // Wrong scheme declared: never tried both.
        let mut e = h.clone();
        set(&mut e, HEADER_CRYPTO, Some("ed25519"));
        assert_eq!(
            check(&e, b"body", "/tts?a=1", &mut store),
            Err(AuthError::BadSignature)
        );
        // Signed by another key than the one claimed.
        let mut other = h.clone();
        set(
            &mut other,
            HEADER_HOTKEY,
            Some(&Keypair::from_uri("//Charlie").unwrap().ss58()),
        );
        assert_eq!(
            check(&other, b"body", "/tts?a=1", &mut store),
            Err(AuthError::BadSignature)
        );
        // Nothing was stored for any of them.
        assert!(store.is_empty());
        assert!(check(&h, b"body", "/tts?a=1", &mut store).is_ok());
    }

    #[test]
    fn ed25519_signatures_verify() {
        let key = ed25519_zebra::SigningKey::from([7u8; 32]);
        let public: [u8; 32] = ed25519_zebra::VerificationKey::from(&key).into();
        let sender = AccountId(public).to_ss58();
        let h = sign_with(
            Scheme::Ed25519,
            &sender,
            |p| key.sign(p).into(),
            "POST",
            "/tts",
            b"x",
            Some(&bob()),
            Some(NOW),
        );
        assert!(h.iter().any(|(k, v)| *k == HEADER_CRYPTO && v == "ed25519"));
        let mut store = ReplayStore::default();
        assert!(check(&h, b"x", "/tts", &mut store).is_ok());
        let mut sr = h.clone();
        set(&mut sr, HEADER_CRYPTO, None);
        assert_eq!(
            check(&sr, b"x", "/tts", &mut store),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn errors_never_echo_values() {
        let mut store = ReplayStore::default();
        let mut h = signed(b"secret-body", "/tts", Some(&bob()), NOW);
        set(&mut h, HEADER_SIGNATURE, Some("0xnothexSECRET"));
        let e = check(&h, b"secret-body", "/tts", &mut store).unwrap_err();
        assert!(!e.to_string().contains("SECRET"));
        let h = signed(b"secret-body", "/tts", Some(&bob()), NOW);
        let e = check(&h, b"other", "/tts", &mut store).unwrap_err();
        assert!(!e.to_string().contains("btauth/1\n"));
        assert!(!e.to_string().contains(&h[3].1));
    }

    #[test]
    fn replay_store_expires_and_is_bounded() {
        let t0 = Instant::now();
        let a = alice().account_id();
        let mut s = ReplayStore::new(Duration::from_secs(60), 3);
        s.check_and_store(&a, 1, t0).unwrap();
        assert_eq!(
            s.check_and_store(&a, 1, t0 + Duration::from_secs(59)),
            Err(AuthError::Replayed)
        );
        // Expired: remembered no longer.
        s.check_and_store(&a, 1, t0 + Duration::from_secs(61))
            .unwrap();
        let t1 = t0 + Duration::from_secs(61);
        s.check_and_store(&a, 10, t1).unwrap();
        s.check_and_store(&a, 11, t1).unwrap();
        assert_eq!(s.len(), 3);
        s.check_and_store(&a, 12, t1).unwrap();
        assert_eq!(s.len(), 3);
        // Nonce 1 was forgotten early; its hotkey's floor still refuses it.
        assert_eq!(s.check_and_store(&a, 1, t1), Err(AuthError::Replayed));
        assert_eq!(s.check_and_store(&a, 12, t1), Err(AuthError::Replayed));
        s.check_and_store(&a, 13, t1).unwrap();
        assert_eq!(s.len(), 3);
        // Another hotkey is not held to that floor: a flooder only raises its own.
        let b = Keypair::from_uri("//Bob").unwrap().account_id();
        s.check_and_store(&b, 1, t1).unwrap();
        assert_eq!(s.check_and_store(&b, 1, t1), Err(AuthError::Replayed));
        // Floors expire with the retention.
        let later = t1 + Duration::from_secs(61);
        s.check_and_store(&a, 2, later).unwrap();
        assert!(s.floors.len() <= 3 && s.len() <= 3);
    }

    #[test]
    fn a_full_store_evicts_in_log_time() {
        let t = Instant::now();
        let keys: Vec<AccountId> = (0..64u8).map(|i| AccountId([i; 32])).collect();
        let mut s = ReplayStore::new(Duration::from_secs(60), 10_000);
        let started = std::time::Instant::now();
        for n in 0..100_000i128 {
            let key = &keys[(n % 64) as usize];
            s.check_and_store(key, 1_000_000 + n, t).unwrap();
        }
        assert_eq!(s.len(), 10_000);
        assert!(s.floors.len() <= 64);
        // Debug build, shared CPU: a quadratic store would take minutes.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }

    proptest::proptest! {
        #[test]
        fn hostile_headers_never_panic(
            values in proptest::collection::vec("[ -~]{0,300}", 6),
            nonce in proptest::prelude::any::<i64>(),
        ) {
            let names = [HEADER_VERSION, HEADER_HOTKEY, HEADER_RECEIVER, HEADER_NONCE,
                HEADER_CRYPTO, HEADER_SIGNATURE];
            let mut pairs: Vec<(&str, &str)> =
                names.iter().copied().zip(values.iter().map(String::as_str)).collect();
            let n = nonce.to_string();
            pairs.push(("x-other", &n));
            let cfg = VerifyConfig { require_receiver: false, ..VerifyConfig::default() };
            let mut store = ReplayStore::default();
            let bob = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
            let r = verify(pairs, b"", "POST", "/tts", bob, &cfg, &mut store, NOW, Instant::now());
            proptest::prop_assert!(r.is_err());
            proptest::prop_assert!(store.is_empty());
        }
    }
}
