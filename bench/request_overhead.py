"""CPU that ``ApiClient.request`` spends per request, side by side with plain ``httpx.Client.get``.

Run from the repository root:

    .venv/bin/python bench/request_overhead.py [--requests 300] [--runs 5] [--profile]

Both clients send the same authenticated GET of the sandbox campaign (127.0.0.1 only, no latency) over one
kept-alive connection. The figure is CPU time of the sending thread (``time.thread_time``: the client's work
only, not the sandbox's handler threads) per request, the median and the fastest of ``--runs`` interleaved runs (on
a shared machine the fastest run is the steadier figure); the difference is what the tool adds over httpx.
Both sides parse the JSON body. ``--profile`` prints the top of a cProfile
of the ApiClient loop instead.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import ssl
import statistics
import time
from collections.abc import Callable

import httpx

from cxone_tune.auth import BearerAuth, Token, TokenSource
from cxone_tune.http import ApiClient, RetryPolicy, json_object


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    count: int = args.requests

    # The sandbox moves packages (cxone_sandbox -> cxone_sandbox); import it only here.
    try:
        from cxone_sandbox import (  # type: ignore[import-not-found,unused-ignore]
            DEFAULT_CAMPAIGN_ID,
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            SandboxServer,
            SandboxTenant,
        )
    except ImportError:
        from cxone_sandbox import (
            DEFAULT_CAMPAIGN_ID,
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            SandboxServer,
            SandboxTenant,
        )

    with SandboxServer(SandboxTenant(agents=10, seed=1)).start() as server:
        url = f"{server.url}/api/v2/campaigns/{DEFAULT_CAMPAIGN_ID}"
        token = httpx.post(
            f"{server.url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
            },
        ).json()["access_token"]

        context = ssl.create_default_context()  # plain HTTP on loopback: loaded once, shared, never used
        api = ApiClient(RetryPolicy(), verify=context)
        api.set_auth(BearerAuth(TokenSource(None, lambda _previous: Token(token, time.time() + 3600))))
        plain = httpx.Client(headers={"Authorization": f"Bearer {token}"}, verify=context)

        def tool() -> None:
            json_object(api.request("GET", url, call="GET campaign"), "GET campaign")

        def baseline() -> None:
            response = plain.get(url)
            response.raise_for_status()
            response.json()

        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(lambda: [api.request("GET", url, call="GET campaign") for _ in range(count)])
            stats = pstats.Stats(profiler).sort_stats("cumulative")
            stats.print_stats(35)
            stats.print_stats("tenacity|cxone_tune|logging", 30)
            return

        def cpu_per_request(send: Callable[[], None]) -> float:
            send()  # connection, token: outside the measurement
            started = time.thread_time()
            for _ in range(count):
                send()
            return (time.thread_time() - started) / count

        tool_runs: list[float] = []
        base_runs: list[float] = []
        for _ in range(args.runs):  # interleaved, so drift on a shared machine hits both alike
            tool_runs.append(cpu_per_request(tool))
            base_runs.append(cpu_per_request(baseline))
        api.close()
        plain.close()
    print(f"requests per run: {count}, runs: {args.runs}; CPU of the sending thread, ms per request")
    print("                       median   fastest run")
    for name, runs in (("ApiClient.request", tool_runs), ("httpx.Client.get", base_runs)):
        print(f"{name:20} {statistics.median(runs) * 1e3:8.3f} {min(runs) * 1e3:10.3f}")
    t, b = statistics.median(tool_runs), statistics.median(base_runs)
    print(f"added by the tool    {(t - b) * 1e3:8.3f} {(min(tool_runs) - min(base_runs)) * 1e3:10.3f}")
    print(f"ratio                {t / b:7.2f}x {min(tool_runs) / min(base_runs):9.2f}x")


if __name__ == "__main__":
    main()
