"""The paper's evaluation as one call (``rmx.evaluate``), split by concern:

- :mod:`.run`: :func:`~rmx_widgets.core.study.run.evaluate`, which explains every
  (data set, RM, perturber) once and assembles the result;
- :mod:`.inputs`: checking and naming what the study is given, and the seeded samples;
- :mod:`.quality`: explanation quality per seed and over seeds;
- :mod:`.rm_vs_rm`: the RM-vs-RM half (on :mod:`rmx_widgets.core.compare`);
- :mod:`.validity`: the rewrite judge in the study (valid-rewrite counts, valid-only rows);
- :mod:`.paper_tables`: the paper's Table 1 (coverage) and Table 2 (distances, diversity);
- :mod:`.result`: :class:`~rmx_widgets.core.study.result.StudyResult`, the tidy frames;
- :mod:`.report`: its offline HTML report. The result does not import its renderer:
  ``evaluate`` hands it over, and ``write_study_report(result, path)`` can be called directly.
"""
