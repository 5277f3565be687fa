"""Re-entrant locking: a function that takes the lock calls another that takes it too."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario, stop_reason
from app.traced import threading, time


class ReentryParams(Params):
    lock: Literal["RLock", "Lock"] = Field(
        "RLock", description="RLock may be taken again by its holder; a plain Lock blocks its own holder"
    )
    threads: int = Field(2, ge=1, le=32, description="Threads that withdraw from the account")
    withdrawals: int = Field(3, ge=1, le=20, description="Withdrawals per thread")
    hold: float = Field(0.005, ge=0, le=0.05, description="Seconds spent inside the lock per withdrawal")


def main(p: ReentryParams) -> Result:
    lock = threading.RLock(name="account") if p.lock == "RLock" else threading.Lock(name="account")
    account = {"balance": 1000}
    done: list[int] = []

    def balance() -> int:
        with lock:  # taken again by a thread that already holds it
            return account["balance"]

    def withdraw(amount: int) -> None:
        with lock:
            if balance() >= amount:  # re-enters the lock
                time.sleep(p.hold)
                account["balance"] -= amount
                done.append(amount)

    def customer() -> None:
        for _ in range(p.withdrawals):
            withdraw(10)

    threads = [threading.Thread(target=customer) for _ in range(p.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    values = {"withdrawals": len(done), "balance": account["balance"]}
    if (reason := stop_reason()) is not None:
        return Result(
            f"stopped after {len(done)} of {p.threads * p.withdrawals} withdrawals: balance {account['balance']}",
            values | {"stopped": reason},
        )
    return Result(
        f"{len(done)} withdrawals of 10: balance {account['balance']}",
        values,
        notice=f"withdraw() took the {p.lock} again inside balance() {len(done)} times without waiting.",
    )


SCENARIO = Scenario(
    slug="rlock",
    title="RLock: taking a lock twice",
    group="Synchronisation",
    notice=(
        "withdraw() holds the lock and calls balance(), which takes it again. An RLock "
        "counts: its holder gets in again and the lock is free after the last release. "
        "Switch to a plain Lock: the thread waits for a lock it holds itself, forever. The "
        "server sees the one-thread cycle and stops the run."
    ),
    params=ReentryParams,
    main=main,
    order=60,
    expects_stop=True,
)
