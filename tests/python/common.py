"""Shared set-up for the interop scripts: a quiet, offline bittensor 10.x import and the
TextToSpeech synapse declared as the original subnet did, plus a hashed variant."""
import atexit
import os
import shutil
import sys
import tempfile
import typing

os.environ.setdefault("READ_ONLY", "1")
if os.environ.get("INTEROP_HOME"):
    os.environ["HOME"] = os.environ["INTEROP_HOME"]
else:
    # A throwaway HOME for the SDK's files, removed when the script ends.
    os.environ["HOME"] = tempfile.mkdtemp(prefix="bt-home-")
    atexit.register(shutil.rmtree, os.environ["HOME"], ignore_errors=True)

import bittensor as bt  # noqa: E402
from bittensor.utils import networking  # noqa: E402

# Dendrite() otherwise asks public services for the external IP, and this machine is offline.
networking.get_external_ip = lambda: "127.0.0.1"
bt.logging.set_warning() if hasattr(bt.logging, "set_warning") else None


class TextToSpeech(bt.Synapse):
    """Exactly the original AudioSubnet protocol: no hashed fields, all fields optional."""

    text_input: typing.Optional[str] = None
    model_name: typing.Optional[str] = None
    clone_input: typing.Optional[typing.List] = None
    speech_output: typing.Optional[typing.List] = None
    sample_rate: typing.Optional[int] = None

    def deserialize(self):
        return self


class HashedTextToSpeech(TextToSpeech):
    """The same fields with the prompt bound to the signature."""

    required_hash_fields: typing.ClassVar[typing.Tuple[str, ...]] = ("text_input",)


# The route is the class name, so the hashed variant must be called TextToSpeech on the wire.
HashedTextToSpeech.__name__ = "TextToSpeech"


def keypair(uri: str):
    from bittensor_wallet import Keypair

    return Keypair.create_from_uri(uri)


def wallet_with_hotkey(uri: str):
    """A wallet in a temp dir whose hotkey is the dev key `uri` (the Python Axon wants a Wallet)."""
    from bittensor_wallet import Wallet

    path = tempfile.mkdtemp(prefix="bt-wallets-")
    w = Wallet(name="interop", hotkey="default", path=path)
    kp = keypair(uri)
    w.set_hotkey(kp, encrypt=False, overwrite=True)
    w.set_coldkeypub(kp, encrypt=False, overwrite=True)
    return w


def out(obj):
    import json

    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
