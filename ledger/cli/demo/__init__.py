"""The demo: a synthetic, seeded NCT00635154 cohort recorded through the commands staff use.

55 enrolled subjects (and 3 screen failures) over three sites, shaped on the published
figures (protocol doc, [published]): one progressed before treatment, 54 started anakinra, 47
reached the month-6 assessment; 25 of those had stable disease and low-dose dexamethasone added
(after which 5 partial and 4 minor responses); 3 minor responses on anakinra alone; some
progressed to high-dose dexamethasone. Daily doses come from the protocol's own dosing calendar
(``ledger.protocol.schedule.doses_called_for``), returned as monthly dosing diaries through
``import``; labs, response assessments, adverse events (injection-site reactions, infections, a
few serious events), missed and held doses, corrections with reasons, monitor reviews, a key
rotation and a key revocation are recorded with ``TrialRecorder``, one signed commit each. The
sponsor registers the three sites (``SiteRegistered``, "Site 001".."Site 003") before any key.

Determinism: every key, subject, date and value derives from the seed, and the ledger id too,
so the same seed gives the same events, the same leaves and the same Merkle root (recorded
times differ, and they are not part of a leaf). Subjects are pseudonymous ids; staff names are
invented.

Modules: :mod:`.plan` (the cohort, its courses and the summary), :mod:`.team` (the staff and
their key files), :mod:`.course` (a treated subject's months: diaries, labs, assessments,
transitions, ends), :mod:`.adverse` (the adverse events of a month), :mod:`.build` (the
ledger from set-up to the final checkpoint) and :mod:`.command` (``trial-ledger demo``).
"""
