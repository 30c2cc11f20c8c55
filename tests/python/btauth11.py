"""btauth/1 interop with the bittensor 11.3.0 SDK (`bittensor.http_auth`).

usage:
  btauth11.py payload CASES_JSON
      prints {"hex": <build_payload bytes as hex>} per case
      (case: scheme, method, path, body_hex, nonce, sender, receiver or null)
  btauth11.py post BASE_URL RECEIVER_SS58
      signs requests with `bittensor.http_auth.sign` (wallets from a mnemonic in a temp dir,
      sr25519 and ed25519), posts them to BASE_URL/tts with urllib, and prints per scenario
      what `bittensor.http_auth.verify` says of the same request next to our server's answer.
  btauth11.py music BASE_URL RECEIVER_SS58 TEXT SECONDS
      posts one signed music request to BASE_URL/music and prints the status and the WAV's shape.
"""
import io
import json
import sys
import tempfile
import time
import urllib.error
import urllib.request
import wave

import bittensor as bt
from bittensor import http_auth

# The Substrate dev phrase: its root sr25519 key is 5DfhGyQd…, different from //Alice.
MNEMONIC = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"


def out(obj):
    print(json.dumps(obj), flush=True)


def payload(cases):
    for c in cases:
        p = http_auth.build_payload(
            scheme=c["scheme"],
            method=c["method"],
            path=c["path"],
            body=bytes.fromhex(c["body_hex"]),
            nonce_ns=c["nonce"],
            sender_ss58=c["sender"],
            receiver_ss58=c["receiver"],
        )
        out({"hex": p.hex()})


def wallet(path, name, crypto_type):
    w = bt.Wallet(name=name, hotkey="h", path=path)
    w.regenerate_hotkey(
        mnemonic=MNEMONIC, use_password=False, overwrite=True, suppress=True, crypto_type=crypto_type
    )
    return w


