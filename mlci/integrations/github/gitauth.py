"""Let git push to GitHub with the workflow token, without writing the token anywhere.

Workflows should check out with `persist-credentials: false` (otherwise the token sits in
`.git/config` for every later step to read). mlci then authenticates its own pushes (baseline
records, report images) the way actions/checkout does, with an `http.<server>/.extraheader`,
but passed through git's `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n` environment: never on a command
line (visible in `ps`) and never in a file.

A git process given this environment in the workspace would hand it to every hook, fsmonitor
and filter PR code planted there (or in `~/.gitconfig`), and send it through any proxy or URL
rewrite configured there. So mlci's remote operations take it only as far as
`mlci.store.gitsafe`, which finds the header in the environment and runs the fetch or push in a
scratch repository of its own, with hooks and user/system config off, to the remote's literal
URL, and only when that URL is on `server_url`.
"""

from __future__ import annotations

import base64
import os


def auth_env(token: str | None, server_url: str = "https://github.com", environ: dict | None = None) -> dict[str, str]:
    """Environment additions that make git send `token` to `server_url` (empty without a token)."""
    if not token:
        return {}
    env = os.environ if environ is None else environ
    index = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": str(index + 1),
        f"GIT_CONFIG_KEY_{index}": f"http.{server_url.rstrip('/')}/.extraheader",
        f"GIT_CONFIG_VALUE_{index}": f"AUTHORIZATION: basic {basic}",
    }
