"""SecretMasker / MaskingStream: no spelling of a secret survives, ordinary text is untouched."""

from __future__ import annotations

import base64
import json
import re
import shlex
from itertools import combinations, pairwise
from urllib.parse import quote, quote_plus

import pytest

from converter.records.mask import MARK, SecretMasker

SECRET = "s3cr3t-P@ss/w0rd+K=ey"
JAPANESE = "秘密のパスワード鍵"
META = r"a.b*c(d)[e]{2}|f^g$h\i?"


def stable_cores(prefix_len: int, secret: bytes, suffix_len: int, encode=base64.b64encode) -> str:
    """Brute-force oracle: the base64 characters that do not change with the neighbours."""
    variants = [
        encode(bytes([fill]) * prefix_len + secret + bytes([fill]) * suffix_len).decode()
        for fill in (0x00, 0xFF, 0x55, 0xAA, ord("x"))
    ]
    return "".join(
        ch if all(v[i] == ch for v in variants) else " " for i, ch in enumerate(variants[0])
    )


def base64_reveals(text: str, secret: bytes) -> bool:
    """True if any base64-looking token of ``text``, at any alignment, decodes to the secret."""
    for token in re.findall(r"[A-Za-z0-9+/_-]{4,}=*", text):
        token = token.replace("-", "+").replace("_", "/").rstrip("=")
        for shift in range(4):
            piece = token[shift:]
            piece = piece[: len(piece) // 4 * 4]
            if piece and secret in base64.b64decode(piece):
                return True
    return False


@pytest.fixture
def masker() -> SecretMasker:
    return SecretMasker([SECRET])


def test_plain_secret_is_masked(masker):
    assert masker.mask(f"token: {SECRET}\n") == "token: ***\n"


def test_secret_inside_url(masker):
    assert masker.mask(f"https://user:{SECRET}@host/db") == "https://user:***@host/db"


@pytest.mark.parametrize("encode", [lambda s: quote(s, safe=""), quote, quote_plus])
def test_url_encoded_secret(masker, encode):
    encoded = encode(SECRET)
    assert encoded != SECRET
    assert masker.mask(f"https://host/?pw={encoded}&x=1") == "https://host/?pw=***&x=1"


def test_url_encoded_lowercase_hex(masker):
    encoded = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(SECRET, safe=""))
    assert masker.mask(encoded) == MARK


@pytest.mark.parametrize(
    "encode", [base64.b64encode, base64.urlsafe_b64encode], ids=["std", "urlsafe"]
)
@pytest.mark.parametrize("padded", [True, False])
def test_base64_of_secret_alone(masker, encode, padded):
    encoded = encode(SECRET.encode()).decode()
    if not padded:
        encoded = encoded.rstrip("=")
    assert masker.mask(f"Authorization: Basic {encoded}\n") == "Authorization: Basic ***\n"


@pytest.mark.parametrize("secret", [SECRET, JAPANESE, "abcd", "x" * 40])
@pytest.mark.parametrize(
    "encode", [base64.b64encode, base64.urlsafe_b64encode], ids=["std", "urlsafe"]
)
@pytest.mark.parametrize("k", range(6))
@pytest.mark.parametrize("m", range(3))
def test_base64_embedded_at_every_alignment(secret, encode, k, m):
    masker = SecretMasker([secret])
    raw = secret.encode()
    message = encode(b"x" * k + raw + b"y" * m).decode()
    masked = masker.mask(f"data: {message}\n")
    cores = [c for c in stable_cores(k, raw, m, encode).split() if len(c) >= 4]
    assert cores, "the oracle must find a stable core"
    for core in cores:
        assert core not in masked
    assert encode(raw).decode().rstrip("=") not in masked
    assert not base64_reveals(masked, raw)
    assert MARK in masked


def test_hex_lower_and_upper(masker):
    hexed = SECRET.encode().hex()
    assert masker.mask(f"{hexed} {hexed.upper()}") == "*** ***"


def test_json_escaped_secret():
    secret = 'pa"ss\\wo\trd'
    masker = SecretMasker([secret])
    document = json.dumps({"password": secret})
    assert secret not in document  # the escaped form differs from the plain one
    assert masker.mask(document) == '{"password": "***"}'


def test_json_escaped_non_ascii_secret():
    masker = SecretMasker([JAPANESE])
    assert masker.mask(json.dumps({"k": JAPANESE})) == '{"k": "***"}'
    assert masker.mask(json.dumps({"k": JAPANESE}, ensure_ascii=False)) == '{"k": "***"}'


def test_shell_quoted_secret():
    secret = "it's a $ecret"
    masker = SecretMasker([secret])
    command = f"mysql -p{shlex.quote(secret)} db"
    assert secret not in command
    assert masker.mask(command) == "mysql -p*** db"


