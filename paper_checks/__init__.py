"""attnprobe paper checks: each test is a claim from a paper or post, cited, stated and checked.

Run them with ``pytest paper_checks/`` (``--claims-report out.json``/``.md`` for the reports,
``--claims-seeds 0,1,2,3,4`` for the worst margin of every claim over five seed offsets); see
:mod:`paper_checks.claims` for the API and the rules, :mod:`paper_checks.listing` for the cheap
listing behind ``attnprobe claims``.
"""
