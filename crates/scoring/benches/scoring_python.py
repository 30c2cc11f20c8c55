"""The Python reference pipeline of the `scoring_vs_python` benchmark (crates/scoring/benches).

Scores WAV files the way crates/scoring does, with the usual Python packages. The first line of
stdin is the request, a JSON object:

    {"files": [{"wav": PATH, "prompt": TEXT}, ...], "whisper_dir": DIR, "dnsmos": ONNX,
     "vad": ONNX, "cpu_threads": N, "intra_threads": N, "compute_type": "int8" | "float32"}

It loads the models, scores one warm-up response and prints `load` (load time and RSS); then each
further line of stdin asks for one pass over the files, answered by one `file` line per response
and `pass_done` (so the benchmark can interleave its own passes with these); at the end of stdin
it prints `done` (RSS after scoring, versions, settings). Output is one JSON object per line.

Per response, as in `ScoringModels::score`:
  read     soundfile: 16-bit WAV -> float32 in [-1, 1) (timed separately, not in the total)
  prepare  soxr.resample(x, rate, 16000), quality "HQ" (librosa's default `soxr_hq`)
  whisper  faster-whisper WhisperModel(dir, device="cpu", compute_type=...) on the same
           CTranslate2 float16 weights: "int8" (int8 weights and activations, what a Python
           validator picks for speed on a CPU; the default here) or "float32" (candle's
           arithmetic); greedy (beam_size=1, temperature 0, no fallback),
           without_timestamps=True, language="en" (a no-op for tiny.en, forces English on base)
  dnsmos   onnxruntime on sig_bak_ovr.onnx, as speechmos `dnsmos.run` (without the P.808 model):
           clip doubled up to 9.01 s, 9.01 s windows every 1 s, float32 input, calibration
           polynomials, mean
  vad      onnxruntime on silero_vad_op18_ifless.onnx: 512-sample chunks with 64 samples of
           context and the recurrent state, then silero's segment rules
"""

import json
import os
import resource
import sys
import time

import ctranslate2
import numpy as np
import onnxruntime as ort
import soundfile
import soxr
from faster_whisper import WhisperModel
import faster_whisper