def post(base, receiver):
    tmp = tempfile.mkdtemp()
    sr = wallet(tmp, "sr", 1)
    ed = wallet(tmp, "ed", 0)
    charlie = bt.sp_core.Keypair.create_from_uri("//Charlie", 1)
    body = json.dumps({"text": "Hello from the bittensor 11 SDK."}).encode()
    s = 1_000_000_000

    def signed(w=sr, path="/tts", b=body, rcv=receiver, nonce=None):
        return http_auth.sign(w, method="POST", path=path, body=b, receiver_ss58=rcv, nonce_ns=nonce)

    def edit(h, name, value):
        h = dict(h)
        if value is None:
            h.pop(name, None)
        else:
            h[name] = value
        return h

    def scenarios():
        # name, headers, body sent, path sent, extra headers
        yield "ok", signed(), body, "/tts", {}
        yield "ok_ed25519", signed(w=ed), body, "/tts", {}
        yield "ok_query", signed(path="/tts?voice=default"), body, "/tts?voice=default", {}
        yield "ok_l16", signed(), body, "/tts", {"Accept": "audio/L16"}
        h = signed()
        yield "missing_version", edit(h, "X-Bittensor-Version", None), body, "/tts", {}
        yield "bad_version", edit(h, "X-Bittensor-Version", "2"), body, "/tts", {}
        yield "missing_hotkey", edit(h, "X-Bittensor-Hotkey", None), body, "/tts", {}
        yield "missing_nonce", edit(h, "X-Bittensor-Nonce", None), body, "/tts", {}
        yield "nonce_not_int", edit(h, "X-Bittensor-Nonce", "12.5"), body, "/tts", {}
        yield "unknown_crypto", edit(h, "X-Bittensor-Crypto", "ecdsa"), body, "/tts", {}
        yield "missing_signature", edit(h, "X-Bittensor-Signature", None), body, "/tts", {}
        yield "signature_not_hex", edit(h, "X-Bittensor-Signature", "0xnothex"), body, "/tts", {}
        yield "signature_short", edit(h, "X-Bittensor-Signature", "0x" + "ab" * 10), body, "/tts", {}
        yield "hotkey_not_ss58", edit(h, "X-Bittensor-Hotkey", "5NotAnAddress"), body, "/tts", {}
        yield "stale", signed(nonce=time.time_ns() - 11 * s), body, "/tts", {}
        yield "future", signed(nonce=time.time_ns() + 5 * s), body, "/tts", {}
        yield "wrong_receiver", signed(rcv=sr.hotkey.ss58_address), body, "/tts", {}
        yield "missing_receiver", signed(rcv=None), body, "/tts", {}
        yield "tampered_body", signed(), body.replace(b"Hello", b"Howdy"), "/tts", {}
        yield "tampered_path", signed(path="/generate"), body, "/tts", {}
        yield "tampered_query", signed(path="/tts?voice=a"), body, "/tts?voice=b", {}
        yield "added_query", signed(), body, "/tts?voice=a", {}
        yield "wrong_crypto_header", edit(signed(), "X-Bittensor-Crypto", "ed25519"), body, "/tts", {}
        yield "ed25519_without_header", edit(signed(w=ed), "X-Bittensor-Crypto", None), body, "/tts", {}
        other = edit(signed(w=charlie), "X-Bittensor-Hotkey", sr.hotkey.ss58_address)
        yield "other_key", other, body, "/tts", {}
        replayed = signed()
        yield "replay_first", replayed, body, "/tts", {}
        yield "replay_second", replayed, body, "/tts", {}

    store = http_auth.InMemoryNonceStore()
    for name, headers, sent, path, extra in scenarios():
        try:
            http_auth.verify(
                headers, sent, method="POST", path=path, self_hotkey_ss58=receiver, nonce_store=store
            )
            python = "ok"
        except http_auth.AuthError as e:
            python = type(e).__name__
        req = urllib.request.Request(base + path, data=sent, method="POST")
        req.add_header("Content-Type", "application/json")
        for k, v in {**headers, **extra}.items():
            req.add_header(k, v)
        result = {"name": name, "python": python}
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                data = r.read()
                result.update(status=r.status, content_type=r.headers.get("Content-Type"),
                              sample_rate=r.headers.get("X-Audio-Sample-Rate"),
                              model=r.headers.get("X-Audio-Model"), bytes=len(data))
                if r.headers.get("Content-Type") == "audio/wav":
                    with wave.open(io.BytesIO(data)) as w:
                        result.update(wav_rate=w.getframerate(), wav_width=w.getsampwidth(),
                                      wav_channels=w.getnchannels(), wav_frames=w.getnframes())
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            result.update(status=e.code, error=json.loads(text).get("error"))
        out(result)


def music(base, receiver, text, seconds):
    w = wallet(tempfile.mkdtemp(), "sr", 1)
    body = json.dumps({"text": text, "duration_seconds": float(seconds)}).encode()
    headers = http_auth.sign(w, method="POST", path="/music", body=body, receiver_ss58=receiver)
    req = urllib.request.Request(base + "/music", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    for k, v in headers.items():
        req.add_header(k, v)
    result = {}
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            data = r.read()
            result.update(status=r.status, content_type=r.headers.get("Content-Type"),
                          sample_rate=r.headers.get("X-Audio-Sample-Rate"),
                          model=r.headers.get("X-Audio-Model"))
            with wave.open(io.BytesIO(data)) as wav:
                result.update(wav_rate=wav.getframerate(), wav_frames=wav.getnframes())
    except urllib.error.HTTPError as e:
        result.update(status=e.code, error=json.loads(e.read().decode(errors="replace")).get("error"))
    out(result)


def main():
    if sys.argv[1] == "payload":
        payload(json.loads(sys.argv[2]))
    elif sys.argv[1] == "post":
        post(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "music":
        music(*sys.argv[2:6])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
