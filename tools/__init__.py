"""Developer tooling that is not part of the installed package (throwaway PostgreSQL clusters)."""
