"""Checks made before the judge server starts or scores: bind address, bearer token, token counts.

No web framework is imported here, so ``agentforge prm serve`` can check its options before
loading a model or binding a port.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
import socket
from collections.abc import Callable, Mapping
from pathlib import Path

from agentforge.core.errors import UserError
from agentforge.judges.base import Item, Judge

log = logging.getLogger(__name__)
TOKEN_ENV = "AGENTFORGE_JUDGE_TOKEN"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")


def token_counter(judge: Judge) -> tuple[Callable[[list[Item]], int], str]:
    """How a request's size in tokens is measured for ``max_tokens_per_request``.

    Returns:
        ``(count, how)``. When ``judge.tokenizer`` is a fast Hugging Face tokenizer (a
        ``PRMJudge``), ``count(items)`` is the number of tokens of every question and step,
        special tokens and the chat template not included, counted with a private copy of it
        (so counting never races the judge's own tokenization); otherwise it is the estimate
        ``ceil(characters / 4)``. ``how`` says which, for error messages.
    """
    backend = getattr(getattr(judge, "tokenizer", None), "backend_tokenizer", None)
    if backend is not None:
        try:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_str(backend.to_str())
            tok.no_truncation()
            tok.no_padding()
        except Exception as exc:  # noqa: BLE001 - fall back to the estimate, and say so
            log.warning("cannot copy the judge's tokenizer (%s); estimating tokens as characters / 4", exc)
        else:
            encode = getattr(tok, "encode_batch_fast", tok.encode_batch)

            def count(items: list[Item]) -> int:
                texts = [t for q, steps in items for t in (q, *steps)]
                return sum(len(e.ids) for e in encode(texts, add_special_tokens=False))

            return count, "counted with the judge's tokenizer"

    def estimate(items: list[Item]) -> int:
        return math.ceil(sum(len(q) + sum(map(len, steps)) for q, steps in items) / 4)

    return estimate, "estimated as characters / 4"


def check_bind_address(host: str, port: int) -> None:
    """Check a bind address before anything binds.

    Raises:
        UserError: ``port`` is not an integer in 1-65535, or ``host`` is neither an IP address
            nor a well-formed host name, or does not resolve.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise UserError(f"port must be an integer in 1-65535, got {port!r}")
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not isinstance(host, str) or not _HOSTNAME.fullmatch(host) or host.replace(".", "").isdigit():
        raise UserError(f"host must be an IP address (127.0.0.1, ::1, 0.0.0.0, ::) or a host name, got {host!r}")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UserError(f"host {host!r} does not resolve to an address to bind: {exc}") from None


def load_token(token_file: str | Path | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """The server's bearer token, from ``token_file`` (content stripped) or ``$AGENTFORGE_JUDGE_TOKEN``.

    Args:
        token_file: a file holding the token (``--token-file``).
        env: the environment to read (default ``os.environ``).

    Returns:
        The token, or None when neither source is set (serve without a token).

    Raises:
        UserError: both sources set; the file is missing, unreadable or empty; the variable is
            set but empty; the token is not one line of printable ASCII without spaces.
    """
    env = os.environ if env is None else env
    from_env = env.get(TOKEN_ENV)
    if token_file is not None:
        if from_env is not None:
            raise UserError(f"both --token-file and ${TOKEN_ENV} are set; use one of them")
        path = Path(token_file).expanduser()
        try:
            token, source = path.read_text(encoding="utf-8").strip(), f"token file {path}"
        except FileNotFoundError:
            raise UserError(f"token file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read token file {path}: {exc}") from None
    elif from_env is not None:
        token, source = from_env.strip(), f"${TOKEN_ENV}"
    else:
        return None
    if not token:
        raise UserError(f"{source} is empty: put the token in it, or unset it to serve without a token")
    if not all(c.isascii() and c.isprintable() and not c.isspace() for c in token):
        raise UserError(f"the token in {source} must be one line of printable ASCII without spaces")
    return token
