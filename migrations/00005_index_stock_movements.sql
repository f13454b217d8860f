-- Built without blocking writes to stock_movements; CONCURRENTLY cannot run in a transaction.
CREATE INDEX CONCURRENTLY IF NOT EXISTS stock_movements_product_created_idx
    ON stock_movements (product_id, created_at);