FS = 16000
DNSMOS_WINDOW = 144160  # int(9.01 * 16000)
VAD_CHUNK = 512
VAD_CONTEXT = 64


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def memory():
    return {
        "rss_kb": status_kb("VmRSS"),
        "hwm_kb": status_kb("VmHWM"),
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def session(path, intra_threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = intra_threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.use_deterministic_compute = True
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def dnsmos(sess, audio):
    while len(audio) < DNSMOS_WINDOW:
        audio = np.append(audio, audio)
    num_hops = int(np.floor(len(audio) / FS) - 9.01) + 1
    sig = bak = ovr = 0.0
    n = 0
    for idx in range(max(num_hops, 1)):
        seg = audio[idx * FS : idx * FS + DNSMOS_WINDOW]
        if len(seg) < DNSMOS_WINDOW:
            continue
        raw = sess.run(None, {"input_1": seg.astype(np.float32)[np.newaxis, :]})[0][0]
        s, b, o = (float(v) for v in raw[:3])
        sig += np.polyval([-0.08397278, 1.22083953, 0.0052439], s)
        bak += np.polyval([-0.13166888, 1.60915514, -0.39604546], b)
        ovr += np.polyval([-0.06766283, 1.11546468, 0.04602535], o)
        n += 1
    n = max(n, 1)
    return sig / n, bak / n, ovr / n


def vad_probs(sess, pcm):
    state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros(VAD_CONTEXT, dtype=np.float32)
    sr = np.array(FS, dtype=np.int64)
    probs = []
    for start in range(0, len(pcm), VAD_CHUNK):
        chunk = pcm[start : start + VAD_CHUNK]
        if len(chunk) < VAD_CHUNK:
            chunk = np.pad(chunk, (0, VAD_CHUNK - len(chunk)))
        x = np.concatenate([context, chunk])[np.newaxis, :]
        context = x[0, VAD_CHUNK:]
        out, state = sess.run(None, {"input": x, "state": state, "sr": sr})
        probs.append(float(out.reshape(-1)[0]))
    return probs


def speech_fraction(probs, n_samples):
    """silero `get_speech_timestamps` defaults, as `activity_from_probs` in crates/scoring."""
    chunk_s = VAD_CHUNK / FS
    duration = n_samples / FS
    segments = []
    start = None
    below = 0
    for i, p in enumerate(probs):
        if start is None:
            if p >= 0.5:
                start, below = i, 0
        elif p < 0.35:
            below += 1
            if below >= 3:
                end = i + 1 - below
                if end - start >= 8:
                    segments.append((start, end))
                start = None
        else:
            below = 0
    if start is not None:
        end = len(probs) - min(below, len(probs) - start)
        if end - start >= 8:
            segments.append((start, end))
    speech = 0.0
    last_end = float("-inf")
    for s, e in segments:
        a = max(min(s * chunk_s, duration) - 0.03, 0.0, last_end)
        b = min(min(e * chunk_s, duration) + 0.03, duration)
        if b > a:
            speech += b - a
        last_end = b
    return speech / duration if duration > 0 else 0.0


def main():
    req = json.loads(sys.stdin.readline())
    intra = req["intra_threads"]
    t = time.perf_counter()
    compute_type = req.get("compute_type", "int8")
    whisper = WhisperModel(
        req["whisper_dir"], device="cpu", compute_type=compute_type, cpu_threads=req["cpu_threads"]
    )
    dn = session(req["dnsmos"], intra)
    vad = session(req["vad"], intra)
    load_ms = (time.perf_counter() - t) * 1000
    loaded = memory()

    def score(wav, prompt):
        t0 = time.perf_counter()
        data, rate = soundfile.read(wav, dtype="float32")
        t1 = time.perf_counter()
        pcm = soxr.resample(data, rate, FS, quality="HQ").astype(np.float32)
        t2 = time.perf_counter()
        segments, _ = whisper.transcribe(
            pcm,
            language="en",
            beam_size=1,
            best_of=1,
            temperature=0.0,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            max_new_tokens=3 * len(prompt.split()) + 16,
        )
        text = "".join(s.text for s in segments).strip()
        t3 = time.perf_counter()
        _, _, ovrl = dnsmos(dn, pcm)
        t4 = time.perf_counter()
        frac = speech_fraction(vad_probs(vad, pcm), len(pcm))
        t5 = time.perf_counter()
        ms = lambda a, b: (b - a) * 1000
        return {
            "read_ms": ms(t0, t1),
            "prepare_ms": ms(t1, t2),
            "whisper_ms": ms(t2, t3),
            "dnsmos_ms": ms(t3, t4),
            "vad_ms": ms(t4, t5),
            "total_ms": ms(t1, t5),
            "transcript": text,
            "ovrl": float(ovrl),
            "speech_fraction": frac,
        }

    files = req["files"]
    score(files[0]["wav"], files[0]["prompt"])  # warm-up
    print(json.dumps({"kind": "load", "load_ms": load_ms, **loaded}), flush=True)
    p = 0
    for _ in sys.stdin:
        for i, f in enumerate(files):
            row = score(f["wav"], f["prompt"])
            print(json.dumps({"kind": "file", "pass": p, "index": i, **row}), flush=True)
        print(json.dumps({"kind": "pass_done", "pass": p}), flush=True)
        p += 1
    print(
        json.dumps(
            {
                "kind": "done",
                **memory(),
                "faster_whisper": faster_whisper.__version__,
                "ctranslate2": ctranslate2.__version__,
                "onnxruntime": ort.__version__,
                "soxr": soxr.__version__,
                "numpy": np.__version__,
                "cpu_threads": req["cpu_threads"],
                "compute_type": compute_type,
                "intra_threads": intra,
                "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
