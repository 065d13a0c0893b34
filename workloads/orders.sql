-- A customer's orders page on the lab's `orders` schema (`dbops lab seed-orders`), as a pgbench
-- custom script: one transaction per page view.
--   dbops drill latency localpg:lab-pg --workload workloads/orders.sql
--   pgbench -n -f workloads/orders.sql ...          (the same script, by hand)
-- Indexed point read (customers' primary key), range scan of the customer's newest orders
-- (orders.orders_customer_created_idx), and the items of the five newest (order_items' primary key).
\set cid random(1, 10000)
SELECT id, email, region FROM orders.customers WHERE id = :cid;
SELECT id, status, total_cents, created_at FROM orders.orders WHERE customer_id = :cid ORDER BY created_at DESC LIMIT 20;
SELECT i.order_id, i.line, i.sku, i.quantity, i.price_cents FROM orders.order_items i JOIN (SELECT id FROM orders.orders WHERE customer_id = :cid ORDER BY created_at DESC LIMIT 5) o ON o.id = i.order_id;
