"""The README's command-line and HTTP examples, run as written, in the order a newcomer runs them:
the CLI's `place` first, then the curl calls, against one application."""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

import bootstrap
from adapters.inbound.cli import main as cli

pytestmark = pytest.mark.anyio
README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def shell_lines(text: str) -> list[str]:
    """The commands of a section's ```sh blocks, continuation lines joined, comments dropped."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for command in block.replace("\\\n", " ").splitlines():
            words = shlex.split(command, comments=True)
            if words:
                commands.append(shlex.join(words))
    return commands


def curl(command: str) -> tuple[str, str, dict[str, str], str | None]:
    """A curl command line as (method, path?query, headers, body)."""
    words = shlex.split(command)
    assert words[0] == "curl"
    method, headers, body, url = "GET", {}, None, ""
    rest = iter(words[1:])
    for word in rest:
        if word == "-X":
            method = next(rest)
        elif word == "-H":
            name, _, value = next(rest).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            body = next(rest)
            method = "POST" if method == "GET" else method
        elif not word.startswith("-"):
            url = word
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return method, parts.path + (f"?{parts.query}" if parts.query else ""), headers, body


def cli_place(application: bootstrap.Application) -> None:
    [place] = [c for c in shell_lines(section("Using it from the command line")) if " place " in c]
    argv = shlex.split(place)[1:]
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(argv, build=bootstrap.build, describe_config=bootstrap.describe_config,
                   extra=bootstrap.EXTRA_COMMANDS, app=application, out=out, err=err)
    assert code == 0, err.getvalue()


async def test_the_first_curl_call_after_the_cli_example_places_an_order(
        application: bootstrap.Application, client: httpx.AsyncClient) -> None:
    cli_place(application)  # the README shows the CLI before the HTTP API
    commands = shell_lines(section("The HTTP API"))
    method, path, headers, body = curl(next(c for c in commands if c.startswith("curl -X POST localhost:8000/orders ")))
    first = await client.request(method, path, headers=headers, content=body)
    assert first.status_code == 201, first.text
    again = await client.request(method, path, headers=headers, content=body)
    assert again.status_code == 200 and again.json() == first.json()
    # What the comment under it says: this body under the CLI example's key is a conflict.
    cli_key = re.search(r"--idempotency-key (\S+)", section("Using it from the command line"))
    assert cli_key is not None and headers["Idempotency-Key"] != cli_key.group(1)
    conflict = await client.request(method, path, headers={**headers, "Idempotency-Key": cli_key.group(1)},
                                    content=body)
    assert conflict.status_code == 409

    method, path, headers, body = curl(next(c for c in commands if "status=" in c))
    listed = await client.request(method, path, headers=headers, content=body)
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["items"]) == 2, "the CLI's order and the curl order, both pending"
