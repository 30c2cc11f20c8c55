"""The Python SDK dendrite asks an axon for music with the original MusicGeneration synapse and
prints what it got.

usage: query_music.py HOTKEY IP PORT VARIANT(head|bittaudio) TEXT DURATION_TOKENS [TIMEOUT]

`head` is AudioSubnet's declaration at HEAD (every field optional); `bittaudio` is BittAudio's
(text_input required, model_name a Literal defaulting to musicgen-medium). Neither declares
required_hash_fields, and `duration` is MusicGen's token count (50 per second), as the original
validators sent it.
"""
import asyncio
import math
import sys
import typing

import pydantic

from common import bt, keypair, out


class MusicGeneration(bt.Synapse):
    text_input: str = pydantic.Field(default=None)
    model_name: typing.Optional[str] = pydantic.Field(default=None)
    music_output: typing.List = pydantic.Field(default=None)
    duration: int = pydantic.Field(default=None)

    def deserialize(self):
        return self


class BittAudioMusicGeneration(bt.Synapse):
    text_input: str = pydantic.Field(...)
    model_name: typing.Optional[
        typing.Literal["facebook/musicgen-medium", "facebook/musicgen-large"]
    ] = "facebook/musicgen-medium"
    music_output: typing.Optional[typing.List[typing.Any]] = None
    duration: typing.Optional[int] = None

    def deserialize(self):
        return self


# The route is the class name.
BittAudioMusicGeneration.__name__ = "MusicGeneration"


async def main():
    hotkey, ip, port, variant, text, tokens = sys.argv[1:7]
    timeout = float(sys.argv[7]) if len(sys.argv) > 7 else 60.0
    cls = BittAudioMusicGeneration if variant == "bittaudio" else MusicGeneration
    d = bt.Dendrite(wallet=keypair("//Alice"))
    info = bt.AxonInfo(version=0, ip=ip, port=int(port), ip_type=4, hotkey=hotkey, coldkey=hotkey)
    synapse = cls(text_input=text, duration=int(tokens))
    r = await d.forward(axons=info, synapse=synapse, timeout=timeout, deserialize=False)
    await d.aclose_session()
    music = r.music_output or []
    floats = [float(x) for x in music if isinstance(x, (int, float))]
    rms = math.sqrt(sum(x * x for x in floats) / len(floats)) if floats else 0.0
    out({
        "is_success": r.is_success,
        "status_code": r.dendrite.status_code,
        "status_message": r.dendrite.status_message,
        # The original validators wrote the reply as 32 kHz audio whatever the miner said;
        # ours declares its rate in an extra field, which pydantic keeps or drops.
        "sample_rate": getattr(r, "sample_rate", None),
        "model_name": r.model_name,
        "samples": len(music),
        "all_floats": len(floats) == len(music),
        "peak": max((abs(x) for x in floats), default=0.0),
        "rms": rms,
        "text_input": r.text_input,
    })


asyncio.run(main())
