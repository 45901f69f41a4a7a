-- The province's composite and rank against the 2025 milestone at every
-- month-end since the baseline, and today.
SELECT as_of, composite, rank, met, on_track, at_risk, off_track, no_data
FROM cds.score_history_units_latest
WHERE milestone = 2025 AND unit = 'bg'
ORDER BY as_of
