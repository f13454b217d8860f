DROP VIEW product_stock;
