"""attnprobe paper checks: each test is a claim from a paper or post, cited, stated and checked.

Run them with ``pytest paper_checks/``; see :mod:`paper_checks.claims` for the API.
"""
