-- The rollup cells without the projector's commit markers, for analysts.
CREATE VIEW IF NOT EXISTS {db}.cells AS
SELECT indicator, unit, period, dim, day, num, den, n
FROM {db}.rollup
WHERE indicator != '#watermark'
