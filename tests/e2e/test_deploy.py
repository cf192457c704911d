"""deploy/rewind.service: the systemd unit as shipped, checked by systemd's own
`systemd-analyze verify` (pointed at the binary under test, since it checks that ExecStart
exists), with the hardening the deployment guide promises."""
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, SERVER_BIN

UNIT = os.path.join(ROOT, "deploy", "rewind.service")
needs_systemd_analyze = pytest.mark.skipif(not shutil.which("systemd-analyze"),
                                           reason="systemd-analyze is not installed")


def verify(text, tmp_path, name="rewind.service"):
    path = tmp_path / name
    path.write_text(text.replace("/usr/local/bin/rewind-server", SERVER_BIN))
    r = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True,
                       timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


def directives(text):
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_the_unit_has_the_promised_hardening_and_a_stop_timeout_above_the_drain():
    d = directives(open(UNIT).read())
    assert d["NoNewPrivileges"] == ["yes"]
    assert d["ProtectSystem"] == ["strict"]
    assert d["StateDirectory"] == ["rewind"]
    assert "REWIND_DATA_DIR=/var/lib/rewind" in d["Environment"]
    assert int(d["LimitNOFILE"][0]) >= 65536
    assert d["KillSignal"] == ["SIGTERM"]
    # --shutdown-timeout (8 s) and the close grace (5 s) fit before systemd's SIGKILL.
    assert int(d["TimeoutStopSec"][0]) > 8 + 5
    assert d["ExecStart"] == ["/usr/local/bin/rewind-server"]


@needs_systemd_analyze
def test_systemd_analyze_verifies_the_unit_without_a_word(tmp_path):
    code, output = verify(open(UNIT).read(), tmp_path)
    assert code == 0 and output == "", output


@needs_systemd_analyze
def test_systemd_analyze_would_catch_a_mistake(tmp_path):
    # The check above can fail: an unknown key is reported.
    code, output = verify(open(UNIT).read().replace("UMask=0077", "UMask=0077\nUMaks=0077"),
                          tmp_path, "broken.service")
    assert "Unknown key" in output, output
