"""The client side of a served ledger (``trial-ledger serve``): requests signed here with the
caller's own key (:mod:`ledger.remote.auth`), so the private key never leaves this machine."""
