"""Subprocess of the kill -9 test: store batches forever, print each batch id after commit."""

from __future__ import annotations

import sys

from stratumv2.app.store import ShareRecord, Store


def main() -> None:
    store = Store(sys.argv[1])
    batch_size = int(sys.argv[2])
    batch = 0
    while True:
        shares = [
            ShareRecord(
                time=batch + i / batch_size, user="u", worker=f"w{batch}", difficulty=1.0, job_id=i
            )
            for i in range(batch_size)
        ]
        store.record_batch(shares)
        print(batch, flush=True)  # acknowledged only after the commit returned
        batch += 1


if __name__ == "__main__":
    main()
