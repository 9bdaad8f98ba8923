-- How many people each RFM segment holds, what they bought and how recently they were seen.
CREATE OR REPLACE VIEW gold.rfm_segments AS
SELECT coalesce(rfm_segment, 'Unscored') AS rfm_segment,
       count(*) AS users,
       count_if(orders > 0) AS buyers,
       round(sum(revenue), 2) AS revenue,
       round(count(*) / sum(count(*)) OVER (), 4) AS share_of_users,
       round(sum(revenue) / nullif(sum(sum(revenue)) OVER (), 0), 4) AS share_of_revenue,
       round(avg(recency_days), 1) AS average_recency_days
FROM {gold.user_profile}
GROUP BY coalesce(rfm_segment, 'Unscored')
