-- Every unit's scores against 2030 as of the province's today (the server
-- runs in UTC: today() would be the UTC day).
SELECT level, unit, indicator, value, target, status
FROM cds.score_history_latest
WHERE milestone = 2030 AND as_of = toDate(now(), 'Asia/Ho_Chi_Minh')
ORDER BY level, unit, indicator
