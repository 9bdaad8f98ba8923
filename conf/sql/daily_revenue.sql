-- Orders and revenue per UTC day: counted orders (one per order id) from the hourly activity table.
CREATE OR REPLACE VIEW gold.daily_revenue AS
SELECT to_date(window_start) AS day,
       sum(purchases) AS orders,
       round(sum(revenue), 2) AS revenue,
       count(DISTINCT CASE WHEN purchases > 0 THEN user_id END) AS buyers,
       count(DISTINCT user_id) AS active_users,
       round(sum(revenue) / nullif(sum(purchases), 0), 2) AS average_order_value
FROM {gold.user_activity}
GROUP BY to_date(window_start)
