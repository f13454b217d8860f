CREATE VIEW product_stock AS
SELECT p.id AS product_id,
       p.sku,
       p.name,
       coalesce(sum(s.quantity), 0) AS on_hand,
       count(s.warehouse_id)        AS warehouses
FROM products p
LEFT JOIN stock_levels s ON s.product_id = p.id
GROUP BY p.id, p.sku, p.name;
