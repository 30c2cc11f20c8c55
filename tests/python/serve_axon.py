"""A Python SDK axon serving the hashed TextToSpeech: speaks a 440 Hz tone of 0.1 s per
character at 16 kHz (or a fixed clip when BENCH_SECONDS is set). Prints READY with its hotkey, serves until stdin closes.

usage: serve_axon.py PORT [AXON_URI]
"""
import math
import os
import sys
import typing

from common import HashedTextToSpeech, bt, out, wallet_with_hotkey

# Benchmarks ask for a fixed clip (BENCH_SECONDS of 22.05 kHz audio) whatever the prompt.
BENCH_SECONDS = float(os.environ.get("BENCH_SECONDS", "0"))
BENCH_CLIP = [0.3 * math.sin(2 * math.pi * 220 * i / 22050) for i in range(int(22050 * BENCH_SECONDS))]


def forward(synapse: HashedTextToSpeech) -> HashedTextToSpeech:
    if BENCH_SECONDS:
        synapse.speech_output = BENCH_CLIP
        synapse.sample_rate = 22050
        return synapse
    n = int(1600 * len(synapse.text_input or ""))
    synapse.speech_output = [0.3 * math.sin(2 * math.pi * 440 * i / 16000) for i in range(n)]
    synapse.sample_rate = 16000
    synapse.model_name = "python-sdk-tone"
    return synapse


def blacklist(synapse: HashedTextToSpeech) -> typing.Tuple[bool, str]:
    return (False, "ok")


def main():
    port = int(sys.argv[1])
    uri = sys.argv[2] if len(sys.argv) > 2 else "//Bob"
    wallet = wallet_with_hotkey(uri)
    axon = bt.Axon(wallet=wallet, port=port, ip="127.0.0.1", external_ip="127.0.0.1")
    axon.fast_server.config.host = "127.0.0.1"
    axon.attach(forward_fn=forward, blacklist_fn=blacklist).start()
    out({"ready": True, "hotkey": wallet.hotkey.ss58_address, "port": port})
    try:
        sys.stdin.read()
    finally:
        axon.stop()


main()
