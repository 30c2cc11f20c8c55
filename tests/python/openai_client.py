"""OpenAI's own Python client against the miner's OpenAI-compatible endpoint, as a user runs it.

Usage: openai_client.py BASE_URL API_KEY OUT_DIR

Writes each reply to OUT_DIR and prints one JSON line: per file its size, content type and the
duration the file's own headers give (mp3 frames, Ogg Opus granule positions, FLAC STREAMINFO,
WAV data, raw PCM at 24 kHz), plus the model ids. Exits non-zero when a reply is not the format
asked for. The Rust test (crates/cli/tests/openai_python.rs) compares the durations.
"""

import json
import os
import struct
import sys

import openai
from openai import OpenAI

TEXT = "The quick brown fox jumps over the lazy dog. It was not amused."


def mp3_duration(data):
    """Seconds of audio in an MPEG layer III stream, by walking its frames (the LAME/Xing tag
    frame carries no audio)."""
    assert data[0] == 0xFF and data[1] & 0xE0 == 0xE0, "no mp3 frame sync at the start"
    rates = {3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000]}
    v1 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]
    v2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
    pos, samples, frames, rate = 0, 0, 0, None
    while pos + 4 <= len(data):
        h = data[pos:pos + 4]
        assert h[0] == 0xFF and h[1] & 0xE0 == 0xE0, f"lost frame sync at byte {pos}"
        version = (h[1] >> 3) & 3
        assert (h[1] >> 1) & 3 == 1, "not layer III"
        bitrate = (v1 if version == 3 else v2)[h[2] >> 4] * 1000
        rate = rates[version][(h[2] >> 2) & 3]
        padding = (h[2] >> 1) & 1
        per_frame = 1152 if version == 3 else 576
        length = (144 if version == 3 else 72) * bitrate // rate + padding
        frame = data[pos:pos + length]
        if not (frames == 0 and (b"Info" in frame or b"Xing" in frame)):
            samples += per_frame
        frames += 1
        pos += length
    assert pos == len(data), f"{len(data) - pos} trailing bytes"
    return samples / rate


def opus_duration(data):
    """Seconds in an Ogg Opus file: the last page's granule position less the pre-skip."""
    assert data[:4] == b"OggS", "not an Ogg stream"
    assert data[28:36] == b"OpusHead", "the first packet is not OpusHead"
    pre_skip = struct.unpack("<H", data[38:40])[0]
    assert b"OpusTags" in data[:4096], "no OpusTags"
    last = data.rindex(b"OggS")
    assert data[last + 5] & 4, "the last page is not marked end-of-stream"
    granule = struct.unpack("<q", data[last + 6:last + 14])[0]
    return (granule - pre_skip) / 48000


def flac_duration(data):
    assert data[:4] == b"fLaC", "not FLAC"
    info = data[8:8 + 34]
    packed = int.from_bytes(info[10:18], "big")
    rate = packed >> 44
    total = packed & ((1 << 36) - 1)
    return total / rate


def wav_duration(data):
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", "not WAV"
    rate = struct.unpack("<I", data[24:28])[0]
    size = struct.unpack("<I", data[40:44])[0]
    return size / 2 / rate


def pcm_duration(data):
    assert len(data) % 2 == 0, "odd PCM length"
    return len(data) / 2 / 24000


DURATION = {"mp3": mp3_duration, "opus": opus_duration, "flac": flac_duration,
            "wav": wav_duration, "pcm": pcm_duration}


def main():
    base_url, api_key, out = sys.argv[1:4]
    client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=120)
    report = {"files": {}}

    def record(name, fmt, path, content_type):
        with open(path, "rb") as f:
            data = f.read()
        report["files"][name] = {"bytes": len(data), "content_type": content_type,
                                 "seconds": DURATION[fmt](data)}

    # Default arguments: OpenAI's default format is mp3.
    reply = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT)
    path = os.path.join(out, "default.mp3")
    reply.write_to_file(path)
    record("default", "mp3", path, reply.response.headers.get("content-type"))

    for fmt in ["mp3", "opus", "flac", "wav", "pcm"]:
        reply = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT,
                                           response_format=fmt)
        path = os.path.join(out, f"speech.{fmt}")
        reply.write_to_file(path)
        record(fmt, fmt, path, reply.response.headers.get("content-type"))

    reply = client.audio.speech.create(model="tts-1-hd", voice="nova", input=TEXT,
                                       response_format="wav", speed=1.5)
    path = os.path.join(out, "fast.wav")
    reply.write_to_file(path)
    record("speed_1.5", "wav", path, reply.response.headers.get("content-type"))

    path = os.path.join(out, "streamed.mp3")
    with client.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="alloy", input=TEXT) as response:
        content_type = response.headers.get("content-type")
        response.stream_to_file(path)
    record("streamed", "mp3", path, content_type)

    report["models"] = [m.id for m in client.models.list()]

    try:
        client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT,
                                   response_format="aac")
        raise AssertionError("aac was accepted")
    except openai.BadRequestError as e:
        assert e.status_code == 400
        body = e.body if isinstance(e.body, dict) else {}
        report["aac_error"] = body.get("error", body).get("message", str(e))

    print(json.dumps(report))


if __name__ == "__main__":
    main()
