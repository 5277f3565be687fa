"""Scenarios: one module per lesson; `registry` lists them. Light on purpose (see app/__init__)."""
