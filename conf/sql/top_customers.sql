-- Buyers ranked by revenue, with their RFM score and segment.
CREATE OR REPLACE VIEW gold.top_customers AS
SELECT rank() OVER (ORDER BY revenue DESC, user_id) AS revenue_rank,
       user_id,
       orders,
       round(revenue, 2) AS revenue,
       round(average_order_value, 2) AS average_order_value,
       last_order_at,
       recency_days,
       rfm_score,
       rfm_segment
FROM {gold.user_profile}
WHERE orders > 0
