-- The league table of the districts at a month-end: rank, composite, how many
-- indicators are met / on track / at risk / off track / without data, and
-- the HSCV value and status beside them (one JOIN per query on 18.16: add
-- another indicator with another query, or pivot with anyIf as below).
SELECT rank, unit, name, composite, met, on_track, at_risk, off_track, no_data, hscv, hscv_status
FROM
(
    SELECT unit, name, composite, rank, met, on_track, at_risk, off_track, no_data
    FROM cds.score_history_units_latest
    WHERE milestone = 2025 AND level = 'district' AND as_of = toDate('2025-06-30')
)
ANY LEFT JOIN
(
    SELECT unit, anyIf(value, indicator = 'HSCV') AS hscv, anyIf(status, indicator = 'HSCV') AS hscv_status
    FROM cds.score_history_latest
    WHERE milestone = 2025 AND level = 'district' AND as_of = toDate('2025-06-30')
    GROUP BY unit
) USING (unit)
ORDER BY rank, unit
