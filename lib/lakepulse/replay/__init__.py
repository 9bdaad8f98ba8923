"""Replay of real datasets into Kafka as contract events (``lakepulse replay``).

* :mod:`~lakepulse.replay.rees46` — REES46 clickstream rows → Product Viewed / Added / Order Completed;
* :mod:`~lakepulse.replay.online_retail` — UCI Online Retail invoices → Order Completed / Cancelled;
* :mod:`~lakepulse.replay.source` — streaming CSV rows, deterministic ids, replay_error records;
* :mod:`~lakepulse.replay.runner` — sending to a sink with pacing, limit, progress and a summary;
* :mod:`~lakepulse.replay.command` — the ``lakepulse replay`` sub-command.
"""
