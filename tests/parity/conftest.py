"""The official-SDK suite in official_suite/ is run by test_acceptance.py, not collected here."""

collect_ignore = ["official_suite"]
