DROP TRIGGER stock_movements_apply ON stock_movements;
DROP FUNCTION apply_stock_movement();