def test_japanese_secret_all_encodings():
    masker = SecretMasker([JAPANESE])
    raw = JAPANESE.encode()
    text = " | ".join(
        [JAPANESE, quote(JAPANESE), raw.hex(), base64.b64encode(raw).decode(), "普通の文"]
    )
    assert masker.mask(text) == "*** | *** | *** | *** | 普通の文"


def test_multiple_secrets_and_overlap():
    masker = SecretMasker(["alpha-one", "beta-two", "one-beta"])
    assert masker.mask("x alpha-one y beta-two z") == "x *** y *** z"
    # Overlapping occurrences merge, so no fragment of either secret is left behind.
    assert masker.mask("alpha-one-beta!") == "***!"


def test_regex_metacharacters_are_literal():
    masker = SecretMasker([META])
    assert masker.mask(f"<{META}>") == "<***>"
    assert masker.mask("abbbc(d)[e]ee|f^g$h\\i") == "abbbc(d)[e]ee|f^g$h\\i"


def test_short_secret_masked_and_marker_preserved():
    masker = SecretMasker(["ab", "", "*", "**", "***"])
    assert masker.mask("ab cab ***") == "*** c*** ***"
    assert masker.mask(masker.mask("xab")) == "x***"


def test_no_secrets_means_identity():
    masker = SecretMasker([])
    assert masker.mask("anything") == "anything"
    stream = masker.stream()
    assert stream.feed("a") == "a"
    assert stream.flush() == ""


def test_text_without_secrets_unchanged(masker):
    text = "Deploying service v1.2.3 to prod\nAll 42 checks passed ✓\n"
    assert masker.mask(text) == text


def test_stream_emits_ordinary_output_immediately(masker):
    stream = masker.stream()
    for line in ["step 1: ok\n", "step 2: fine\n", "日本語の出力\n", "no newline"]:
        assert stream.feed(line) == line
        assert stream.pending == ""
    assert stream.flush() == ""


def test_stream_holds_only_a_possible_prefix(masker):
    stream = masker.stream()
    assert stream.feed("password is s3c") == "password is "
    assert stream.pending == "s3c"
    assert stream.feed("ond place\n") == "s3cond place\n"
    assert stream.feed("x" * 1000 + SECRET[:-1]) == "x" * 1000
    assert len(stream.pending) <= masker.max_len - 1
    assert stream.feed(SECRET[-1] + "\n") == MARK + "\n"
    assert stream.flush() == ""


@pytest.mark.parametrize("secret", [SECRET, JAPANESE, META, "ab"])
def test_stream_every_split_point(secret):
    """Property: for every 1- and 2-cut chunking, the stream equals whole-text masking."""
    masker = SecretMasker([secret])
    encoded = base64.b64encode(b"user:" + secret.encode()).decode()
    text = f"begin {secret} middle 日本 {quote(secret, safe='')}\n{secret}{encoded} end"
    expected = masker.mask(text)
    assert secret not in expected
    cuts = [(i,) for i in range(len(text) + 1)] + list(combinations(range(1, len(text)), 2))
    for cut in cuts:
        bounds = (0, *cut, len(text))
        stream = masker.stream()
        out = "".join(stream.feed(text[a:b]) for a, b in pairwise(bounds))
        out += stream.flush()
        assert out == expected, cut


def test_stream_single_characters_and_overlapping_secrets():
    masker = SecretMasker(["abcd", "cdxy"])
    text = "zzabcdxyzz abcd cdx"
    stream = masker.stream()
    out = "".join(stream.feed(ch) for ch in text) + stream.flush()
    assert out == masker.mask(text) == "zz***zz *** cdx"


@pytest.mark.parametrize(
    "secret",
    [
        "it's-a $ecret: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
        'a"b$c`d\\e fgh!{x}',
        "~home#x yz",
    ],
)
def test_what_bash_and_coreutils_print_of_a_secret_is_masked(secret):
    """printf %q, declare -p, set -x, and base64/xxd output wrapped into lines, by real bash."""
    import subprocess

    script = (
        'printf "%q\\n" "$S"; declare -p S; (set -x; : "$S") 2>&1; '
        'printf %s "$S" | base64; printf %s "$S" | od -An -v -tx1 | tr -d " \\n" | fold -w 60'
    )
    out = subprocess.run(
        ["bash", "-c", script],
        env={"S": secret, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    masked = SecretMasker([secret]).mask(out)
    lines = [line for line in masked.splitlines() if line]
    assert len(lines) >= 5
    for line in lines:
        assert line.replace(MARK, "").strip(' :+="') in ("", "declare -x S"), line
