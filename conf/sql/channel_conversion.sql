-- Conversion of the e-commerce funnel by marketing channel, over every day in gold.funnel_daily:
-- people who started it (converted at the first step), people who reached the last step, the share.
CREATE OR REPLACE VIEW gold.channel_conversion AS
WITH bounds AS (
  SELECT min(step) AS first_step, max(step) AS last_step FROM {gold.funnel_daily}
)
SELECT f.channel,
       sum(CASE WHEN f.step = b.first_step THEN f.converted ELSE 0 END) AS entered,
       sum(CASE WHEN f.step = b.last_step THEN f.converted ELSE 0 END) AS completed,
       round(sum(CASE WHEN f.step = b.last_step THEN f.converted ELSE 0 END)
             / nullif(sum(CASE WHEN f.step = b.first_step THEN f.converted ELSE 0 END), 0), 4) AS conversion_rate,
       min(f.day) AS first_day,
       max(f.day) AS last_day
FROM {gold.funnel_daily} f CROSS JOIN bounds b
GROUP BY f.channel
