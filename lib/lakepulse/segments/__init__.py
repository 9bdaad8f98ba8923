"""Customer segmentation: the ``segment_users`` batch job (MLlib KMeans over ``gold.user_profile``).

* :mod:`~lakepulse.segments.features` — per-user features (business values and model inputs);
* :mod:`~lakepulse.segments.model` — fitting (seeds, k by silhouette), saving, loading, scoring;
* :mod:`~lakepulse.segments.naming` — readable segment names from centroids in business units;
* :mod:`~lakepulse.segments.quality` — adjusted Rand index against the simulator's personas;
* :mod:`~lakepulse.segments.job` — the job: ``gold.user_segments``, ``gold.segment_profiles``,
  ``ops.segmentation_runs``; :func:`~lakepulse.segments.job.run_segmentation` is its entry;
* :mod:`~lakepulse.segments.report` — ``lakepulse report segments``;
* :mod:`~lakepulse.segments.simulated` — profiles straight from the simulator (tests, benchmark).
"""
