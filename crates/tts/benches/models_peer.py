"""The Python peer of crates/tts/benches/models.rs: the same checkpoint, texts and settings in
transformers, timed the same way. Not a test; the Rust bench runs it and reads its output.

    python models_peer.py '{"model": "vits", "dir": DIR, "texts": [...], "passes": 2,
                            "threads": 0, ...}'

Prints one JSON object: load seconds and, per text, the best pass's wall and CPU seconds
(time.process_time: every thread of the process, as the Rust side reads /proc/self/stat) and the
number of samples. Settings mirror the Rust side: VITS without noise; SpeechT5 running to
`maxlenratio` (threshold 100, so random weights never stop early); Bark greedy (the stages'
generation configs, as BarkModel uses them, with do_sample off).
"""

import json
import sys
import time

import numpy as np
import torch


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def vits(spec):
    from transformers import VitsModel, VitsTokenizer

    model = VitsModel.from_pretrained(spec["dir"]).eval()
    model.noise_scale = 0.0
    model.noise_scale_duration = 0.0
    tokenizer = VitsTokenizer.from_pretrained(spec["dir"])

    def run(text):
        inputs = tokenizer(text, return_tensors="pt")
        return model(**inputs).waveform[0].numel()

    return run


def speecht5(spec):
    from transformers import SpeechT5ForTextToSpeech, SpeechT5HifiGan, SpeechT5Tokenizer

    model = SpeechT5ForTextToSpeech.from_pretrained(spec["dir"]).eval()
    vocoder = SpeechT5HifiGan.from_pretrained(spec["vocoder_dir"]).eval()
    tokenizer = SpeechT5Tokenizer.from_pretrained(spec["dir"])
    speaker = torch.from_numpy(np.fromfile(spec["speaker"], dtype="<f4")).unsqueeze(0)

    def run(text):
        inputs = tokenizer(text, return_tensors="pt")
        speech = model.generate_speech(
            inputs["input_ids"], speaker, vocoder=vocoder, threshold=100.0,
            minlenratio=0.0, maxlenratio=spec["maxlenratio"],
        )
        return speech.numel()

    return run


def bark(spec):
    from transformers import BarkModel, BarkProcessor
    from transformers.models.bark.generation_configuration_bark import (
        BarkCoarseGenerationConfig,
        BarkFineGenerationConfig,
        BarkSemanticGenerationConfig,
    )

    model = BarkModel.from_pretrained(spec["dir"]).eval()
    processor = BarkProcessor.from_pretrained(spec["dir"])
    semantic = BarkSemanticGenerationConfig(**model.generation_config.semantic_config)
    coarse = BarkCoarseGenerationConfig(**model.generation_config.coarse_acoustics_config)
    fine = BarkFineGenerationConfig(**model.generation_config.fine_acoustics_config)
    semantic.do_sample = coarse.do_sample = False
    codebook = model.generation_config.codebook_size

    def run(text):
        inputs = processor(text)
        tokens = model.semantic.generate(
            inputs["input_ids"], attention_mask=inputs["attention_mask"],
            semantic_generation_config=semantic,
        )
        tokens = model.coarse_acoustics.generate(
            tokens, semantic_generation_config=semantic,
            coarse_generation_config=coarse, codebook_size=codebook,
        )
        tokens = model.fine_acoustics.generate(
            tokens, semantic_generation_config=semantic, coarse_generation_config=coarse,
            fine_generation_config=fine, codebook_size=codebook,
        )
        return model.codec_decode(tokens).numel()

    return run


def main():
    spec = json.loads(sys.argv[1])
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    with torch.no_grad():
        run, load_wall, _ = timed(lambda: {"vits": vits, "speecht5": speecht5,
                                           "bark": bark}[spec["model"]](spec))
        run(spec["warm_up"])
        results = []
        for text in spec["texts"]:
            best = None
            for _ in range(spec["passes"]):
                samples, wall, cpu = timed(lambda: run(text))
                if best is None or wall < best["wall"]:
                    best = {"wall": wall, "cpu": cpu, "samples": samples}
            results.append(best)
    print(json.dumps({"load": load_wall, "texts": results, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
