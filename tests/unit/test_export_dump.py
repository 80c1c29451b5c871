"""``stepstate.exported`` reads real bash's ``export -p`` as what a child process receives.

The oracle is bash itself: the same shell prints ``export -p`` and then starts ``env -0``,
and the parsed dump must equal the environment that child got, byte for byte, whatever
the values hold, in the C locale and in C.UTF-8, in posix mode or not.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from converter.runtime.stepstate import StateDumpError, exported

# Any bytes but NUL (an environment cannot hold one), as Python holds them: os.fsdecode.
_values = st.binary(max_size=60).map(lambda b: os.fsdecode(b.replace(b"\0", b"")))
_names = st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: n not in {"PWD", "OLDPWD", "SHLVL", "SHELLOPTS", "BASHOPTS"}
)
_LOCALES = ["C", "C.UTF-8"]


def _dump_and_child(script: str, env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(exported() of the shell's export -p, what its child ``env -0`` received).

    ``export -p`` runs as the step's EXIT trap runs it: in the C locale.
    """
    out = subprocess.run(
        ["bash", "-c", f'{script}\nLC_ALL=C builtin export -p; printf "\\0\\0"; env -0; :'],
        env=env,
        capture_output=True,
        check=True,
    ).stdout
    dump, _, child = out.partition(b"\0\0")
    received = dict(os.fsdecode(item).partition("=")[::2] for item in child.split(b"\0") if item)
    received.pop("_", None)  # bash sets it to the command it runs
    return exported(dump), received


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(_names, _values, min_size=1, max_size=5),
    st.sampled_from(_LOCALES),
    st.booleans(),
)
def test_any_value_reads_back_as_the_child_receives_it(values, locale, posix):
    env = {"LC_ALL": locale, **values}
    parsed, received = _dump_and_child("set -o posix" if posix else ":", env)
    assert parsed == received
    for name, value in values.items():
        assert parsed[name] == value


@pytest.mark.parametrize("locale", _LOCALES)
@pytest.mark.parametrize("posix", [False, True])
def test_attributes_arrays_namerefs_and_valueless_exports(locale, posix):
    script = """
        declare -ax ARRAY=(1 "two words" $'new\\nline')
        declare -Ax ASSOC=([k]=v [$'odd\\nkey']=w)
        declare -ix NUMBER=5
        declare -rx READONLY='ro "quoted"'
        declare -lx LOWER=ABC
        declare -x VALUELESS
        TARGET=value; declare -nx REF=TARGET
        export EMPTY= TAB=$'a\\tb' ESC=$'\\e[31m' BACKSLASH='\\n\\$x' HIGH=$'\\xff\\x80'
    """
    parsed, received = _dump_and_child(
        ("set -o posix\n" if posix else "") + script, {"LC_ALL": locale}
    )
    assert parsed == received
    assert parsed["REF"] == "TARGET" and parsed["LOWER"] == "abc" and parsed["NUMBER"] == "5"
    assert parsed["HIGH"] == os.fsdecode(b"\xff\x80") and parsed["BACKSLASH"] == "\\n\\$x"
    assert not {"ARRAY", "ASSOC", "VALUELESS"} & set(parsed)


@pytest.mark.parametrize("locale", ["zh_TW.BIG5", "zh_CN.GBK", "ja_JP.SJIS"])
def test_a_character_whose_last_byte_is_a_backslash(legacy_locales, locale):
    """Big5's 許 is A5 5C: printed raw by a bash in that locale, its backslash would be read
    as an escape ($'\xa5\\n' carried as A5 0A)."""
    values = {
        f"V{k}": os.fsdecode(b"\xa5\x5c" + tail)
        for k, tail in enumerate([b"n\t", b"t\t", b"101\t", b"x", b"", b"\\", b"'"])
    }
    env = {"LOCPATH": str(legacy_locales), "LC_ALL": locale, **values}
    parsed, received = _dump_and_child(":", env)
    assert parsed == received
    assert {k: parsed[k] for k in values} == values


def test_a_name_bash_took_in_a_latin1_locale_is_carried(legacy_locales):
    env = {"LOCPATH": str(legacy_locales), "LC_ALL": "de_DE.ISO-8859-1"}
    script = os.fsdecode(b"\xe9t\xe9=1; export \xe9t\xe9")
    parsed, received = _dump_and_child(script, env)
    assert parsed == received and parsed[os.fsdecode(b"\xe9t\xe9")] == "1"


@pytest.mark.parametrize(
    "text",
    [
        b"declare -x A=unquoted\n",
        b'declare -x A="unterminated\n',
        b"declare -x A=$'\\u00e9'\n",
        b'typeset -x A="1"\n',
        b'declare -x A="1"',
    ],
)
def test_anything_else_is_refused_rather_than_guessed(text):
    with pytest.raises(StateDumpError):
        exported(text)
