-- How many communes are off track on HSCV at each month-end, out of the
-- communes in force then.
SELECT as_of, countIf(status = 'off_track') AS off_track, count() AS communes
FROM cds.score_history_latest
WHERE milestone = 2025 AND level = 'commune' AND indicator = 'HSCV' AND toDayOfMonth(as_of + 1) = 1
GROUP BY as_of
ORDER BY as_of
