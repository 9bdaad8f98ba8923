"""``lakepulse report …``: text tables on stdout, PNG charts and one self-contained HTML page per
report in ``gold.reports_dir``.

Each report module (``funnel``, ``user``, ``users``, ``products``) computes its figures with a few
Spark actions and returns a :class:`~lakepulse.reports.document.Report`; :mod:`.command` prints and
writes it.
"""
