"""Starts the real fjord binary on an ephemeral port with a temp data dir."""
import os
import subprocess
import tempfile

import pytest

FJORD = os.environ.get("FJORD_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "fjord"))


class Broker:
    def __init__(self, *extra, cores=2):
        self.dir = tempfile.TemporaryDirectory()
        self.log = open(os.path.join(self.dir.name, "broker.log"), "w")
        self.proc = subprocess.Popen(
            [FJORD, "serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(self.dir.name, "data"), "--cores", str(cores), *extra],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("fjord listening on "), f"broker did not start: {line!r}"
        self.bootstrap = line.split()[-1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.dir.cleanup()


@pytest.fixture
def broker():
    b = Broker()
    yield b
    b.stop()
