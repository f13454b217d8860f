/* Keep stock_levels in step with stock_movements.
   The function body is dollar-quoted: its semicolons; do not end the statement. */
CREATE FUNCTION apply_stock_movement() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE stock_levels
    SET quantity = quantity + NEW.delta, updated_at = now()
    WHERE product_id = NEW.product_id AND warehouse_id = NEW.warehouse_id;
    IF NOT FOUND THEN
        INSERT INTO stock_levels (product_id, warehouse_id, quantity)
        VALUES (NEW.product_id, NEW.warehouse_id, NEW.delta);
    END IF;
    RETURN NEW;
END;
$fn$;

CREATE TRIGGER stock_movements_apply
    AFTER INSERT ON stock_movements
    FOR EACH ROW EXECUTE FUNCTION apply_stock_movement();
