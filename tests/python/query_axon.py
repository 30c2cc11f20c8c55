"""The Python SDK dendrite queries an axon with TextToSpeech and prints what it got.

usage: query_axon.py HOTKEY IP PORT MODE(legacy|hashed) TEXT [DENDRITE_URI]
"""
import asyncio
import sys

from common import HashedTextToSpeech, TextToSpeech, bt, keypair, out


async def main():
    hotkey, ip, port, mode, text = sys.argv[1:6]
    uri = sys.argv[6] if len(sys.argv) > 6 else "//Alice"
    cls = HashedTextToSpeech if mode == "hashed" else TextToSpeech
    d = bt.Dendrite(wallet=keypair(uri))
    info = bt.AxonInfo(version=0, ip=ip, port=int(port), ip_type=4, hotkey=hotkey, coldkey=hotkey)
    r = await d.forward(axons=info, synapse=cls(text_input=text), timeout=12, deserialize=False)
    await d.aclose_session()
    speech = r.speech_output or []
    out({
        "is_success": r.is_success,
        "status_code": r.dendrite.status_code,
        "status_message": r.dendrite.status_message,
        "sample_rate": r.sample_rate,
        "model_name": r.model_name,
        "samples": len(speech),
        "all_floats": all(isinstance(x, (int, float)) for x in speech),
        "text_input": r.text_input,
        "body_hash": r.body_hash,
    })


asyncio.run(main())
