"""The hostile-partner suite: a partner attacking the trust boundary, on the real stack."""
