"""Reporting: the OOF report, HTML pages, the summary table, the ledger, run folders, run comparison."""
