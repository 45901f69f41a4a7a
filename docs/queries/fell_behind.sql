-- Units that fell behind since the last quarter: every unit and indicator
-- whose status against the 2025 milestone is worse on 2025-03-31 than it was
-- on 2024-12-31 (met > on_track > at_risk > off_track > no_data; indicators
-- without a target are left out). A unit must be in force on both dates.
SELECT level, unit, indicator, was, status, previous_value, value
FROM
(
    SELECT level, unit, indicator, status, value,
           transform(status, ['met', 'on_track', 'at_risk', 'off_track', 'no_data'], [4, 3, 2, 1, 0], 0) AS grade
    FROM cds.score_history_latest
    WHERE milestone = 2025 AND as_of = toDate('2025-03-31') AND status != 'no_target'
)
ANY INNER JOIN
(
    SELECT unit, indicator, status AS was, value AS previous_value,
           transform(status, ['met', 'on_track', 'at_risk', 'off_track', 'no_data'], [4, 3, 2, 1, 0], 0) AS previous_grade
    FROM cds.score_history_latest
    WHERE milestone = 2025 AND as_of = toDate('2024-12-31') AND status != 'no_target'
) USING (unit, indicator)
WHERE grade < previous_grade
ORDER BY level, unit, indicator
