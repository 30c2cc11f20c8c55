"""Differential negative tests: the same malformed or hostile requests go to a Python SDK axon
(started here) and to the axon under test; prints each case's status from both as JSON lines.

usage: negative_cases.py OUR_IP OUR_PORT PY_PORT
Both axons must serve the dev hotkey //Bob.
"""
import hashlib
import http.client
import json
import sys
import time
import uuid as uuidlib

from common import keypair, out

ME = keypair("//Alice")
BOB = keypair("//Bob").ss58_address
CHARLIE = keypair("//Charlie").ss58_address


def sha3(s: str) -> str:
    return hashlib.sha3_256(s.encode()).hexdigest()


def build(target=BOB, text="hello world", nonce=None, version=10005000, sign_for=None):
    nonce = time.time_ns() if nonce is None else nonce
    uid = str(uuidlib.uuid1())
    body_hash = sha3(sha3(text))
    msg = f"{nonce}.{ME.ss58_address}.{sign_for or target}.{uid}.{body_hash}"
    sig = "0x" + ME.sign(msg).hex()
    dendrite = {"status_code": None, "status_message": None, "process_time": None,
                "ip": "127.0.0.1", "port": None, "version": version, "nonce": nonce,
                "uuid": uid, "hotkey": ME.ss58_address, "signature": sig}
    headers = {
        "Content-Type": "application/json", "name": "TextToSpeech", "timeout": "12.0",
        "bt_header_dendrite_ip": "127.0.0.1", "bt_header_dendrite_version": str(version),
        "bt_header_dendrite_nonce": str(nonce), "bt_header_dendrite_uuid": uid,
        "bt_header_dendrite_hotkey": ME.ss58_address, "bt_header_dendrite_signature": sig,
        "bt_header_axon_ip": "127.0.0.1", "bt_header_axon_port": "0", "bt_header_axon_hotkey": target,
        "header_size": "0", "total_size": "0", "computed_body_hash": body_hash,
    }
    body = {"name": "TextToSpeech", "timeout": 12.0, "total_size": 0, "header_size": 0,
            "dendrite": dendrite, "axon": {"ip": "127.0.0.1", "port": 0, "hotkey": target},
            "computed_body_hash": "", "text_input": text, "model_name": None,
            "clone_input": None, "speech_output": None, "sample_rate": None}
    return "/TextToSpeech", headers, json.dumps(body).encode()


def send(port, req, host="127.0.0.1"):
    path, headers, body = req
    c = http.client.HTTPConnection(host, port, timeout=20)
    c.request("POST", path, body=body, headers=headers)
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def drop(req, name):
    path, headers, body = req
    headers = dict(headers)
    headers.pop(name)
    return path, headers, body


def replace_header(req, name, value):
    path, headers, body = req
    headers = dict(headers)
    headers[name] = value
    return path, headers, body


def tampered(req):
    path, headers, body = req
    b = json.loads(body)
    b["text_input"] = "something else entirely"
    return path, headers, json.dumps(b).encode()


def bad_sig(req):
    sig = req[1]["bt_header_dendrite_signature"]
    flipped = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
    return replace_header(req, "bt_header_dendrite_signature", flipped)


CASES = {
    "valid": lambda: [build()],
    "bad_signature": lambda: [bad_sig(build())],
    "signed_for_another_axon": lambda: [build(sign_for=CHARLIE)],
    "replayed_nonce": lambda: (lambda r: [r, r])(build()),
    "stale_nonce": lambda: [build(nonce=time.time_ns() - 60 * 10**9)],
    "tampered_text_input": lambda: [tampered(build())],
    "missing_signature": lambda: [drop(build(), "bt_header_dendrite_signature")],
    "missing_nonce": lambda: [drop(build(), "bt_header_dendrite_nonce")],
    "missing_body_hash": lambda: [drop(build(), "computed_body_hash")],
    "non_integer_nonce": lambda: [replace_header(build(), "bt_header_dendrite_nonce", "12ab")],
    "non_json_body": lambda: [(build()[0], build()[1], b"this is not json")],
    "unknown_route": lambda: [("/NoSuchSynapse",) + build()[1:]],
}


def main():
    our_ip, our_port, py_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for name, make in CASES.items():
        # Fresh requests per axon: each gets its own nonce; a replay repeats within one axon.
        ours = [send(our_port, r, our_ip) for r in make()][-1]
        python = [send(py_port, r) for r in make()][-1]
        out({"case": name, "ours": ours, "python": python})


main()
