"""Screens and APIs over the core for people other than operators: the routing admin API, the
supervisor view, and one customer across channels (linking identities, files)."""
