-- The trend of one indicator for one district: HSCV (work dossiers processed
-- online) of bg-vietyen against the 2025 milestone, at every month-end from
-- the catalogue's baseline, with its target, the trajectory value expected at
-- that date and the status. Change the unit, the indicator or the milestone
-- in the WHERE clause. `toDayOfMonth(as_of + 1) = 1` keeps the month-ends
-- (the history also holds today); 18.16 has no toLastDayOfMonth.
SELECT as_of, numerator, denominator, value, target, expected, status
FROM cds.score_history_latest
WHERE milestone = 2025 AND unit = 'bg-vietyen' AND indicator = 'HSCV'
  AND toDayOfMonth(as_of + 1) = 1
ORDER BY as_of
