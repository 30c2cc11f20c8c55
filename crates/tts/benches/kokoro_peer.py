"""The Python peer of crates/tts/benches/kokoro.rs: kokoro-onnx 0.6.1 on the same model file,
vocabulary, voice and sentences, timed the same way. Not a test; the Rust bench runs it and reads
its output.

    python kokoro_peer.py < request.json   # {"dir", "voice", "sentences", "prompt", "passes"}

kokoro-onnx takes its voices as one .npz of [510, 1, 256] arrays; the voice's .bin file (raw
little-endian f32, the same file the Rust engine reads) is wrapped into one in a temporary
directory. Prints one JSON object: the best pass's audio and synthesis seconds over the
sentences, the time to the first chunk of `create_stream` on the prompt (first audio) and to its
last (whole prompt), and the load time.
"""

import asyncio
import json
import os
import sys
import tempfile
import time

import numpy as np
import onnxruntime
from kokoro_onnx import Kokoro

req = json.load(sys.stdin)
voice_name = req["voice"]
style = np.fromfile(os.path.join(req["dir"], voice_name + ".bin"), dtype="<f4").reshape(510, 1, 256)
tmp = tempfile.mkdtemp()
voices = os.path.join(tmp, "voices.npz")
np.savez(voices, **{voice_name: style})

t = time.perf_counter()
kokoro = Kokoro(
    os.path.join(req["dir"], "kokoro-v1.0.int8.onnx"),
    voices,
    vocab_config=os.path.join(req["dir"], "config.json"),
)
load = time.perf_counter() - t
lang = "en-gb" if voice_name.startswith("b") else "en-us"


def synth(text):
    audio, rate = kokoro.create(text, voice=voice_name, speed=1.0, lang=lang)
    return len(audio) / rate


synth("Warming up.")
synth(req["sentences"][0])
best = None
for _ in range(req["passes"]):
    audio = total = 0.0
    for s in req["sentences"]:
        t = time.perf_counter()
        audio += synth(s)
        total += time.perf_counter() - t
    if best is None or total / audio < best[1] / best[0]:
        best = (audio, total)


async def stream(text):
    t = time.perf_counter()
    first = None
    async for _audio, _rate in kokoro.create_stream(text, voice=voice_name, speed=1.0, lang=lang):
        if first is None:
            first = time.perf_counter() - t
    return first, time.perf_counter() - t


first = whole = float("inf")
for _ in range(req["passes"]):
    f, w = asyncio.run(stream(req["prompt"]))
    first, whole = min(first, f), min(whole, w)
print(
    json.dumps(
        {
            "audio": best[0],
            "synth": best[1],
            "first_audio": first,
            "whole_prompt": whole,
            "load": load,
            "onnxruntime": onnxruntime.__version__,
        }
    )
)
