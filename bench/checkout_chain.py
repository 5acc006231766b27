"""The chained checkout's compounding failure, measured live on a real `orderhex serve`.

One `orderhex serve` (all four services, in-memory stores) runs with faults.enabled = true. Through
its admin API, each hop's service gets a 10% error rate: orders (the validation and approval hops)
and payments (the credit check). N quotes are then asked over HTTP (POST /checkout/quote), one after
another; a quote fails when any of its three hops fails, so the expected share of failed quotes is
1 - 0.9^3 = 0.271, where one hop alone fails 0.100 of them. The payments breaker needs 20 calls in
its window before it may open, so 10% errors (short of its 50% threshold) never trip it and every
failure counted here is an injected one; the run checks that none was a breaker's rejection.

Results go to bench/results/checkout_chain.json; the last line is the headline figure.

    .venv/bin/python bench/checkout_chain.py [--quotes N] [--error-rate R]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ORDERHEX = Path(sys.executable).with_name("orderhex")
RESULTS = Path(__file__).parent / "results" / "checkout_chain.json"
TOKEN = "bench-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
QUOTE = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": "9.99"}]}
HOPS = ("validation", "credit-check", "approval")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    env.update({"ORDERHEX_" + k.upper().replace(".", "__"): str(v) for k, v in {
        "data_dir": data_dir, "storage.adapter": "memory", "messaging.adapter": "memory", "demo.seed": True,
        "log.level": "warning", "api.admin_token": TOKEN, "faults.enabled": True,
        "breaker.minimum_calls": 20, "breaker.window_size": 20}.items()})
    process = subprocess.Popen([str(ORDERHEX), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("serve did not start")


def run(url: str, quotes: int, error_rate: float) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=10) as client:
        for service in ("orders", "payments"):
            response = client.put(f"/admin/faults/{service}", headers=ADMIN, json={"error_rate": error_rate})
            assert response.status_code == 200, response.text
        failed_at: Counter[str] = Counter()
        rejected = 0
        started = time.perf_counter()
        for _ in range(quotes):
            response = client.post("/checkout/quote", json=QUOTE)
            if response.status_code == 200:
                continue
            body = response.json()
            assert response.status_code == 503 and body.get("hop") in HOPS, response.text
            failed_at[body["hop"]] += 1
            rejected += "circuit breaker" in body.get("detail", "")
        elapsed = time.perf_counter() - started
        breakers = client.get("/admin/breakers", headers=ADMIN).json()
    failed = sum(failed_at.values())
    share = failed / quotes
    return {"quotes": quotes, "error_rate_per_hop": error_rate, "failed": failed,
            "failure_share": round(share, 4), "expected": round(1 - (1 - error_rate) ** 3, 4),
            "standard_error": round(math.sqrt(share * (1 - share) / quotes), 4),
            "failed_at": {hop: failed_at[hop] for hop in HOPS}, "rejected_by_a_breaker": rejected,
            "quotes_per_s": round(quotes / elapsed, 1),
            "breakers": {b["name"]: b["state"] for b in breakers}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotes", type=int, default=1000)
    parser.add_argument("--error-rate", type=float, default=0.10)
    args = parser.parse_args()
    results: dict[str, Any] = {"benchmark": "checkout_chain", "python": platform.python_version(),
                               "load_average": os.getloadavg()[0],
                               "at": datetime.now(UTC).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory(prefix="orderhex-bench-checkout-") as tmp:
        process, url = serve(Path(tmp))
        try:
            results.update(run(url, args.quotes, args.error_rate))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"load average {results['load_average']:.2f}; {args.quotes} quotes over HTTP, "
          f"{args.error_rate:.0%} errors injected into each hop's service ({results['quotes_per_s']} quotes/s)")
    print(f"failed at: {', '.join(f'{hop} {n}' for hop, n in results['failed_at'].items())}; "
          f"rejected by a breaker: {results['rejected_by_a_breaker']}; breakers {results['breakers']}")
    print(f"failed quotes: {results['failed']} of {args.quotes} (± {results['standard_error']:.3f}, one standard "
          f"error); 1 - {1 - args.error_rate:g}^3 = {results['expected']:.3f}")
    print(f"checkout.failure_share = {results['failure_share']:.3f} (target {results['expected']:.3f})")


if __name__ == "__main__":
    main()
