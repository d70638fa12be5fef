"""What deepfit shows a person: tables in the terminal, and a self-contained HTML report.

* :mod:`deepfit.report.console` — Rich tables (metrics beside baselines, schema, training);
* :mod:`deepfit.report.report` — ``build_report``/``write_report``: one HTML page with the
  charts of :mod:`deepfit.report.plots` embedded as PNGs, laid out by
  :mod:`deepfit.report.html` from :mod:`deepfit.report.sections`.

Nothing is imported here, so the CLI's tables do not pull in matplotlib.

Example:
    >>> from deepfit.report.report import write_report
    >>> write_report(model, X_test, y_test, "report.html")  # doctest: +SKIP
"""
