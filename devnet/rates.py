"""Fixed conversion rates for path payments (the devnet has no order book).

A rate `send -> dest = numerator/denominator` means `numerator` units of the destination asset for
every `denominator` units of the send asset. All arithmetic is on integer stroops:
- strict send: received = floor(sent * numerator / denominator) (the receiver never gets more than
  the rate gives);
- strict receive: sent = ceil(received * denominator / numerator) (the sender never pays less).
Rounding therefore always favours the (imaginary) market maker, as an order book would.
"""

from __future__ import annotations

from .assets import AssetKey


class RateTable:
    def __init__(self) -> None:
        self._rates: dict[tuple[AssetKey, AssetKey], tuple[int, int]] = {}

    def set(self, send: AssetKey, dest: AssetKey, numerator: int, denominator: int) -> None:
        if numerator <= 0 or denominator <= 0:
            raise ValueError("a rate needs a positive numerator and denominator")
        self._rates[(send, dest)] = (numerator, denominator)

    def remove(self, send: AssetKey, dest: AssetKey) -> None:
        self._rates.pop((send, dest), None)

    def get(self, send: AssetKey, dest: AssetKey) -> tuple[int, int] | None:
        if send == dest:
            return (1, 1)
        return self._rates.get((send, dest))

    def items(self) -> list[tuple[AssetKey, AssetKey, int, int]]:
        return [(s, d, n, m) for (s, d), (n, m) in self._rates.items()]

    def clear(self) -> None:
        self._rates.clear()


def receive_for_send(sent: int, rate: tuple[int, int]) -> int:
    numerator, denominator = rate
    return (sent * numerator) // denominator


def send_for_receive(received: int, rate: tuple[int, int]) -> int:
    numerator, denominator = rate
    return -((-received * denominator) // numerator)
